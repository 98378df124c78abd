"""What one model turn may do: the tools (as action specs) and the final action its grammar admits,
and the turn policies' look at the calls the model wrote.

The step loop (:mod:`heron.agents.loop`) asks :class:`TurnOffer` before each decode and after it;
the rules here are ``tool_choice``, a plan step's forced tool, grounding first while answers must
cite, and the policies (:mod:`heron.agents.policies`) on turns where the model chooses.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from heron.agents.actions import FINAL_ANSWER, ActionSpec, ToolCallAction, cut_strings, pinned
from heron.agents.config import AgentConfig
from heron.agents.policies.base import Allowed, Turn, TurnPolicy
from heron.agents.state import RunState
from heron.llm.base import LLM
from heron.tools import Tool


class TurnOffer:
    """The offer and review of turns, for one run's tools, policies and config."""

    def __init__(
        self,
        llm: LLM,
        tools: Sequence[Tool],
        config: AgentConfig,
        policies: Sequence[TurnPolicy],
        emit: Callable[[Any], None],
    ) -> None:
        self.llm = llm
        self.tools = {t.name: t for t in tools}
        self.config = config
        self.policies = tuple(policies)
        self.emit = emit
        self._specs: tuple[str, list[ActionSpec]] | None = None  # the request they were made for

    def offer(
        self,
        state: RunState,
        final: str | None,
        tools: bool,
        only_tool: str | None,
        fixed_args: dict[str, Any],
        set_aside: frozenset[str] = frozenset(),
    ) -> tuple[list[ActionSpec], str | None]:
        """The tools (as action specs) and the final action this turn's grammar admits: from
        ``tool_choice`` or the step's forced tool, the policies (on a turn where the model chooses;
        ``set_aside``: tools whose calls they set aside in this turn), and grounding first while
        answers must cite and nothing is citable yet."""
        if not tools:
            return [], final
        # grounding first: while answers must cite and nothing is citable, the answer waits; after a
        # search that found nothing relevant it is offered (it cites nothing, and the result says why)
        must_cite_first = (
            final == FINAL_ANSWER and self.config.require_citations and not (state.passages or state.searches)
        )
        final = None if must_cite_first else final
        specs = self._specs_for(state.goal)
        choice = only_tool or self.config.tool_choice
        if choice == "none":
            specs = []
        elif choice == "required":
            final = None
        elif choice != "auto":
            specs = [pinned(s, fixed_args) if fixed_args else s for s in specs if s.name == choice]
            final = None
        else:
            allowed = self._allowed(state, Allowed(answer=final is not None), set_aside)
            specs = [s for s in specs if allowed.admits(s.name) and s.name not in set_aside]
            final = final if allowed.answer else None
        if must_cite_first and only_tool is None:  # ... and only the tools that return citations
            specs = [s for s in specs if self.tools[s.name].cites] or specs
        if not specs and final is None:  # no tool could be offered: the answer is the only way out
            final = FINAL_ANSWER
        return specs, final

    def judges_name(self, state: RunState, offered: Allowed) -> bool:
        """Whether a policy may end this turn at its first call's name (the decode then pauses there)."""
        turn = self._turn(state, offered)
        return any(policy.judges_name(turn) for policy in self.policies)

    def judge_name(self, state: RunState, tool: str, offered: Allowed) -> bool:
        """Whether the turn may go on to write the arguments of its first call, to ``tool``: every
        policy says so (``TurnPolicy.judge_name``)."""
        turn = self._turn(state, offered)
        return all(policy.judge_name(tool, turn) for policy in self.policies)

    def review(
        self,
        state: RunState,
        calls: list[ToolCallAction],
        specs: list[ActionSpec],
        offered: Allowed,
        string_chars: int,
    ) -> list[ToolCallAction] | None:
        """The turn's calls after the policies' review (each may change a call), or None when a
        policy set one aside and an answer was offered: the turn is then taken again without their tools."""
        turn = self._turn(state, offered, batch=tuple(calls))
        reviewed_calls = []
        for call in calls:
            spec = next((s for s in specs if s.name == call.tool), None)
            if spec is not None:  # (a grammar-less backend may name none)
                call.cut = cut_strings(call.arguments, spec.parameters, string_chars)
            for policy in self.policies:
                reviewed = policy.review(call, turn)
                if reviewed is None and offered.answer:
                    return None  # set aside (any call of the turn sets the turn aside)
                call = reviewed or call
            reviewed_calls.append(call)
        return reviewed_calls

    def _allowed(self, state: RunState, offered: Allowed, set_aside: frozenset[str]) -> Allowed:
        """What the policies let a turn in which the model chooses take."""
        allowed = offered
        turn = replace(self._turn(state, offered), set_aside=set_aside)
        for policy in self.policies:
            restriction = policy.allowed(turn)
            if restriction is not None:
                allowed = allowed.intersect(restriction)
        return allowed

    def _turn(self, state: RunState, offered: Allowed, batch: tuple[ToolCallAction, ...] = ()) -> Turn:
        return Turn(
            run_id=state.run_id,
            request=state.goal,
            step=state.step,
            first=state.step == 0 and not state.plan,
            offered=offered,
            llm=self.llm,
            tools=self.tools,
            emit=self.emit,
            batch=batch,
            after_error=_after_error(state),
            tool_errors=state.tool_errors,
            last_called=_last_called(state),
        )

    def _specs_for(self, request: str) -> list[ActionSpec]:
        """The tools' action specs, their argument schemas as the policies offer them for ``request``."""
        if self._specs is None or self._specs[0] != request:
            specs = []
            for tool in self.tools.values():
                schema = tool.json_schema()
                for policy in self.policies:
                    schema = policy.arguments_schema(tool, schema, request)
                specs.append(
                    ActionSpec(tool.name, tool.description, schema, tool.think, tool.repeats_allowed)
                )
            self._specs = (request, specs)
        return self._specs[1]


def _last_called(state: RunState) -> frozenset[str]:
    """The tools whose results end the messages: the calls of the turn this one follows."""
    names = []
    for message in reversed(state.messages):
        if message.role != "tool":
            break
        names.append(message.name or "")
    return frozenset(names)


def _after_error(state: RunState) -> bool:
    """Whether the turn follows the results of calls that failed, outside a plan (a new chat message
    follows a user message, and plan steps retry on their own)."""
    follows_results = bool(state.messages) and state.messages[-1].role == "tool"
    return state.last_call_failed and follows_results and not state.plan
