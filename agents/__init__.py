"""heron.agents: the planner, the step loop, budgets, approvals, task automation and the run store.

>>> from heron.agents import Agent, AgentConfig, Budget
"""

from heron.agents.agent import Agent, ChatSession
from heron.agents.approval import ApprovalRequest, ApprovalResult, allow_tools, approve_all, deny_all
from heron.agents.budget import Budget
from heron.agents.config import AgentConfig
from heron.agents.result import Citation, RunResult
from heron.agents.state import PlanStep, RunState

__all__ = [
    "Agent",
    "AgentConfig",
    "ApprovalRequest",
    "ApprovalResult",
    "Budget",
    "ChatSession",
    "Citation",
    "PlanStep",
    "RunResult",
    "RunState",
    "allow_tools",
    "approve_all",
    "deny_all",
]
