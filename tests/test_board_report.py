"""The accountability report as the privacy officer gets it: `ouderloket report` over the
demo's two schools (a schools.yaml), opened in a real headless Chromium."""

from __future__ import annotations

import asyncio
import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

from bot.demo import seed_database
from bot.demo_school import SCHOOL_NAME, SECOND_NAME, seed_second
from tests.e2e import E2E_START
from tests.test_browser import CHROMEDRIVER, CHROMIUM

ROOT = Path(__file__).resolve().parent.parent


def _board(tmp_path: Path) -> None:
    flint, esch = tmp_path / "flint.db", tmp_path / "esch.db"

    async def seed() -> None:
        await seed_database(f"sqlite+aiosqlite:///{flint}", E2E_START, history=True)
        await seed_database(
            f"sqlite+aiosqlite:///{esch}", E2E_START, seeder=seed_second, history=True
        )

    asyncio.run(seed())
    (tmp_path / "schools.yaml").write_text(
        "board: Zinderonderwijs\n"
        "schools:\n"
        f"  - {{key: flint, name: {SCHOOL_NAME}, token_env: FLINT_TOKEN,"
        f" database_url: 'sqlite+aiosqlite:///{flint}'}}\n"
        f"  - {{key: esch, name: {SECOND_NAME}, token_env: ESCH_TOKEN,"
        f" database_url: 'sqlite+aiosqlite:///{esch}'}}\n",
        encoding="utf-8",
    )


def _ouderloket(tmp_path: Path, *args: str, locale: str = "nl") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("BOT_TOKEN", "SCHOOLS_FILE")}
    env.update(PYTHONPATH=str(ROOT), DEFAULT_LOCALE=locale)
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def browser(tmp_path: Path) -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--no-first-run",
        "--window-size=1200,900",
        f"--user-data-dir={tmp_path / 'chromium'}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def test_the_report_of_both_schools_shows_its_charts_in_chromium(
    tmp_path: Path, browser: webdriver.Chrome
) -> None:
    _board(tmp_path)
    done = _ouderloket(tmp_path, "report", "--from", "2026-08-01", "--to", "2027-03-31")
    assert done.returncode == 0, done.stderr
    assert "Rapport geschreven" in done.stdout
    page = tmp_path / "rapport" / "report.html"
    browser.get(page.as_uri())
    sections = browser.find_elements(By.CSS_SELECTOR, "section.school")
    assert [s.find_element(By.TAG_NAME, "h2").text for s in sections] == [
        SCHOOL_NAME,
        SECOND_NAME,
    ]
    # Three drawn charts per school, each with visible size.
    charts = browser.find_elements(By.CSS_SELECTOR, "figure.chart svg")
    assert len(charts) == 6
    assert all(c.size["width"] > 300 and c.size["height"] > 100 for c in charts)
    assert "Verzoeken per maand, naar soort" in browser.page_source
    shot = browser.get_screenshot_as_png()
    assert shot.startswith(b"\x89PNG") and len(shot) > 10_000
    # Figures only: none of the demo's children is named.
    body = browser.find_element(By.TAG_NAME, "body").text
    for name in ("Emma", "Daan", "Noor"):
        assert name not in body
    # The same figures as CSV; a spreadsheet opens them with the right characters.
    with (tmp_path / "rapport" / "verzoeken_per_maand.csv").open(encoding="utf-8-sig") as f:
        rows = list(csv.reader(f, delimiter=";"))
    assert rows[0] == ["school", "maand", "soort", "aantal"]
    assert {r[0] for r in rows[1:]} == {SCHOOL_NAME, SECOND_NAME}
    # A month's count of 1 to 4 of a kind is not given: it could point at a family.
    counts = [r[3] for r in rows[1:]]
    assert "minder dan 5" in counts and not {"1", "2", "3", "4"} & set(counts)


def test_report_for_one_school_in_english_and_bad_dates(tmp_path: Path) -> None:
    _board(tmp_path)
    done = _ouderloket(
        tmp_path,
        "report",
        "--school",
        "esch",
        "--from",
        "2026-08-01",
        "--to",
        "2027-03-31",
        locale="en",
    )
    assert done.returncode == 0, done.stderr
    html = (tmp_path / "rapport" / "report.html").read_text(encoding="utf-8")
    assert "Requests per month, by kind" in html and SECOND_NAME in html
    assert SCHOOL_NAME not in html
    wrong = _ouderloket(tmp_path, "report", "--from", "2027-03-31", "--to", "2026-08-01")
    assert wrong.returncode == 2 and "--from ligt na --to." in wrong.stderr
    # Other commands need --school when there are several schools.
    staff = _ouderloket(tmp_path, "staff", "list")
    assert staff.returncode == 2
    assert (
        staff.stderr.strip() == "Er zijn meerdere scholen. Kies er één met --school: flint, esch."
    )
