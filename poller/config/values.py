"""The config's value types, each read from text: durations, listen addresses, base URLs,
regions and time zones.

The readers here raise `InvalidError` with a message that has no location, because the same
value can come from the file (the checker adds the path and line), from an environment variable
or from the command line (the public `parse_*` functions name it with `where`).
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Callable
from functools import cache
from typing import Final, TypeVar
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from poller import catalog
from poller.config.messages import describe, did_you_mean, quote
from poller.errors import ConfigError

MAX_DURATION: Final = 365 * 24 * 3600.0  # longer ones overflow timedelta and the scheduler

_NUMBER = r"([0-9]+(?:\.[0-9]+)?)"
_DURATION = re.compile(rf"(?:{_NUMBER}h)?(?:{_NUMBER}m)?(?:{_NUMBER}s)?(?:{_NUMBER}ms)?")
_DURATION_UNITS: Final = (3600.0, 60.0, 1.0, 0.001)
_DURATION_EXAMPLE = "a duration such as 15s, 15m or 1h30m"
_HOST_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_LISTEN_HINT = "write host:port, such as 0.0.0.0:9864, 127.0.0.1:9864, [::1]:9864 or :9864"

_T = TypeVar("_T")


class InvalidError(Exception):
    """A value is wrong; the message has no location, the caller adds it."""


class TooLongError(InvalidError):
    """A well-formed duration beyond MAX_DURATION."""


def _or_config_error(read: Callable[[object], _T], value: object, where: str) -> _T:
    try:
        return read(value)
    except InvalidError as exc:
        raise ConfigError([str(exc)], source=where) from None


def duration_seconds(value: object, expected: str = _DURATION_EXAMPLE) -> float:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise InvalidError(f"expected {expected}, found {describe(value)}")
    if not isinstance(value, str):
        # Integers are not converted to float: one of 400 digits would overflow.
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            value = int(value)
        text = str(value) if isinstance(value, int) else repr(value)
        if value < 0 or len(text) > 30 or (isinstance(value, float) and not math.isfinite(value)):
            raise InvalidError(f"expected {expected}, found {describe(value)}")
        raise InvalidError(f"{text} has no unit; write {text}s")
    match = _DURATION.fullmatch(value.strip())
    if match is None or not any(match.groups()):
        raise InvalidError(
            f"invalid duration {quote(value)}; use a number with a unit (ms, s, m or h), "
            "such as 500ms, 15s or 1h30m"
        )
    total = sum(
        float(part) * unit
        for part, unit in zip(match.groups(), _DURATION_UNITS, strict=True)
        if part is not None
    )
    if total > MAX_DURATION:
        raise TooLongError(f"{quote(value)} is too long; the longest allowed is 8760h (a year)")
    return total


def parse_duration(text: object, *, where: str) -> float:
    """Seconds in a duration such as 500ms, 15s, 15m, 1h, 1h30m or 24h.

    Units go from large to small, each at most once. A bare number is refused, since `60` could
    mean seconds or minutes. Raises ConfigError with `source=where`.
    """
    return _or_config_error(duration_seconds, text, where)


def format_duration(seconds: float) -> str:
    """The canonical text of a duration: 5400 -> "1h30m", 0.5 -> "500ms", 0 -> "0s"."""
    millis = round(seconds * 1000)
    if millis <= 0:
        return "0s"
    out = ""
    for unit, size in (("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)):
        count, millis = divmod(millis, size)
        if count:
            out += f"{count}{unit}"
    return out


def _valid_host(host: str) -> bool:
    if host == "":
        return True  # all interfaces
    try:
        return ipaddress.ip_address(host).version == 4
    except ValueError:
        pass
    labels = host.rstrip(".").split(".")
    if all(label.isdigit() for label in labels):
        return False  # looks like an IPv4 address but is not one
    return len(host) <= 253 and all(_HOST_LABEL.fullmatch(label) for label in labels)


def listen_address(value: object) -> tuple[str, int]:
    if not isinstance(value, str):
        raise InvalidError(f'expected a string such as "0.0.0.0:9864", found {describe(value)}')
    text = value.strip()
    if text.startswith("["):
        match = re.fullmatch(r"\[([^\]]*)\]:([0-9]+)", text)
        if match is None:
            raise InvalidError(f"invalid address {quote(value)}; {_LISTEN_HINT}")
        host, port_text = match.group(1), match.group(2)
        try:
            is_v6 = ipaddress.ip_address(host).version == 6
        except ValueError:
            is_v6 = False
        if not is_v6:
            raise InvalidError(
                f"invalid IPv6 address {quote(host)}; brackets hold an IPv6 address, such as [::1]"
            )
    else:
        host, sep, port_text = text.rpartition(":")
        if not sep or not port_text.isdigit() or not port_text.isascii():
            raise InvalidError(f"invalid address {quote(value)}; {_LISTEN_HINT}")
        if ":" in host:
            raise InvalidError(
                f"invalid address {quote(value)}; put an IPv6 address in brackets, such as "
                "[::1]:9864"
            )
        if not _valid_host(host):
            raise InvalidError(f"invalid host {quote(host)}; use an IP address or a host name")
    port = int(port_text[:6])
    if len(port_text) > 5 or port > 65535:
        raise InvalidError(f"port {quote(port_text)} is out of range; use 0 to 65535")
    return host, port


def parse_listen_address(text: str, *, where: str) -> tuple[str, int]:
    """(host, port) from 0.0.0.0:9864, 127.0.0.1:0, [::1]:9864 or :9864.

    IPv6 hosts come back without brackets; ":9864" gives host "" (all interfaces, as asyncio
    reads it). Raises ConfigError with `source=where`.
    """
    return _or_config_error(listen_address, text, where)


@cache
def time_zones() -> tuple[str, ...]:
    return tuple(sorted(available_timezones()))


def valid_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        # ValueError covers keys that escape the zone directory and files that are not zones.
        return False
    return True


def region_domain(name: str) -> str | None:
    if name in catalog.REGIONS:
        return catalog.REGIONS[name]
    if name in catalog.REGIONS.values():
        return name
    return None


def region_problem(name: str) -> str:
    choices = [*catalog.REGIONS, *catalog.REGIONS.values()]
    return (
        f"unknown region {quote(name)}{did_you_mean(name, choices)}; use a region domain such "
        "as mypurecloud.ie or an SDK region name such as eu_west_1"
    )


def base_url(value: str) -> str:
    """`value` checked as an http(s) base URL, without its trailing slash."""
    url = value.strip().rstrip("/")
    # The value is never echoed: a URL can carry a password.
    expected = "expected an http:// or https:// URL with a host, such as https://api.mypurecloud.ie"
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError for a port that is not a number from 0 to 65535
    except ValueError:
        raise InvalidError(expected) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidError(expected)
    if parts.username is not None or parts.password is not None:
        raise InvalidError("must not contain a user name or password")
    if parts.query or parts.fragment:
        raise InvalidError("must not contain a query (?) or fragment (#)")
    return url
