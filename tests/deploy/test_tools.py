"""The rule for external tools: present, or the test fails with the install command."""

from __future__ import annotations

import pytest

from tests.support.tools import install_hint, require_tool


@pytest.mark.parametrize("ci", ["true", None])
def test_missing_tool_fails_with_the_install_command(
    monkeypatch: pytest.MonkeyPatch, ci: str | None
) -> None:
    """Without promtool the test fails (never skips), naming the Debian package, whether or not
    CI is set."""
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    with pytest.raises(pytest.fail.Exception) as failed:
        require_tool("promtool", program="promtool-that-is-not-installed")
    assert str(failed.value) == install_hint("promtool")
    assert "apt-get install -y --no-install-recommends prometheus" in str(failed.value)


def test_present_tool_is_found() -> None:
    """An installed tool's path is returned (promtool, which `make tools` installs)."""
    assert require_tool("promtool").endswith("/promtool")
