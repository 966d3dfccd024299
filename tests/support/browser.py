"""A real headless Chromium for tests: load a page, let its scripts run, and read back the DOM
it ended with (`dump_dom`) or a picture of it (`screenshot`); `Dom` parses the dump.

Debian's `chromium` (`make tools` installs it). Every run is a fresh browser with an empty
profile, so nothing carries over between runs. A missing browser fails the test with the
install hint; it never skips.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.parse
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Screenshots and dumps a person can look at after a run (build/ is gitignored).
ARTIFACTS = ROOT / "build" / "test-artifacts"
INSTALL_HINT = (
    "Chromium is missing: install Debian's package with `sudo apt-get install chromium` "
    "(`make tools` does it when run as root)"
)
# Headless, no sandbox (CI runs as root), and none of the background connections that a closed
# network refuses (Google's update, sync and network-prediction hosts). --disable-dev-shm-usage:
# a container's /dev/shm is small (Debian's launcher means to add it, but its check fails when
# findmnt prints more than one line).
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)
# Virtual time the page gets before the dump: its scripts, timers and loads run first. Virtual
# time runs faster than real time on an idle page, so this costs well under a second.
VIRTUAL_TIME_MS = 3000
# Chromium's stderr on a machine without D-Bus, and the Debian launcher's complaint: noise.
NOISE = ("dbus/", "/usr/bin/chromium: ", "Fontconfig", "bytes written to file")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class ChromiumError(AssertionError):
    """Chromium exited non-zero, timed out or produced nothing."""


def chromium() -> str:
    """The Chromium binary: `chromium` on PATH, else /usr/bin/chromium; fails the test without."""
    found = shutil.which("chromium") or shutil.which("/usr/bin/chromium")
    if found is None:
        pytest.fail(INSTALL_HINT, pytrace=False)
    return found


def artifact(name: str) -> Path:
    """A path under ARTIFACTS (created on demand) for a file a person may want to look at."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS / name


def with_basic_auth(url: str, user: str, password: str) -> str:
    """`url` with `user:password@` in it: headless Chromium answers a basic-auth challenge with
    the URL's credentials (seen with Chromium 156)."""
    parts = urllib.parse.urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    creds = f"{urllib.parse.quote(user, safe='')}:{urllib.parse.quote(password, safe='')}"
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{creds}@{host}"))


@dataclass
class Run:
    """One Chromium run: what it printed and how long it took (real seconds)."""

    stdout: str
    stderr: str
    seconds: float


def _stderr_tail(stderr: str, lines: int = 20) -> str:
    useful = [line for line in stderr.splitlines() if not any(n in line for n in NOISE)]
    return "\n".join((useful or stderr.splitlines())[-lines:])


def run_chromium(*args: str, timeout: float = 60) -> Run:
    """Chromium with FLAGS, a new empty profile and `args`; raises ChromiumError (with its stderr's
    tail, D-Bus noise left out) when it exits non-zero or outlasts `timeout` seconds."""
    binary = chromium()
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        command = [binary, *FLAGS, f"--user-data-dir={profile}", *args]
        started = time.monotonic()
        # Its own session, so a timeout kills the browser and every helper process it started.
        proc = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            start_new_session=True,
        )
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            stdout, stderr = proc.communicate()
            raise ChromiumError(
                f"chromium outlasted {timeout:g}s: {' '.join(args)}\n{_stderr_tail(stderr)}"
            ) from None
        seconds = time.monotonic() - started
    if proc.returncode != 0:
        raise ChromiumError(
            f"chromium exited with {proc.returncode}: {' '.join(args)}\n{_stderr_tail(stderr)}"
        )
    return Run(stdout, stderr, seconds)


def dump_dom(url: str, *, timeout: float = 60, virtual_time_ms: int = VIRTUAL_TIME_MS) -> str:
    """The page at `url` serialized as Chromium's DOM holds it after the page's scripts ran (for
    `virtual_time_ms` of virtual time); for basic auth, pass a `with_basic_auth` URL."""
    run = run_chromium(
        f"--virtual-time-budget={virtual_time_ms}", "--dump-dom", url, timeout=timeout
    )
    if not run.stdout.strip():
        raise ChromiumError(f"chromium dumped nothing for {url}\n{_stderr_tail(run.stderr)}")
    return run.stdout


def screenshot(
    url: str,
    path: Path,
    *,
    width: int = 1280,
    height: int = 900,
    timeout: float = 60,
    virtual_time_ms: int = VIRTUAL_TIME_MS,
) -> Path:
    """A `width` x `height` PNG of the page at `url` (after its scripts ran), written to `path`;
    returns `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    run = run_chromium(
        f"--virtual-time-budget={virtual_time_ms}",
        f"--window-size={width},{height}",
        f"--screenshot={path.resolve()}",
        url,
        timeout=timeout,
    )
    if not path.is_file() or path.stat().st_size == 0:
        raise ChromiumError(f"chromium wrote no screenshot of {url}\n{_stderr_tail(run.stderr)}")
    if not path.read_bytes().startswith(PNG_SIGNATURE):
        raise ChromiumError(f"chromium's screenshot of {url} is not a PNG: {path}")
    return path


@dataclass
class Element:
    tag: str
    attrs: dict[str, str | None]
    text: str = ""  # the text directly and indirectly inside it
    children: list[Element] = field(default_factory=list)

    def find_all(self, tag: str) -> list[Element]:
        """Elements named `tag` inside this one, in document order."""
        out = []
        for child in self.children:
            if child.tag == tag:
                out.append(child)
            out.extend(child.find_all(tag))
        return out


VOID = frozenset(
    [
        "area",
        "base",
        "br",
        "col",
        "embed",
        "hr",
        "img",
        "input",
        "link",
        "meta",
        "source",
        "track",
        "wbr",
    ]
)


class Dom(HTMLParser):
    """A dumped DOM, parsed: every element with its attributes and text, and the page's visible
    text (outside script, style and title). Chromium serializes well-formed HTML, so a stack of
    open elements is enough."""

    def __init__(self, source: str) -> None:
        super().__init__(convert_charrefs=True)
        self.source = source
        self.elements: list[Element] = []
        self._open: list[Element] = []
        self._text: list[str] = []
        self.feed(source)
        self.close()
        self.text = "".join(self._text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, dict(attrs))
        self.elements.append(element)
        if self._open:
            self._open[-1].children.append(element)
        if tag not in VOID:
            self._open.append(element)

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self._open) - 1, -1, -1):
            if self._open[i].tag == tag:
                del self._open[i:]
                return

    def handle_data(self, data: str) -> None:
        for element in self._open:
            element.text += data
        if not any(e.tag in ("script", "style", "title") for e in self._open):
            self._text.append(data)

    def find_all(self, tag: str) -> list[Element]:
        return [e for e in self.elements if e.tag == tag]

    @property
    def title(self) -> str:
        titles = self.find_all("title")
        return titles[0].text.strip() if titles else ""
