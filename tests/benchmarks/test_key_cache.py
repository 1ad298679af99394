"""The benchmarks' cache of device keys, filled by two runs at once (CI runs its two suites side by side)."""
import multiprocessing

from benchmarks import harness


def _fill(directory, count):
    harness.KEY_DIR = directory
    harness.ensure_keys(count, 2)


def test_two_runs_filling_the_cache_at_once_both_succeed_and_a_cached_key_never_changes(tmp_path, monkeypatch):
    monkeypatch.setattr(harness, "KEY_DIR", tmp_path)
    harness.ensure_keys(1, 1)
    first = (tmp_path / "rsa2048-000000.der").read_bytes()
    context = multiprocessing.get_context("fork")
    runs = [context.Process(target=_fill, args=(tmp_path, 6)) for _ in range(2)]
    for run in runs:
        run.start()
    for run in runs:
        run.join(120)
    assert [run.exitcode for run in runs] == [0, 0]
    assert sorted(path.name for path in tmp_path.iterdir()) == [f"rsa2048-{n:06d}.der" for n in range(6)]
    assert (tmp_path / "rsa2048-000000.der").read_bytes() == first
    harness._generate_key(0)  # a key generated again is not cached over the first
    assert (tmp_path / "rsa2048-000000.der").read_bytes() == first
    assert all(harness.load_key(n) for n in range(6))
