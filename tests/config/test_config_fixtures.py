"""Golden fixtures: every `*.ok.yaml` loads, every `*.bad.yaml` fails with exactly the problems
in its `*.bad.expected` (one per line, in order)."""

from __future__ import annotations

from pathlib import Path

import pytest

from poller.config import load_config
from poller.errors import ConfigError

FIXTURES = Path(__file__).parent / "fixtures"
OK = sorted(FIXTURES.glob("*.ok.yaml"))
BAD = sorted(FIXTURES.glob("*.bad.yaml"))


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def test_fixture_sets_are_not_empty() -> None:
    """The globs find fixtures, so the parametrized tests below cannot pass vacuously."""
    assert len(OK) >= 3
    assert len(BAD) >= 30


@pytest.mark.parametrize("path", OK, ids=lambda p: p.name)
def test_ok_fixture_loads(path: Path) -> None:
    """A valid fixture loads, with exactly the warnings in its .warnings file (or none)."""
    config = load_config(path, env={})
    warnings_file = path.with_name(path.name.replace(".yaml", ".warnings"))
    expected = _lines(warnings_file) if warnings_file.exists() else []
    assert list(config.warnings) == expected
    assert config.source == str(path)


@pytest.mark.parametrize("path", BAD, ids=lambda p: p.name)
def test_bad_fixture_lists_every_problem(path: Path) -> None:
    """An invalid fixture raises ConfigError whose problems match its .expected file exactly."""
    expected_file = path.with_name(path.name.replace(".yaml", ".expected"))
    assert expected_file.exists(), f"{expected_file.name} is missing"
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    assert caught.value.problems == _lines(expected_file)
    assert caught.value.source == str(path)


def test_secret_in_the_file_is_never_repeated() -> None:
    """A client_secret written into the YAML is refused without echoing its value."""
    with pytest.raises(ConfigError) as caught:
        load_config(FIXTURES / "secrets.bad.yaml", env={})
    assert "s3cr3t-do-not-echo" not in str(caught.value)
    assert "7de3af06" not in str(caught.value)
