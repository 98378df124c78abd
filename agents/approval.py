"""Approval of risky tool calls: a callback decides approve / deny / edit before the tool runs.

Only the policy the *user* chose decides. Text from documents or tool output never reaches the
policy as an instruction: the policy sees the tool name and the arguments the model produced.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

Decision = Literal["approved", "denied", "edited"]


@dataclass(frozen=True)
class ApprovalRequest:
    tool: str
    arguments: dict[str, Any]
    risk: str
    step: int


@dataclass(frozen=True)
class ApprovalResult:
    decision: Decision
    arguments: dict[str, Any] = field(default_factory=dict)
    reason: str = ""

    @classmethod
    def approve(cls, arguments: dict[str, Any]) -> ApprovalResult:
        return cls("approved", dict(arguments))

    @classmethod
    def deny(cls, reason: str = "denied by the user") -> ApprovalResult:
        return cls("denied", {}, reason)

    @classmethod
    def edit(cls, arguments: dict[str, Any], reason: str = "arguments edited by the user") -> ApprovalResult:
        return cls("edited", dict(arguments), reason)


ApprovalCallback = Callable[[ApprovalRequest], ApprovalResult]


@runtime_checkable
class BatchApprover(Protocol):
    """An approval callback that can also be asked about several calls at once (the risky calls of
    one turn), so the user sees the whole batch before any of it runs: approve all, or each."""

    def __call__(self, request: ApprovalRequest) -> ApprovalResult: ...

    def approve_batch(self, requests: Sequence[ApprovalRequest]) -> list[ApprovalResult]: ...


def ask_together(approve: ApprovalCallback, requests: Sequence[ApprovalRequest]) -> list[ApprovalResult]:
    """Decisions on every request of a batch, all asked before any call runs: in one question when
    ``approve`` is a :class:`BatchApprover`, else one request after another."""
    if not requests:
        return []
    if isinstance(approve, BatchApprover) and len(requests) > 1:
        decisions = list(approve.approve_batch(requests))
        if len(decisions) != len(requests):
            raise ValueError(f"approve_batch answered {len(decisions)} of {len(requests)} requests")
        return decisions
    return [approve(request) for request in requests]


def deny_all(request: ApprovalRequest) -> ApprovalResult:
    """The default without a user present: risky tools never run unattended unless allowed."""
    return ApprovalResult.deny(f"{request.tool} needs approval and no approver was configured")


def approve_all(request: ApprovalRequest) -> ApprovalResult:
    """``--yes``: the user allowed every risky tool for this run."""
    return ApprovalResult.approve(request.arguments)


def allow_tools(names: Iterable[str], otherwise: ApprovalCallback = deny_all) -> ApprovalCallback:
    """A policy from a task file: the named tools run without asking; others go to ``otherwise``."""
    allowed = frozenset(names)

    def policy(request: ApprovalRequest) -> ApprovalResult:
        if request.tool in allowed:
            return ApprovalResult.approve(request.arguments)
        return otherwise(request)

    return policy
