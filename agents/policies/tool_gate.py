"""The tool gate (a turn policy): before a request's first turn, decide whether any tool fits it.

A small model is a poor judge of "should I call a tool?": it calls tools that have nothing to do
with the request and answers requests a tool was made for. The gate compares the request with
each tool's name and description using the sentence embedder heron already ships (MiniLM): when no
tool is similar enough, the first turn's grammar admits only an answer; when one is clearly
relevant, it admits only tool calls; in between the model decides. Later turns are never gated.
A request is compared twice, as written and with its particulars masked (``intent_text``): names,
numbers and quoted text pull its embedding towards their own topics ("the signing of the Treaty of
Lisbon" is less like "the date of a historical event" than "the signing of the X" is); a tool's
score is the better of the two.
The default thresholds were fitted on BFCL function-calling items (BENCHMARKS.md has the splits and
what the gate does on data they were not fitted on); for other tools and requests, measure first.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from heron.agents.policies.base import ANSWER_ONLY, TOOLS_ONLY, Allowed, Turn, TurnPolicy

if TYPE_CHECKING:
    from heron.config import Settings
    from heron.memory.embeddings import Embedder
    from heron.tools import Tool


@dataclass(frozen=True)
class GateThresholds:
    """Cosine similarities of the request with the tools (MiniLM): below ``answer_below`` for every
    tool, the first turn may only answer; at or above ``call_above`` for one, it must call a tool,
    and only that one when it leads the runner-up by ``pick_margin`` (None: never narrowed)."""

    answer_below: float = 0.42
    call_above: float = 0.42
    pick_margin: float | None = 0.05


def tool_text(tool: Tool) -> str:
    """What the request is compared with: the name in words, then the description."""
    words = tool.name.replace("_", " ").replace(".", " ").replace("-", " ")
    return f"{words}: {tool.description}"


# quoted text: a quote not inside a word, to the same quote not followed by a letter ("It's" inside)
_QUOTED = re.compile(r"(?<!\w)(['\"`])(?:[^'\"`\n]|(?<=\w)'(?=\w)){2,}?\1(?!\w)")
_NUMBER = re.compile(r"[$€£¥]?\d[\d,.]*%?")
# a capitalised word that does not start a sentence, with the capitalised words joined to it
_WORD = r"[A-Z][\w'-]*(?:\.[\w'-]+)*"
_NAME = re.compile(rf"(?<![.?!:]\s)(?<!^)\b{_WORD}(?:\s+(?:(?:of|the|de|del|la)\s+)?{_WORD})*")


def intent_text(request: str) -> str:
    """The request with its particulars masked: quoted text, numbers, and names (capitalised words
    not starting a sentence). "Convert 200 Euros to Canadian dollars" -> "Convert N X to X dollars"."""
    masked = _NAME.sub("X", _QUOTED.sub("something", request))
    return _NUMBER.sub("N", masked)


class ToolGate(TurnPolicy):
    """Embedding-based relevance gate for a request's first turn; holds the embedder and caches
    tool embeddings, so one gate can serve many agents (``Agent(policies=[gate])``)."""

    def __init__(self, embedder: Embedder, thresholds: GateThresholds | None = None) -> None:
        self.embedder = embedder
        self.thresholds = thresholds or GateThresholds()
        self._cache: dict[str, np.ndarray] = {}

    @classmethod
    def from_settings(cls, settings: Settings, thresholds: GateThresholds | None = None) -> ToolGate:
        """The configured embedder (``memory.embedding_model``) with ``thresholds``."""
        from heron.memory.embeddings import Embedder

        return cls(Embedder.from_settings(settings), thresholds)

    def allowed(self, turn: Turn) -> Allowed | None:
        if not turn.first:
            return None
        tools = [turn.tools[name] for name in turn.tools if turn.offered.admits(name)]
        return self.choose(turn.request, tools)

    def similarities(self, request: str, tools: Sequence[Tool]) -> np.ndarray:
        """Cosine similarity of the request with each tool, in the tools' order."""
        if not tools:
            return np.zeros(0)
        missing = [t for t in tools if tool_text(t) not in self._cache]
        if missing:
            vectors = self.embedder.embed_documents([tool_text(t) for t in missing])
            for tool, vector in zip(missing, vectors, strict=True):
                self._cache[tool_text(tool)] = vector
        matrix = np.stack([self._cache[tool_text(t)] for t in tools])
        scores = matrix @ self.embedder.embed_query(request)
        masked = intent_text(request)
        if masked != request:
            scores = np.maximum(scores, matrix @ self.embedder.embed_query(masked))
        return np.asarray(scores)

    def choose(self, request: str, tools: Sequence[Tool]) -> Allowed | None:
        """What the first turn may do: answer only, call a tool, call one named tool; None: the
        model decides."""
        scores = self.similarities(request, tools)
        if not scores.size or scores.max() < self.thresholds.answer_below:
            return ANSWER_ONLY
        if scores.max() < self.thresholds.call_above:
            return None
        margin = self.thresholds.pick_margin
        if margin is not None:
            order = np.argsort(-scores)
            runner_up = scores[order[1]] if len(order) > 1 else -1.0
            if scores[order[0]] - runner_up >= margin:
                return Allowed(answer=False, tools=frozenset({tools[int(order[0])].name}))
        return TOOLS_ONLY
