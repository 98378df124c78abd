"""`heron serve` with the real capable model: the official OpenAI client (a plain question, a streamed
answer, an answer that used a tool, 8 concurrent clients, a client that leaves mid-stream), and the
web page in a real browser (Debian's chromium driven by Playwright): a streamed answer, a risky call
approved from the page, a citation opened, a past run's timeline, the token-confidence view.
Screenshots go to benchmarks/out/serve-screenshots/ for a person to look at."""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator

import httpx
import pytest
from openai import OpenAI

from heron.agents.serve import create_app
from heron.config import Settings
from heron.llm import LocalLLM
from heron.models import resolve_model
from tests.agents.serve_helpers import served
from tests.conftest import CAPABLE_MODEL, MACHINE_MODELS_DIR, REPO_ROOT

pytestmark = [pytest.mark.model, pytest.mark.capable]

SCREENSHOTS = REPO_ROOT / "benchmarks" / "out" / "serve-screenshots"
CHROMIUM = os.environ.get("HERON_TEST_CHROMIUM", "/usr/bin/chromium")
NOTES = (
    "Great blue heron, size. The great blue heron has a wingspan of 167 to 201 cm and stands about "
    "115 to 138 cm tall. It weighs 2.1 to 2.5 kg."
)


@pytest.fixture(scope="module")
def llm() -> Iterator[LocalLLM]:
    with LocalLLM(resolve_model(CAPABLE_MODEL, MACHINE_MODELS_DIR), context_size=4096) as model:
        yield model


@pytest.fixture
def server(llm: LocalLLM, settings: Settings) -> Iterator[str]:
    """A server whose "heron" profile has the calculator and python, "notes" the notes as memory."""
    serve = Settings(
        serve={
            "profiles": {
                "heron": {"tools": ["calculator", "python"], "max_steps": 6},
                "notes": {"tools": [], "memory": "notes", "require_citations": True, "max_steps": 4},
                "plain": {"tools": ["calculator"], "max_steps": 4},
                "chat": {"tools": [], "max_steps": 2},
            }
        }
    ).serve
    settings = settings.model_copy(update={"serve": serve})
    from heron.memory import VectorMemory

    with VectorMemory(settings, collection="notes") as memory:
        memory.add_texts([NOTES], [{"source": "heron-notes.md"}])
    with served(create_app(settings, llm=llm)) as url:
        yield url


def digits(text: str) -> str:
    return re.sub(r"(?<=\d),(?=\d{3})", "", text)


def test_the_openai_client_gets_plain_streamed_and_tool_answers(server: str) -> None:
    client = OpenAI(base_url=f"{server}/v1", api_key="unused", timeout=300)
    plain = client.chat.completions.create(
        model="plain", messages=[{"role": "user", "content": "What is the capital of France? One word."}]
    )
    assert "Paris" in plain.choices[0].message.content
    assert plain.usage.completion_tokens > 0

    chunks = list(
        client.chat.completions.create(
            model="plain",
            messages=[
                {"role": "user", "content": "Name the three primary colors of paint, in one sentence."}
            ],
            stream=True,
        )
    )
    pieces = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(pieces) > 3  # token by token, not one block
    assert "red" in "".join(pieces).lower()
    assert chunks[-1].usage.completion_tokens > 0

    tool = client.chat.completions.create(
        model="plain", messages=[{"role": "user", "content": "Use the calculator: what is 1234 * 5678?"}]
    )
    assert "7006652" in digits(tool.choices[0].message.content)
    calls = [e for e in tool.model_extra["heron"]["events"] if e["type"] == "tool_call"]
    assert calls and calls[0]["tool"] == "calculator"


def test_eight_concurrent_clients_each_get_their_own_answer(server: str) -> None:
    capitals = {
        "France": "Paris",
        "Italy": "Rome",
        "Spain": "Madrid",
        "Germany": "Berlin",
        "Japan": "Tokyo",
        "Egypt": "Cairo",
        "Greece": "Athens",
        "Norway": "Oslo",
    }
    answers: dict[str, str] = {}

    def ask(country: str) -> None:
        client = OpenAI(base_url=f"{server}/v1", api_key="unused", timeout=600)
        reply = client.chat.completions.create(
            model="chat",
            messages=[{"role": "user", "content": f"What is the capital of {country}? One word."}],
        )
        answers[country] = reply.choices[0].message.content

    threads = [threading.Thread(target=ask, args=(country,)) for country in capitals]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for country, capital in capitals.items():
        assert capital in answers[country], (country, answers[country])


def test_a_client_that_leaves_mid_stream_frees_the_model_for_the_next(server: str) -> None:
    with httpx.stream(
        "POST",
        f"{server}/v1/chat/completions",
        json={
            "model": "plain",
            "stream": True,
            "messages": [
                {"role": "user", "content": "Write a long story (400 words) about a heron and a fox."}
            ],
        },
        timeout=300,
    ) as response:
        run_id = response.headers["X-Heron-Run"]
        for line in response.iter_lines():
            if '"content": "' in line and '"content": ""' not in line:
                break  # the first words of the story: leave
    client = OpenAI(base_url=f"{server}/v1", api_key="unused", timeout=300)
    reply = client.chat.completions.create(
        model="plain", messages=[{"role": "user", "content": "What is the capital of Italy? One word."}]
    )
    assert "Rome" in reply.choices[0].message.content
    runs = {r["id"]: r for r in httpx.get(f"{server}/api/runs").json()}
    assert runs[run_id]["status"] == "cancelled"


def test_the_page_streams_an_answer_asks_for_approval_opens_a_citation_and_shows_runs(server: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        page.goto(server)
        page.select_option("#profile", "notes")

        # a question whose answer streams in, citing the notes; the citation opens its passage
        page.fill("#question", "According to the notes, what is the wingspan of the great blue heron?")
        page.press("#question", "Enter")
        answer = page.locator(".msg.assistant").last
        expect(answer.locator(".status")).not_to_have_text(re.compile("waiting|running"), timeout=300_000)
        assert re.search(r"167|201", answer.locator(".answer").inner_text())
        answer.locator(".cite").first.click()
        expect(page.locator("#passage")).to_be_visible()
        assert "wingspan of 167 to 201 cm" in page.locator("#passage-text").inner_text()
        page.screenshot(path=str(SCREENSHOTS / "chat-citation.png"), full_page=True)
        page.click("#passage-close")

        # the token-confidence view of that answer
        answer.locator(".confidence-toggle").click()
        tokens = answer.locator(".confidence span")
        assert tokens.count() > 3
        probabilities = [float(p) for p in tokens.evaluate_all("s => s.map(e => e.dataset.p)")]
        assert all(0.0 <= p <= 1.0 for p in probabilities) and min(probabilities) < 0.99
        page.screenshot(path=str(SCREENSHOTS / "chat-confidence.png"), full_page=True)

        # a risky call (python) waits for the user's approval on the page
        page.select_option("#profile", "heron")
        page.fill("#question", "Use python to print the result of 19 * 23.")
        page.press("#question", "Enter")
        approval = page.locator(".approval").last
        expect(approval).to_be_visible(timeout=300_000)
        page.screenshot(path=str(SCREENSHOTS / "chat-approval.png"), full_page=True)
        approval.locator("button.approve").click()
        answer = page.locator(".msg.assistant").last
        expect(answer.locator(".status")).to_have_text(re.compile("succeeded"), timeout=300_000)
        assert "437" in answer.inner_text()
        page.screenshot(path=str(SCREENSHOTS / "chat-approved.png"), full_page=True)

        # the runs page, and a past run's timeline
        page.click("#nav-runs")
        rows = page.locator("#runs tbody tr")
        expect(rows.first).to_be_visible()
        assert rows.count() >= 2
        page.screenshot(path=str(SCREENSHOTS / "runs.png"), full_page=True)
        rows.last.click()  # the oldest here: the wingspan question
        expect(page.locator("#timeline li").first).to_be_visible()
        kinds = page.locator("#timeline li").evaluate_all("items => items.map(i => i.dataset.type)")
        assert kinds[0] == "run_started" and "retrieval" in kinds and kinds[-1] == "run_finished"
        assert page.locator("#run-confidence span").count() > 3
        page.screenshot(path=str(SCREENSHOTS / "run-timeline.png"), full_page=True)
        browser.close()
