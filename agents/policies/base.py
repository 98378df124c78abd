"""The seam for turn policies: optional rules that shape a turn without the step loop knowing them.

A policy subclasses :class:`TurnPolicy` and overrides the hooks it needs; the others leave the turn
as it is. The agent takes them as a list (``Agent(policies=[...])``), and the loop asks each in
order:

- ``allowed(turn)``: before a turn in which the model chooses between tools and the answer, which
  actions it may take (an :class:`Allowed`; None: no restriction). Restrictions of several
  policies intersect.
- ``arguments_schema(tool, schema, request)``: the argument schema a tool offers for a request
  (the grammar then admits only what it describes).
- ``judges_name(turn)`` and ``judge_name(tool, turn)``: on a turn that offered the answer and that a
  policy judges (``judges_name``), the tool its first call names, as soon as the model has written
  the name: False ends the turn there and sets it aside, before the arguments are written (a local
  model at temperature 0 goes on with the turn when every policy says True).
- ``review(call, turn)``: a look at the parsed tool call before it runs: the call to make (possibly
  changed), or None to set it aside so the model chooses again without its tool (honoured only on a turn that
  offered the answer).

With the list empty the loop behaves exactly as without the seam.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from heron.agents.actions import ToolCallAction
from heron.llm.base import LLM
from heron.tools import Tool
from heron.tracing import EventCallback


@dataclass(frozen=True)
class Allowed:
    """Which actions a turn may take: the answer or not, and which tools (None: every tool)."""

    answer: bool = True
    tools: frozenset[str] | None = None

    def admits(self, tool: str) -> bool:
        return self.tools is None or tool in self.tools

    def intersect(self, other: Allowed) -> Allowed:
        if other.tools is None or self.tools is None:
            tools = other.tools if self.tools is None else self.tools
        else:
            tools = self.tools & other.tools
        return Allowed(answer=self.answer and other.answer, tools=tools)


ANSWER_ONLY = Allowed(answer=True, tools=frozenset())
TOOLS_ONLY = Allowed(answer=False)


@dataclass(frozen=True)
class Turn:
    """What a policy sees of a turn.

    ``first``: the first turn of a request without a plan (a chat message counts as a new request).
    ``offered``: the actions the turn's grammar admitted (set for ``review``; for ``allowed`` it is
    what the turn would offer without the policies). ``batch``: for ``review``, every call the turn
    wrote (a turn may hold several). ``set_aside``: the tools whose calls a policy set aside in this
    turn, which is being taken again without them (empty on a turn's first take). ``after_error``:
    the turn follows a turn whose calls failed, outside a plan; ``tool_errors``: the run's failed calls.
    """

    run_id: str
    request: str
    step: int
    first: bool
    offered: Allowed
    llm: LLM
    tools: Mapping[str, Tool]
    emit: EventCallback
    batch: tuple[ToolCallAction, ...] = ()
    set_aside: frozenset[str] = frozenset()
    after_error: bool = False  # the turn follows the results of calls that failed (no plan step)
    tool_errors: int = 0  # the run's failed calls so far
    last_called: frozenset[str] = frozenset()  # the tools of the turn whose results this one follows


class TurnPolicy:
    """Base of every turn policy: each hook leaves the turn unchanged until overridden."""

    def allowed(self, turn: Turn) -> Allowed | None:
        """The actions this turn may take; None: no restriction."""
        return None

    def arguments_schema(self, tool: Tool, schema: dict[str, Any], request: str) -> dict[str, Any]:
        """The argument schema ``tool`` offers for ``request`` (``schema`` is a copy: edit freely)."""
        return schema

    def judges_name(self, turn: Turn) -> bool:
        """Whether this policy may turn down, on this turn, the tool its first call names: the decode
        pauses at the name only where one does. A policy that overrides ``judge_name`` says here
        which turns it judges."""
        return False

    def judge_name(self, tool: str, turn: Turn) -> bool:
        """Whether a turn whose first call names ``tool`` may go on to write its arguments (``turn``
        as for ``allowed``). Say False only where ``review`` would set aside every turn that starts so:
        it saves decoding arguments nobody uses, and must not change which turns are kept."""
        return True

    def review(self, call: ToolCallAction, turn: Turn) -> ToolCallAction | None:
        """The call to make; None sets it aside. A turn with a call set aside is set aside whole (its
        text stays the model's own): the model answers, or calls one of the other tools."""
        return call
