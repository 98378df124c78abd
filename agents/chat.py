"""Multi-turn chat on an agent: each message sees the earlier turns."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from heron.agents.result import RunResult
from heron.agents.state import RunState
from heron.llm.types import Message
from heron.tracing import EventCallback

if TYPE_CHECKING:
    from heron.agents.agent import Agent


class ChatSession:
    """Turns that share one history; the system prompt stays first so the KV cache carries over."""

    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        self.state: RunState | None = None
        self.results: list[RunResult] = []

    def send(self, text: str, *, callbacks: Sequence[EventCallback] = ()) -> RunResult:
        if self.state is None:
            self.state = self.agent.new_state(text)
        else:
            self.state.messages.append(Message.user(text))
            self.state.goal = text
            self.state.finished = False
        # each turn gets the full budget again; the history carries over
        self.state.step, self.state.tokens_spent, self.state.seconds_spent = 0, 0, 0.0
        self.state.call_counts.clear()
        self.state.searches = 0  # a search for an earlier message found nothing for this one
        result = self.agent.continue_run(self.state, callbacks=callbacks)
        self.results.append(result)
        return result

    def reset(self) -> None:
        self.state = None
