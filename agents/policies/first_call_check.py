"""Before a fresh request's first tool call: does that tool do what the request asks? The model says.

A small model in heron's JSON action format calls a tool for most requests, related or not (for
"What is the capital of Australia?" with only a weather tool, it calls the weather tool). Asked in
plain words in a separate short prompt, the same model tells the two apart far better, once its
bias towards saying Yes is taken out. So when the first turn of a fresh request calls a tool, heron
asks the model "Tool: name: description. Request: ... Can this tool do what the request asks?
Answer Yes or No." and reads the probabilities of its replies: for the request, and for the three
content-free requests of contextual calibration (Zhao et al. 2021, "Calibrate Before Use"): "N/A",
the empty request and "[MASK]". Their mean measures how much the model says Yes to this tool
whatever is asked (0.78-0.92 for Qwen2.5-Coder-1.5B); dividing it out leaves what the request itself
adds. (With "N/A" alone, the bias of file and code tools was over-estimated: "Read the file
birds.csv ..." was judged not to need read_file.) When No is then likelier than
Yes, the call is set aside and the turn is taken again. The model had chosen to act rather than
answer, with a tool that cannot do what was asked; so every other tool is judged the same way, and
the turn offers the tools that fit, without the answer, or the answer alone when none fits. (Left
to choose between the other tools and the answer, the model answered from its own memory: "What is
the grey heron's wingspan?" first called calculator, then answered 1.5 m; "Summarise my notes on the
little egret." first called python, then answered that it had no notes; BENCHMARKS.md, "Did the
search find anything?".) No threshold is fitted.

The verdict needs only whether the request's P(Yes) is above the bias or below it, so heron asks
"N/A" first, then the request, and the other content-free requests only while the verdict is open:
each unasked P(Yes) lies between 0 and 1, which bounds their mean (a request judged 0.99 against a
first 0.85 is above any mean the other two could make, 0.95 at most). The verdict is the one all
four questions give; a clear one costs two questions instead of four. What was asked is kept per
model and tool, and the next request to that tool asks only what its own verdict still needs.

A local model is asked as soon as the first call's tool is named, before the arguments are written
(``judge_name``): when neither that tool nor any other offered one fits, the turn ends there; else
the model goes on writing it, exactly as it would have without the pause, and the whole turn is
reviewed as above. A set-aside call then costs no argument decoding (for "Why is the sky blue?" the
default model had written an 848-token program before it was set aside).

Only the first turn of a request whose answer is offered is checked: later turns follow tool
results, and plan steps and forced tool choices have already decided. A backend that cannot score
replies (a served model) is not checked. The agent adds :class:`FirstCallCheck` to its policies as
``AgentConfig.check_first_call`` says (by default for local models of 1B weights or more).
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass, field

from heron.agents.actions import ToolCallAction
from heron.agents.config import AgentConfig
from heron.agents.policies.base import Allowed, Turn, TurnPolicy
from heron.agents.templates import render
from heron.llm.base import LLM, ScoresOptions
from heron.llm.types import Message
from heron.llm.yes_no import CONTENT_FREE, ask_yes_no, calibrated, judges_reliably
from heron.tools import Tool
from heron.tracing import ToolCheckEvent


@dataclass
class _Asked:
    """The model's P(Yes) for the content-free requests asked so far about one tool, in the order of
    CONTENT_FREE: the same for every request, so each is asked once. ``lock``: agents sharing the
    model extend the list one at a time."""

    free: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


# per model, per tool (name, description)
_BIASES: weakref.WeakKeyDictionary[LLM, dict[tuple[str, str], _Asked]] = weakref.WeakKeyDictionary()
_BIASES_LOCK = threading.Lock()  # (only while an entry is looked up or added)


@dataclass(frozen=True)
class ToolFit:
    """The model's answer to "can this tool do what the request asks?". Built by :func:`tool_fit`,
    whose fits are always ``decided``; an undecided one's ``bias`` and ``kept`` mean nothing."""

    yes: float  # P(Yes) for the request
    free: tuple[float, ...]  # P(Yes) for the content-free requests asked (the first 1 to 3 of CONTENT_FREE)

    @property
    def complete(self) -> bool:
        """Whether every content-free request was asked: the bias is then known, not bounded."""
        return len(self.free) == len(CONTENT_FREE)

    @property
    def bias(self) -> float:
        """The mean P(Yes) for the content-free requests; with some unasked, the bound of that mean on the
        verdict's side: the highest it could be for a kept call, the lowest for a set-aside one."""
        low, high = self._bias_bounds()
        return high if self.yes >= high else low

    def _bias_bounds(self) -> tuple[float, float]:
        """The lowest and highest the mean could be, each unasked P(Yes) being between 0 and 1."""
        low = sum(self.free) / len(CONTENT_FREE)
        return low, low + (len(CONTENT_FREE) - len(self.free)) / len(CONTENT_FREE)

    @property
    def fits(self) -> float:
        """P(Yes) with the bias divided out (a bound of it, on the same side of 0.5, when the bias is)."""
        return calibrated(self.yes, self.bias)

    @property
    def decided(self) -> bool:
        """Whether the verdict is certain: the request's P(Yes) is above every mean the content-free
        requests could have, or below every one."""
        low, high = self._bias_bounds()
        return self.yes >= high or self.yes < low

    @property
    def kept(self) -> bool:
        """The verdict: the call goes ahead when the fit is at least 0.5 (the request's P(Yes) at least
        the bias)."""
        return self.fits >= 0.5


def checks_first_call(config: AgentConfig, llm: LLM) -> bool:
    """Whether first calls are checked: as configured, else for models of 1B weights or more whose size
    heron can read (a scripted model or a server has none)."""
    if config.check_first_call is not None:
        return config.check_first_call
    return judges_reliably(llm)


def tool_fit(llm: LLM, request: str, tool: Tool, *, measure_bias: bool = False) -> ToolFit | None:
    """How well ``tool`` fits ``request`` by the model's own judgement; None when the backend cannot
    score replies. The content-free requests are asked only while the verdict is open (all of them
    with ``measure_bias``, for a measured bias), each once per model and tool; the prompts share the
    tool's part, which the KV cache then holds for the next."""
    if not isinstance(llm, ScoresOptions):  # a server returns no scores of given replies
        return None
    with _BIASES_LOCK:
        asked = _BIASES.setdefault(llm, {}).setdefault((tool.name, tool.description), _Asked())
    with asked.lock:
        if not asked.free:
            asked.free.append(_yes_probability(llm, CONTENT_FREE[0], tool))
        free = tuple(asked.free)
    fit = ToolFit(yes=_yes_probability(llm, request, tool), free=free)
    while not fit.complete and (measure_bias or not fit.decided):
        with asked.lock:
            if len(asked.free) == len(fit.free):  # (another request may have asked it meanwhile)
                asked.free.append(_yes_probability(llm, CONTENT_FREE[len(asked.free)], tool))
            fit = ToolFit(yes=fit.yes, free=tuple(asked.free))
    return fit


def _yes_probability(llm: LLM, request: str, tool: Tool) -> float:
    prompt = render("agent_tool_check", request=request, tool=tool.name, description=tool.description)
    return ask_yes_no(llm, [Message.user(prompt)])


class FirstCallCheck(TurnPolicy):
    """Sets aside a fresh request's first tool call when the model, asked apart, judges that the
    tool does not do what the request asks; the turn taken again offers the tools it judges fit, or
    the answer alone when none does (see the module's docstring)."""

    def __init__(self) -> None:
        # each tool's calibrated fit, per (run, step, request): asked once, whichever hook asks first
        self._fits: dict[tuple[str, int, str, str], float] = {}

    def allowed(self, turn: Turn) -> Allowed | None:
        """The turn taken again after a set-aside call: the model had chosen to act, with a tool that
        cannot do what was asked. Each other tool is judged the same way; the turn then offers the
        tools that fit, without the answer (the model already chose a tool over answering), or, when
        none fits, the answer alone."""
        if not (turn.first and turn.offered.answer and turn.set_aside):
            return None
        judged = [(name, self._fit(turn, name)) for name in turn.tools if turn.offered.admits(name)]
        if any(fits is None for _, fits in judged):  # (a backend that cannot score replies)
            return None
        fitting = frozenset(name for name, fits in judged if fits is not None and fits >= 0.5)
        return Allowed(answer=False, tools=fitting) if fitting else Allowed(answer=True, tools=frozenset())

    def judges_name(self, turn: Turn) -> bool:
        """The turns ``review`` checks: a fresh request's first, with the answer offered."""
        return turn.first and turn.offered.answer

    def judge_name(self, tool: str, turn: Turn) -> bool:
        """The first call's tool, as soon as the model names it: the turn goes on when that tool fits,
        or when another offered tool does (the turn may call it too, and ``review`` keeps a turn when
        any of its tools fits). When none fits, ``review`` would set the turn aside whatever its
        arguments say, so it ends here, before they are written (a program of hundreds of tokens
        for "Why is the sky blue?")."""
        if not (turn.first and turn.offered.answer) or tool not in turn.tools:
            return True
        names = [tool, *(n for n in turn.tools if n != tool and turn.offered.admits(n))]
        for name in names:
            fits = self._fit(turn, name)
            if fits is None or fits >= 0.5:
                return True
        return False

    def review(self, call: ToolCallAction, turn: Turn) -> ToolCallAction | None:
        """A turn of several calls is kept when any of its tools fits: the request needs tools then,
        and a request asking for several things fits none of its tools whole."""
        if not (turn.first and turn.offered.answer) or call.tool not in turn.tools:
            return call
        if turn.batch and call != turn.batch[0]:  # the batch was judged at its first call
            return call
        names = dict.fromkeys(c.tool for c in turn.batch or (call,) if c.tool in turn.tools)
        for name in names:
            fits = self._fit(turn, name)
            if fits is None or fits >= 0.5:
                return call
        return None

    def _fit(self, turn: Turn, name: str) -> float | None:
        """The tool's calibrated fit for the turn's request, asked once per turn and traced; None
        when the backend cannot score replies."""
        key = (turn.run_id, turn.step, turn.request, name)
        if key not in self._fits:
            fit = tool_fit(turn.llm, turn.request, turn.tools[name])
            if fit is None:
                return None
            if len(self._fits) >= 1024:  # (an instance a user keeps across many requests)
                self._fits.clear()
            self._fits[key] = fit.fits
            turn.emit(
                ToolCheckEvent(
                    run_id=turn.run_id,
                    step=turn.step + 1,
                    tool=name,
                    fits=round(fit.fits, 4),
                    yes=round(fit.yes, 4),
                    bias=round(fit.bias, 4),
                    bias_asked=len(fit.free),
                    kept=fit.kept,
                )
            )
        return self._fits[key]
