"""A faithful fake of Genesys Cloud for the poller: OAuth client credentials, the flow aggregate
and observation endpoints with the real request validation and error bodies, rate limits, a
deterministic synthetic org (or several, one per OAuth client), fault injection, and the
Notifications API that pushes the flow topics' aggregates (`notifications`, `pushsocket`).

It powers `genesyscloud-poller demo` and `simulate`, the integration and fault tests, and the
benchmarks. See `engine` for how metrics and dimensions are emitted, `app` for the order of
checks per request, and `parse_fault_spec` for the fault spec.
"""

from poller.simulator.app import OrgState, build_simulator_app, org_summary
from poller.simulator.errors import SimulatorSettingsError
from poller.simulator.server import Simulator
from poller.simulator.settings import (
    FaultSettings,
    SimulatorSettings,
    faults_from_json,
    parse_fault_spec,
)
from poller.simulator.stats import RequestRecord, SimulatorStats

__all__ = [
    "FaultSettings",
    "OrgState",
    "RequestRecord",
    "Simulator",
    "SimulatorSettings",
    "SimulatorSettingsError",
    "SimulatorStats",
    "build_simulator_app",
    "faults_from_json",
    "org_summary",
    "parse_fault_spec",
]
