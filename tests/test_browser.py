"""The demo as an ICT coordinator tries it: `ouderloket run` without BOT_TOKEN starts the
demo, and in a real (headless) Chromium a parent links and withdraws a photo consent by
clicking. `.ci/run` installs Debian's chromium and chromium-driver."""

from __future__ import annotations

import os
import shutil
import sqlite3
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from babel.dates import format_date

from tests.e2e import demo_process

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"

if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
    if os.environ.get("CI"):
        raise RuntimeError("chromium and chromium-driver are missing; .ci/run installs them")
    pytest.skip(
        "apt-get install chromium chromium-driver to run the browser test",
        allow_module_level=True,
    )

from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import StaleElementReferenceException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    with demo_process(tmp_path) as (url, database, _output):
        yield url, database


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1200,900",
        f"--user-data-dir={tmp_path / 'chromium'}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def _wait_text(driver: webdriver.Chrome, needle: str) -> None:
    WebDriverWait(driver, 15).until(
        lambda d: needle in d.find_element(By.ID, "messages").text,
        message=f"{needle!r} never appeared",
    )


def _click(driver: webdriver.Chrome, label: str) -> None:
    """Clicks the newest inline button with this label, as a thumb would. The page redraws
    a message when the bot edits it, so a button found a moment ago may be gone: retry."""

    def clicked(d: webdriver.Chrome) -> bool:
        try:
            buttons = [b for b in d.find_elements(By.CSS_SELECTOR, "button.kb") if b.text == label]
            if not buttons:
                return False
            buttons[-1].click()
            return True
        except StaleElementReferenceException:
            return False

    WebDriverWait(driver, 15).until(clicked, message=f"no button {label!r}")


def test_parent_links_and_withdraws_a_photo_consent_in_a_real_browser(
    demo: tuple[str, Path], browser: webdriver.Chrome
) -> None:
    url, database = demo
    _link_sanne(browser, url)
    # The demo has the secure view on: the chat counts the children, the page names them.
    _wait_text(browser, "2 kinderen")

    _click(browser, "Foto's en video's")
    _click(browser, "Emma de Vries")
    _wait_text(browser, "Website: ✅ toestemming")
    # Drawn by the page, not by an emoji font the machine may lack: the character is kept
    # (transparent) and an inline SVG is painted over it.
    check = browser.find_elements(By.CSS_SELECTOR, "#messages .emoji.emoji-check")[-1]
    assert check.text == "✅"
    assert "data:image/svg+xml" in check.value_of_css_property("background-image")
    assert check.value_of_css_property("color") in ("rgba(0, 0, 0, 0)", "transparent")
    _click(browser, "Website: intrekken")
    _click(browser, "Ja, intrekken")
    _wait_text(browser, "Website: ❌ geen toestemming")
    _wait_text(browser, "Uw keuze is opgeslagen")

    with sqlite3.connect(database) as db:
        rows = db.execute(
            "SELECT e.granted, e.source FROM consent_event e JOIN pupil p ON p.id = e.pupil_id "
            "WHERE p.voornaam = 'Emma' AND e.channel = 'website' ORDER BY e.id"
        ).fetchall()
    assert rows[-1][0] in (0, False) and str(rows[-1][1]).lower() == "bot"


def _link_sanne(browser: webdriver.Chrome, url: str) -> None:
    browser.get(url)
    WebDriverWait(browser, 15).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, "button.persona[data-user-id='900001']")
    )
    persona = browser.find_element(By.CSS_SELECTOR, "button.persona[data-user-id='900001']")
    code = persona.find_element(By.CSS_SELECTOR, ".persona-code code").text
    persona.click()
    WebDriverWait(browser, 15).until(
        lambda d: "Sanne de Vries" in d.find_element(By.ID, "current-persona").text
    )
    browser.find_element(By.ID, "input").send_keys(code)
    browser.find_element(By.ID, "send").click()
    _wait_text(browser, "Uw account is gekoppeld.")


def _in_panel(browser: webdriver.Chrome, needle: str) -> None:
    WebDriverWait(browser, 15).until(
        lambda d: needle in d.find_element(By.TAG_NAME, "body").text,
        message=f"{needle!r} never appeared in the secure view",
    )


def test_mijn_gegevens_opens_in_the_demos_secure_view_panel(
    demo: tuple[str, Path], browser: webdriver.Chrome, tmp_path: Path
) -> None:
    """The menu's Mijn gegevens is a web_app button: the web chat opens it in a
    phone-sized panel with init data signed by the demo bot's own token, and the page
    (the school's server, not the chat) shows the child's data."""
    url, database = demo
    with sqlite3.connect(database) as db:
        number, born = db.execute(
            "SELECT leerlingnummer, geboortedatum FROM pupil WHERE voornaam = 'Emma'"
        ).fetchone()
    _link_sanne(browser, url)
    assert "Emma" not in browser.find_element(By.ID, "messages").text
    opener = WebDriverWait(browser, 15).until(
        lambda d: [
            b
            for b in d.find_elements(By.CSS_SELECTOR, "button.kb-webapp")
            if "Mijn gegevens" in b.text
        ],
        message="no web_app button Mijn gegevens",
    )[-1]
    opener.click()
    panel = browser.find_element(By.ID, "webapp-panel")
    WebDriverWait(browser, 15).until(lambda d: panel.is_displayed())
    frame = browser.find_element(By.ID, "webapp-frame")
    assert frame.size["width"] <= 390 and frame.size["height"] <= 844
    browser.switch_to.frame(frame)
    try:
        _in_panel(browser, "Emma de Vries")
        browser.find_element(By.LINK_TEXT, "Emma de Vries").click()
        _in_panel(browser, "Leerlingnummer: " + number)
        long_date = format_date(date.fromisoformat(str(born)[:10]), "long", locale="nl_NL")
        _in_panel(browser, "Geboortedatum: " + long_date)
        text = browser.find_element(By.TAG_NAME, "body").text
        assert "Wat weet Basispoort over Emma?" in text
        # Nothing came from another host, and the init data left the address bar.
        assert "tgWebAppData" not in browser.execute_script("return location.href")
        hosts = browser.execute_script(
            "return performance.getEntriesByType('resource').map(e => new URL(e.name).host)"
        )
        assert set(hosts) <= {url.split("//", 1)[1]}
    finally:
        browser.switch_to.default_content()
    # A phone's screen (390 x 844 CSS pixels): the panel fills it.
    browser.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": True},
    )
    shot = Path(os.environ.get("SECURE_VIEW_SCREENSHOT", tmp_path / "secure-view.png"))
    assert browser.save_screenshot(str(shot))
