"""The frozen configuration model the rest of the daemon sees (built by `poller.config`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

QueryType = Literal["aggregate", "observation"]
QueryMode = Literal["gauge", "counter"]
DecodeWorker = Literal["on_demand", "at_start"]
DAY_SECONDS = 86400.0
DEFAULT_SETTLE = 600.0  # seconds a closed counter period keeps settling
# Series one poll of a query may publish, as Prometheus' sample_limit: past it, the poll fails.
DEFAULT_MAX_SERIES = 20000


class Secret:
    """A string that never shows itself in repr, str, logs or tracebacks."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True, slots=True)
class Credentials:
    client_id: str
    client_secret: Secret
    # Where they were read from, for the fix a refused login names (never a value).
    origin: str = "GENESYS_CLIENT_ID, GENESYS_CLIENT_SECRET"


@dataclass(frozen=True, slots=True)
class PushSettings:
    """An org's Notifications API push (`genesys.push`): flow aggregates between polls."""

    enabled: bool = False
    interval: float = 1800.0  # seconds: the org's analytics interval the topics publish (15/30/60m)
    max_channels: int = 4  # of the 20 channels Genesys allows an OAuth client
    ping_after: float = 60.0  # seconds of socket silence (heartbeats come ~30 s) before a ping


@dataclass(frozen=True, slots=True)
class GenesysSettings:
    region: str  # the region's domain, e.g. mypurecloud.ie
    api_base_url: str  # https://api.<domain> unless GENESYS_API_BASE_URL replaces it
    login_base_url: str  # https://login.<domain> unless GENESYS_LOGIN_BASE_URL replaces it
    requests_per_minute: int = 300
    timeout: float = 30.0  # seconds, per HTTP request
    strict_names: bool = True
    max_response_bytes: int = 50 * 1024 * 1024
    push: PushSettings = field(default_factory=PushSettings)


@dataclass(frozen=True, slots=True)
class ServerSettings:
    host: str = "0.0.0.0"
    port: int = 9864
    # When the process that digests large responses starts: at the first one, or at start-up.
    decode_worker: DecodeWorker = "on_demand"


@dataclass(frozen=True, slots=True)
class View:
    name: str
    target: str
    gte: float | None = None
    lt: float | None = None


@dataclass(frozen=True, slots=True)
class Window:
    """`today` (calendar day in the query's time zone so far) or a sliding duration."""

    today: bool
    seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class QueryConfig:
    name: str
    type: QueryType
    every: float  # seconds
    metrics: tuple[str, ...]
    window: Window = field(default_factory=lambda: Window(today=False, seconds=3600.0))
    time_zone: str = "UTC"
    delay: float = 0.0  # seconds
    group_by: tuple[str, ...] = ()
    filter: Any = None  # the Genesys filter object, verbatim (validated JSON-like data)
    views: tuple[View, ...] = ()
    stale_after: float = 0.0  # seconds; 0 means 10 x every
    details: bool = False  # observation queries: ask for detailMetrics (execution ages)
    # Aggregate queries: `counter` counts from the start of each calendar period (`period`
    # seconds, aligned to midnight in time_zone) and keeps a closed period for `settle` seconds.
    mode: QueryMode = "gauge"
    period: float = DAY_SECONDS
    settle: float = DEFAULT_SETTLE
    max_series: int = DEFAULT_MAX_SERIES  # a poll whose result has more series fails

    @property
    def stale_after_seconds(self) -> float:
        return self.stale_after if self.stale_after > 0 else 10 * self.every


@dataclass(frozen=True, slots=True)
class NamesSettings:
    """The Architect listings that give ids their names (the `_info` families)."""

    enabled: bool = True
    every: float = 3600.0  # seconds between refreshes


@dataclass(frozen=True, slots=True)
class CredentialSource:
    """Where an org's OAuth client is read from, never the values: one environment variable or
    one file for each of the id and the secret. All empty: GENESYS_CLIENT_ID and
    GENESYS_CLIENT_SECRET (or their _FILE forms), for a config without `orgs:`."""

    client_id_env: str = ""
    client_secret_env: str = ""
    client_id_file: str = ""
    client_secret_file: str = ""


@dataclass(frozen=True, slots=True)
class OrgConfig:
    """One Genesys Cloud org: its hosts and limits, its OAuth client, and its queries."""

    name: str  # the `org` label; "" for the one org of a config without `orgs:` (no label)
    genesys: GenesysSettings
    credentials: CredentialSource
    queries: tuple[QueryConfig, ...]


@dataclass(frozen=True, slots=True)
class Config:
    # Without `orgs:`, the one org's settings; with it, the defaults every org starts from
    # (its hosts then empty unless `genesys.region` is set).
    genesys: GenesysSettings
    server: ServerSettings
    queries: tuple[QueryConfig, ...]  # top-level `queries:`, for orgs without their own
    source: str = "<config>"
    names: NamesSettings = field(default_factory=NamesSettings)
    # Problems that `genesys.strict_names: false` downgraded from errors; the daemon logs them.
    warnings: tuple[str, ...] = ()
    orgs: tuple[OrgConfig, ...] = ()  # from `orgs:`, in file order; empty without it

    def org_list(self) -> tuple[OrgConfig, ...]:
        """Every org to poll: those of `orgs:`, or the one unnamed org of a config without."""
        if self.orgs:
            return self.orgs
        return (OrgConfig("", self.genesys, CredentialSource(), self.queries),)
