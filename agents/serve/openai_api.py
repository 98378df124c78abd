"""``/v1/models`` and ``/v1/chat/completions`` in the OpenAI shape, streamed (SSE) or not.

"model" names an agent profile. The last message is the request; earlier user and assistant messages
are the conversation before it; system messages add to the profile's instructions. heron runs the
profile's own tools: tool calls, their results, approvals and retrieved passages are reported in the
extension field ``heron`` (on each streamed chunk that carries one, and on the whole completion), so
a client that ignores the field still reads a normal answer. Usage counts are the run's real tokens.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from heron.agents.serve.hub import AgentHub
from heron.agents.serve.live import LiveRun
from heron.errors import HeronError
from heron.llm.types import Message

# events a client sees in the `heron` field while a run streams (tokens are the content itself)
REPORTED = ("plan", "tool_call", "tool_result", "tool_progress", "retrieval", "approval_needed", "approval")
KEPT = tuple(kind for kind in REPORTED if kind != "tool_progress")  # in a whole completion


class ChatMessageIn(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(str(part.get("text", "")) for part in self.content if part.get("type") == "text")
        return self.content or ""


class HeronOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ask: bool = Field(False, description="risky calls wait for a decision through the runs API")


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="allow")  # temperature, max_tokens, ...: the profile decides

    model: str
    messages: list[ChatMessageIn] = Field(min_length=1)
    stream: bool = False
    tools: list[Any] | None = None
    heron: HeronOptions = Field(default_factory=HeronOptions)


# how to fix each field of a chat request, in the message of a request that failed validation
FIELD_HINTS = {
    "model": "name an agent profile (GET /v1/models lists them)",
    "messages": "send a list of {role, content} messages, the user's request last",
    "stream": "send true or false",
    "heron": 'send {"ask": true} or {"ask": false}, or leave it out',
}
BODY_HINT = "send a JSON object with `model` and `messages`"
SHOWN_ERRORS = 3  # a long list of bad messages is reported by its first few errors


def openai_error(
    status: int,
    message: str,
    kind: str = "invalid_request_error",
    code: str | None = None,
    param: str | None = None,
) -> JSONResponse:
    """An error in OpenAI's shape. ``x-should-retry: false``: OpenAI's clients retry a 5xx on their
    own, which would run a failed agent (and its tools) again, or a cancelled one."""
    body = {"error": {"message": message, "type": kind, "param": param, "code": code}}
    return JSONResponse(body, status_code=status, headers={"x-should-retry": "false"})


def invalid_request(errors: Sequence[Any]) -> JSONResponse:
    """A body that is not JSON or not a valid chat request (FastAPI's validation ``errors``), as
    OpenAI answers it: HTTP 400, naming each wrong field and how to fix it."""
    parts: list[str] = []
    hinted: set[str] = set()
    for error in errors[:SHOWN_ERRORS]:
        loc = [part for part in error.get("loc", ()) if part != "body"]
        if error.get("type") == "json_invalid":
            reason = error.get("ctx", {}).get("error", "a decode error")
            where = f" at character {loc[0]}" if loc and isinstance(loc[0], int) else ""
            parts.append(f"the body is not valid JSON ({reason}{where}): {BODY_HINT}")
        elif not loc or not isinstance(loc[0], str):
            parts.append(f"the body is not a JSON object: {BODY_HINT}")
        else:
            part = f"{_param(loc)}: {_lowered(str(error.get('msg', 'invalid')))}"
            if loc[0] in FIELD_HINTS and loc[0] not in hinted:
                hinted.add(loc[0])
                part += f": {FIELD_HINTS[loc[0]]}"
            parts.append(part)
    if len(errors) > SHOWN_ERRORS:
        parts.append(f"and {len(errors) - SHOWN_ERRORS} more")
    first = [part for part in errors[0].get("loc", ()) if part != "body"] if errors else []
    param = _param(first) if first and isinstance(first[0], str) else None
    return openai_error(400, "; ".join(parts) or BODY_HINT, param=param)


_TYPE_TAGS = frozenset({"str", "int", "float", "bool", "list", "dict", "none"})


def _param(loc: Sequence[Any]) -> str:
    """A field's path as OpenAI writes it: ``messages[0].role``; without the union member pydantic
    names after a field of several types (``content.str``, ``content.list[dict[str,any]]``)."""
    fields = [p for p in loc if isinstance(p, int) or not ("[" in str(p) or str(p).lower() in _TYPE_TAGS)]
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in fields).lstrip(".")


def _lowered(message: str) -> str:
    """Pydantic's "Field required" inside a sentence: "field required" (an acronym stays as written)."""
    return message[:1].lower() + message[1:] if message[1:2].islower() else message


def router(hub: AgentHub) -> APIRouter:
    api = APIRouter()

    @api.get("/v1/models")
    def models() -> dict[str, Any]:
        return {
            "object": "list",
            "data": [
                {"id": name, "object": "model", "created": 0, "owned_by": "heron", "heron": spec.model_dump()}
                for name, spec in hub.profiles.items()
            ],
        }

    @api.post("/v1/chat/completions", response_model=None)
    async def chat_completions(body: ChatRequest, request: Request) -> Any:
        if body.tools:
            return openai_error(
                400, "heron serve runs the profile's own tools; send the request without `tools`"
            )
        if body.messages[-1].role != "user" or not body.messages[-1].text().strip():
            return openai_error(400, "the last message must be the user's request, with text")
        instructions = "\n\n".join(m.text() for m in body.messages if m.role in ("system", "developer"))
        history = [
            Message.user(m.text()) if m.role == "user" else Message.assistant(m.text())
            for m in body.messages[:-1]
            if m.role in ("user", "assistant")
        ]
        if body.model not in hub.profiles:
            return openai_error(
                404,
                f"no agent profile named {body.model!r}: use one of {', '.join(hub.profiles)}",
                code="model_not_found",
            )
        try:
            run = await hub.start(
                body.model, body.messages[-1].text(), history, instructions=instructions, ask=body.heron.ask
            )
        except HeronError as exc:  # the profile's settings, the run store
            return openai_error(500, str(exc), "server_error")
        if body.stream:
            return StreamingResponse(
                _stream(run, body.model, request),
                media_type="text/event-stream",
                headers={"Cache-Control": "no-store", "X-Heron-Run": run.run_id},
            )
        watcher = asyncio.ensure_future(_cancel_on_disconnect(run, request))
        try:
            await run.ended.wait()
        finally:
            watcher.cancel()
        if run.result is None:
            if run.status == "cancelled":
                return openai_error(409, "the run was cancelled", "cancelled")
            return openai_error(500, f"the run failed: {run.error or 'no answer'}", "server_error")
        return JSONResponse(_completion(run, body.model), headers={"X-Heron-Run": run.run_id})

    return api


async def _cancel_on_disconnect(run: LiveRun, request: Request) -> None:
    while not run.ended.is_set():
        if await request.is_disconnected():
            run.cancel()
            return
        await asyncio.sleep(0.25)


def _chunk(run: LiveRun, model: str, delta: dict[str, Any], **extra: Any) -> str:
    chunk = {
        "id": f"chatcmpl-{run.run_id}",
        "object": "chat.completion.chunk",
        "created": int(run.created),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": extra.pop("finish_reason", None)}],
        **extra,
    }
    return f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n"


async def _stream(run: LiveRun, model: str, request: Request) -> AsyncIterator[str]:
    """The run as chat completion chunks; the client leaving cancels the run (noticed by a watcher, as
    the stream may wait a long time between chunks while a tool runs)."""
    finished = False
    watcher = asyncio.ensure_future(_cancel_on_disconnect(run, request))
    try:
        yield _chunk(run, model, {"role": "assistant", "content": ""}, heron={"run_id": run.run_id})
        async for event in run.follow():
            kind = event.get("type")
            if kind == "token":
                yield _chunk(run, model, {"content": event["text"]})
            elif kind in REPORTED:
                yield _chunk(run, model, {}, heron={"event": event})
        await run.ended.wait()
        if run.result is None:  # OpenAI's clients raise on an error event in the stream
            message = "the run was cancelled" if run.status == "cancelled" else f"the run failed: {run.error}"
            kind = "cancelled" if run.status == "cancelled" else "server_error"
            error = {
                "error": {"message": message, "type": kind, "code": None},
                "heron": {"status": run.status},
            }
            yield f"data: {json.dumps(error, ensure_ascii=False)}\n\n"
        else:
            done = _completion(run, model)
            yield _chunk(
                run,
                model,
                {},
                finish_reason=done["choices"][0]["finish_reason"],
                usage=done["usage"],
                heron={**done["heron"], "answer": result_text(done)},
            )
        yield "data: [DONE]\n\n"
        finished = True
    finally:
        watcher.cancel()
        if not finished:  # the client left (or the server is stopping): free the model
            run.cancel()


def result_text(completion: dict[str, Any]) -> str:
    return str(completion["choices"][0]["message"]["content"])


def _completion(run: LiveRun, model: str) -> dict[str, Any]:
    result = run.result
    assert result is not None
    usage = result.usage
    return {
        "id": f"chatcmpl-{run.run_id}",
        "object": "chat.completion",
        "created": int(run.created),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": result.answer},
                # "length": a budget ended the run, or the answer reached its length limit
                "finish_reason": "length" if result.budget_exhausted or result.answer_cut else "stop",
            }
        ],
        "usage": {
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "total_tokens": usage.prompt_tokens + usage.completion_tokens,
        },
        "heron": {
            "run_id": run.run_id,
            "status": result.status,
            "note": result.note,
            "answer_cut": result.answer_cut,
            "steps": result.steps,
            "failed_calls": result.failed_calls,
            "denied_calls": result.denied_calls,
            "unsourced_numbers": result.unsourced_numbers,
            "citations": [c.model_dump(mode="json") for c in result.citations],
            "events": [e for e in run.events if e.get("type") in KEPT],
            "answer_tokens": answer_tokens(run.events, result.answer),
            "seconds": round(time.time() - run.created, 3),
        },
    }


def answer_tokens(events: list[dict[str, Any]], answer: str) -> list[tuple[str, float]]:
    """The answer's tokens with their log-probabilities, from the last model turn's record (the
    answer's turn), when the profile records them: the tokens that wrote the answer's text."""
    turns = [e for e in events if e.get("type") == "model_turn" and e.get("logprobs")]
    if not turns or not answer:
        return []
    pieces = [(str(token), float(logprob)) for token, logprob in turns[-1]["logprobs"]]
    text = "".join(token for token, _ in pieces)
    for needle in (json.dumps(answer, ensure_ascii=False)[1:-1], answer):
        start = text.find(needle)
        if start >= 0:
            end = start + len(needle)
            break
    else:
        return []
    out, position = [], 0
    for token, logprob in pieces:
        lo, hi = position, position + len(token)
        position = hi
        if hi <= start or lo >= end:
            continue
        piece = token[max(0, start - lo) : len(token) - max(0, hi - end)]
        out.append((_unescape(piece), logprob))
    return out


def _unescape(piece: str) -> str:
    """A piece of a JSON string as the reader sees it: its escapes undone where the piece holds them
    whole (a token can end inside an escape; that piece is shown as written)."""
    try:
        return str(json.loads(f'"{piece}"'))
    except json.JSONDecodeError:
        return piece
