"""One readable line (rich markup) per trace event, shared by `heron run`, `heron trace` and the REPL."""

from __future__ import annotations

import json
from typing import Any

from rich.markup import escape

from heron.llm.yes_no import CONTENT_FREE
from heron.status import calls_in_doubt, describe, unsourced_note


def render_event(event: Any, verbose: bool = False) -> str:
    """A line for ``event``; empty for events not worth a line (streamed tokens)."""
    kind = getattr(event, "type", "")
    step = f"[dim]{event.step:>3}[/] " if hasattr(event, "step") else ""
    if kind == "run_started":
        return (
            f"[bold]run {event.run_id}[/]: {escape(event.goal)} [dim](model {event.model}; tools "
            f"{', '.join(event.tools)})[/]"
        )
    if kind == "plan":
        steps = "; ".join(
            escape(f"{i + 1}. {s}" + (f" [{t}]" if i < len(event.tools) and (t := event.tools[i]) else ""))
            for i, s in enumerate(event.steps)
        )
        label = "plan" if not event.revision else f"re-plan {event.revision}"
        return f"{step}[magenta]{label}[/]: {steps}"
    if kind == "model_turn":
        reuse = f"{event.cached_prompt_tokens}/{event.prompt_tokens} prompt tokens reused"
        text = f"{step}[dim]model: {event.completion_tokens} tokens in {event.seconds:.2f}s, {reuse}[/]"
        if event.cut:
            text += " [red]cut off at the turn's token limit[/]"
        return text + (f"\n      [dim]{escape(event.output[:300])}[/]" if verbose else "")
    if kind == "tool_call":
        return f"{step}[yellow]call[/] {event.tool}({escape(_short(event.arguments))})"
    if kind == "tool_result":
        colour = "red" if event.is_error else "green"
        made = [str(a.get("path") or a.get("uri")) for a in event.artifacts if a.get("kind") != "citation"]
        files = f" files: {', '.join(made)}" if made else ""
        label = "error" if event.is_error else "result"
        return f"{step}[{colour}]{label}[/] {escape(_clip(event.text, 240))}{escape(files)}"
    if kind == "retrieval":
        ids = ", ".join(f"{p.get('id')} ({p.get('source', '')})" for p in event.passages[:5])
        return f"{step}[cyan]retrieved[/] {len(event.passages)} passages: {escape(ids)}"
    if kind == "approval":
        edited = f" to {escape(_short(event.arguments))}" if event.decision == "edited" else ""
        return f"{step}[bold]approval[/] {event.tool}: {event.decision}{edited}" + (
            f" ({escape(event.reason)})" if event.reason else ""
        )
    if kind == "run_resumed":
        where = f"on {escape(event.node)}" + (
            f" (was {escape(event.previous_node)})" if event.previous_node not in (None, event.node) else ""
        )
        cache = (
            "KV cache reused"
            if event.kv_cache == "reused"
            else f"prompt re-evaluated: {escape(event.reason)}"
        )
        return f"{step}[bold]resumed[/] {where}; {cache}"
    if kind == "hint":
        return f"{step}[dim]hint: {escape(_clip(event.text, 200))}[/]"
    if kind == "tool_check":
        verdict = "fits the request" if event.kept else "does not fit the request"
        if event.bias_asked >= len(CONTENT_FREE):
            odds = f"P(yes) {event.yes:.2f}, {event.bias:.2f} for any request: {event.fits:.2f}"
        else:  # the content-free requests asked bound the bias far enough for the verdict
            side, beyond = ("at most", "or more") if event.kept else ("at least", "or less")
            odds = (
                f"P(yes) {event.yes:.2f}, {side} {event.bias:.2f} for any request: {event.fits:.2f} {beyond}"
            )
        return f"{step}[dim]check: {escape(event.tool)} {verdict} ({odds})[/]"
    if kind == "repeat_set_aside":
        names = ", ".join(event.tools)
        return f"{step}[dim]set aside: a repeat of an earlier {escape(names)} call; asked again without it[/]"
    if kind == "note_set_aside":
        return (
            f"{step}[dim]note set aside: it ran to its limit of {event.chars} characters; the step's "
            "result is the tool's own[/]"
        )
    if kind == "answer":
        cites = (
            f" [cyan]{escape(' '.join('[' + c + ']' for c in event.citations))}[/]" if event.citations else ""
        )
        flag = "" if event.stopped_by == "answer" else f" [red](stopped by {event.stopped_by})[/]"
        if not event.answered:
            return f"{step}[bold red]no answer[/]{flag}: {escape(event.note)}"
        unsourced = f"\n      [yellow]{escape(unsourced_note(event.unsourced))}[/]" if event.unsourced else ""
        return f"{step}[bold green]answer[/]{flag}: {escape(event.text)}{cites}{unsourced}"
    if kind == "run_finished":
        usage = event.usage
        status = describe(event.status, event.stopped_by or "")
        steps = f" after {event.step} step{'s' * (event.step != 1)}" if event.step else ""
        return (
            f"    [bold]finished[/] {status}{steps} in {event.seconds:.1f}s; tokens: "
            f"{int(usage.get('prompt_tokens', 0))} prompt "
            f"({int(usage.get('cached_prompt_tokens', 0))} reused), "
            f"{int(usage.get('completion_tokens', 0))} generated"
            + calls_in_doubt(event.failed_calls, event.denied_calls)
            + (f"; error: {escape(event.error)}" if event.error else "")
        )
    return ""


def _short(arguments: dict[str, Any]) -> str:
    return _clip(json.dumps(arguments, ensure_ascii=False), 200)


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
