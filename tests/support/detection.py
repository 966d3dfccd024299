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
# The window that arms only while push keeps the query's counters current: a 30s range holds two
# scrapes 15 s apart, which prove 15 s of silence, over which 26 / 2 = 13 were expected.
PUSH_SILENCE_WINDOWS = (("30s", 30, 26),)
# Push's own delay: a topic publishes a change at most once a second.
PUSH_LATENCY = 1.0
# The rule's rate is the hour's mean less this many standard deviations of its Poisson count.
RATE_LOWER_SD = 1.5
# GenesysCloudFlowFailureBudgetBurn at the default 95% objective (budget 5%): (long window,
# short window, burn threshold, severity, failed outcomes its long window needs).
BURN_TIERS = (
    (120, 60, 7.0, "page", 10),
    (900, 300, 10.0, "page", 10),
    (21600, 1800, 2.0, "ticket", 20),
)
# The tier that arms only while push keeps the counters current.
PUSH_BURN_TIERS = ((60, 30, 7.0, "page", 10),)
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
    push: bool = False  # push keeps the counter queries current; polls are the backstop

    def pipeline(self, severity: str, poll: float | None = None) -> float:
        """Worst case from a change Genesys has indexed to its notification, before the
        rule's own window and `for`: a poll (with push, a push message), a scrape, an
        evaluation (the flow alerts and the recording rules they read share a group, evaluated
        in order), group_wait."""
        refresh = PUSH_LATENCY if self.push and poll is None else (poll or self.poll)
        return refresh + self.scrape + self.evaluation + self.wait(severity)

    def wait(self, severity: str) -> float:
        return self.group_wait.get(severity, self.group_wait["default"])


_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def seconds(text: str) -> float:
    """A Prometheus or poller duration (`15s`, `1h30m`, `500ms`) in seconds."""
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"not a duration: {text!r}")
    return sum(float(n) * _UNITS[u] for n, u in parts)


def shipped_intervals(push_every: float | None = None) -> Intervals:
    """The shipped intervals; with `push_every`, push on and every query polled that often."""
    poller = load_yaml(POLLER_CONFIG)
    every = {q["name"]: seconds(q["every"]) for q in poller["queries"]}
    prometheus = load_yaml(PROMETHEUS_CONFIG)["global"]
    return Intervals(
        poll=push_every or every["flows_counted"],
        milestone_poll=push_every or every.get("milestones_counted", every["flows_counted"]),
        scrape=seconds(prometheus["scrape_interval"]),
        evaluation=seconds(prometheus["evaluation_interval"]),
        group_wait=_group_waits(load_yaml(ALERTMANAGER_CONFIG)),
        push=push_every is not None,
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


def silence_window(per_second: float, push: bool = False) -> tuple[str, int, int] | None:
    """The shortest NoEntries window over which the flow's rate, as the rule takes it (the
    hour's mean less its noise), expects enough entries; with push, its window first."""
    lower = max(per_second - RATE_LOWER_SD * math.sqrt(per_second / 3600), 0.0)
    for label, window, needed in (PUSH_SILENCE_WINDOWS if push else ()) + SILENCE_WINDOWS:
        if lower * window >= needed:
            return label, window, needed
    return None


def history_needed(kind: str, per_second: float, push: bool = False) -> float | None:
    """Seconds of Prometheus history before the fault that the fault's rule needs to see it on
    a flow of this volume, or None when no rule can (the volume is too low)."""
    r = per_second
    if kind == "stop":
        # The baseline is the entry rate over 5 minutes, recorded, from before the window.
        found = silence_window(r, push)
        return None if found is None else found[1] + 300 + 60
    if kind == "fail":
        # With push, its tier's 1m15s of push kept live as well.
        return (75.0 if push else 60.0) if _burn_tier(r, push) is not None else None
    baseline_from = BASELINE_OFFSET[kind]
    window, minimum = WINDOW_COUNT[kind]
    if r * window < minimum or r <= 0:
        return None
    # The rule compares with the flow's own 6 hours before its window (offset): that long, plus
    # enough executions in the baseline.
    return baseline_from + BASELINE_COUNT[kind] / r + 60


def _burn_tier(r: float, push: bool = False) -> tuple[float, float, str] | None:
    """(seconds until the burn shows, long window, severity) of the first tier that sees a
    flow failing everything at `r` outcomes a second."""
    for long, _short, burn, severity, failed in (PUSH_BURN_TIERS if push else ()) + BURN_TIERS:
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
    if iv.push and kind in ("stop", "fail"):
        return _predicted_push(kind, r, iv, lag)
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


def _predicted_push(kind: str, r: float, iv: Intervals, lag: float) -> float | None:
    """stop and fail while push keeps the counters current, counted as Prometheus samples them.

    A range of `w` holds the scrapes of w less one scrape interval (evaluations and scrapes run
    at their own offsets). stop: the range's samples all equal once its first sample is the
    first to hold the last count, at most a scrape after that entry was pushed; so the alert
    holds at most w after the push, and fires at the next evaluation: lag + push + w +
    evaluation + group_wait (the scrape is inside w, not added to it). fail: the failed share of
    the long range's sampled span passes the tier's threshold after share * (long - scrape) of
    failures (or its least number of failures, if later), then a scrape shows it, an evaluation
    sees it, group_wait.
    """
    if kind == "stop":
        found = silence_window(r, push=True)
        if found is None:
            return None
        return lag + PUSH_LATENCY + found[1] + iv.evaluation + iv.wait("page")
    for long, _short, burn, severity, failed in PUSH_BURN_TIERS + BURN_TIERS:
        share = min(burn * BUDGET, 0.9)
        if r > 0 and failed / r <= long:
            shows = max(share * (long - iv.scrape), failed / r)
            return lag + PUSH_LATENCY + shows + iv.scrape + iv.evaluation + iv.wait(severity)
    return None


def push_reach(iv: Intervals, lag: float, target: float = 60.0) -> dict[str, float]:
    """The least entries (stop) and outcomes (fail) a second a flow needs for push to notify
    its fault within `target` seconds in the worst case."""
    _label, window, needed = PUSH_SILENCE_WINDOWS[0]
    stop = needed / window
    stop = (stop + RATE_LOWER_SD**2 / 7200) + math.sqrt(
        (stop + RATE_LOWER_SD**2 / 7200) ** 2 - stop**2
    )  # the true rate whose hour's mean less its noise is `needed / window`
    long, _short, burn, severity, failed = PUSH_BURN_TIERS[0]
    fixed = lag + PUSH_LATENCY + iv.scrape + iv.evaluation + iv.wait(severity)
    room = target - fixed
    share = min(burn * BUDGET, 0.9) * (long - iv.scrape)
    fail = failed / room if room >= share and room > 0 else math.inf
    return {"stop": stop, "fail": fail}
