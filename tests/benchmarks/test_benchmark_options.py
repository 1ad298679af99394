"""The push-driven benchmarks build their command lines and CPU figures from ``benchmarks.fanout``: each
keeps its own options and defaults (the commands in benchmarks/README.md and RESULTS.md still run)."""
import pytest

from benchmarks import app_rollout, ddm_cpu, ddm_sync, fanout, profile_rollout
from benchmarks.fanout import cpu_figures, setup_figures
from benchmarks.harness import PhaseResult

COMMON = {"clients": 2, "threads": 3, "database_url": None, "gunicorn_args": "--workers 2", "json": None}


@pytest.mark.parametrize("module, own", [
    (fanout, {"devices": 1000, "timeout": 600, "push_workers": 1, "request_type": "DeviceInformation"}),
    (profile_rollout, {"devices": 1000, "timeout": 900, "push_workers": 1}),
    (app_rollout, {"devices": 300, "timeout": 900, "licenses": None, "vpp_delay": 1.0}),
    (ddm_sync, {"devices": 1000, "timeout": 900, "rounds": 3}),
])
def test_each_benchmark_keeps_its_options_and_defaults(module, own):
    options = vars(module.parse_args([]))
    assert {key: options[key] for key in {**COMMON, **own}} == {**COMMON, **own}
    assert set(options) == set(COMMON) | set(own) | {"key_processes", "out"}


def test_a_benchmark_that_starts_one_worker_refuses_push_workers():
    with pytest.raises(SystemExit):
        ddm_sync.parse_args(["--push-workers", "2"])


def test_ddm_sync_needs_a_paired_round():
    with pytest.raises(SystemExit):
        ddm_sync.parse_args(["--rounds", "0"])


def test_cpu_figures_count_the_named_server_trees_per_device():
    cpu = {"web": 2.0, "worker": 1.0, "clients": 5.0, "db": 0.5}
    figures = cpu_figures(cpu, 1000, steal=0.012, idle=None, server=("web", "worker"))
    assert figures == {"cpu_s": cpu, "server_cpu_ms_per_device": 3.0, "db_cpu_ms_per_device": 0.5,
                       "host_steal_percent": 1.2, "host_idle_percent": None}
    assert cpu_figures({"web": 1.0, "push_worker": 1.0}, 4, None, 0.5)["server_cpu_ms_per_device"] == 500.0
    assert setup_figures(PhaseResult(requests=6), 1.04, cpu, 1000, ("web", "worker")) == \
        {"wall_s": 1.0, "requests": 6, "errors": 0, "server_cpu_ms_per_device": 3.0, "db_cpu_ms_per_device": 0.5}


@pytest.mark.parametrize("argv", [["url", "0"], ["url", "--interleaved", "0"], ["url", "--free", "json"],
                                  ["url", "--free", "values"]])
def test_ddm_cpu_refuses_what_it_cannot_measure(argv):
    with pytest.raises(SystemExit):
        ddm_cpu.parse_args(argv)


def test_ddm_cpu_free_parts_answer_from_their_first_result():
    calls = []

    def parse(data: bytes) -> dict:
        calls.append(data)
        return {"length": len(data)}

    memoized = ddm_cpu._memoized(parse)
    first = memoized(b"abc")
    assert memoized(bytearray(b"abc")) is first and memoized(b"abcd") == {"length": 4}
    assert calls == [b"abc", b"abcd"]
    report = object()
    assert ddm_cpu._memoized(id)(report) == id(report)
    assert ddm_cpu.parse_args(["url", "--free", "plist,report,values"]).free == {"plist", "report", "values"}
