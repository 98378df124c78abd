"""Turn policies: optional rules that shape the step loop's turns, passed to ``Agent(policies=[...])``.

>>> from heron.agents.policies import FirstCallCheck, ToolGate, TurnPolicy
"""

from heron.agents.policies.after_error import TryAgainAfterError
from heron.agents.policies.base import ANSWER_ONLY, TOOLS_ONLY, Allowed, Turn, TurnPolicy
from heron.agents.policies.first_call_check import FirstCallCheck
from heron.agents.policies.tool_gate import GateThresholds, ToolGate

__all__ = [
    "ANSWER_ONLY",
    "TOOLS_ONLY",
    "Allowed",
    "FirstCallCheck",
    "GateThresholds",
    "ToolGate",
    "TryAgainAfterError",
    "Turn",
    "TurnPolicy",
]
