"""Which shipped alerts (deploy/prometheus/rules) a config can feed, and what the others need.

One row per shipped alert: the queries its rule reads, each as a `Need` (the kind of query, the
metrics it must fetch, the dimensions it must group by, the timer that must be a histogram).
An alert is fed when every one of its needs is met by some query of the org. The poller's own
alerts read only self-metrics, so they are fed whatever the queries; the names alert needs the
name listings. check-config prints the verdict; a test ties the rows to the rule files.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from poller.config.model import Config, QueryConfig
from poller.counters import counter_spec

# A failure share per flow must count every outcome of the flow in one series: a query split by
# outcome gives a share per outcome instead.
OUTCOME_DIMENSIONS = ("flowOutcomeId", "flowOutcome", "flowOutcomeValue")
# The per-flow rules read only series without a KPI label (the KPI queries' series carry one, see
# deploy/prometheus/rules), so a query grouped by a KPI dimension feeds only the KPI rules.
KPI_DIMENSIONS = (
    "selfServed",
    "flowVersion",
    "exitReason",
    "disconnectType",
    "transferType",
    "recognitionFailureReason",
)


def _listed(words: tuple[str, ...]) -> str:
    """a, b and c."""
    return " and ".join(filter(None, (", ".join(words[:-1]), words[-1]))) if words else ""


@dataclass(frozen=True, slots=True)
class Need:
    """One query an alert's rule reads: a counter-mode aggregate with `metrics` (all in the same
    query) grouped by `group_by` (and by none of `without`), `histogram` a timer with lt-only
    views; or, with `details`, an observation query with details: true."""

    metrics: tuple[str, ...] = ()
    group_by: tuple[str, ...] = ()
    without: tuple[str, ...] = ()
    histogram: str = ""
    details: bool = False

    def met_by(self, query: QueryConfig) -> bool:
        if self.details:
            return query.type == "observation" and query.details
        spec = counter_spec(query)
        return (
            spec is not None
            and set(self.metrics) <= set(query.metrics)
            and set(self.group_by) <= set(query.group_by)
            and not set(self.without) & set(query.group_by)
            and (not self.histogram or spec.buckets(self.histogram) is not None)
        )

    def text(self) -> str:
        """What the need asks for, in words."""
        if self.details:
            return "an observation query with details: true"
        metrics = [m for m in self.metrics if m != self.histogram]
        what = " and ".join(metrics)
        if self.histogram:
            histogram = f"{self.histogram} with lt views (a histogram)"
            what = f"{what} and {histogram}" if what else histogram
        text = f"{what} in a counter-mode query grouped by {_listed(self.group_by)}"
        if set(self.without) & set(OUTCOME_DIMENSIONS):
            text += " (no outcome dimension in group_by)"
        return text


ENTRIES = Need(metrics=("nFlow",), group_by=("flowId",), without=KPI_DIMENSIONS)


@dataclass(frozen=True, slots=True)
class Feed:
    """A shipped alert and what feeds it: its needs (none: the self-metrics suffice), and
    whether it reads the name listings' series."""

    alert: str
    needs: tuple[Need, ...] = ()
    names: bool = False


FEEDS: tuple[Feed, ...] = (
    Feed("GenesysCloudFlowNoEntries", (ENTRIES,)),
    Feed(
        "GenesysCloudFlowFailureBudgetBurn",
        (
            Need(
                metrics=("nFlowOutcome", "nFlowOutcomeFailed"),
                group_by=("flowId",),
                without=OUTCOME_DIMENSIONS + KPI_DIMENSIONS,
            ),
        ),
    ),
    Feed(
        "GenesysCloudFlowDisconnectsHigh",
        (
            Need(
                metrics=("tFlow", "tFlowDisconnect"),
                group_by=("flowId",),
                without=KPI_DIMENSIONS,
            ),
        ),
    ),
    Feed(
        "GenesysCloudFlowSlow",
        (
            Need(
                metrics=("tFlow",),
                group_by=("flowId",),
                without=KPI_DIMENSIONS,
                histogram="tFlow",
            ),
        ),
    ),
    Feed(
        "GenesysCloudFlowMilestoneDropped",
        (
            Need(
                metrics=("nFlowMilestone",),
                group_by=("flowId", "flowMilestoneId"),
                without=KPI_DIMENSIONS,
            ),
            ENTRIES,
        ),
    ),
    Feed("GenesysCloudFlowExecutionStuck", (Need(details=True),)),
    # The share of completed executions that were self-served: time in flow counts each
    # completed execution once, split by selfServed and by no other KPI dimension (the rule
    # reads series without flow_version: a share per version is the versions rules' own).
    Feed(
        "GenesysCloudFlowSelfServiceDropped",
        (
            Need(
                metrics=("tFlow",),
                group_by=("flowId", "selfServed"),
                without=tuple(d for d in KPI_DIMENSIONS if d != "selfServed"),
            ),
        ),
    ),
    # A version against the one before it: its failed-outcome share (every outcome of the
    # version in one series) and its hang-up share of completed executions.
    Feed(
        "GenesysCloudFlowVersionRegression",
        (
            Need(
                metrics=("nFlowOutcome", "nFlowOutcomeFailed"),
                group_by=("flowId", "flowVersion"),
                without=OUTCOME_DIMENSIONS,
            ),
            # Hang-ups are the disconnects that were not self-served.
            Need(
                metrics=("tFlow", "tFlowDisconnect"),
                group_by=("flowId", "flowVersion", "selfServed"),
            ),
        ),
    ),
    Feed("GenesysCloudPollerDown"),
    Feed("GenesysCloudPollerQueryFailing"),
    Feed("GenesysCloudPollerDataStale"),
    Feed("GenesysCloudPollerThrottled"),
    Feed("GenesysCloudPollerTokenExpiring"),
    Feed("GenesysCloudPollerLoginRefused"),
    Feed("GenesysCloudPollerNamesFailing", names=True),
    Feed("GenesysCloudPollerBudgetNearLimit"),
)


def feeding(need: Need, queries: Sequence[QueryConfig]) -> list[str]:
    """The names of the queries that meet `need`."""
    return [q.name for q in queries if need.met_by(q)]


def report(config: Config) -> list[str]:
    """check-config's lines on the shipped alerts, for a config without `orgs:` (an org's view):
    those it feeds and from which queries, those it cannot and what they need."""
    fed: list[str] = []
    own: list[str] = []
    unfed: list[str] = []
    for feed in FEEDS:
        if feed.names and not config.names.enabled:
            unfed.append(f"  {feed.alert}: needs the name listings (names.every not off)")
            continue
        if not feed.needs:
            own.append(feed.alert)
            continue
        sources = [feeding(need, config.queries) for need in feed.needs]
        missing = [
            need.text() for need, found in zip(feed.needs, sources, strict=True) if not found
        ]
        if missing:
            unfed.append(f"  {feed.alert}: needs " + "; and ".join(missing))
        else:
            # One query may meet several needs: named once.
            named = dict.fromkeys(" or ".join(s) for s in sources)
            fed.append(f"  {feed.alert}: " + " + ".join(named))
    lines = ["Shipped alerts (deploy/prometheus/rules) this config feeds:", *fed]
    lines.append(f"  {', '.join(own)}: the poller's own metrics")
    if unfed:
        lines += ["It cannot feed:", *unfed]
    if not config.names.enabled:
        lines.append(
            "Note: the flow alerts' summaries name the flow from genesyscloud_flow_info; with "
            "names.every: off they show its id instead."
        )
    return lines
