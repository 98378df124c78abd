from __future__ import annotations

from heron.agents.approval import ApprovalRequest, allow_tools, approve_all, deny_all
from heron.agents.budget import Budget, BudgetTracker


def test_budget_names_the_first_limit_reached() -> None:
    tracker = BudgetTracker(Budget(max_steps=2, max_tokens=100, max_seconds=1000))
    assert tracker.exhausted() is None
    tracker.spend(steps=1, tokens=99)
    assert tracker.exhausted() is None
    assert tracker.remaining_text().startswith("budget left: 1 steps, 1 tokens")
    tracker.spend(tokens=1)
    assert tracker.exhausted() == "max_tokens"
    tracker.spend(steps=1)
    assert tracker.exhausted() == "max_steps"


def test_time_budget_counts_earlier_seconds_of_a_resumed_run() -> None:
    tracker = BudgetTracker(Budget(max_seconds=10), earlier_seconds=11)
    assert tracker.exhausted() == "max_seconds"


def test_policies() -> None:
    request = ApprovalRequest(tool="python", arguments={"code": "1"}, risk="high", step=1)
    assert deny_all(request).decision == "denied"
    assert approve_all(request).arguments == {"code": "1"}
    policy = allow_tools(["write_file"])
    assert policy(request).decision == "denied"
    assert policy(ApprovalRequest("write_file", {"path": "a"}, "high", 1)).decision == "approved"
