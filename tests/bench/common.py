"""What every benchmark shares: statistics, child processes, RSS and PSS, tables and the results
file."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import logging
import math
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

ROOT = Path(__file__).resolve().parents[2]
RESULTS = Path(__file__).resolve().parent / "results" / "latest.json"
READY_TIMEOUT = 120.0  # a child builds 100k series (and the naive one 100k Gauge children) first


class BenchError(Exception):
    """A benchmark could not run or produced impossible figures (not a missed target)."""


# -- statistics ---------------------------------------------------------------------------------


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else math.nan


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile: with fewer than 100 values, p99 is the maximum."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def load_average() -> float:
    return os.getloadavg()[0]


# -- reporting ----------------------------------------------------------------------------------


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [[str(h) for h in headers], *[[_cell(v) for v in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = [
        "  ".join(
            c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _cell(value: object) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        if value >= 100:
            return f"{value:,.0f}"
        if value >= 10:
            return f"{value:.1f}"
        return f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def verdict(met: bool) -> str:
    return "target met" if met else "target missed"


@dataclass
class Section:
    """One benchmark's figures and target verdicts, as printed and as stored."""

    name: str
    quick: bool
    load_before: float = field(default_factory=load_average)
    figures: dict[str, Any] = field(default_factory=dict)
    targets: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def target(self, what: str, met: bool, detail: str) -> None:
        self.targets.append({"target": what, "met": met, "detail": detail})
        print(f"  {verdict(met)}: {what} ({detail})", flush=True)

    def note(self, text: str) -> None:
        self.notes.append(text)
        print(f"  note: {text}", flush=True)

    def to_json(self) -> dict[str, Any]:
        return {
            "quick": self.quick,
            "load_average_before": round(self.load_before, 2),
            "load_average_after": round(load_average(), 2),
            "figures": self.figures,
            "targets": self.targets,
            "notes": self.notes,
        }


def write_results(sections: Sequence[Section], path: Path = RESULTS) -> None:
    """Merge the sections into the results file: `--only` refreshes one part of a full run."""
    data: dict[str, Any] = {}
    with contextlib.suppress(OSError, ValueError):
        data = json.loads(path.read_text())
    benches = data.get("benchmarks", {}) if isinstance(data, dict) else {}
    for section in sections:
        benches[section.name] = section.to_json()
    data = {
        "written": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "benchmarks": benches,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


# -- child processes ----------------------------------------------------------------------------


@dataclass
class Child:
    """A benchmark server in its own process; it printed `READY <port> [<port>...]` once
    listening (a daemon adds its control port)."""

    process: asyncio.subprocess.Process
    ports: list[int]
    _drain: asyncio.Task[None]

    @property
    def port(self) -> int:
        return self.ports[0]

    @property
    def control_url(self) -> str:
        return f"http://127.0.0.1:{self.ports[1]}"

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


async def _drain(stream: asyncio.StreamReader) -> None:
    # The child may still write (warnings); an undrained pipe would block it.
    while await stream.readline():
        pass


@contextlib.asynccontextmanager
async def child(
    *args: str, cpu: int | None = None, env: dict[str, str] | None = None
) -> AsyncIterator[Child]:
    """Run `python -m tests.bench.child ARGS` (with `env` added to the environment), yield it
    once ready, stop it by its pid."""
    argv = _argv(args, cpu)
    proc = await asyncio.create_subprocess_exec(
        *argv,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stdin=asyncio.subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
    )
    assert proc.stdout is not None
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), READY_TIMEOUT)
        if not line.startswith(b"READY "):
            raise BenchError(f"child {' '.join(args)} did not start (said {line[:200]!r})")
        drain = asyncio.create_task(_drain(proc.stdout))
        yield Child(proc, [int(p) for p in line.split()[1:]], drain)
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
                await proc.wait()


def _argv(args: Sequence[str], cpu: int | None) -> list[str]:
    argv = [sys.executable, "-m", "tests.bench.child", *args]
    if cpu is not None:
        argv += ["--cpu", str(cpu)]
    return argv


async def run_job(*args: str, cpu: int | None = None, within: float = 900.0) -> Any:
    """Run a one-shot child job and return the JSON of its `RESULT` line."""
    proc = await asyncio.create_subprocess_exec(
        *_argv(args, cpu),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stdin=asyncio.subprocess.DEVNULL,
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), within)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    for line in out.splitlines():
        if line.startswith(b"RESULT "):
            return json.loads(line[7:])
    raise BenchError(f"job {' '.join(args)} exited {proc.returncode} without a result")


def rss_bytes(pid: int | str = "self") -> int:
    """Resident set size from /proc (VmRSS), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise BenchError(f"no VmRSS for process {pid}")


def pss_bytes(pid: int | str) -> int:
    """Proportional set size from /proc (smaps_rollup), in bytes: the process's private pages
    and its share of those it shares, so that a process tree's PSS adds up without counting a
    shared page twice."""
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) * 1024
    raise BenchError(f"no Pss for process {pid}")


def tree_pss(pid: int | str) -> tuple[int, int]:
    """(PSS of `pid`, PSS of every process below it): the daemon, and its decoding worker (with
    the worker's fork for a digest, while one runs) when it runs."""
    below = 0
    for child_pid in descendants(pid):
        with contextlib.suppress(OSError, BenchError):
            below += pss_bytes(child_pid)
    return pss_bytes(pid), below


def descendants(pid: int | str) -> list[int]:
    """Every process below `pid` (children, their children, ...)."""
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            for child_pid in (task / "children").read_text().split():
                out += [int(child_pid), *descendants(child_pid)]
    return out


def descendants_rss(pid: int | str) -> int:
    """The RSS of every process below `pid`: the daemon's decoding worker."""
    total = 0
    for child_pid in descendants(pid):
        with contextlib.suppress(OSError, BenchError):
            total += rss_bytes(child_pid)
    return total


_data_dir: Path | None = None


def dataset_file(series: int, *, marker: int = 0) -> Path:
    """The synthetic response of `series` series as a JSON file children read (made once per
    run, in a directory removed at exit)."""
    from tests.bench.data import make_response

    global _data_dir
    if _data_dir is None:
        _data_dir = Path(tempfile.mkdtemp(prefix="genesyscloud-poller-bench-"))
        atexit.register(shutil.rmtree, _data_dir, True)
    path = _data_dir / f"response-{series}-{marker}.json"
    if not path.exists():
        path.write_bytes(make_response(series, marker=marker).to_json())
    return path


def quiet_logs(level: int = logging.WARNING) -> None:
    """Only `level` and above, to stderr: children keep stdout for their READY line."""
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
    )
    logging.getLogger().setLevel(level)
    logging.getLogger("apscheduler").setLevel(max(level, logging.ERROR))
