"""The dashboard in a real browser: headless Chromium driven by the system chromedriver.

Without Chromium (Debian: `apt-get install chromium chromium-driver`) these tests skip with
the reason; under CI=true they fail instead. Screenshots land in the test's tmp folder;
with VCSYNC_UPDATE_SCREENSHOT=1 the desktop one also replaces docs/dashboard.png.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import GIT_ENV, vcsync
from tests.test_report import demo_project

CHROMIUM = os.environ.get("VCSYNC_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("VCSYNC_TEST_CHROMEDRIVER", "/usr/bin/chromedriver")
DOCS_PNG = Path(__file__).parent.parent / "docs" / "dashboard.png"


def _missing() -> str | None:
    for path in (CHROMIUM, CHROMEDRIVER):
        if not (Path(path).exists() or shutil.which(path)):
            return f"{path} is missing (apt-get install -y chromium chromium-driver)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    reason = _missing()
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI=true requires the browser tests to run")
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-dev-shm-usage",
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("dashboard")
    mp = pytest.MonkeyPatch()
    home = tmp_path_factory.mktemp("home")
    (home / ".gitconfig").write_text("[user]\n\tname = Ada Tester\n\temail = ada@example.com\n")
    mp.setenv("HOME", str(home))
    mp.setenv("GIT_CONFIG_GLOBAL", str(home / ".gitconfig"))
    for key, value in GIT_ENV.items():  # the autouse isolation is per test, this is per module
        mp.setenv(key, value)
    try:
        repo = demo_project(root / "shop")
        path = root / "dashboard.html"
        run = vcsync(repo, "report", "--html", str(path))
        assert run.exit_code == 0, run.stderr
    finally:
        mp.undo()
    return path


def _shoot(driver: Any, width: int, path: Path) -> None:
    """The whole page at `width` CSS pixels."""
    driver.set_window_size(width, 900)
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(width, min(int(height) + 20, 6000))
    assert driver.save_screenshot(str(path))
    assert path.stat().st_size > 10_000


def test_the_page_renders_every_environment_version_and_state(
    browser: Any, page: Path, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    browser.get_log("browser")  # start clean
    browser.get(page.as_uri())
    cards = browser.find_elements(By.CSS_SELECTOR, "article.card")
    seen = {c.get_attribute("aria-label"): c.text for c in cards}
    assert list(seen) == ["dev", "staging", "production"]
    assert "schema version\n5" in seen["dev"]
    assert "schema version\n4" in seen["staging"] and "1 failed" in seen["staging"]
    assert "schema version\n3" in seen["production"] and "v1.0.0" in seen["production"]
    matrix = browser.find_element(By.CSS_SELECTOR, "#h-matrix + .scroll table")
    rows = [
        [cell.text for cell in row.find_elements(By.CSS_SELECTOR, "th, td")]
        for row in matrix.find_elements(By.CSS_SELECTOR, "tbody tr")
    ]
    assert rows[0] == ["5", "unique_emails", "applied", "failed", "pending"]
    assert rows[1] == ["4", "order_status", "applied", "applied", "pending"]
    # a colour beside every word: a failed cell is not painted like an applied one
    colours = {
        el.text: el.value_of_css_property("background-color")
        for el in matrix.find_elements(By.CSS_SELECTOR, ".state")
    }
    assert len({colours["applied"], colours["failed"], colours["pending"]}) == 3
    body = browser.find_element(By.TAG_NAME, "body").text
    assert "To recover: nothing of it was applied" in body
    assert "staging is 1 migration and 1 commit ahead of production" in body
    assert "<b>mallory</b>" in body  # the operator's name, as text
    # nothing left the file, and the browser had nothing to complain about
    resources = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)"
    )
    assert [r for r in resources if not r.startswith(("file:", "data:"))] == []
    assert browser.get_log("browser") == []
    _shoot(browser, 1280, tmp_path / "desktop.png")
    if os.environ.get("VCSYNC_UPDATE_SCREENSHOT") == "1":  # the README's picture
        repo = demo_project(tmp_path / "readme" / "shop", failing_operator="grace")
        readme = tmp_path / "readme.html"
        vcsync(repo, "report", "--html", str(readme))
        browser.get(readme.as_uri())
        browser.set_window_size(1280, 1300)
        browser.save_screenshot(str(DOCS_PNG))


def test_the_page_fits_a_phone(browser: Any, page: Path, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    browser.set_window_size(390, 844)
    browser.get(page.as_uri())
    width = browser.execute_script("return document.documentElement.scrollWidth")
    inner = browser.execute_script("return window.innerWidth")
    assert width <= inner, "the page scrolls sideways on a phone (only tables may)"
    cards = browser.find_elements(By.CSS_SELECTOR, "article.card")
    assert all(c.rect["width"] <= inner for c in cards)
    assert cards[0].rect["x"] == cards[1].rect["x"], "cards stack in one column"
    _shoot(browser, 390, tmp_path / "phone.png")
    assert browser.get_log("browser") == []


def test_the_page_prints(browser: Any, page: Path, tmp_path: Path) -> None:
    import base64

    browser.get(page.as_uri())
    pdf = base64.b64decode(browser.execute_cdp_cmd("Page.printToPDF", {})["data"])
    assert pdf.startswith(b"%PDF")
    (tmp_path / "printed.pdf").write_bytes(pdf)
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    try:
        background = browser.execute_script(
            "return getComputedStyle(document.body).backgroundColor"
        )
    finally:
        browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})
    assert background in ("rgb(255, 255, 255)", "rgba(0, 0, 0, 0)")
