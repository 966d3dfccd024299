"""Which orgs a replica polls: rendezvous (highest random weight) hashing of org names.

Every replica computes the same weight for each (org, shard) pair and the org goes to the shard
with the highest weight, so replicas agree on the assignment without talking to each other, and
going from M to M+1 shards moves only the orgs whose weight for the new shard beats all the
others (about 1/(M+1) of them), each to the new shard. kube-state-metrics shards the same way by
`--shard`/`--total-shards`; `--shard.index auto` reads a StatefulSet pod's ordinal from its
hostname (`poller-3` is shard 3).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

MAX_SHARDS: Final = 1000
_ORDINAL = re.compile(r"-(\d+)$")


@dataclass(frozen=True, slots=True)
class Shard:
    """This replica's place: shard `index` of `count` (0 of 1: it owns every org)."""

    index: int = 0
    count: int = 1

    def owns(self, org: str) -> bool:
        return self.count == 1 or owner(org, self.count) == self.index


def weight(org: str, shard: int) -> int:
    """The pair's weight: 64 bits of BLAKE2b, the same on every machine and Python version."""
    digest = hashlib.blake2b(f"{shard}/{org}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def owner(org: str, count: int) -> int:
    """The shard among 0..count-1 that polls `org`."""
    return max(range(count), key=lambda shard: weight(org, shard))


def assignment(orgs: Iterable[str], count: int) -> dict[int, list[str]]:
    """{shard: the orgs it polls, in the order given}, every shard present, for check-config."""
    out: dict[int, list[str]] = {shard: [] for shard in range(count)}
    for org in orgs:
        out[owner(org, count)].append(org)
    return out


class ShardError(ValueError):
    """A bad --shard.index / --shard.count (or their environment variables); says which."""


def ordinal(hostname: str) -> int:
    """The ordinal at the end of a StatefulSet pod's hostname: `poller-3` -> 3."""
    match = _ORDINAL.search(hostname)
    if match is None:
        raise ShardError(
            f"--shard.index auto: the hostname {hostname!r} does not end in -<ordinal> as a "
            "StatefulSet pod's does (poller-0, poller-1, ...); give the index as a number"
        )
    return int(match.group(1))


def parse_shard(index: str | None, count: str | None, hostname: str) -> Shard:
    """The shard from the flags' (or environment's) text; None for a flag not given."""
    if count is None or count.strip() == "":
        total = 1
    else:
        try:
            total = int(count)
        except ValueError:
            total = 0
        if not 1 <= total <= MAX_SHARDS:
            raise ShardError(
                f"--shard.count: expected a whole number from 1 to {MAX_SHARDS}, got {count!r}"
            )
    if index is None or index.strip() == "":
        if total > 1:
            raise ShardError(
                f"--shard.count is {total} but no --shard.index is given; give the index "
                "(0 to count-1) or auto to read it from a StatefulSet pod's hostname"
            )
        return Shard()
    if index.strip() == "auto":
        number = ordinal(hostname)
    else:
        try:
            number = int(index)
        except ValueError:
            raise ShardError(
                f"--shard.index: expected a whole number or auto, got {index!r}"
            ) from None
    if not 0 <= number < total:
        raise ShardError(
            f"--shard.index is {number}, outside 0 to {total - 1} for --shard.count {total}"
        )
    return Shard(number, total)
