"""Running `promtool test rules` on generated test files: one at a time or several in parallel
processes, each result with its output and how long promtool took."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from tests.support.tools import require_tool


@dataclass(frozen=True, slots=True)
class PromtoolResult:
    path: Path
    ok: bool
    output: str
    seconds: float  # wall time of the promtool process


def run_promtool(path: Path, promtool: str | None = None) -> PromtoolResult:
    """`promtool test rules path`, with its combined output and wall time."""
    begun = time.monotonic()
    done = subprocess.run(
        [promtool or require_tool("promtool"), "test", "rules", str(path)],
        capture_output=True,
        text=True,
        check=False,
        cwd=path.parent,
    )
    return PromtoolResult(
        path, done.returncode == 0, done.stdout + done.stderr, time.monotonic() - begun
    )


def run_all(paths: Sequence[Path], workers: int | None = None) -> list[PromtoolResult]:
    """Every file through promtool, `workers` processes at a time (default: one per core)."""
    promtool = require_tool("promtool")
    with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
        return list(pool.map(lambda p: run_promtool(p, promtool), paths))
