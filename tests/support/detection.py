"""The arithmetic of detection: the shipped delays between a fault and its notification, how much
history the alert rules need before they can see a fault, and the worst case they predict for
a fault on a flow of a given volume (deploy/prometheus/rules; the README's runbook shows the same
sums). The end-to-end alert test sizes its waits with it; the detection benchmark prints it
beside what it measured.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from tests.deploy.deploy_support import PROMETHEUS_CONFIG, load_yaml
from tests.support.alertstack import ALERTMANAGER_CONFIG, POLLER_CONFIG

# Which alert each simulated flow fault should raise.
ALERT = {
    "stop": "GenesysCloudFlowNoEntries",
    "fail": "GenesysCloudFlowFailureBudgetBurn",
    "hangup": "GenesysCloudFlowDisconnectsHigh",
    "slow": "GenesysCloudFlowSlow",
    "milestone-drop": "GenesysCloudFlowMilestoneDropped",
}
# GenesysCloudFlowNoEntries: (window label, seconds, entries the flow's rate must have expected).
SILENCE_WINDOWS = (("1m15s", 75, 13), ("5m", 300, 13), ("13m30s", 810, 12), ("1h", 3600, 16))
# The rule's rate is the hour's mean less this many standard deviations of its Poisson count.
RATE_LOWER_SD = 1.5
# GenesysCloudFlowFailureBudgetBurn at the default 95% objective (budget 5%): (long window,
# short window, burn threshold, severity, failed outcomes its long window needs).
BURN_TIERS = (
    (120, 60, 7.0, "page", 10),
    (900, 300, 10.0, "page", 10),
    (21600, 1800, 2.0, "ticket", 20),
)
BUDGET = 0.05
# The warning-style flow alerts: `for`, their window, and their baseline's minimum volume (in
# entries; a milestone needs 100 reached in its baseline and 20 expected in its window, 334 and
# 67 entries at a share of 0.3 per entry).
HELD = 300.0  # `for: 5m`
BASELINE_OFFSET = {"hangup": 900.0, "slow": 600.0, "milestone-drop": 900.0}
BASELINE_COUNT = {"hangup": 100, "slow": 200, "milestone-drop": 334}
WINDOW_COUNT = {"hangup": (900, 30), "slow": (600, 30), "milestone-drop": (900, 67)}
SEVERITY = {"stop": "page", "hangup": "ticket", "slow": "ticket", "milestone-drop": "ticket"}


@dataclass
class Intervals:
    """The shipped config's delays between a fault and a notification, in seconds."""

    poll: float  # flows_counted's `every`
    milestone_poll: float  # milestones_counted's `every`
    scrape: float
    evaluation: float
    group_wait: dict[str, float]  # severity -> Alertmanager group_wait

    def pipeline(self, severity: str, poll: float | None = None) -> float:
        """Worst case from a change Genesys has indexed to its notification, before the
        rule's own window and `for`: a poll, a scrape, an evaluation (the flow alerts and the
        recording rules they read share a group, evaluated in order), group_wait."""
        return (
            (poll or self.poll)
            + self.scrape
            + self.evaluation
            + self.group_wait.get(severity, self.group_wait["default"])
        )


_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def seconds(text: str) -> float:
    """A Prometheus or poller duration (`15s`, `1h30m`, `500ms`) in seconds."""
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"not a duration: {text!r}")
    return sum(float(n) * _UNITS[u] for n, u in parts)


def shipped_intervals() -> Intervals:
    poller = load_yaml(POLLER_CONFIG)
    every = {q["name"]: seconds(q["every"]) for q in poller["queries"]}
    prometheus = load_yaml(PROMETHEUS_CONFIG)["global"]
    return Intervals(
        poll=every["flows_counted"],
        milestone_poll=every.get("milestones_counted", every["flows_counted"]),
        scrape=seconds(prometheus["scrape_interval"]),
        evaluation=seconds(prometheus["evaluation_interval"]),
        group_wait=_group_waits(load_yaml(ALERTMANAGER_CONFIG)),
    )


def _group_waits(config: dict[str, Any]) -> dict[str, float]:
    """group_wait per severity from the shipped routes (a route matching `severity="X"`), and
    the root route's as `default`."""
    root = config["route"]
    waits = {"default": seconds(root.get("group_wait", "30s"))}

    def walk(route: dict[str, Any], inherited: float) -> None:
        wait = seconds(route["group_wait"]) if "group_wait" in route else inherited
        for matcher in route.get("matchers", []):
            found = re.fullmatch(r'\s*severity\s*=~?\s*"?([^"]*)"?\s*', str(matcher))
            if found:
                for severity in found[1].split("|"):
                    waits[severity] = wait
        for child in route.get("routes", []):
            walk(child, wait)

    walk(root, waits["default"])
    return waits


def silence_window(per_second: float) -> tuple[str, int, int] | None:
    """The shortest NoEntries window over which the flow's rate, as the rule takes it (the
    hour's mean less its noise), expects enough entries."""
    lower = max(per_second - RATE_LOWER_SD * math.sqrt(per_second / 3600), 0.0)
    for label, window, needed in SILENCE_WINDOWS:
        if lower * window >= needed:
            return label, window, needed
    return None


def history_needed(kind: str, per_second: float) -> float | None:
    """Seconds of Prometheus history before the fault that the fault's rule needs to see it on
    a flow of this volume, or None when no rule can (the volume is too low)."""
    r = per_second
    if kind == "stop":
        # The baseline is the entry rate over 5 minutes, recorded, from before the window.
        found = silence_window(r)
        return None if found is None else found[1] + 300 + 60
    if kind == "fail":
        return 60.0 if _burn_tier(r) is not None else None
    baseline_from = BASELINE_OFFSET[kind]
    window, minimum = WINDOW_COUNT[kind]
    if r * window < minimum or r <= 0:
        return None
    # The rule compares with the flow's own 6 hours before its window (offset): that long, plus
    # enough executions in the baseline.
    return baseline_from + BASELINE_COUNT[kind] / r + 60


def _burn_tier(r: float) -> tuple[float, float, str] | None:
    """(seconds until the burn shows, long window, severity) of the first tier that sees a
    flow failing everything at `r` outcomes a second."""
    for long, _short, burn, severity, failed in BURN_TIERS:
        share = min(burn * BUDGET, 0.9)
        if r > 0 and failed / r <= long:
            # The long window's failed share passes the threshold after share * long (the short
            # window's, after share * short, sooner), with enough failed outcomes in it.
            return max(share * long, failed / r), long, severity
    return None


def predicted(
    kind: str, per_second: float, iv: Intervals, lag: float, duration: float = 0.0
) -> float | None:
    """The worst case from the fault to its notification on a flow of this volume (entries a
    second, `duration` its median seconds in flow), or None when no rule can see it."""
    r = per_second
    if kind == "stop":
        # A whole window without an entry after the last one before the fault.
        found = silence_window(r)
        return None if found is None else found[1] + iv.pipeline("page") + lag
    if kind == "fail":
        tier = _burn_tier(r)
        return None if tier is None else tier[0] + iv.pipeline(tier[2]) + lag
    if history_needed(kind, r) is None:
        return None
    if kind == "hangup":
        # Callers hanging up early end their executions within a tenth of their time: the
        # window's share of disconnects passes twice a baseline of about a quarter once ~0.45
        # of its 15 minutes are after the fault, then `for`.
        seen = 0.45 * 900 + 0.1 * duration
    elif kind == "slow":
        # The first slowed executions end after 3x their time; the p90 over 10 minutes moves once
        # a tenth of the window's completions are slow ones, then `for`.
        seen = 3 * duration + 0.1 * 600
    else:
        # Entries without the milestone take its share per entry under 30% once 70% of the
        # 15-minute window is after the fault, then `for`.
        seen = 0.7 * 900
    poll = iv.milestone_poll if kind == "milestone-drop" else iv.poll
    return seen + HELD + iv.pipeline(SEVERITY[kind], poll) + lag
