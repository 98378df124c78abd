"""Tool relevance gate: before a request's first turn, decide whether any tool fits it at all.

A small model is a poor judge of "should I call a tool?": it calls tools that have nothing to do
with the request and answers requests a tool was made for. The gate compares the request with
each tool's name and description using the sentence embedder heron already ships (MiniLM): when no
tool is similar enough, the first turn's grammar admits only an answer; when one is clearly
relevant, it admits only tool calls; in between the model decides. Later turns are never gated.
A request is compared twice, as written and with its particulars masked (``intent_text``): names,
numbers and quoted text pull its embedding towards their own topics ("the signing of the Treaty of
Lisbon" is less like "the date of a historical event" than "the signing of the X" is); a tool's
score is the better of the two.
Thresholds were calibrated on BFCL items outside the benchmark's evaluation slice (BENCHMARKS.md).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from heron.agents.config import AgentConfig
    from heron.config import Settings
    from heron.memory.embeddings import Embedder
    from heron.tools import Tool


@dataclass(frozen=True)
class RouterThresholds:
    below_answer: float  # best similarity below this: no tool fits, answer directly
    above_call: float  # best similarity at or above this: a tool fits, call one
    pick_margin: float | None = None  # ... and when it leads the runner-up by this much, call it


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


class ToolRouter:
    """Embedding-based relevance gate; holds the embedder and caches tool embeddings."""

    def __init__(self, embedder: Embedder, thresholds: RouterThresholds) -> None:
        self.embedder = embedder
        self.thresholds = thresholds
        self._cache: dict[str, np.ndarray] = {}

    @classmethod
    def from_settings(cls, settings: Settings, config: AgentConfig) -> ToolRouter:
        """The configured embedder with the config's gate thresholds; pass it to several agents
        (``Agent(..., tool_router=router)``) to load the embedder once."""
        from heron.memory.embeddings import Embedder

        thresholds = RouterThresholds(
            config.gate_answer_below, config.gate_call_above, config.gate_pick_margin
        )
        return cls(Embedder.from_settings(settings), thresholds)

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

    def best_similarity(self, request: str, tools: Sequence[Tool]) -> float:
        scores = self.similarities(request, tools)
        return float(scores.max()) if scores.size else 0.0

    def choose(self, request: str, tools: Sequence[Tool]) -> str:
        """ "none", "auto", "required", or the name of the one tool the first turn must call."""
        scores = self.similarities(request, tools)
        if not scores.size or scores.max() < self.thresholds.below_answer:
            return "none"
        if scores.max() < self.thresholds.above_call:
            return "auto"
        margin = self.thresholds.pick_margin
        if margin is not None:
            order = np.argsort(-scores)
            runner_up = scores[order[1]] if len(order) > 1 else -1.0
            # MiniLM names the right function far more often than a small LLM picks it (BFCL
            # `multiple`, items 50+: 97% of requests clear a 0.05 margin, all of them correctly)
            if scores[order[0]] - runner_up >= margin:
                return tools[int(order[0])].name
        return "required"
