"""Every benchmark under bench/ runs in its quick mode (seconds, tiny sizes, the same
code path), so a rename in the product that breaks a benchmark fails the test suite
instead of `make bench` months later. Each must finish with exit status 0 and print its
figures as ratios against the baseline measured in the same run."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RATIO = re.compile(r"^\s+ratios\s+(\S+)\s+(-?[0-9.]+)\s*$", re.MULTILINE)


@pytest.mark.parametrize("name", ["dispatch", "import_pupils", "outbox", "peak", "webhook_load"])
def test_the_benchmark_runs_in_its_quick_mode(name: str) -> None:
    assert sorted(p.stem for p in (ROOT / "bench").glob("*.py") if p.stem != "common") == [
        "dispatch",
        "import_pupils",
        "outbox",
        "peak",
        "webhook_load",
    ], "a new benchmark needs its quick run here"
    env = {k: v for k, v in os.environ.items() if k not in ("BOT_TOKEN", "SCHOOLS_FILE")}
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / f"{name}.py"), "--quick"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    ratios = dict(RATIO.findall(done.stdout))
    assert ratios, output[-3000:]
    assert all(float(value) > 0 for value in ratios.values()), ratios
    assert f"bench/results/quick-{name}.json" in done.stdout
