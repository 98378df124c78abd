"""Typed run events, streamed to callbacks and written as JSON lines, one file per run.

Every event has ``type`` (its discriminator), ``run_id``, ``step`` and ``time``. A trace file is
``<data_dir>/traces/<run_id>.jsonl``; :func:`read_trace` turns it back into events. Evals read these
files (answer vs retrieved passages) without importing the agents package.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from heron.errors import DatasetError
from heron.status import RunStatus, StoppedBy


class _Event(BaseModel):
    run_id: str
    step: int = 0
    time: float = Field(default_factory=time.time)


class RunStartedEvent(_Event):
    type: Literal["run_started"] = "run_started"
    goal: str
    model: str
    tools: list[str]
    budget: dict[str, float]
    parent_run_id: str | None = None  # a sub-agent's run: the run whose tool call started it
    parent_call_id: str | None = None


class PlanEvent(_Event):
    type: Literal["plan"] = "plan"
    steps: list[str]
    tools: list[str | None] = Field(default_factory=list)  # the tool each step starts with, if any
    revision: int = 0
    reason: str = ""


class ModelTurnEvent(_Event):
    type: Literal["model_turn"] = "model_turn"
    output: str
    prompt_tokens: int
    cached_prompt_tokens: int
    completion_tokens: int
    seconds: float
    # each generated token and its log-probability, when the agent records them (token_logprobs)
    logprobs: list[tuple[str, float]] | None = None
    # the decode ran past the turn's token limit before its reply was complete: ``output`` is what it
    # wrote until then, and the turn is taken again (or given up) as the next events show
    cut: bool = False


class ToolCallEvent(_Event):
    type: Literal["tool_call"] = "tool_call"
    call_id: str
    tool: str
    arguments: dict[str, Any]


class ToolResultEvent(_Event):
    type: Literal["tool_result"] = "tool_result"
    call_id: str
    tool: str
    text: str
    is_error: bool = False
    artifacts: list[dict[str, Any]] = Field(default_factory=list)
    seconds: float = 0.0


class ToolProgressEvent(_Event):
    """How far a long tool call is (diffusion steps, ...); streamed to callbacks, not written to the file."""

    type: Literal["tool_progress"] = "tool_progress"
    call_id: str
    tool: str
    done: int
    total: int
    label: str = ""


class RetrievalEvent(_Event):
    type: Literal["retrieval"] = "retrieval"
    query: str
    passages: list[dict[str, Any]]  # id, source, location, score, text


class ApprovalEvent(_Event):
    type: Literal["approval"] = "approval"
    call_id: str
    tool: str
    decision: Literal["approved", "denied", "edited"]
    arguments: dict[str, Any]
    reason: str = ""


class HintEvent(_Event):
    """A message heron sent back to the model: a retry hint, a repeated-call warning, a budget note."""

    type: Literal["hint"] = "hint"
    text: str


class RunResumedEvent(_Event):
    """A task run continues from its checkpoint (``heron resume``, or a cluster task retried after its
    worker died): where, and whether the saved KV cache was used or the prompt is evaluated again."""

    type: Literal["run_resumed"] = "run_resumed"
    node: str
    previous_node: str | None = None
    kv_cache: Literal["reused", "re-evaluated"]
    reason: str = ""


class ToolCheckEvent(_Event):
    """The model was asked whether the tool its first turn called does what the request asks."""

    type: Literal["tool_check"] = "tool_check"
    tool: str
    # the model's P(Yes) against No, its Yes-bias divided out (agents/policies/first_call_check.py);
    # a bound of it, on the verdict's side, when bias_asked < 3
    fits: float
    yes: float  # P(Yes) as the model gave it for this request
    # the mean P(Yes) it gave for the content-free requests "N/A", "" and "[MASK]"; when fewer were
    # asked (the verdict was certain before), the bound of that mean on the verdict's side
    bias: float
    bias_asked: int = 3  # how many of the three content-free requests were asked (3 in older traces)
    kept: bool  # False: the call was set aside and the turn taken again without this tool


class RepeatSetAsideEvent(_Event):
    """The model's turn only repeated calls already made for this request, whose results it has: the
    turn was set aside and taken again without those tools (agents/loop.py)."""

    type: Literal["repeat_set_aside"] = "repeat_set_aside"
    tools: list[str]


class NoteSetAsideEvent(_Event):
    """A plan step's note ran to its length limit: a note that long copies the result again or loops
    (lines restated with other numbers). It was taken out of the conversation with the request for it,
    and the tool's own result is the step's result (agents/plan_execution.py)."""

    type: Literal["note_set_aside"] = "note_set_aside"
    chars: int  # the note's length, the limit's


class TokenEvent(_Event):
    """A streamed text delta of the final answer; streamed to callbacks, not written to the file."""

    type: Literal["token"] = "token"
    text: str


class AnswerEvent(_Event):
    type: Literal["answer"] = "answer"
    text: str
    citations: list[str] = Field(default_factory=list)
    stopped_by: StoppedBy = "answer"
    answered: bool = True  # False: no answer of the model's own (``note`` says why); ``text`` is empty
    note: str = ""
    cut: bool = False  # the answer reached its length limit and ends where the limit cut it
    unsourced: list[str] = Field(default_factory=list)  # its numbers no tool result or passage shows
    retrieved: list[dict[str, Any]] = Field(default_factory=list)  # every passage the run saw


class RunFinishedEvent(_Event):
    type: Literal["run_finished"] = "run_finished"
    status: RunStatus
    stopped_by: StoppedBy | None = None  # None when an error or a cancel ended the run
    usage: dict[str, float]
    seconds: float
    error: str = ""
    failed_calls: int = 0  # the request's tool calls that ended in an error
    denied_calls: int = 0  # the request's calls the approver did not approve (they did not run)


TraceEvent = Annotated[
    RunStartedEvent
    | PlanEvent
    | ModelTurnEvent
    | ToolCallEvent
    | ToolResultEvent
    | ToolProgressEvent
    | RetrievalEvent
    | ApprovalEvent
    | HintEvent
    | RunResumedEvent
    | ToolCheckEvent
    | RepeatSetAsideEvent
    | NoteSetAsideEvent
    | TokenEvent
    | AnswerEvent
    | RunFinishedEvent,
    Field(discriminator="type"),
]
_EVENT_ADAPTER: TypeAdapter[TraceEvent] = TypeAdapter(TraceEvent)
_NOT_WRITTEN = {"token", "tool_progress"}

EventCallback = Callable[[Any], None]


def parse_event(data: dict[str, Any]) -> Any:
    """A trace event from its JSON form (``event.model_dump(mode="json")``)."""
    return _EVENT_ADAPTER.validate_python(data)


CONVERSATION_MARK = "-chat-"  # in the run id of a conversation: `heron chat`, the SDK's ChatSession


def conversation_run_id() -> str:
    """A new run id for a conversation, whose messages share one trace."""
    return time.strftime(f"%Y%m%d-%H%M%S{CONVERSATION_MARK}") + uuid.uuid4().hex[:6]


def run_kind(run_id: str) -> str:
    """What a run known only by its trace is called in ``heron runs`` and the runs API: ``chat`` for a
    conversation, else ``agent`` (task runs and served runs are named by the run store)."""
    return "chat" if CONVERSATION_MARK in run_id else "agent"


def trace_path(data_dir: Path, run_id: str) -> Path:
    return data_dir / "traces" / f"{run_id}.jsonl"


@dataclass(frozen=True)
class TraceSummary:
    """A run as its trace file tells it, for listings (``heron runs``, the runs API). A
    conversation's messages each start and finish in the same file: its steps, seconds and tokens are
    their sums, its status the last message's."""

    run_id: str
    kind: str  # run_kind's word
    goal: str  # the first message's
    started: float
    status: str  # the last end event's; "interrupted" when the run never finished
    stopped_by: str
    steps: int
    messages: int
    unsucceeded: int  # messages that ended in another status than succeeded (a conversation's)
    seconds: float | None  # None while unfinished
    tokens: int | None  # generated; None while unfinished
    model: str | None
    parent: str | None  # the caller's run id when a sub-agent's trace was written apart


def summarize_trace(path: Path) -> TraceSummary | None:
    """The run's own start and end events read from its trace (a sub-agent's, nested in its caller's
    trace, are skipped); None for a file that is unreadable or is not a trace."""
    marks: list[dict[str, Any]] = []
    try:
        with path.open("rb") as fh:
            for line in fh:  # only start and end lines are parsed: a listing reads many files
                if b'"run_started"' in line or b'"run_finished"' in line:
                    try:
                        event = json.loads(line)
                    except ValueError:  # a line a crash cut short
                        continue
                    if isinstance(event, dict) and event.get("type") in ("run_started", "run_finished"):
                        marks.append(event)
    except OSError:
        return None
    if not marks or marks[0].get("type") != "run_started":
        return None
    first = marks[0]
    own = [m for m in marks if m.get("run_id") == first.get("run_id")]
    # each message of a conversation starts afresh; a resumed run goes on counting in its message
    # (its own counts carry over), so a message's figures are those of its last end event
    ends: list[dict[str, Any]] = []
    messages = 0
    conversation = CONVERSATION_MARK in path.stem
    for mark in own:
        if mark.get("type") == "run_started" and (conversation or not ends):
            messages += 1
            ends.append({})
        elif mark.get("type") == "run_finished":  # (a run resumed after a cancel starts again: one message)
            ends[-1] = mark
    steps = sum(int(end.get("step", 0)) for end in ends)
    seconds = sum(float(end.get("seconds", 0.0)) for end in ends)
    tokens = sum(int(end.get("usage", {}).get("completion_tokens", 0)) for end in ends)
    finished = own[-1].get("type") == "run_finished"
    end = own[-1] if finished else {}
    return TraceSummary(
        run_id=path.stem,
        kind=run_kind(path.stem),
        goal=str(first.get("goal", "")),
        started=float(first.get("time", 0.0)),
        status=str(end.get("status", "interrupted")),
        stopped_by=str(end.get("stopped_by") or ""),
        steps=steps,
        messages=messages,
        unsucceeded=sum(end.get("status", "interrupted") != "succeeded" for end in ends),
        seconds=round(seconds, 3) if finished else None,
        tokens=tokens if finished else None,
        model=first.get("model"),
        parent=first.get("parent_run_id"),
    )


class Tracer:
    """Fans events out to callbacks and appends them to the run's JSON-lines file.

    Use as a context manager so the file is closed at the end of the run.
    """

    def __init__(self, path: Path | None, callbacks: list[EventCallback] | None = None) -> None:
        self.path = path
        self.callbacks = list(callbacks or [])
        self._lock = threading.RLock()
        self._file = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = path.open("a", encoding="utf-8")

    def emit(self, event: BaseModel) -> None:
        """Write and fan out ``event``; safe from several threads (a turn's concurrent tool calls)."""
        with self._lock:
            if self._file is not None and getattr(event, "type", "") not in _NOT_WRITTEN:
                self._file.write(event.model_dump_json() + "\n")
                self._file.flush()  # a crash must not lose the events before it
            for callback in self.callbacks:
                callback(event)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> Tracer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_trace(path: Path) -> list[Any]:
    """The events of a trace file; a malformed line raises DatasetError naming file and line."""
    return list(iter_trace(path))


def iter_trace(path: Path) -> Iterator[Any]:
    if not path.is_file():
        raise DatasetError(
            f"trace not found: {path}", "list runs with `heron runs`; traces live in <data_dir>/traces"
        )
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                yield _EVENT_ADAPTER.validate_python(json.loads(line))
            except (json.JSONDecodeError, ValidationError) as exc:
                raise DatasetError(
                    f"{path}:{number}: not a heron trace event ({exc.__class__.__name__}: {str(exc)[:200]})",
                    "the file may be truncated by a crash; remove the broken line",
                ) from exc
