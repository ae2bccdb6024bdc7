"""The web page in headless Chromium (Debian's `chromium` and `chromium-driver`):
ask, watch the answer stream in, open a citation on its page with the quote
highlighted; sentences the verifier removed are not shown. Screenshots are kept in
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
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # for csp_violations
    return webdriver.Chrome(service=Service(DRIVER), options=options)


def csp_violations(driver) -> list[str]:  # type: ignore[no-untyped-def]
    """The console's Content-Security-Policy refusals since the last call."""
    return [
        entry["message"]
        for entry in driver.get_log("browser")
        if "Content Security Policy" in entry["message"] or "Refused to" in entry["message"]
    ]


def sign_in(driver, url: str, key: str):  # type: ignore[no-untyped-def]
    """Open the page and enter the API key; a 30 s wait for what follows."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(url + "/")
    driver.find_element(By.ID, "key").send_keys(key)
    driver.find_element(By.CSS_SELECTOR, "#key-form button").click()
    return WebDriverWait(driver, 30)


IN_VIEW = """
const mark = arguments[0].getBoundingClientRect();
const box = document.getElementById('citation-page').getBoundingClientRect();
return mark.top >= box.top - 1 && mark.top < box.bottom;
"""


def record_answers(monkeypatch, change=None) -> list[dict]:  # type: ignore[no-untyped-def]
    """The answers' JSON as the API sends it, each first passed through `change`."""
    from rag.answer.service import Answer

    sent: list[dict] = []
    to_dict = Answer.to_dict

    def recorded(self: Answer) -> dict:
        body = to_dict(self)
        sent.append(change(body) if change else body)
        return sent[-1]

    monkeypatch.setattr(Answer, "to_dict", recorded)
    return sent


def test_ask_in_the_page_and_open_a_citation(make_api, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as ec

    answer = "Le mariage du salarié donne droit à 5 jours de congé payé [1]."
    api = make_api(SlowLLM(answer, delay_s=0.2, between_s=0.15))
    answers = record_answers(monkeypatch)
    key = api.employee["Authorization"].removeprefix("Bearer ")
    driver = chromium()
    try:
        with serving(api.client.app) as url:
            wait = sign_in(driver, url, key)
            wait.until(ec.text_to_be_present_in_element((By.ID, "who"), "employee"))
            # The key is this tab's only: sessionStorage, not localStorage.
            stored = "return [sessionStorage.getItem('ragKey'), localStorage.getItem('ragKey')]"
            assert driver.execute_script(stored) == [key, None]
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
            # The evidence: the cited page's text, the quoted sentence highlighted.
            mark = wait.until(
                ec.visibility_of_element_located((By.CSS_SELECTOR, "#citation-page mark"))
            )
            assert driver.find_element(By.ID, "citation-title").text.startswith("Nordlys")
            assert "page 2" in driver.find_element(By.ID, "citation-meta").text
            [c] = answers[-1]["citations"]
            page = api.client.get(
                f"/v1/documents/{c['document_id']}/pages/2", headers=api.employee
            ).json()
            assert mark.text == c["quote"] and "5 jours" in mark.text
            assert driver.find_element(By.ID, "citation-page").text == page["text"].strip()
            assert len(page["text"]) > len(c["quote"]), "the whole page, not just the quote"
            assert not driver.find_element(By.ID, "citation-quote").is_displayed(), "placed"
            assert driver.execute_script(IN_VIEW, mark), "the highlight is scrolled into view"
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            driver.save_screenshot(str(ARTIFACTS / "web-page-citation.png"))
            # Escape closes the panel and gives focus back to the citation.
            driver.switch_to.active_element.send_keys(Keys.ESCAPE)
            wait.until(ec.invisibility_of_element_located((By.ID, "citation")))
            assert driver.switch_to.active_element == cite
            # The source list under the answer opens the same evidence.
            source = driver.find_element(By.CSS_SELECTOR, ".turn .meta .source")
            assert source.text.startswith("[1] Nordlys") and "p. 2" in source.text
            source.click()
            mark = wait.until(
                ec.visibility_of_element_located((By.CSS_SELECTOR, "#citation-page mark"))
            )
            assert mark.text == c["quote"]
            driver.find_element(By.ID, "close-citation").click()
            wait.until(ec.invisibility_of_element_located((By.ID, "citation")))
            assert driver.switch_to.active_element == source
            # The documents view lists what this key may see, and nothing else.
            driver.find_element(By.CSS_SELECTOR, "nav button[data-tab=documents]").click()
            wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#document-list tr"))
            rows = driver.find_element(By.ID, "document-list").text
            assert "Nordlys" in rows and "confidentiel RH" not in rows
            # All of it under the Content-Security-Policy, which refused nothing.
            assert csp_violations(driver) == []
    finally:
        driver.quit()


def test_the_page_and_the_api_docs_work_under_the_csp(make_api) -> None:  # type: ignore[no-untyped-def]
    """The policy forbids inline script and style: the page and Swagger UI (/docs)
    run from files, and the browser refuses nothing; the key a page of an earlier
    version left in localStorage is removed."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    api = make_api()
    app = api.client.app
    # The bundled Swagger UI (4.15) renders OpenAPI 3.0 only, and FastAPI's schema says
    # 3.1: labelled 3.0 here, so that the operations render, under the policy.
    schema = app.openapi
    app.openapi = lambda: schema() | {"openapi": "3.0.3"}
    driver = chromium()
    try:
        with serving(app) as url:
            driver.get(url + "/")
            driver.execute_script("localStorage.setItem('ragKey', 'rag_old')")
            driver.get(url + "/")
            assert driver.execute_script("return localStorage.getItem('ragKey')") is None
            assert driver.find_element(By.ID, "key").is_displayed()
            driver.get(url + "/docs")
            WebDriverWait(driver, 30).until(
                ec.visibility_of_element_located((By.CSS_SELECTOR, ".swagger-ui .opblock"))
            )
            assert "/v1/ask" in driver.find_element(By.ID, "swagger-ui").text
            assert csp_violations(driver) == []
            # The check sees a refusal: an inline script added to the page does not run.
            driver.execute_script(
                "const s = document.createElement('script');"
                "s.textContent = 'window.ran = true'; document.body.appendChild(s);"
            )
            assert driver.execute_script("return window.ran === true") is False
            assert csp_violations(driver), "the refused inline script is reported"
    finally:
        driver.quit()


def test_web_results_in_the_page(make_api) -> None:  # type: ignore[no-untyped-def]
    """With web search on, the page offers the box, and shows web results apart."""
    import httpx
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec

    from rag.answer.web import SearxngClient
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
            # A web citation is a link out, marked external; it opens no document page.
            assert cite.tag_name == "a" and cite.get_attribute("href") == DEFAULT_RESULTS[0]["url"]
            assert cite.get_attribute("target") == "_blank"
            assert {"noopener", "external"} <= set(cite.get_attribute("rel").split())
            assert "externe / external" in cite.get_attribute("title")
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            driver.save_screenshot(str(ARTIFACTS / "web-page-web-results.png"))
    finally:
        driver.quit()


def test_sentences_the_verifier_removed_are_not_shown(make_api, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The draft streams a sentence the final answer no longer has: the page ends on
    the final answer alone, with a note that one sentence was removed, and why."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec

    kept = "Le mariage du salarié donne droit à 5 jours de congé payé [1]."
    dropped = "Une prime de mariage de 300 euros est aussi versée."

    def verified(body: dict) -> dict:  # what the verifier will do to the final answer
        body["answer"] = body["answer"].replace(" " + dropped, "")
        return body | {"removed": [{"text": dropped, "reason": "unsupported"}]}

    api = make_api(SlowLLM(f"{kept} {dropped}", delay_s=0.1, between_s=0.05))
    answers = record_answers(monkeypatch, verified)
    key = api.employee["Authorization"].removeprefix("Bearer ")
    driver = chromium()
    try:
        with serving(api.client.app) as url:
            wait = sign_in(driver, url, key)
            wait.until(ec.text_to_be_present_in_element((By.ID, "who"), "employee"))
            driver.execute_script(WATCH_ANSWER)
            driver.find_element(By.ID, "question").send_keys(
                "Combien de jours de congé pour un mariage ?"
            )
            driver.find_element(By.ID, "ask").click()
            note = wait.until(
                ec.visibility_of_element_located((By.CSS_SELECTOR, ".turn .removed-note"))
            )
            assert answers[-1]["answer"] == kept and answers[-1]["removed"]
            assert any("300 euros" in t for t in driver.execute_script("return window.seen")), (
                "the draft did stream the sentence (else this test shows nothing)"
            )
            turn = driver.find_element(By.CSS_SELECTOR, ".turn.assistant")
            shown = driver.find_element(By.CSS_SELECTOR, ".turn.assistant .answer-text").text
            assert "5 jours de congé payé" in shown
            assert "300 euros" not in turn.text and "prime" not in turn.text
            assert note.text == "1 phrase retirée : sans appui dans les sources"
            assert "draft" not in turn.get_attribute("class")
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            driver.save_screenshot(str(ARTIFACTS / "web-page-removed.png"))
    finally:
        driver.quit()


# Every text the answer element shows, as it changes.
WATCH_ANSWER = """
window.seen = [];
new MutationObserver(() => {
  for (const t of document.querySelectorAll('.turn.assistant')) window.seen.push(t.textContent);
}).observe(document.getElementById('conversation'),
           {subtree: true, childList: true, characterData: true});
"""


def test_quote_placement_and_untrusted_text(make_api) -> None:  # type: ignore[no-untyped-def]
    """By offsets while they hold the quote, else by the quote's text, else not at all
    (the quote then shows above the page); document text never becomes markup."""
    from selenium.webdriver.common.by import By

    text = "Titre\n\nPremière phrase.  Le  congé\nde mariage dure 5 jours. <b>Fin</b>"
    quote = "Le congé de mariage dure 5 jours."
    at = text.index("Le  congé")
    page = {"text": text, "start": 1000, "end": 1000 + len(text)}
    exact = "Première phrase."
    e = text.index(exact)
    cases = [  # (citation, expected [start, end) in the page text, or None)
        ({"quote": exact, "start": 1000 + e, "end": 1000 + e + len(exact)}, [e, e + len(exact)]),
        ({"quote": exact, "start": 7, "end": 23}, [e, e + len(exact)]),  # stale offsets
        ({"quote": exact}, [e, e + len(exact)]),  # no offsets
        ({"quote": quote}, [at, text.index("jours.") + 6]),  # spacing differs
        ({"quote": "Absent du texte."}, None),
        # A quote across pages: this page's part of it, by offsets.
        ({"quote": "fin de la page 1. Titre", "start": 982, "end": 1005}, [0, 5]),
    ]
    api = make_api()
    driver = chromium()
    try:
        with serving(api.client.app) as url:
            driver.get(url + "/")
            for citation, expected in cases:
                got = driver.execute_script("return locateQuote(arguments[0], arguments[1])",
                                            citation, page)  # fmt: skip
                assert got == expected, (citation, got)
            driver.execute_script(
                "document.getElementById('citation').hidden = false;"
                "document.getElementById('citation-quote').textContent = 'nowhere';"
                "showPage({quote: 'nowhere'}, arguments[0])",
                page,
            )
            box = driver.find_element(By.ID, "citation-page")
            assert not box.find_elements(By.CSS_SELECTOR, "b, mark"), "text, not markup"
            assert "<b>Fin</b>" in box.text
            assert driver.find_element(By.ID, "citation-quote").is_displayed(), "quote above"
    finally:
        driver.quit()


def test_rate_an_answer_in_the_page_and_read_the_admins_stats(make_api) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec

    question = "Combien de jours de congé pour un mariage ?"
    api = make_api(SlowLLM("Le mariage donne droit à 5 jours de congé payé [1].", delay_s=0.0))
    driver = chromium()
    try:
        with serving(api.client.app) as url:
            wait = sign_in(driver, url, api.employee["Authorization"].removeprefix("Bearer "))
            wait.until(ec.text_to_be_present_in_element((By.ID, "who"), "employee"))
            assert not driver.find_element(By.ID, "stats-tab").is_displayed()
            driver.find_element(By.ID, "question").send_keys(question)
            driver.find_element(By.ID, "ask").click()
            buttons = (By.CSS_SELECTOR, ".turn .rating button")
            wait.until(ec.element_to_be_clickable(buttons))
            driver.find_elements(*buttons)[1].click()  # 👎
            comment = wait.until(
                ec.visibility_of_element_located((By.CSS_SELECTOR, ".rating textarea"))
            )
            comment.send_keys("<b>il manque le PACS</b>")
            driver.find_elements(By.CSS_SELECTOR, ".rating textarea")[1].send_keys("4 jours.")
            driver.find_element(By.CSS_SELECTOR, ".rating form button").click()
            wait.until(lambda _: any(f.comment for f in api.services.questions.feedback()))
            [rated] = api.services.questions.feedback()
            assert (rated.rating, rated.comment, rated.correct_answer) == (
                "down",
                "<b>il manque le PACS</b>",
                "4 jours.",
            )
            assert csp_violations(driver) == []

            driver.delete_all_cookies()
            driver.execute_script("sessionStorage.clear()")
            wait = sign_in(driver, url, api.admin["Authorization"].removeprefix("Bearer "))
            wait.until(ec.visibility_of_element_located((By.ID, "stats-tab"))).click()
            wait.until(ec.text_to_be_present_in_element((By.ID, "gaps"), question))
            assert "Tous / all" in driver.find_element(By.ID, "stats-body").text
            assert csp_violations(driver) == []
    finally:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(ARTIFACTS / "page-feedback.png"))
        driver.quit()
