"""What every benchmark shares: timing helpers, peak memory, and one JSON file per run
under bench/results/ with the figures, the baseline measured in the same run, and
whether the target was met."""

from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as `python bench/x.py` from a fresh clone
    sys.path.insert(0, str(ROOT))


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports kilobytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[index]


class Stopwatch:
    def __enter__(self) -> Stopwatch:
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.start


# Set by `parse_quick`: a quick run's figures go to bench/results/quick-<name>.json, so
# `make test` never overwrites the figures of a full run.
_QUICK = False


def parse_quick(
    parser: argparse.ArgumentParser, argv: list[str] | None = None, **sizes: object
) -> argparse.Namespace:
    """Adds --quick (seconds, tiny sizes: the same code path, as `make test` runs every
    benchmark so a rename cannot break one unnoticed) and parses; `sizes` replace the
    arguments of the same name in a quick run."""
    global _QUICK
    parser.add_argument("--quick", action="store_true", help="seconds, tiny sizes (make test)")
    args = parser.parse_args(argv)
    if args.quick:
        _QUICK = True
        for key, value in sizes.items():
            setattr(args, key, value)
    return args


def report(
    name: str,
    *,
    figures: dict[str, Any],
    baseline: dict[str, Any],
    ratios: dict[str, float],
    targets: dict[str, str],
    met: bool,
) -> Path:
    """Prints the figures and writes bench/results/<name>.json."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    data = {
        "name": name,
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "cpus": _cpus()},
        "figures": figures,
        "baseline": baseline,
        "ratios": ratios,
        "targets": targets,
        "met": met,
    }
    path = RESULTS / f"{'quick-' if _QUICK else ''}{name}.json"
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"== {name}")
    for title, values in (("figures", figures), ("baseline", baseline), ("ratios", ratios)):
        for key, value in values.items():
            shown = f"{value:.3f}" if isinstance(value, float) else str(value)
            print(f"  {title:8} {key:34} {shown}")
    for key, target in targets.items():
        print(f"  target   {key:34} {target}")
    print(f"  {'MET' if met else 'MISSED'} -> {path.relative_to(ROOT)}")
    return path


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


# Where a profiled function's own time is counted: by its file's package, or for a C
# function by what its name says. First match wins.
_GROUPS = (
    ("sqlite3", "SQLite (the C library)"),
    ("asyncpg", "asyncpg (the driver)"),
    ("greenlet", "SQLAlchemy's async bridge (greenlet)"),
    ("/sqlalchemy/", "SQLAlchemy"),
    ("/sqlmodel/", "SQLAlchemy"),
    ("/pydantic", "pydantic"),
    ("/aiogram/", "aiogram"),
    ("/aiohttp/", "aiohttp"),
    ("/multidict/", "aiohttp"),
    ("/yarl/", "aiohttp"),
    ("/jinja2/", "Jinja2 and Babel (templates)"),
    ("/templates/", "Jinja2 and Babel (templates)"),
    ("/babel/", "Jinja2 and Babel (templates)"),
    ("/asyncio/", "asyncio"),
)


def _group(filename: str, name: str) -> str:
    where = f"{filename} {name}"
    own = filename.startswith(str(ROOT)) and "site-packages" not in filename
    if own and "/templates/" not in filename:
        under_bench = filename.startswith(str(ROOT / "bench"))
        return "the benchmark's own driver" if under_bench else "Ouderloket's own code"
    return next((g for key, g in _GROUPS if key in where), "Python's standard library, other")


def cpu_by_group(stats: Any) -> list[tuple[str, float]]:
    """A pstats.Stats's own time (tottime) per group of _GROUPS, as shares of the whole,
    largest first: where the CPU goes. A built-in (isinstance, dict.get, …) is counted
    with whoever called it, in proportion."""
    totals: dict[str, float] = {}
    for (filename, _line, name), row in stats.stats.items():
        if "select.epoll" in name:
            continue  # waiting for the network or a timer: time, but no CPU
        callers = row[4]
        if filename == "~" and not any(key in name for key, _ in _GROUPS) and callers:
            for (c_file, _c_line, c_name), c_row in callers.items():
                group = _group(c_file, c_name)
                totals[group] = totals.get(group, 0.0) + c_row[2]
            continue
        group = _group(filename, name)
        totals[group] = totals.get(group, 0.0) + row[2]
    whole = sum(totals.values()) or 1.0
    return sorted(((g, t / whole) for g, t in totals.items()), key=lambda x: -x[1])


def print_cpu_table(stats: Any, title: str) -> None:
    print(f"\n== where the CPU goes: {title}")
    for group, share in cpu_by_group(stats):
        print(f"  {share * 100:5.1f} %  {group}")
