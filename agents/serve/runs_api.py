"""The runs API under ``/api``: list runs, one run with its events, a live run's events as they
happen (SSE), approve / deny / edit a pending call, cancel, resume; the files a run wrote (images)
and the eval reports.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any, Literal

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse, HTMLResponse, StreamingResponse
from pydantic import BaseModel

from heron.agents.approval import ApprovalResult
from heron.agents.run_store import RunRecord
from heron.agents.serve.hub import AgentHub, workspace_file
from heron.agents.serve.openai_api import answer_tokens
from heron.agents.serve.runs_index import list_runs, run_events
from heron.errors import HeronError

IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp"}
# an eval report is self-contained HTML (inline styles, data: plots): it may show, never run or fetch
REPORT_POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; sandbox"
NO_STORE = {"Cache-Control": "no-store"}


class Decision(BaseModel):
    decision: Literal["approve", "deny", "edit"]
    arguments: dict[str, Any] | None = None
    reason: str = ""


def router(hub: AgentHub) -> APIRouter:
    api = APIRouter(prefix="/api")
    data_dir = hub.settings.data_dir

    @api.get("/profiles")
    def profiles() -> dict[str, Any]:
        return {name: spec.model_dump() for name, spec in hub.profiles.items()}

    @api.get("/runs")
    def runs(limit: int = 100) -> list[dict[str, Any]]:
        return list_runs(data_dir, hub.store, hub.live, limit=max(1, min(limit, 1000)))

    @api.get("/runs/{run_id}")
    def run(run_id: str) -> dict[str, Any]:
        try:
            events = run_events(data_dir, run_id, hub.live)
        except HeronError as exc:
            raise HTTPException(404, str(exc)) from exc
        live = hub.live.get(run_id)
        summary = live.summary() if live else {"id": run_id, "live": False}
        try:
            record = hub.store.get(run_id)
            summary.update(status=record.status, goal=record.goal, resumable=_resumable(hub, record))
        except HeronError:
            pass
        answers = [e for e in events if e.get("type") == "answer" and e.get("answered")]
        tokens = answer_tokens(events, answers[-1]["text"]) if answers else []
        return {**summary, "events": events, "answer_tokens": tokens}

    @api.get("/runs/{run_id}/events")
    async def follow(run_id: str) -> StreamingResponse:
        live = hub.live.get(run_id)
        if live is None:
            try:
                events = run_events(data_dir, run_id, hub.live)
            except HeronError as exc:
                raise HTTPException(404, str(exc)) from exc

            async def past() -> AsyncIterator[str]:
                for event in events:
                    yield _sse(event)
                yield "event: end\ndata: {}\n\n"

            return StreamingResponse(past(), media_type="text/event-stream")

        async def following() -> AsyncIterator[str]:
            async for event in live.follow():
                yield _sse(event)
            yield f"event: end\ndata: {json.dumps({'status': live.status})}\n\n"

        return StreamingResponse(following(), media_type="text/event-stream", headers=NO_STORE)

    @api.post("/runs/{run_id}/approvals/{approval_id}")
    def decide(run_id: str, approval_id: str, body: Decision) -> dict[str, Any]:
        live = hub.live.get(run_id)
        if live is None:
            raise HTTPException(404, f"run {run_id} is not running here")
        if body.decision == "approve":
            pending = live.approvals.get(approval_id)
            result = ApprovalResult.approve(pending.arguments if pending else {})
        elif body.decision == "deny":
            result = ApprovalResult.deny(body.reason or "denied by the user")
        else:
            if body.arguments is None:
                raise HTTPException(422, "an edit needs the new `arguments`")
            result = ApprovalResult.edit(body.arguments)
        if not live.decide(approval_id, result):
            raise HTTPException(409, f"no pending approval {approval_id} (decided already, or timed out)")
        return {"ok": True}

    @api.post("/runs/{run_id}/cancel")
    def cancel(run_id: str) -> dict[str, Any]:
        live = hub.live.get(run_id)
        if live is None or live.ended.is_set():
            raise HTTPException(409, f"run {run_id} is not running here")
        live.cancel()
        return {"ok": True}

    @api.post("/runs/{run_id}/resume")
    async def resume(run_id: str) -> dict[str, Any]:
        try:
            live = await hub.resume(run_id)
        except HeronError as exc:
            raise HTTPException(409, str(exc)) from exc
        return {"ok": True, "run_id": live.run_id}

    @api.get("/runs/{run_id}/files/{path:path}")
    def file(run_id: str, path: str) -> FileResponse:
        try:
            target = workspace_file(hub.workspace, run_id, path)
        except HeronError as exc:
            raise HTTPException(404, str(exc)) from exc
        kind = IMAGE_TYPES.get(target.suffix.lower())
        if kind is None:
            raise HTTPException(404, "only images are served")
        return FileResponse(target, media_type=kind, headers={"X-Content-Type-Options": "nosniff"})

    @api.get("/reports")
    def reports() -> list[dict[str, Any]]:
        folder = data_dir / "evals"
        files = sorted(folder.glob("*.html"), key=lambda p: p.stat().st_mtime, reverse=True)
        return [{"name": p.name, "modified": p.stat().st_mtime} for p in files]

    @api.get("/reports/{name}")
    def report(name: str) -> HTMLResponse:
        folder = (data_dir / "evals").resolve()
        target = (folder / name).resolve()
        if target.parent != folder or target.suffix != ".html" or not target.is_file():
            raise HTTPException(404, f"no report {name!r}")
        headers = {"Content-Security-Policy": REPORT_POLICY}
        return HTMLResponse(target.read_text(encoding="utf-8"), headers=headers)

    return api


def _resumable(hub: AgentHub, record: RunRecord) -> bool:
    """Whether ``POST /runs/ID/resume`` would take the run up (the hub's own conditions)."""
    try:
        hub.resume_point(record)
    except HeronError:
        return False
    return True


def _sse(event: dict[str, Any]) -> str:
    return f"data: {json.dumps(event, ensure_ascii=False)}\n\n"
