"""The simulator's own error for a bad fault spec or settings, apart from the poller's errors."""

from __future__ import annotations


class SimulatorSettingsError(ValueError):
    """Fault spec or settings are invalid; `problems` holds every problem found, one a line."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))
