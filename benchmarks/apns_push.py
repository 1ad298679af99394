"""Push throughput: N devices pushed through the APNs stand-in over at most C connections.

The stand-in runs in its own process on this machine (real TLS with the push certificate,
HTTP/2). Reports pushes per second and the CPU each side spends per push.

    python benchmarks/apns_push.py --devices 10000 --connections 4
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mdm_core.apns.certificate import load_push_certificate  # noqa: E402
from mdm_core.apns.client import BlockingApnsClient, MdmPush, client_ssl_context  # noqa: E402


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, default=10000)
    parser.add_argument("--connections", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        standin = subprocess.Popen([sys.executable, "-m", "mdm_core.apns.standin", "--demo", tmp, "--port", "0", "--quiet"],
                                   stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[1])
        try:
            endpoint = next(line.split()[-1] for line in standin.stdout if line.startswith("APNs stand-in listening"))
            files = Path(tmp)
            push = load_push_certificate((files / "push-cert.pem").read_bytes(), (files / "push-key.pem").read_bytes())
            client = BlockingApnsClient(endpoint, client_ssl_context(push, str(files / "server-ca.pem")), push.topic,
                                        max_connections=args.connections)
            client.send_many([MdmPush(os.urandom(32).hex(), "warm-up")])
            pushes = [MdmPush(os.urandom(32).hex(), f"magic-{i}", int(time.time()) + 86400) for i in range(args.devices)]
            standin_cpu, cpu, start = _cpu_seconds(standin.pid), time.process_time(), time.perf_counter()
            results = client.send_many(pushes)
            elapsed = time.perf_counter() - start
            cpu, standin_cpu = time.process_time() - cpu, _cpu_seconds(standin.pid) - standin_cpu
            connections = client.client.open_connections
            client.close()
        finally:
            standin.terminate()
            standin.wait(10)
    delivered = sum(r.delivered for r in results)
    print(f"devices={args.devices} delivered={delivered} connections={connections} (max {args.connections})")
    print(f"elapsed={elapsed:.2f}s pushes/s={args.devices / elapsed:.0f}")
    print(f"client CPU/push={cpu / args.devices * 1e6:.0f}us stand-in CPU/push={standin_cpu / args.devices * 1e6:.0f}us")
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
