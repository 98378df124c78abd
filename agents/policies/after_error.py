"""After a failed call the model acts again before it answers.

A small model that reads an error often answers with it: the default model's Python used ``apple``
without defining it and the answer was "The total cost cannot be computed because the 'apple'
variable is not defined."; a calculator given Python code failed and the answer was "Not enough
information", though both files read in the same turn held the figures. The error says what went
wrong, not what was asked. So the turn right after a turn whose calls failed offers the tools only:
the model fixes the call, or tries another tool. This holds while the run has had at most
``AgentConfig.tries_after_error`` failed calls; after more, the answer is offered again (it may then
say what failed). A call the user denied is not a failure here (the model may answer then), and plan
steps retry on their own (``step_tries``).

The turn offers the tools the failed turn called and the tools that are not high-risk: kept from
answering, the model takes whatever tool is offered, and with every tool offered it called a
high-risk one the request never mentioned (a user's ``archive_file``, after a look-up tool failed:
four files archived with every call approved). When no tool is left, the answer is offered.
"""

from __future__ import annotations

from heron.agents.policies.base import Allowed, Turn, TurnPolicy
from heron.tools import Risk


class TryAgainAfterError(TurnPolicy):
    """The turn after failed calls offers tools only, up to ``tries`` failed calls per run."""

    def __init__(self, tries: int) -> None:
        self.tries = tries

    def allowed(self, turn: Turn) -> Allowed | None:
        if not (turn.after_error and turn.offered.answer and 0 < turn.tool_errors <= self.tries):
            return None
        tools = frozenset(
            name for name, tool in turn.tools.items() if tool.risk != Risk.HIGH or name in turn.last_called
        )
        return Allowed(answer=False, tools=tools) if tools else None
