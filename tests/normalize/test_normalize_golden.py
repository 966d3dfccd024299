"""Golden tests, json_exporter style: Genesys response in, exact exposition text out.

Each directory under golden/ holds one case:

- response.json: a Genesys response body (shapes from shared/genesys-api.md §2, §2.1, §3.3);
- query.json: {"kind": "aggregate" | "observation", "query": "<query name>"}, and for responses
  with observations "now": the ISO-8601 time the poll was answered (execution ages count to it);
- expected.prom: the exact /metrics text after normalize -> SnapshotStore.publish -> body().

The expected files are the specification, checked by hand against the metric table of the
issue; they are not snapshots of whatever the code does. To add a case, write response.json and
query.json, then run

    UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/normalize/test_normalize_golden.py

which (re)writes every expected.prom instead of comparing, and fails each case to say so (a
written file is never compared with itself); read each new or changed file line by line, then
run the tests again without UPDATE_GOLDEN. Every expected file must also pass
`promtool check metrics`.
"""

from __future__ import annotations

import os
import subprocess

import pytest
import structlog

from tests.normalize.normalize_support import (
    GoldenCase,
    exposition,
    golden_cases,
)
from tests.support.tools import require_tool

CASES = golden_cases()
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_golden_exposition(case: GoldenCase) -> None:
    """Each golden response renders to exactly its expected.prom, byte for byte."""
    body = exposition(case.kind, case.query, case.response, case.now, case.org)
    if UPDATE:
        case.expected_path.write_bytes(body)
        pytest.fail(
            f"UPDATE_GOLDEN=1 wrote {case.expected_path}: review it line by line, then run the "
            "tests without UPDATE_GOLDEN (nothing was compared)",
            pytrace=False,
        )
    assert body == case.expected_path.read_bytes()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_golden_passes_promtool(case: GoldenCase) -> None:
    """Each expected.prom passes `promtool check metrics` (parse and lint) with rc 0."""
    promtool = require_tool("promtool")
    result = subprocess.run(
        [promtool, "check", "metrics"],
        input=case.expected_path.read_bytes(),
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()


def test_golden_cases_are_present() -> None:
    """The golden directory is found and every case has its three files."""
    assert len(CASES) >= 10
    assert all(c.expected_path.is_file() for c in CASES)


def test_normalize_does_not_log() -> None:
    """Normalizing every golden response emits no log events (the normalizer is pure)."""
    with structlog.testing.capture_logs() as logs:
        for case in CASES:
            exposition(case.kind, case.query, case.response, case.now)
    assert logs == []
