"""The auditors' console and /docs in a real browser: headless Chromium from Debian's packages
(`bus lab tools`), driven by selenium, against the API served by uvicorn over a real SQLite audit
store, with no network beyond 127.0.0.1. Screenshots of each page are kept as test artefacts in
var/test-artefacts/console/."""

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import Select, WebDriverWait

from bus.audit.api.alert_board import FixedAlerts
from bus.util.paths import default_state_dir
from tests.support.audit_api import AuditApp, audit_app
from tests.support.audit_records import person
from tests.unit.test_audit_console import ALERTS, RECORDS

ARTEFACTS = default_state_dir() / "test-artefacts" / "console"


@pytest.fixture
def console(tmp_path: Path) -> Iterator[tuple[str, AuditApp]]:
    made = audit_app(tmp_path, RECORDS, alerts=FixedAlerts(ALERTS))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(made.app, host="127.0.0.1", port=port, log_config=None, access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", made
    server.should_exit = True
    thread.join(timeout=10)
    made.store.close()


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not chromium or not driver:
        pytest.fail(
            "Chromium is missing: run `.venv/bin/bus lab tools` (make test does)", pytrace=False
        )
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,900"):
        options.add_argument(argument)
    chrome = webdriver.Chrome(options=options, service=Service(driver))
    chrome.implicitly_wait(2)
    try:
        yield chrome
    finally:
        chrome.quit()


def shot(browser: webdriver.Chrome, name: str) -> None:
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(ARTEFACTS / f"{name}.png"))


def sign_in(browser: webdriver.Chrome, base: str, token: str) -> None:
    browser.get(f"{base}/console")
    field = browser.find_element(By.ID, "token")
    label = browser.find_element(By.CSS_SELECTOR, "label[for=token]")
    assert "Bearer token" in label.text
    field.send_keys(token)
    field.submit()
    WebDriverWait(browser, 10).until(expected_conditions.title_contains("Decisions"))


def test_an_auditor_signs_in_filters_opens_a_decision_and_an_alert(
    console: tuple[str, AuditApp], browser: webdriver.Chrome
) -> None:
    base, made = console
    browser.get(f"{base}/console")
    shot(browser, "sign-in")
    # The first Tab lands on the skip link: the page is usable from the keyboard.
    browser.find_element(By.TAG_NAME, "body").send_keys(Keys.TAB)
    assert browser.switch_to.active_element.text == "Skip to the content"
    sign_in(browser, base, made.auditor_token)
    browser.find_element(By.ID, "f-consumer").send_keys("tax-by")
    Select(browser.find_element(By.ID, "f-outcome")).select_by_value("PERMIT")
    browser.find_element(By.CSS_SELECTOR, "form.filters button").click()
    WebDriverWait(browser, 10).until(expected_conditions.url_contains("consumer=tax-by"))
    rows = browser.find_elements(By.CSS_SELECTOR, "tbody tr")
    expected = sum(1 for d in RECORDS if d["consumer"] == "tax-by" and d["outcome"] == "PERMIT")
    assert len(rows) == expected
    assert all("tax-by" in r.text and "PERMIT" in r.text for r in rows)
    shot(browser, "decisions")
    rows[0].find_element(By.TAG_NAME, "a").click()
    WebDriverWait(browser, 10).until(expected_conditions.title_contains("Decision "))
    assert "Legal basis" in browser.page_source
    assert "Replay under" in browser.page_source
    shot(browser, "decision")
    browser.find_element(By.LINK_TEXT, "Alerts").click()
    assert len(browser.find_elements(By.TAG_NAME, "section")) == 3
    shot(browser, "alerts")
    browser.find_element(By.LINK_TEXT, "decision 1").click()
    WebDriverWait(browser, 10).until(expected_conditions.title_contains("Decision 1"))
    browser.find_element(By.LINK_TEXT, "Statistics").click()
    assert (
        browser.find_element(By.CSS_SELECTOR, "svg[role=img] title").get_attribute("textContent")
        == "Decisions per day, by outcome"
    )
    shot(browser, "statistics")
    browser.find_element(By.LINK_TEXT, "Integrity").click()
    assert "Last verified" in browser.page_source
    shot(browser, "integrity")


def test_a_citizens_report_is_made_and_prints_without_the_console(
    console: tuple[str, AuditApp], browser: webdriver.Chrome
) -> None:
    base, made = console
    sign_in(browser, base, made.auditor_token)
    browser.find_element(By.LINK_TEXT, "Subject report").click()
    field = browser.find_element(By.ID, "subject")
    field.send_keys(person(0))
    field.submit()
    WebDriverWait(browser, 10).until(expected_conditions.title_contains("Report"))
    assert "Bayerisches Landesamt für Steuern" in browser.page_source
    assert person(0) not in browser.current_url
    assert "?" not in browser.current_url
    shot(browser, "subject-report")
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    assert not browser.find_element(By.TAG_NAME, "header").is_displayed()
    assert browser.find_element(By.TAG_NAME, "h1").is_displayed()
    pdf = browser.execute_cdp_cmd("Page.printToPDF", {})
    assert len(pdf["data"]) > 1000


def test_a_dpo_cannot_see_another_agencys_decision(
    console: tuple[str, AuditApp], browser: webdriver.Chrome
) -> None:
    base, made = console
    sign_in(browser, base, made.dpo_token)
    assert "kba-de" not in browser.find_element(By.TAG_NAME, "table").text
    kba = next(i + 1 for i, d in enumerate(RECORDS) if d["consumer"] == "kba-de")
    browser.get(f"{base}/console/decisions/{kba}")
    assert "Not shown" in browser.title
    assert "Legal basis" not in browser.page_source
    shot(browser, "dpo-refused")


def test_the_api_docs_render_without_network(
    console: tuple[str, AuditApp], browser: webdriver.Chrome
) -> None:
    base, _ = console
    browser.get(f"{base}/docs")
    WebDriverWait(browser, 20).until(
        lambda b: len(b.find_elements(By.CSS_SELECTOR, ".opblock")) > 0
    )
    operations = browser.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")
    assert {"/decisions", "/integrity"} <= {o.text.strip() for o in operations}
    requested = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)"
    )
    assert requested
    assert all(url.startswith(base) for url in requested), requested
    shot(browser, "docs")
