"""`python -m tests.bench [--quick] [--only NAME]`: run the benchmarks, print their tables and
write tests/bench/results/latest.json (see tests/bench/README.md)."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Callable, Coroutine
from typing import Any

from tests.bench import (
    bench_alert_rules,
    bench_alerts,
    bench_budget,
    bench_memory,
    bench_normalize,
    bench_orgs,
    bench_scrape,
    bench_silence,
)
from tests.bench.common import RESULTS, BenchError, Section, load_average, quiet_logs, write_results

BENCHES: dict[str, tuple[str, Callable[[Section], Coroutine[Any, Any, None]]]] = {
    "scrape": ("1. Scrape cost", bench_scrape.run),
    "normalize": (
        "2. Normalization throughput and poll-to-exposition latency",
        bench_normalize.run,
    ),
    "memory": ("3. Memory per series", bench_memory.run),
    "budget": ("4. API request budget", bench_budget.run),
    "orgs": ("5. Many orgs in one process", bench_orgs.run),
    "alerts": ("6. Alert detection, fault to notification", bench_alerts.run),
    "alert-rules": (
        "7. The rules over generated traffic: false alarms and faults",
        bench_alert_rules.run,
    ),
    "silence": ("8. GenesysCloudFlowNoEntries as a statistical test, simulated", bench_silence.run),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench", description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", help="small sizes and few repetitions (a smoke test)"
    )
    parser.add_argument(
        "--only", choices=sorted(BENCHES), action="append", help="run only this benchmark"
    )
    args = parser.parse_args(argv)
    quiet_logs()
    names = args.only or list(BENCHES)
    sections: list[Section] = []
    begun = time.monotonic()
    print(f"load average at start: {load_average():.2f}", flush=True)
    try:
        for name in names:
            title, bench = BENCHES[name]
            print(f"\n== {title}{' (--quick)' if args.quick else ''} ==", flush=True)
            section = Section(name, args.quick)
            started = time.monotonic()
            asyncio.run(bench(section))
            section.figures["seconds"] = round(time.monotonic() - started, 1)
            sections.append(section)
    except BenchError as err:
        print(f"benchmark failed: {err}", file=sys.stderr)
        write_results(sections)
        return 2
    write_results(sections)
    missed = [t["target"] for s in sections for t in s.targets if not t["met"]]
    print(
        f"\n{len(names)} benchmark(s) in {time.monotonic() - begun:.0f} s; load average now "
        f"{load_average():.2f}; results in {RESULTS.relative_to(RESULTS.parents[3])}"
    )
    if missed:
        print(f"{len(missed)} target(s) missed:\n  " + "\n  ".join(missed))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
