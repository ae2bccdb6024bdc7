"""The web page in headless Chromium (Debian's `chromium` and `chromium-driver`):
ask, watch the answer stream in, open a citation. A screenshot is kept in
test-artifacts/ (or $RAG_TEST_ARTIFACTS)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.api.server import serving
from tests.fakes import SlowLLM

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
ARTIFACTS = Path(os.environ.get("RAG_TEST_ARTIFACTS", Path(__file__).parents[2] / "test-artifacts"))

pytestmark = pytest.mark.skipif(
    not (CHROMIUM and DRIVER),
    reason="needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)",
)


def chromium():  # type: ignore[no-untyped-def]
    """Headless Chromium through Debian's chromedriver."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM  # type: ignore[assignment]
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(flag)
    options.add_argument("--window-size=1200,900")
    return webdriver.Chrome(service=Service(DRIVER), options=options)


def sign_in(driver, url: str, key: str):  # type: ignore[no-untyped-def]
    """Open the page and enter the API key; a 30 s wait for what follows."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(url + "/")
    driver.find_element(By.ID, "key").send_keys(key)
    driver.find_element(By.CSS_SELECTOR, "#key-form button").click()
    return WebDriverWait(driver, 30)


def test_ask_in_the_page_and_open_a_citation(make_api) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec

    answer = "Le mariage du salarié donne droit à 5 jours de congé payé [1]."
    api = make_api(SlowLLM(answer, delay_s=0.2, between_s=0.15))
    key = api.employee["Authorization"].removeprefix("Bearer ")
    driver = chromium()
    try:
        with serving(api.client.app) as url:
            wait = sign_in(driver, url, key)
            wait.until(ec.text_to_be_present_in_element((By.ID, "who"), "employee"))
            assert not driver.find_element(By.ID, "upload-tab").is_displayed()
            assert not driver.find_element(By.ID, "web-option").is_displayed(), "web is off"
            driver.find_element(By.ID, "question").send_keys(
                "Combien de jours de congé pour un mariage ?"
            )
            driver.find_element(By.ID, "ask").click()
            turn = (By.CSS_SELECTOR, ".turn.assistant")
            # Streaming: part of the answer shows before the whole of it.
            wait.until(ec.text_to_be_present_in_element(turn, "mariage"))
            partial = driver.find_element(*turn).text
            assert "payé" not in partial, f"the whole answer arrived at once: {partial!r}"
            cite = wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, ".turn .cite")))
            assert "5 jours de congé payé" in driver.find_element(*turn).text
            cite.click()
            wait.until(ec.visibility_of_element_located((By.ID, "citation")))
            assert driver.find_element(By.ID, "citation-title").text.startswith("Nordlys")
            assert "page 2" in driver.find_element(By.ID, "citation-meta").text
            assert "5 jours" in driver.find_element(By.ID, "citation-quote").text
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            driver.save_screenshot(str(ARTIFACTS / "web-page-citation.png"))
            # The documents view lists what this key may see, and nothing else.
            driver.find_element(By.CSS_SELECTOR, "nav button[data-tab=documents]").click()
            wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#document-list tr"))
            rows = driver.find_element(By.ID, "document-list").text
            assert "Nordlys" in rows and "confidentiel RH" not in rows
    finally:
        driver.quit()


def test_web_results_in_the_page(make_api) -> None:  # type: ignore[no-untyped-def]
    """With web search on, the page offers the box, and shows web results apart."""
    import httpx
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec

    from rag.web import SearxngClient
    from tests.fakes import ScriptedLLM
    from tests.test_web import ANSWER, DEFAULT_RESULTS, FakeSearxng

    fake = FakeSearxng()
    web = SearxngClient("http://searxng.test", transport=httpx.MockTransport(fake))
    api = make_api(ScriptedLLM(ANSWER), web=web)
    key = api.employee["Authorization"].removeprefix("Bearer ")
    driver = chromium()
    try:
        with serving(api.client.app) as url:
            wait = sign_in(driver, url, key)
            wait.until(ec.visibility_of_element_located((By.ID, "web-option")))
            driver.find_element(By.ID, "web").click()
            driver.find_element(By.ID, "question").send_keys(
                "Combien de jours de congé pour un mariage ?"
            )
            driver.find_element(By.ID, "ask").click()
            cite = wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, ".turn .cite.web")))
            assert cite.text == "W1" and fake.requests, "the request asked for web results"
            line = driver.find_element(By.CSS_SELECTOR, ".turn .web-sources")
            assert "[W1] Article L3142-4" in line.text and "[W2]" in line.text
            meta = driver.find_element(By.CSS_SELECTOR, ".turn .meta").text
            assert "Nordlys" in meta and "Légifrance" not in meta, "documents and web apart"
            cite.click()
            link = wait.until(ec.visibility_of_element_located((By.ID, "citation-link")))
            assert link.get_attribute("href") == DEFAULT_RESULTS[0]["url"]
            assert "web" in driver.find_element(By.ID, "citation-meta").text
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            driver.save_screenshot(str(ARTIFACTS / "web-page-web-results.png"))
    finally:
        driver.quit()
