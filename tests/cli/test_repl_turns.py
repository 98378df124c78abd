"""The REPL's turn machinery without a terminal: cancelling, rolling back, approvals across threads.

Orchestration only, so the model is the scripted fake; tests/cli/test_repl.py drives the real REPL.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from heron.agents import Agent, ApprovalRequest, ApprovalResult
from heron.cli.conversations import AgentConversation, PlainChat
from heron.cli.repl_turns import CancelToken, TurnRunner
from heron.config import Settings
from heron.errors import RunCancelledError
from heron.llm import Message, ScriptedLLM
from heron.tools import tool
from heron.tracing import read_trace, trace_path


def _answer(text: str) -> dict[str, Any]:
    return {"action": "final_answer", "answer": text, "citations": []}


def _cancel_on(kind: str, token: CancelToken) -> Any:
    def callback(event: Any) -> None:
        if event.type == kind:
            token.cancel()

    return callback


def test_cancelled_agent_question_runs_no_tool_and_leaves_the_history_as_before(
    settings: Settings, tmp_path: Path
) -> None:
    ledger = tmp_path / "ledger.txt"

    @tool
    def record(text: str) -> str:
        """Append a line to the ledger.

        Args:
            text: the line
        """
        with ledger.open("a") as fh:
            fh.write(text + "\n")
        return "recorded"

    llm = ScriptedLLM(
        [
            _answer("first"),
            {"action": "record", "arguments": {"text": "side effect"}},
            _answer("third"),
        ]
    )
    conversation = AgentConversation(lambda model: Agent(model=model, tools=[record], settings=settings), llm)
    conversation.send("one", [])
    history = list(conversation.session.state.messages)

    token = CancelToken()
    with pytest.raises(RunCancelledError):
        # the user presses Ctrl-C while the model turn that picks `record` runs
        conversation.send("two", [token.check, _cancel_on("model_turn", token)])

    assert not ledger.exists()
    assert conversation.session.state.messages == history
    result = conversation.send("three", [])
    assert result.answer == "third"
    run_id = conversation.session.state.run_id
    statuses = [
        e.status for e in read_trace(trace_path(settings.data_dir, run_id)) if e.type == "run_finished"
    ]
    assert statuses == ["succeeded", "cancelled", "succeeded"]


def test_plain_chat_streams_tokens_and_a_stop_frees_the_model(settings: Settings) -> None:
    llm = ScriptedLLM(["one two three four five", "fine thanks"])
    chat = PlainChat(llm, settings)
    token = CancelToken()
    seen: list[str] = []

    def collect(event: Any) -> None:
        if event.type == "token":
            seen.append(event.text)
            if len(seen) == 2:
                token.cancel()

    with pytest.raises(RunCancelledError):
        chat.send("count to five", [token.check, collect])

    assert "".join(seen).split() == ["one", "two"]
    assert llm.chat([Message.user("free?")]).text == "fine thanks"  # the stopped stream let go
    assert [m.role for m in chat.messages] == ["system"]  # the stopped question is not kept


def test_plain_chat_reply_is_the_streamed_tokens_and_joins_the_history(settings: Settings) -> None:
    chat = PlainChat(ScriptedLLM(["Hello there, friend."]), settings)
    tokens: list[str] = []
    reply = chat.send("hi", [lambda e: tokens.append(e.text) if e.type == "token" else None])
    assert len(tokens) > 1 and "".join(tokens).strip() == reply == "Hello there, friend."
    assert [(m.role, m.content) for m in chat.messages[1:]] == [("user", "hi"), ("assistant", reply)]


class _ScriptedLLMWithContext(ScriptedLLM):
    """A scripted model that says its context size (its tokens estimated from characters)."""

    context_size = 400  # the history may hold 100 tokens, about 400 characters


def test_plain_chat_drops_its_oldest_exchanges_once_the_history_outgrows_its_share(
    settings: Settings,
) -> None:
    chat = PlainChat(_ScriptedLLMWithContext(["a" * 300, "b" * 300, "c" * 300]), settings)
    for question in ("one", "two", "three"):
        chat.send(question, [])
    assert chat.forgotten == 1  # before the third: two exchanges of about 76 tokens
    assert [m.content for m in chat.messages if m.role == "user"] == ["two", "three"]


def test_a_model_switch_keeps_the_conversation_and_where_its_exchanges_begin(settings: Settings) -> None:
    conversation = AgentConversation(lambda llm: Agent(llm, settings=settings), ScriptedLLM([_answer("Hi.")]))
    conversation.send("hello", [])
    conversation.switch_model(_ScriptedLLMWithContext([_answer("Again.")]))
    assert conversation.session.questions == {"hello"}  # what trimming the history goes by
    assert (
        conversation.session.state is not None and conversation.session.state.messages[1].content == "hello"
    )


def test_runner_asks_the_main_thread_to_approve_and_survives_a_display_error() -> None:
    asked: list[ApprovalRequest] = []
    shown: list[Any] = []

    def show(event: Any) -> None:
        shown.append(event)
        raise ValueError("cannot draw this")

    def ask(request: ApprovalRequest) -> ApprovalResult:
        asked.append(request)
        return ApprovalResult.edit({"path": "safer.txt"})

    runner = TurnRunner(show, ask, lambda: None)

    def work(callbacks: Any) -> ApprovalResult:
        for callback in callbacks:
            callback(type("Event", (), {"type": "tool_call"})())
        return runner.approver(ApprovalRequest("write_file", {"path": "x.txt"}, "high", 1))

    outcome = runner.run(work)
    assert [r.tool for r in asked] == ["write_file"]
    assert outcome.result == ApprovalResult.edit({"path": "safer.txt"})
    assert len(shown) == 1
    assert isinstance(outcome.error, ValueError)  # reported to the REPL, which goes on
    assert runner.approver(ApprovalRequest("python", {}, "high", 1)).decision == "denied"  # nobody asked


def test_the_chat_says_when_an_answer_was_cut_at_its_length_limit() -> None:
    import io

    from rich.console import Console

    from heron.cli.repl_view import ReplView
    from heron.status import CUT_NOTE
    from heron.tracing import AnswerEvent

    out = io.StringIO()
    view = ReplView(Console(file=out, width=200, highlight=False))
    for text, cut in (("The life cycle of a frog has four", True), ("A frog lays eggs.", False)):
        view.show_event(AnswerEvent(run_id="r", step=1, text=text, cut=cut))
    shown = out.getvalue()
    assert "The life cycle of a frog has four" in shown and "A frog lays eggs." in shown
    assert shown.count(CUT_NOTE) == 1 and shown.index(CUT_NOTE) < shown.index("A frog lays eggs.")
