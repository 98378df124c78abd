"""What a REPL question runs on: the agent with its tools, or plain chat whose reply streams.

Both keep the conversation across questions, emit the same trace events (to callbacks and to
``<data_dir>/traces/<run_id>.jsonl``), and leave the conversation as it was before a question
that failed or was stopped, so the next question does not see half a turn.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from contextlib import closing
from typing import Any, Protocol

from heron.agents import Agent, RunResult
from heron.agents.chat import fit_history
from heron.config import Settings
from heron.errors import RunCancelledError
from heron.llm.base import LLM
from heron.llm.types import GenerationOptions, Message
from heron.prompts import render
from heron.tools import Tool
from heron.tracing import (
    AnswerEvent,
    EventCallback,
    RunFinishedEvent,
    RunStartedEvent,
    TokenEvent,
    Tracer,
    conversation_run_id,
    trace_path,
)


class Conversation(Protocol):
    """A multi-turn conversation the REPL sends questions to."""

    @property
    def tools(self) -> list[Tool]: ...

    def send(self, text: str, callbacks: Sequence[EventCallback]) -> Any: ...

    @property
    def forgotten(self) -> int:
        """Earlier exchanges dropped so far to keep the history within its share of the context."""
        ...

    def reset(self) -> None: ...

    def switch_model(self, llm: LLM) -> None:
        """Go on with ``llm``; the conversation so far is kept."""
        ...

    def close(self) -> None: ...


class AgentConversation:
    """Questions go to an :class:`~heron.agents.Agent` chat session: tool calls, approvals, citations."""

    def __init__(self, make_agent: Callable[[LLM], Agent], llm: LLM) -> None:
        self._make_agent = make_agent
        self.agent = make_agent(llm)
        self.session = self.agent.chat()

    @property
    def tools(self) -> list[Tool]:
        return self.agent.tools

    def send(self, text: str, callbacks: Sequence[EventCallback]) -> RunResult:
        before = self.session.state.model_copy(deep=True) if self.session.state is not None else None
        forgotten = self.session.forgotten
        try:
            return self.session.send(text, callbacks=callbacks)
        except BaseException:
            # forget the failed or stopped turn (and the trimming before it: the history is as it was)
            self.session.state, self.session.forgotten = before, forgotten
            raise

    @property
    def forgotten(self) -> int:
        return self.session.forgotten

    def reset(self) -> None:
        self.session.reset()

    def switch_model(self, llm: LLM) -> None:
        # A new agent for the new model (its tool session, the python sandbox, starts afresh);
        # the history is plain messages, so it carries over.
        old = self.session
        self.agent.close()
        self.agent = self._make_agent(llm)
        self.session = self.agent.chat()
        self.session.state, self.session.questions, self.session.forgotten = (
            old.state,
            old.questions,
            old.forgotten,
        )

    def close(self) -> None:
        self.agent.close()


class PlainChat:
    """Chat without tools (``heron chat --no-tools``): the model's reply streams token by token."""

    def __init__(self, llm: LLM, settings: Settings, options: GenerationOptions | None = None) -> None:
        self.llm = llm
        self.settings = settings
        self.options = options or GenerationOptions(max_tokens=512, seed=settings.seed)
        self.messages: list[Message] = []
        self.run_id = ""
        self.forgotten = 0
        self.reset()

    @property
    def tools(self) -> list[Tool]:
        return []

    def send(self, text: str, callbacks: Sequence[EventCallback]) -> str:
        self.forgotten += fit_history(self.messages, self.llm)  # (heron.agents.chat)
        messages = [*self.messages, Message.user(text)]
        started = time.perf_counter()
        with Tracer(trace_path(self.settings.data_dir, self.run_id), list(callbacks)) as tracer:
            tracer.emit(
                RunStartedEvent(run_id=self.run_id, goal=text, model=self.llm.name, tools=[], budget={})
            )
            parts: list[str] = []
            try:
                # closing(): a stopped reply ends the model's stream (and frees the model) at once
                with closing(self.llm.stream(messages, self.options)) as deltas:
                    for delta in deltas:
                        parts.append(delta)
                        tracer.emit(TokenEvent(run_id=self.run_id, text=delta))
            except Exception as exc:
                status = "cancelled" if isinstance(exc, RunCancelledError) else "error"
                tracer.emit(self._finished(status, started, f"{type(exc).__name__}: {exc}"))
                raise
            answer = "".join(parts).strip()
            tracer.emit(AnswerEvent(run_id=self.run_id, text=answer))
            tracer.emit(self._finished("succeeded", started))
        self.messages = [*messages, Message.assistant(answer)]
        return answer

    def _finished(self, status: Any, started: float, error: str = "") -> RunFinishedEvent:
        return RunFinishedEvent(
            run_id=self.run_id,
            status=status,
            usage=self.llm.last_usage.model_dump(),
            seconds=time.perf_counter() - started,
            error=error,
        )

    def reset(self) -> None:
        self.messages = [Message.system(render("chat_system"))]
        self.run_id = conversation_run_id()

    def switch_model(self, llm: LLM) -> None:
        self.llm = llm

    def close(self) -> None:
        """Nothing to release: the REPL owns the model."""
