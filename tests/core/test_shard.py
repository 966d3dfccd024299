"""Sharding: rendezvous hashing of org names over shards, and the --shard.* flags."""

from __future__ import annotations

import hashlib

import pytest

from poller.shard import Shard, ShardError, assignment, owner, parse_shard

ORGS = [f"org_{i:03d}" for i in range(200)]


def expected_owner(org: str, count: int) -> int:
    """Highest random weight, computed here from the documented hash, not by the product."""

    def w(shard: int) -> int:
        return int.from_bytes(hashlib.blake2b(f"{shard}/{org}".encode(), digest_size=8).digest())

    return max(range(count), key=w)


@pytest.mark.parametrize("count", [1, 2, 3, 5, 8, 16])
def test_shards_together_cover_every_org_exactly_once(count: int) -> None:
    """Each org is owned by exactly one of shards 0..M-1, the one the documented hash picks."""
    owners = {org: [i for i in range(count) if Shard(i, count).owns(org)] for org in ORGS}
    assert all(len(found) == 1 for found in owners.values())
    assert {org: found[0] for org, found in owners.items()} == {
        org: expected_owner(org, count) for org in ORGS
    }


@pytest.mark.parametrize("count", [1, 2, 3, 7])
def test_adding_a_shard_moves_only_the_orgs_the_new_shard_wins(count: int) -> None:
    """From M to M+1 shards, an org moves only to the new shard, and only when its weight there
    beats all others; the share that moves is about 1/(M+1)."""
    moved = [org for org in ORGS if owner(org, count) != owner(org, count + 1)]
    assert all(owner(org, count + 1) == count for org in moved)
    assert moved == [org for org in ORGS if expected_owner(org, count + 1) == count]
    share = len(moved) / len(ORGS)
    assert abs(share - 1 / (count + 1)) < 0.12


def test_assignment_lists_every_shard_even_an_empty_one() -> None:
    """check-config's table: every shard appears, with its orgs in the order given."""
    orgs = ["globex", "acme", "initech"]
    assert assignment(orgs, 6) == {
        shard: [org for org in orgs if expected_owner(org, 6) == shard] for shard in range(6)
    }


@pytest.mark.parametrize(
    ("index", "count", "hostname", "shard"),
    [
        (None, None, "x", Shard(0, 1)),
        ("", "", "x", Shard(0, 1)),
        ("2", "3", "x", Shard(2, 3)),
        ("auto", "4", "genesyscloud-poller-3", Shard(3, 4)),
        ("auto", "12", "poller-10", Shard(10, 12)),
        ("0", "1", "x", Shard(0, 1)),
    ],
)
def test_parse_shard_accepts(
    index: str | None, count: str | None, hostname: str, shard: Shard
) -> None:
    """Numbers, auto from a StatefulSet hostname, and nothing at all (one shard)."""
    assert parse_shard(index, count, hostname) == shard


@pytest.mark.parametrize(
    ("index", "count", "hostname", "message"),
    [
        ("1", None, "x", "--shard.index is 1, outside 0 to 0 for --shard.count 1"),
        ("3", "3", "x", "--shard.index is 3, outside 0 to 2 for --shard.count 3"),
        ("-1", "3", "x", "--shard.index is -1, outside 0 to 2 for --shard.count 3"),
        ("one", "3", "x", "--shard.index: expected a whole number or auto, got 'one'"),
        ("0", "0", "x", "--shard.count: expected a whole number from 1 to 1000, got '0'"),
        ("0", "many", "x", "--shard.count: expected a whole number from 1 to 1000, got 'many'"),
        (None, "3", "x", "--shard.count is 3 but no --shard.index is given"),
        ("auto", "3", "laptop", "the hostname 'laptop' does not end in -<ordinal>"),
        ("auto", "3", "poller-7", "--shard.index is 7, outside 0 to 2 for --shard.count 3"),
    ],
)
def test_parse_shard_refuses_with_the_fix(
    index: str | None, count: str | None, hostname: str, message: str
) -> None:
    """A bad flag names itself and what would be right."""
    with pytest.raises(ShardError) as caught:
        parse_shard(index, count, hostname)
    assert message in str(caught.value)
