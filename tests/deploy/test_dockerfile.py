"""The Dockerfile and its build context, read statically (test_container.py builds it)."""

from __future__ import annotations

import re

from tests.deploy.deploy_support import DOCKERFILE, ROOT, run
from tests.support.tools import require_tool

# What the build must see (hatchling reads the readme; the wheel carries the demo config) and
# what must stay out of the context.
NEEDED = ["pyproject.toml", "README.md", "poller/cli.py", "poller/__init__.py", "config/demo.yaml"]
LEFT_OUT = [".venv/bin/python", ".git/HEAD", "tests/deploy/test_dockerfile.py", "deploy/x.yml",
            "poller/__pycache__/cli.cpython-311.pyc", "config/poller.yaml"]  # fmt: skip


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern as a regex: `**` crosses directories, `*` and `?` do not."""
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out))


def _ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last pattern that matches the path or one of its parents wins."""
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        regex = _pattern_regex(pattern.removeprefix("!").rstrip("/"))
        if any(regex.fullmatch(c) for c in candidates):
            ignored = not negate
    return ignored


def test_hadolint_reports_nothing() -> None:
    """hadolint finds no problem in the Dockerfile."""
    result = run([require_tool("hadolint"), str(DOCKERFILE)], cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_both_stages_use_the_base_image_argument() -> None:
    """Every FROM uses ARG BASE_IMAGE (default python:3.11-slim), so tests can swap the base."""
    steps = _instructions()
    assert ("ARG", "BASE_IMAGE=python:3.11-slim") in steps
    froms = [args for word, args in steps if word == "FROM"]
    assert len(froms) == 2
    assert all(args.split()[0] == "${BASE_IMAGE}" for args in froms)


def test_python_is_called_python3_for_debian_base_images() -> None:
    """No RUN calls a bare `python`: Debian's interpreter is only /usr/bin/python3."""
    for word, args in _instructions():
        if word == "RUN":
            assert not re.search(r"(^|[\s;&|])python(\s|$)", args), args
            assert "python3 -m venv" in args or "/bin/python" in args


def test_runtime_runs_as_fixed_non_root_user_with_the_console_script() -> None:
    """The image runs `genesyscloud-poller run` as uid 10001, with the config path preset."""
    steps = _instructions()
    runtime = steps[max(i for i, (w, _) in enumerate(steps) if w == "FROM") :]
    users = [args for word, args in runtime if word == "USER"]
    assert users == ["10001:10001"]
    entry = [args for word, args in runtime if word == "ENTRYPOINT"]
    assert entry == ['["/opt/genesyscloud-poller/bin/genesyscloud-poller", "run"]']
    env = " ".join(args for word, args in runtime if word == "ENV")
    assert "POLLER_CONFIG=/etc/genesyscloud-poller/poller.yaml" in env
    assert "PYTHONDONTWRITEBYTECODE=1" in env
    assert ("EXPOSE", "9864") in runtime


def test_healthcheck_probes_healthz_with_python() -> None:
    """HEALTHCHECK asks /healthz with Python's urllib (slim images have no curl)."""
    checks = [args for word, args in _instructions() if word == "HEALTHCHECK"]
    assert len(checks) == 1
    assert "urllib.request" in checks[0]
    assert "http://127.0.0.1:9864/healthz" in checks[0]


def test_oci_labels_name_source_version_and_license() -> None:
    """The image carries the OCI source, version and Apache-2.0 license labels."""
    labels = " ".join(args for word, args in _instructions() if word == "LABEL")
    assert 'org.opencontainers.image.licenses="Apache-2.0"' in labels
    assert 'org.opencontainers.image.version="${VERSION}"' in labels
    assert 'org.opencontainers.image.source="https://' in labels


def test_dockerignore_sends_only_the_wheel_inputs() -> None:
    """The build context holds what the wheel build needs and none of the venv, git or tests."""
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert [p for p in NEEDED if _ignored(p, patterns)] == []
    assert [p for p in LEFT_OUT if not _ignored(p, patterns)] == []
    assert [p for p in NEEDED if not (ROOT / p).is_file()] == []
