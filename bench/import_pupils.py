"""Import: a generated ParnasSys export of 20,000 pupils (about 36,000 guardians) into a
fresh SQLite database, then the same file again; each in its own process so its peak
memory is its own. Baseline in the same run: reading the same file with the csv module
and writing its rows with plain sqlite3 executemany (no validation, no ORM).

    .venv/bin/python bench/import_pupils.py [--pupils 20000] [--database-url URL]

Targets: <= 5 s and <= 300 MB peak; the re-import at least as fast."""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from common import ROOT, parse_quick, peak_rss_mb, report  # type: ignore[import-not-found]


def child_import(csv_path: Path, database_url: str) -> dict[str, float]:
    from storage.db import create_engine, create_session_factory, transaction
    from storage.importers.pupils import import_pupils
    from storage.migrate import upgrade

    async def go() -> dict[str, float]:
        engine = create_engine(database_url)
        await upgrade(engine)
        start = time.perf_counter()
        async with transaction(create_session_factory(engine)) as session:
            summary = await import_pupils(
                session, csv_path, datetime.now(UTC), filename=csv_path.name
            )
        seconds = time.perf_counter() - start
        await engine.dispose()
        return {
            "seconds": seconds,
            "pupils": float(
                summary.pupils_added + summary.pupils_updated + summary.pupils_unchanged
            ),
        }

    result = asyncio.run(go())
    result["peak_mb"] = peak_rss_mb()
    return result


def child_baseline(csv_path: Path, db_path: Path) -> dict[str, float]:
    start = time.perf_counter()
    with csv_path.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter=";"))
    connection = sqlite3.connect(db_path)
    columns = list(rows[0])
    connection.execute(f"CREATE TABLE raw ({', '.join(columns)})")
    connection.executemany(
        f"INSERT INTO raw VALUES ({', '.join('?' for _ in columns)})",
        [tuple(r[c] for c in columns) for r in rows],
    )
    connection.commit()
    connection.close()
    return {"seconds": time.perf_counter() - start, "peak_mb": peak_rss_mb()}


def run_child(*args: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", *args],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pupils", type=int, default=20_000)
    parser.add_argument("--database-url", help="default: a new SQLite file")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parse_quick(parser, pupils=300)
    if args.child:
        kind, csv_path, target = args.child
        if kind == "import":
            result = child_import(Path(csv_path), target)
        else:
            result = child_baseline(Path(csv_path), Path(target))
        print(json.dumps(result))
        return 0

    sys.path.insert(0, str(ROOT / "data"))
    import generate_pupils  # type: ignore[import-not-found]

    with tempfile.TemporaryDirectory() as folder:
        csv_path = Path(folder) / "export.csv"
        rows = generate_pupils.generate(args.pupils, seed=20)
        generate_pupils.write_csv(rows, csv_path)
        guardians = len({r[c] for r in rows for c in ("ouder1_email", "ouder2_email") if r[c]})
        url = args.database_url or f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
        baseline = run_child("baseline", str(csv_path), str(Path(folder) / "raw.db"))
        first = run_child("import", str(csv_path), url)
        again = run_child("import", str(csv_path), url)

    peak = max(first["peak_mb"], again["peak_mb"])
    met = first["seconds"] <= 5 and peak <= 300 and again["seconds"] <= first["seconds"]
    report(
        "import_pupils",
        figures={
            "pupils": args.pupils,
            "guardians": guardians,
            "import_s": first["seconds"],
            "reimport_s": again["seconds"],
            "import_peak_mb": first["peak_mb"],
            "reimport_peak_mb": again["peak_mb"],
        },
        baseline={"csv_plus_executemany_s": baseline["seconds"], "peak_mb": baseline["peak_mb"]},
        ratios={
            "import_vs_baseline": first["seconds"] / baseline["seconds"],
            "reimport_vs_import": again["seconds"] / first["seconds"],
        },
        targets={"import_s": "<= 5", "peak_mb": "<= 300", "reimport_s": "<= import_s"},
        met=met,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
