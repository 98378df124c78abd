"""Multi-turn chat on an agent: each message sees the earlier messages, their tool calls and answers.

The history carried into a new message is held to a quarter of the model's context (its tokens
counted with the model's own template where the backend can; otherwise about four characters a
token). Kept whole with no bound, it filled a 4,096-token context (the default then) during the
third question of a ``heron chat`` session, and 11 of its 16 questions failed. When it grows past its
share, the oldest exchanges (a message with everything that followed it) are dropped until it is
under half of it, so the re-reading a trimmed history costs (the KV cache then holds nothing past
the system prompt) happens once every few messages, not at each. ``ChatSession.forgotten`` counts
the exchanges dropped so far.

The exchanges stay whole: a history of questions and answers alone, without the calls that
produced the answers, taught the default model to answer every later question without a tool ("The
total of the units column in sales.csv is 100.", from no file it had read).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from heron.agents.result import RunResult
from heron.agents.state import RunState
from heron.llm.types import Message, Usage
from heron.tracing import EventCallback, conversation_run_id

if TYPE_CHECKING:
    from heron.agents.agent import Agent

HISTORY_SHARE = 4  # the carried history may use 1/HISTORY_SHARE of the context
CHARS_PER_TOKEN = 4  # the estimate for a backend that cannot count tokens


class ChatSession:
    """Messages that share one history; the system prompt stays first so the KV cache carries over."""

    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        self.state: RunState | None = None
        self.results: list[RunResult] = []
        self.forgotten = 0  # earlier exchanges dropped to keep the history within its share
        self.questions: set[str] = set()  # the messages sent: where exchanges begin in the history

    def send(self, text: str, *, callbacks: Sequence[EventCallback] = ()) -> RunResult:
        if self.state is None:
            self.state = self.agent.new_state(text, run_id=conversation_run_id())
        else:
            starts = [
                i
                for i, m in enumerate(self.state.messages)
                if m.role == "user" and m.content in self.questions
            ]
            self.forgotten += fit_history(self.state.messages, self.agent.llm, starts)
            self.state.request_start = len(self.state.messages)
            self.state.messages.append(Message.user(text))
            self.state.goal = text
            self.state.finished = False
        # each message gets the full budget again; the history carries over
        self.state.step, self.state.tokens_spent, self.state.seconds_spent = 0, 0, 0.0
        self.state.usage = Usage()  # a message's result and trace give its own tokens, not the sum so far
        self.state.call_counts.clear()
        self.state.tool_errors = 0  # (the turn after a failed call, and the result, count this message's)
        self.state.denied_calls = 0
        self.state.searches = 0  # a search for an earlier message found nothing for this one
        self.questions.add(text)
        try:
            result = self.agent.continue_run(self.state, callbacks=callbacks)
        except BaseException:
            # a cancelled or failed message's unmade calls are not made for the next message
            self.state.pending_calls = []
            raise
        self.results.append(result)
        return result

    def reset(self) -> None:
        self.state = None
        self.questions.clear()


def fit_history(messages: list[Message], llm: object, starts: list[int] | None = None) -> int:
    """Drop the oldest exchanges of ``messages`` (a system prompt, then exchanges beginning at the
    indices ``starts``; default: at each user message) while the history outgrows its share of
    ``llm``'s context, down to half of that share; the number of exchanges dropped. Nothing is
    dropped when ``llm`` does not say its context size (a served model)."""
    size = getattr(llm, "context_size", None)
    if not isinstance(size, int) or size <= 0:
        return 0
    limit = size // HISTORY_SHARE
    if _history_tokens(messages, llm) <= limit:
        return 0
    if starts is None:
        starts = [i for i, message in enumerate(messages) if message.role == "user"]
    dropped = 0
    while starts:
        tokens = _history_tokens(messages, llm)
        # down to half the share; the last exchange goes only when it alone outgrows the share
        if tokens <= limit // 2 or (len(starts) == 1 and tokens <= limit):
            break
        end = starts[1] if len(starts) > 1 else len(messages)
        del messages[starts[0] : end]
        starts = [start - (end - starts[0]) for start in starts[1:]]
        dropped += 1
    return dropped


def _history_tokens(messages: list[Message], llm: object) -> int:
    """Tokens of the history after the system prompt."""
    count = getattr(llm, "count_tokens", None)
    if count is not None:
        return int(count(messages)) - int(count(messages[:1]))
    return sum(len(m.content) for m in messages[1:]) // CHARS_PER_TOKEN
