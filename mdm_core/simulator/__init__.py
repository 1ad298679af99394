"""A simulated iPhone (and fleets of them) speaking the MDM protocol, for tests, demos and benchmarks.

Run ``python -m mdm_core.simulator --help`` for the command line; see ``__main__`` for usage.
"""
from mdm_core.simulator.device import Behaviour, CommandExchange, SimulatedDevice, SimulatorError
from mdm_core.simulator.fleet import Fleet, Outcome
from mdm_core.simulator.profile import ProfileError, read_enrollment_profile

__all__ = [
    "Behaviour",
    "CommandExchange",
    "Fleet",
    "Outcome",
    "ProfileError",
    "SimulatedDevice",
    "SimulatorError",
    "read_enrollment_profile",
]
