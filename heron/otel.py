"""OpenTelemetry export of run traces: each run a span, each model turn and tool call a child span.

heron's own trace (JSON lines, ``heron trace``) needs nothing; this is for teams that already
collect OpenTelemetry (Jaeger, Tempo, Langfuse, Phoenix, ...). It is an event callback, so it
sees exactly what the trace file holds::

    from heron.otel import OTelExporter
    agent = Agent(callbacks=[OTelExporter()])      # or HERON_OTEL=true for every agent

It uses the global tracer provider the application configured; when there is none and
``HERON_OTEL`` turned export on, :func:`default_provider` sends spans over OTLP to the endpoint
in the standard ``OTEL_EXPORTER_OTLP_ENDPOINT`` variable (nothing is sent anywhere by default).
Span and attribute names follow OpenTelemetry's GenAI conventions where one exists.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any

from heron.errors import ConfigError

INSTALL_HINT = "pip install 'heron[otel]' (opentelemetry-sdk and an OTLP exporter)"


@dataclass
class _RunSpans:
    run: Any
    tools: dict[str, Any] = field(default_factory=dict)  # call_id -> open tool span


class OTelExporter:
    """An event callback turning a run's events into spans (thread-safe; several runs at once).

    A sub-agent's run (its ``run_started`` names a parent run) becomes a child of the tool-call span
    that started it, so one trace holds the delegation."""

    follows_sub_runs = True  # a nested run's events reach it through the caller's trace

    def __init__(self, tracer_provider: Any = None) -> None:
        try:
            from opentelemetry import trace
        except ImportError as exc:
            raise ConfigError("OpenTelemetry export needs the opentelemetry packages", INSTALL_HINT) from exc
        self._trace = trace
        self._tracer = trace.get_tracer("heron", tracer_provider=tracer_provider)
        self._runs: dict[str, _RunSpans] = {}
        self._lock = threading.Lock()

    def __call__(self, event: Any) -> None:
        kind = getattr(event, "type", "")
        if kind in ("token", "tool_progress"):
            return  # per-token noise; the turns carry the counts
        with self._lock:
            spans = self._runs.get(event.run_id)
            if spans is None:
                spans = self._start_run(event)
            handler = getattr(self, f"_on_{kind}", None)
            if handler is not None:
                handler(spans, event)

    # -- events -------------------------------------------------------------------------------------

    def _start_run(self, event: Any) -> _RunSpans:
        attributes = {"heron.run_id": event.run_id, "gen_ai.operation.name": "invoke_agent"}
        if getattr(event, "type", "") == "run_started":
            attributes |= {
                "heron.goal": event.goal,
                "gen_ai.request.model": event.model,
                "heron.tools": list(event.tools),
            }
        else:
            attributes["heron.resumed"] = True  # a resumed run does not start with run_started
        parent = self._runs.get(getattr(event, "parent_run_id", None) or "")
        context = None
        if parent is not None:
            attributes["heron.parent_run_id"] = event.parent_run_id
            caller = parent.tools.get(event.parent_call_id or "", parent.run)
            context = self._trace.set_span_in_context(caller)
        span = self._tracer.start_span(
            "heron.run", context=context, attributes=attributes, start_time=_ns(event.time)
        )
        spans = _RunSpans(run=span)
        self._runs[event.run_id] = spans
        return spans

    def _on_model_turn(self, spans: _RunSpans, event: Any) -> None:
        end = _ns(event.time)
        span = self._tracer.start_span(
            "chat",
            context=self._trace.set_span_in_context(spans.run),
            start_time=end - int(event.seconds * 1e9),
            attributes={
                "gen_ai.operation.name": "chat",
                "heron.step": event.step,
                "gen_ai.usage.input_tokens": event.prompt_tokens,
                "gen_ai.usage.output_tokens": event.completion_tokens,
                "heron.cached_prompt_tokens": event.cached_prompt_tokens,
                "heron.output": event.output,
            },
        )
        span.end(end_time=end)

    def _on_tool_call(self, spans: _RunSpans, event: Any) -> None:
        spans.tools[event.call_id] = self._tracer.start_span(
            f"execute_tool {event.tool}",
            context=self._trace.set_span_in_context(spans.run),
            start_time=_ns(event.time),
            attributes={
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": event.tool,
                "gen_ai.tool.call.id": event.call_id,
                "heron.step": event.step,
                "heron.arguments": json.dumps(event.arguments, ensure_ascii=False, default=str),
            },
        )

    def _on_approval(self, spans: _RunSpans, event: Any) -> None:
        span = spans.tools.get(event.call_id, spans.run)
        span.add_event("approval", {"decision": event.decision, "reason": event.reason}, _ns(event.time))
        if event.decision == "denied":  # a denied call never gets a result
            self._end_tool(spans, event.call_id, event.time, error="denied")

    def _on_tool_result(self, spans: _RunSpans, event: Any) -> None:
        span = spans.tools.get(event.call_id)
        if span is None:
            return
        span.set_attribute("heron.result", event.text[:4000])
        paths = [str(a.get("path") or a.get("uri")) for a in event.artifacts if a.get("kind") != "citation"]
        if paths:
            span.set_attribute("heron.artifacts", paths)
        self._end_tool(spans, event.call_id, event.time, error=event.text[:200] if event.is_error else None)

    def _on_retrieval(self, spans: _RunSpans, event: Any) -> None:
        ids = [str(p.get("id")) for p in event.passages]
        spans.run.add_event("retrieval", {"query": event.query, "passage_ids": ids}, _ns(event.time))

    def _on_plan(self, spans: _RunSpans, event: Any) -> None:
        spans.run.add_event("plan", {"steps": list(event.steps), "revision": event.revision}, _ns(event.time))

    def _on_hint(self, spans: _RunSpans, event: Any) -> None:
        spans.run.add_event("hint", {"text": event.text}, _ns(event.time))

    def _on_tool_check(self, spans: _RunSpans, event: Any) -> None:
        attributes = {
            "tool": event.tool,
            "fits": event.fits,
            "yes": event.yes,
            "bias": event.bias,
            "bias_asked": event.bias_asked,
        }
        spans.run.add_event("tool_check", {**attributes, "kept": event.kept}, _ns(event.time))

    def _on_repeat_set_aside(self, spans: _RunSpans, event: Any) -> None:
        spans.run.add_event("repeat_set_aside", {"tools": list(event.tools)}, _ns(event.time))

    def _on_note_set_aside(self, spans: _RunSpans, event: Any) -> None:
        spans.run.add_event("note_set_aside", {"chars": event.chars}, _ns(event.time))

    def _on_answer(self, spans: _RunSpans, event: Any) -> None:
        spans.run.set_attribute("heron.answer", event.text)
        spans.run.set_attribute("heron.citations", list(event.citations))
        spans.run.set_attribute("heron.stopped_by", event.stopped_by)

    def _on_run_finished(self, spans: _RunSpans, event: Any) -> None:
        from opentelemetry.trace import Status, StatusCode

        for call_id in list(spans.tools):  # a run that failed mid-call
            self._end_tool(spans, call_id, event.time, error="run ended")
        run = spans.run
        run.set_attribute("heron.status", event.status)
        run.set_attribute("heron.failed_calls", event.failed_calls)
        run.set_attribute("heron.denied_calls", event.denied_calls)
        for key, value in event.usage.items():
            if isinstance(value, int | float):
                run.set_attribute(f"heron.usage.{key}", value)
        if event.status in ("error", "cancelled"):
            run.set_status(Status(StatusCode.ERROR, event.error or event.status))
        run.end(end_time=_ns(event.time))
        del self._runs[event.run_id]

    def _end_tool(self, spans: _RunSpans, call_id: str, time: float, error: str | None) -> None:
        from opentelemetry.trace import Status, StatusCode

        span = spans.tools.pop(call_id, None)
        if span is None:
            return
        if error is not None:
            span.set_status(Status(StatusCode.ERROR, error))
        span.end(end_time=_ns(time))


def default_provider() -> Any:
    """The application's tracer provider, or (none set) an SDK provider exporting over OTLP/gRPC."""
    from opentelemetry import trace

    current = trace.get_tracer_provider()
    if not isinstance(current, trace.ProxyTracerProvider):
        return current
    try:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError as exc:
        raise ConfigError(
            "HERON_OTEL is on but no tracer provider is configured and the OTLP exporter is missing",
            INSTALL_HINT + ", or configure opentelemetry's tracer provider in your application",
        ) from exc
    provider = TracerProvider(resource=Resource.create({"service.name": "heron"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    return provider


def _ns(seconds: float) -> int:
    return int(seconds * 1e9)
