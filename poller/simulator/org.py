"""The synthetic Genesys Cloud org: flows, outcomes, milestones and divisions, from a seed.

Every flow is drawn from its own generator seeded with (seed, flow index), so an org of 500
flows starts with the same 20 flows as an org of 20, and the same seed always gives the same
org. Outcomes, milestones and transfer targets are org-wide entities shared by several flows,
as in Architect.

How an execution ends is an `EndVariant`: its END_KINDS entry, whether it was self-served, the
transfer target (TRANSFER only) and the recognition failure reason (if recognition failed). The
record keys of the END and MILESTONE_TOTAL records carry those as dimensions. Every record key
exists twice: for the flow's own version and (`version_offset` places later, `version` 1) for
the version a publish makes (see `activity`), so a publish needs no new keys.
"""

from __future__ import annotations

import dataclasses
import math
import random
import uuid
from dataclasses import dataclass, field
from enum import IntEnum
from statistics import NormalDist
from typing import NamedTuple

# Record kinds: one record is one fact about an execution, stamped with when it happened.
# Which metrics each kind feeds, and with which dimensions, is decided in `engine`.


class Kind(IntEnum):
    START = 0  # the execution entered the flow
    END = 1  # the execution left the flow (value: duration ms)
    OUTCOME = 2  # an outcome completed (value: outcome duration ms)
    MILESTONE = 3  # a milestone was reached
    MILESTONE_TOTAL = 4  # at the end: how often one milestone occurred (value: occurrences)


@dataclass(frozen=True, slots=True)
class EndKind:
    exit_reason: str
    disconnect_type: str
    disconnect: bool  # tFlowDisconnect when true, tFlowExit otherwise
    weight: float  # share within disconnects or within exits


END_KINDS: tuple[EndKind, ...] = (
    EndKind("CUSTOMER_DISCONNECT", "peer", True, 0.75),
    EndKind("FLOW_DISCONNECT", "system", True, 0.17),
    EndKind("FLOW_ERROR_DISCONNECT", "error", True, 0.08),
    EndKind("TRANSFER", "transfer", False, 0.85),
    EndKind("EXIT", "transfer", False, 0.15),
)
CUSTOMER_DISCONNECT, FLOW_DISCONNECT, TRANSFER = 0, 1, 3  # indices into END_KINDS
OUTCOME_VALUES = ("SUCCESS", "FAILURE")


@dataclass(frozen=True, slots=True)
class Target:
    """A transfer target: `transferType` and `transferTargetName` of a TRANSFER end."""

    type: str
    name: str


# Org-wide transfer targets; each flow transfers to 2-4 of them.
TRANSFER_TARGETS: tuple[Target, ...] = (
    Target("ACD", "Billing Queue"),
    Target("ACD", "General Support"),
    Target("ACD", "Technical Support Queue"),
    Target("ACD", "Sales Queue"),
    Target("ACD_VOICEMAIL", "After Hours Voicemail"),
    Target("FLOW", "Callback Scheduler"),
    Target("GROUP", "Escalations Team"),
    Target("NUMBER", "+18005550199"),
)
RECOGNITION_REASONS: tuple[str, ...] = ("NO_INPUT", "NO_MATCH", "ERROR")
# Flow types that collect speech, DTMF or NLU input; the others never fail recognition.
RECOGNIZING_TYPES = frozenset({"INBOUNDCALL", "SECURECALL", "BOT", "DIGITALBOT"})
RECOGNITION_SHARE = (0.04, 0.15)  # range of a recognizing flow's executions whose recognition fails
# A worse published version: share of the outcomes that fail, and how much hang-ups grow.
WORSE_FAILURE = 0.25
WORSE_HANGUP_FACTOR = 2.0


class EndVariant(NamedTuple):
    """How one execution ended: the dimensions of its END and MILESTONE_TOTAL records."""

    ending: int  # index into END_KINDS
    self_served: bool
    target: int = -1  # index into TRANSFER_TARGETS (TRANSFER only), -1 for none
    reason: int = -1  # index into RECOGNITION_REASONS, -1 when recognition did not fail


def end_dims(variant: EndVariant) -> tuple[tuple[str, str], ...]:
    kind = END_KINDS[variant.ending]
    dims = [
        ("exitReason", kind.exit_reason),
        ("disconnectType", kind.disconnect_type),
        ("selfServed", "true" if variant.self_served else "false"),
    ]
    if variant.target >= 0:
        target = TRANSFER_TARGETS[variant.target]
        dims += [("transferType", target.type), ("transferTargetName", target.name)]
    if variant.reason >= 0:
        dims.append(("recognitionFailureReason", RECOGNITION_REASONS[variant.reason]))
    return tuple(dims)


def self_served(ending: int, success: bool) -> bool:
    """Self-served (the simulator's definition): ended in the flow without a transfer or an
    error: the flow disconnected, or the caller hung up after a SUCCESS outcome."""
    return ending == FLOW_DISCONNECT or (ending == CUSTOMER_DISCONNECT and success)


@dataclass(frozen=True, slots=True)
class RecordKey:
    kind: Kind
    dims: tuple[tuple[str, str], ...]  # dimensions the record carries besides the flow's own
    end: EndKind | None = None
    failed: bool = False
    variant: EndVariant | None = None  # END and MILESTONE_TOTAL: how the execution ended
    milestone: str | None = None  # MILESTONE_TOTAL: the milestone's id
    version: int = 0  # 0: the flow's own version; 1: the version a publish makes


@dataclass(frozen=True, slots=True)
class Entity:
    id: str
    name: str


@dataclass(frozen=True, slots=True)
class OutcomePlan:
    outcome: Entity
    keys: tuple[int, int]  # record keys for SUCCESS, FAILURE
    reach: float  # probability that an execution reaches this outcome
    failure: float  # probability that a reached outcome fails


@dataclass(frozen=True, slots=True)
class MilestonePlan:
    milestone: Entity
    key: int  # MILESTONE record key
    reach: float


@dataclass(frozen=True, slots=True)
class Flow:
    index: int
    id: str
    name: str
    type: str
    media_type: str
    version: str
    next_version: str  # the version a publish makes: the next major
    division_id: str
    dims: tuple[tuple[str, str], ...]  # the flow-level dimensions every record carries
    peak: float  # executions per minute at a weekday's peak (see `activity.rate`)
    durations: tuple[int, ...]  # duration quantiles in ms (a lognormal), evenly spaced in p
    end_weights: tuple[float, ...]  # cumulative thresholds over END_KINDS
    outcomes: tuple[OutcomePlan, ...]
    milestones: tuple[MilestonePlan, ...]
    targets: tuple[int, ...]  # indices into TRANSFER_TARGETS
    target_weights: tuple[float, ...]  # cumulative thresholds over `targets`
    recognition: float  # share of executions whose recognition fails (0: not a recognizing type)
    reason_weights: tuple[float, ...]  # cumulative thresholds over RECOGNITION_REASONS
    worse_hangup: float  # under a worse version: chance that another ending becomes a hang-up
    # Version-0 record keys of every way this flow can end, and of its milestone totals by
    # (MILESTONE key, variant); not compared, so a Flow stays hashable.
    end_key: dict[EndVariant, int] = field(compare=False, repr=False)
    total_key: dict[tuple[int, EndVariant], int] = field(compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Profile:
    media_type: str
    median_seconds: float
    sigma: float
    disconnects: tuple[float, float]  # range of the share of executions that end by disconnect
    names: tuple[str, ...]


PROFILES: dict[str, Profile] = {
    "INBOUNDCALL": Profile(
        "voice",
        75.0,
        0.7,
        (0.15, 0.35),
        (
            "Main IVR",
            "Billing Support",
            "Technical Support",
            "Sales Line",
            "After Hours",
            "Customer Care",
            "Claims Line",
            "Store Locator",
            "Password Reset",
            "Spanish Line",
        ),
    ),
    "INBOUNDCHAT": Profile(
        "chat", 150.0, 0.8, (0.25, 0.45), ("Web Chat", "Billing Chat", "Support Chat")
    ),
    "INQUEUECALL": Profile(
        "voice",
        120.0,
        0.9,
        (0.10, 0.30),
        ("Default In-Queue", "Callback Offer", "VIP Hold Messaging", "Billing Hold"),
    ),
    "BOT": Profile(
        "voice", 60.0, 0.6, (0.20, 0.40), ("Order Status Bot", "Appointment Bot", "Balance Bot")
    ),
    "INBOUNDSHORTMESSAGE": Profile(
        "message", 180.0, 0.9, (0.30, 0.50), ("SMS Inbound", "WhatsApp Support")
    ),
    "DIGITALBOT": Profile(
        "message", 120.0, 0.8, (0.25, 0.45), ("Messenger Bot", "FAQ Digital Bot")
    ),
    "SECURECALL": Profile(
        "voice", 45.0, 0.5, (0.05, 0.20), ("Secure Payment", "Identity Verification")
    ),
    "INQUEUESHORTMESSAGE": Profile("message", 200.0, 0.9, (0.15, 0.35), ("Messaging In-Queue",)),
}
# Flow index -> type: voice IVRs dominate, as in most contact centres.
TYPE_CYCLE: tuple[str, ...] = (
    "INBOUNDCALL",
    "INBOUNDCHAT",
    "INQUEUECALL",
    "BOT",
    "INBOUNDCALL",
    "INBOUNDSHORTMESSAGE",
    "INBOUNDCALL",
    "DIGITALBOT",
    "INQUEUECALL",
    "SECURECALL",
    "INBOUNDCALL",
    "INQUEUESHORTMESSAGE",
)
OUTCOME_NAMES: tuple[str, ...] = (
    "Caller Authenticated",
    "Payment Made",
    "Self-Service Complete",
    "Transferred to Agent",
    "Callback Scheduled",
    "Intent Recognized",
    "Balance Provided",
    "Appointment Booked",
    "Order Found",
    "Survey Completed",
    "Address Updated",
    "Card Activated",
)
MILESTONE_NAMES: tuple[str, ...] = (
    "Menu Entered",
    "Language Selected",
    "Account Lookup",
    "Authentication Attempt",
    "Intent Captured",
    "Queue Selected",
    "Payment Attempt",
    "Retry Prompt",
    "Survey Offered",
    "Hold Message Played",
)
DIVISION_NAMES: tuple[str, ...] = ("Home", "Customer Service", "Sales")

# Executions per minute at a weekday's peak: from about 3 an hour to about 3 a second.
PEAK_RANGE = (0.05, 180.0)
GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0
# Share of the outcomes that fail: low enough for a 95% objective to hold on normal traffic.
OUTCOME_FAILURE = (0.01, 0.03)

MAX_DURATION_MS = 20 * 60_000 - 1  # executions end within 20 minutes of their start
MIN_DURATION_MS = 1_000


def mix(*parts: int) -> int:
    """A seed for random.Random from several integers; distinct inputs give distinct seeds."""
    out = 0
    for part in parts:
        out = (out << 64) | (part & 0xFFFF_FFFF_FFFF_FFFF)
    return out


def _normal_quantiles(steps: int = 256) -> tuple[float, ...]:
    unit = NormalDist()
    return tuple(unit.inv_cdf(min(max(i / steps, 0.0005), 0.9995)) for i in range(steps + 1))


Z_QUANTILES = _normal_quantiles()


def _quantiles(mu: float, sigma: float) -> tuple[int, ...]:
    """Duration quantiles of a lognormal, clamped to what an execution may last."""
    return tuple(
        min(max(int(math.exp(mu + sigma * z)), MIN_DURATION_MS), MAX_DURATION_MS)
        for z in Z_QUANTILES
    )


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


class Org:
    """The synthetic org for one seed and size, plus the table of record keys."""

    def __init__(self, seed: int, flows: int) -> None:
        self.seed = seed
        self.keys: list[RecordKey] = []
        self._key_index: dict[RecordKey, int] = {}
        self._end_keys: dict[tuple[EndVariant, str | None], int] = {}
        org_rng = random.Random(mix(seed, 0x0A6))
        self.divisions = tuple(Entity(_uuid(org_rng), n) for n in DIVISION_NAMES)
        self.outcomes = tuple(Entity(_uuid(org_rng), n) for n in OUTCOME_NAMES)
        self.milestones = tuple(Entity(_uuid(org_rng), n) for n in MILESTONE_NAMES)
        self.start_key = self._key(RecordKey(Kind.START, ()))
        self._volume_offset = random.Random(mix(seed, 0x7011)).random()
        self.flows = tuple(self._flow(i) for i in range(max(0, flows)))
        self.by_id = {f.id: f for f in self.flows}
        # Every key again for the published version, `version_offset` places later.
        self.version_offset = len(self.keys)
        for key in list(self.keys):
            self._key(dataclasses.replace(key, version=1))

    def _key(self, key: RecordKey) -> int:
        index = self._key_index.get(key)
        if index is None:
            index = self._key_index[key] = len(self.keys)
            self.keys.append(key)
        return index

    def _name(self, index: int, flow_type: str) -> str:
        # The k-th flow of a type takes the type's k-th name; later rounds get a number.
        rounds_done, rest = divmod(index, len(TYPE_CYCLE))
        nth = rounds_done * TYPE_CYCLE.count(flow_type) + TYPE_CYCLE[:rest].count(flow_type)
        names = PROFILES[flow_type].names
        rounds, pick = divmod(nth, len(names))
        return names[pick] if rounds == 0 else f"{names[pick]} {rounds + 1}"

    def _flow(self, index: int) -> Flow:
        rng = random.Random(mix(self.seed, 0xF10, index))
        flow_type = TYPE_CYCLE[index % len(TYPE_CYCLE)]
        profile = PROFILES[flow_type]
        flow_id = _uuid(rng)
        name = self._name(index, flow_type)
        version = f"{rng.randint(1, 40)}.0"
        division = self.divisions[0] if rng.random() < 0.6 else rng.choice(self.divisions[1:])
        dims = (
            ("flowId", flow_id),
            ("flowName", name),
            ("flowType", flow_type),
            ("flowVersion", version),
            ("mediaType", profile.media_type),
            ("divisionId", division.id),
        )
        share = rng.uniform(*profile.disconnects)
        cumulative: list[float] = []
        total = 0.0
        for kind in END_KINDS:
            total += kind.weight * (share if kind.disconnect else 1.0 - share)
            cumulative.append(total)
        outcomes = tuple(
            OutcomePlan(
                outcome=o,
                keys=(self._outcome_key(o, failed=False), self._outcome_key(o, failed=True)),
                reach=rng.uniform(0.3, 0.8),
                failure=rng.uniform(*OUTCOME_FAILURE),
            )
            for o in rng.sample(self.outcomes, rng.randint(2, 4))
        )
        milestones = tuple(
            MilestonePlan(
                milestone=m,
                key=self._key(RecordKey(Kind.MILESTONE, (("flowMilestoneId", m.id),))),
                reach=rng.uniform(0.3, 0.9),
            )
            for m in rng.sample(self.milestones, rng.randint(1, 4))
        )
        # The KPI dimensions draw from their own generator: the draws above, and so every
        # flow's volume, outcomes and milestones, stay what they were before they existed.
        kpi = random.Random(mix(self.seed, 0xD1E, index))
        targets = tuple(sorted(kpi.sample(range(len(TRANSFER_TARGETS)), kpi.randint(2, 4))))
        recognizing = flow_type in RECOGNIZING_TYPES
        recognition = kpi.uniform(*RECOGNITION_SHARE) if recognizing else 0.0
        hangups = cumulative[CUSTOMER_DISCONNECT]
        variants = _variants(targets, recognizing)
        end_key = {v: self._end_key(v) for v in variants}
        total_key = {
            (m.key, v): self._end_key(v, m.milestone) for m in milestones for v in variants
        }
        return Flow(
            index=index,
            id=flow_id,
            name=name,
            type=flow_type,
            media_type=profile.media_type,
            version=version,
            next_version=f"{int(float(version)) + 1}.0",
            division_id=division.id,
            dims=dims,
            peak=self._peak(index, rng.random()),
            durations=_quantiles(
                math.log(profile.median_seconds * 1000.0 * rng.uniform(0.7, 1.4)), profile.sigma
            ),
            end_weights=tuple(cumulative),
            outcomes=outcomes,
            milestones=milestones,
            targets=targets,
            target_weights=_cumulative([kpi.uniform(0.5, 3.0) for _ in targets]),
            recognition=recognition,
            reason_weights=_cumulative([kpi.uniform(1.0, 3.0) for _ in RECOGNITION_REASONS]),
            # Hang-ups double when this share of the other endings becomes one: h + (1-h)p = 2h.
            worse_hangup=min(1.0, (WORSE_HANGUP_FACTOR - 1.0) * hangups / (1.0 - hangups)),
            end_key=end_key,
            total_key=total_key,
        )

    def _end_key(self, variant: EndVariant, milestone: Entity | None = None) -> int:
        # Flows share most variants: a big org builds each key once, not once per flow.
        memo = (variant, None if milestone is None else milestone.id)
        key = self._end_keys.get(memo)
        if key is not None:
            return key
        dims = end_dims(variant)
        end = END_KINDS[variant.ending]
        if milestone is None:
            key = self._key(RecordKey(Kind.END, dims, end=end, variant=variant))
        else:
            key = self._key(
                RecordKey(
                    Kind.MILESTONE_TOTAL,
                    (("flowMilestoneId", milestone.id), *dims),
                    end=end,
                    variant=variant,
                    milestone=milestone.id,
                )
            )
        self._end_keys[memo] = key
        return key

    def with_variant(self, key: int, variant: EndVariant) -> int:
        """The END or MILESTONE_TOTAL key like `key` (same kind, milestone and version) for an
        execution that ended as `variant` instead."""
        old = self.keys[key]
        dims = end_dims(variant)
        if old.milestone is not None:
            dims = (("flowMilestoneId", old.milestone), *dims)
        new = dataclasses.replace(old, dims=dims, end=END_KINDS[variant.ending], variant=variant)
        return self._key_index[new]

    def _peak(self, index: int, jitter: float) -> float:
        """The flow's peak executions per minute, spread log-uniformly over PEAK_RANGE.

        The flows' places on the log scale follow the golden-ratio sequence from an offset per
        seed, with a little jitter: any few dozen consecutive flows cover the whole range
        evenly, where independent draws would leave gaps and clumps.
        """
        place = (self._volume_offset + index * GOLDEN + 0.02 * (jitter - 0.5)) % 1.0
        low, high = PEAK_RANGE
        return math.exp(math.log(low) + place * (math.log(high) - math.log(low)))

    def _outcome_key(self, outcome: Entity, *, failed: bool) -> int:
        dims = (
            ("flowOutcomeId", outcome.id),
            ("flowOutcome", outcome.name),
            ("flowOutcomeValue", OUTCOME_VALUES[failed]),
        )
        return self._key(RecordKey(Kind.OUTCOME, dims, failed=failed))

    def flow_keys(self, flow: Flow, published: bool = True) -> list[int]:
        """Every record key this flow can produce, with the published version's if asked."""
        keys = [self.start_key, *flow.end_key.values(), *flow.total_key.values()]
        for o in flow.outcomes:
            keys.extend(o.keys)
        keys.extend(m.key for m in flow.milestones)
        return keys + [key + self.version_offset for key in keys] if published else keys


def _variants(targets: tuple[int, ...], recognizing: bool) -> list[EndVariant]:
    """Every way an execution of a flow with these targets can end."""
    reasons = [-1, *range(len(RECOGNITION_REASONS))] if recognizing else [-1]
    out: list[EndVariant] = []
    for ending in range(len(END_KINDS)):
        for served in (False, True):
            if served and ending not in (CUSTOMER_DISCONNECT, FLOW_DISCONNECT):
                continue
            if not served and ending == FLOW_DISCONNECT:
                continue
            for target in targets if ending == TRANSFER else (-1,):
                out.extend(EndVariant(ending, served, target, r) for r in reasons)
    return out


def _cumulative(weights: list[float]) -> tuple[float, ...]:
    total = sum(weights)
    out, run = [], 0.0
    for w in weights:
        run += w / total
        out.append(run)
    return tuple(out)
