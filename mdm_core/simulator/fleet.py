"""Many simulated devices driven from one process over one shared HTTP client.

A thread pool is enough: every device spends its time waiting on the server or signing,
and httpx.Client is safe to share between threads (one connection pool for all).
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Generic, TypeVar

from mdm_core.simulator.device import SimulatedDevice

T = TypeVar("T")


@dataclass(frozen=True)
class Outcome(Generic[T]):
    """What one device's action returned, or the exception it raised."""

    device: SimulatedDevice
    result: T | None = None
    error: BaseException | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class Fleet:
    """A group of simulated devices acted on concurrently."""

    def __init__(self, devices: Iterable[SimulatedDevice] = (), *, workers: int = 8) -> None:
        self.devices = list(devices)
        self.workers = workers

    def each(self, action: Callable[[SimulatedDevice], T]) -> list[Outcome[T]]:
        """Run ``action`` on every device concurrently; outcomes come back in device order."""
        def run(device: SimulatedDevice) -> Outcome[T]:
            try:
                return Outcome(device, result=action(device))
            except Exception as exc:  # one failing device must not stop the fleet
                return Outcome(device, error=exc)

        with ThreadPoolExecutor(max_workers=max(1, self.workers)) as pool:
            return list(pool.map(run, self.devices))
