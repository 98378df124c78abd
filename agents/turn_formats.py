"""How a model writes a turn: heron's generic JSON action, or the model's own tool-call syntax.

A :class:`TurnFormat` owns everything that depends on the syntax: the system prompt (the generic
format lists the tools and the JSON shapes in it; a native one leaves the tool list to the model's
chat template), the grammar a turn is decoded under, the parse of the turn into an action, and how
heron's hints name "finish". The step loop only asks it for one :class:`TurnRequest` at a time.

- :class:`GenericFormat`: one JSON object (``{"action": ..., "arguments": ...}``, a list of them for
  several calls, or the final action with its citations); works with any backend that takes a JSON
  schema, and with any chat template.
- :class:`NativeFormat`: the syntax the model's template was trained on
  (:mod:`heron.llm.tool_formats`: hermes for Qwen2.5, llama3, mistral), tools rendered by the
  template; an answer is plain text, ended by a "Sources:" line of passage ids where passages can be
  cited. Needs a backend that decodes a raw grammar (:class:`~heron.llm.base.DecodesGrammar`).

:func:`turn_format` picks one from the agent's setting and the model.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import weakref
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import platformdirs

from heron.agents.actions import (
    FINAL_ANSWER,
    STEP_DONE,
    ActionSpec,
    CallBatch,
    FinalAction,
    ToolCallAction,
    action_schema,
    batch_of,
    call_key,
    made_together,
    parse_action,
    tool_parameters,
    waits_for_results,
)
from heron.agents.listing import tool_listing
from heron.agents.streaming import AnswerStream, TextStream
from heron.agents.templates import render
from heron.errors import ModelError, UsageError
from heron.llm.base import LLM, DecodesGrammar, ResumesReplies
from heron.llm.schema import grammar_of_rules
from heron.llm.tool_formats import FORMATS, TOOL_FORMATS, ToolFormat, declarations
from heron.llm.types import GenerationOptions, Message, Usage
from heron.tools import Tool

CUT_MARGIN = 10  # an answer ending this close to its length bound was cut by it (answer_was_cut)
SOURCES = "\nSources: "  # a native answer's last line: the ids of the passages it used


@dataclass(frozen=True)
class TurnRequest:
    """What one turn may do: call ``specs`` (at most ``max_calls`` of them), give the ``final``
    action (None: tools only), cite ``citable_ids`` (at least ``min_citations``), within these lengths.
    ``answer_kind``: what an answer of the turn is (final_answer or step_done), also when a backend
    without grammars answers where no answer was offered."""

    specs: Sequence[ActionSpec]
    final: str | None
    answer_kind: str
    citable_ids: Sequence[str]
    min_citations: int
    thought_chars: int
    answer_chars: int
    argument_chars: int
    max_calls: int
    made_calls: frozenset[str] = frozenset()  # the :func:`call_key` of each call the run made
    # asked with the first call's tool as soon as its name is written, before its arguments: False
    # ends the turn there (a backend that cannot go on with a reply it began is not asked)
    judge_name: Callable[[str], bool] | None = None


@dataclass(frozen=True)
class SetAside:
    """A turn ended at its first call's name, which ``TurnRequest.judge_name`` turned down."""

    tool: str


@dataclass(frozen=True)
class DecodedTurn:
    text: str  # what the model wrote, as it goes into the history
    action: ToolCallAction | CallBatch | FinalAction | SetAside
    usage: Usage | None = None  # for a turn decoded in two calls (judged at a name); else the model's last


class TurnFormat(Protocol):
    key: str  # the setting that selects it ("generic", "hermes", ...), kept in a run's state
    name: str  # as `heron doctor` says it: "generic", "qwen/hermes, native"

    def system_prompt(self, tools: Sequence[Tool], instructions: str) -> str: ...

    def finish_phrase(self, final: str) -> str:
        """How heron's hints tell the model to finish (``final``: final_answer or step_done)."""
        ...

    def answer_stream(self) -> AnswerStream | TextStream:
        """What picks the answer's text out of the turn's raw deltas, for streaming."""
        ...

    def decode(
        self, llm: LLM, messages: Sequence[Message], request: TurnRequest, options: GenerationOptions
    ) -> DecodedTurn: ...


class GenericFormat:
    """heron's own JSON action, under a grammar built from its JSON schema."""

    key = name = "generic"

    def __init__(self, parallel: bool = True) -> None:
        self.parallel = parallel  # the prompt shows the list of calls (AgentConfig.parallel_calls > 1)

    def system_prompt(self, tools: Sequence[Tool], instructions: str) -> str:
        return render(
            "agent_system",
            parallel=self.parallel,
            final=FINAL_ANSWER,
            tools=[tool_listing(t) for t in tools],
            instructions=instructions,
        )

    def finish_phrase(self, final: str) -> str:
        if final == STEP_DONE:
            return '{"action": "step_done", "answer": "<what the step found>", "citations": [...]}'
        return final

    def answer_stream(self) -> AnswerStream:
        return AnswerStream()

    def decode(
        self, llm: LLM, messages: Sequence[Message], request: TurnRequest, options: GenerationOptions
    ) -> DecodedTurn:
        if request.max_calls > 1 and request.specs and isinstance(llm, DecodesGrammar):
            specs = {s.name: s for s in request.specs}
            made = request.made_calls
            options = options.model_copy(update={"stop_when": lambda text: _ends_batch(text, specs, made)})
            grammar = _lines_grammar(request)
            text, refused, usage = _judged_decode(llm, messages, grammar, options, request, _generic_name)
            if refused is not None:
                return DecodedTurn(text, SetAside(refused), usage)
            lines = _lines_made_together(text, specs, made)
            actions = [parse_action(json.loads(line), request.answer_kind) for line in lines]
            if len(actions) > 1:
                calls = [a for a in actions if isinstance(a, ToolCallAction)]
                return DecodedTurn("\n".join(lines), batch_of(calls), usage)
            return DecodedTurn(lines[0], _marked_cut(actions[0], request), usage)
        schema = _turn_schema(request, final=request.final, thought_chars=request.thought_chars)
        value = llm.structured_json(messages, schema, options)
        action = _marked_cut(parse_action(value, request.answer_kind), request)
        return DecodedTurn(json.dumps(value, ensure_ascii=False), action)


def _judged_decode(
    llm: DecodesGrammar,
    messages: Sequence[Message],
    grammar: str,
    options: GenerationOptions,
    request: TurnRequest,
    first_name: Callable[[str], str | None],
) -> tuple[str, str | None, Usage | None]:
    """The turn's text under ``grammar``; with ``request.judge_name``, decoded in two calls: up to the
    first call's tool name (``first_name`` reads it from the text so far), then, when the judge keeps
    it, on from there, as one decode would have gone (``GenerationOptions.reply_start``). Returns the
    text, the tool the judge turned down (the text then ends at its name), and the usage of both calls
    (None: one call, the model's ``last_usage``). Decoded in one call, judged after it by the review:
    turns that ask for logprobs, and sampled turns (the rest would draw other random numbers)."""
    judge = request.judge_name
    one_call = options.logprobs or options.temperature > 0 or not isinstance(llm, ResumesReplies)
    if judge is None or one_call:
        return llm.grammar_chat(messages, grammar, options).text, None, None
    names = {s.name for s in request.specs}
    ends = options.stop_when

    def named(text: str) -> bool:
        return first_name(text) in names

    paused = options.model_copy(update={"stop_when": lambda text: named(text) or bool(ends and ends(text))})
    begun = llm.grammar_chat(messages, grammar, paused)
    usage = begun.usage
    name = first_name(begun.text)
    if name not in names:  # (an answer, or a turn the caller's own stop_when ended)
        return begun.text, None, usage
    if not judge(name):
        return begun.text, name, usage
    rest_options = options.model_copy(
        update={
            "reply_start": begun.text,
            "max_tokens": max(1, options.max_tokens - usage.completion_tokens),
        }
    )
    try:
        rest = llm.grammar_chat(messages, grammar, rest_options)
    except UsageError:
        # the model could not go on with the text (another caller's decode came in between, and the
        # text, tokenized again, reads otherwise): the turn is decoded again in one call
        return llm.grammar_chat(messages, grammar, options).text, None, None
    # one prompt, written in two calls: its tokens count once, the reply's and the seconds add up
    both = usage + rest.usage
    return (
        begun.text + rest.text,
        None,
        both.model_copy(
            update={"prompt_tokens": usage.prompt_tokens, "cached_prompt_tokens": usage.cached_prompt_tokens}
        ),
    )


def _generic_name(text: str) -> str | None:
    """The tool a generic turn's first call names, once the name is whole."""
    called = _CALLED.match(text)
    return called.group(1) if called else None


def _marked_cut(action: ToolCallAction | CallBatch | FinalAction, request: TurnRequest) -> Any:
    """An answer that ends at its length bound was ended by the grammar, not by the model."""
    if isinstance(action, FinalAction) and answer_was_cut(action.answer, request.answer_chars):
        return action.model_copy(update={"cut": True})
    return action


def answer_was_cut(text: str, bound: int) -> bool:
    """Whether an answer of at most ``bound`` characters ended because the bound did: it ends within
    :data:`CUT_MARGIN` characters of it. Where the model's next word no longer fits, the grammar
    leaves it only the characters that do, and the most likely of them is often the string's end.

    >>> answer_was_cut("x" * 995, 1000), answer_was_cut("x" * 900, 1000)
    (True, False)
    """
    return bound - CUT_MARGIN <= len(text) <= bound  # (a backend that ignores the bound: not cut)


def _ends_batch(text: str, specs: Mapping[str, ActionSpec], made: Collection[str] = ()) -> bool:
    """Whether a turn of call lines, as written so far, has written a call that will not be made
    (:func:`made_together`): one that waits for the results of the calls before it, named at the
    start of the line being written, or, after the first line, a repeat of an earlier line or of a
    call the run made (``made``). Its decode can stop there."""
    *done, writing = text.split("\n")
    if not done:
        return False
    if len(done) > 1 and (done[-1] in done[:-1] or _line_key(done[-1]) in made):
        return True
    named = _CALLED.match(writing)
    return named is not None and named.group(1) in specs and waits_for_results(specs[named.group(1)])


_CALLED = re.compile(r'\{"action": "([^"\\]+)"')  # a call line once its tool's name is whole


def _lines_made_together(text: str, specs: Mapping[str, ActionSpec], made: Collection[str] = ()) -> list[str]:
    """The lines of a generic turn whose calls are made (:func:`made_together`)."""
    return made_together([line for line in text.split("\n") if line.strip()], _line_call, specs, made)


def _line_call(line: str) -> tuple[str, Mapping[str, Any]] | None:
    """The tool and arguments of a call line; None for the line a decode stopped in."""
    try:
        value = json.loads(line)
    except json.JSONDecodeError:
        return None
    return (str(value.get("action", "")), value.get("arguments") or {}) if isinstance(value, dict) else None


def _line_key(line: str) -> str | None:
    called = _line_call(line)
    return None if called is None else call_key(*called)


def _lines_grammar(request: TurnRequest) -> str:
    """GBNF of a generic turn with several calls: the final action alone, or one to ``max_calls``
    call objects, one per line. After each call the model chooses: end the turn, or a new line and
    another call; a turn with one call is the same text as without batches.

    Only the first call carries a thought: every call of a turn is written before any result, so a
    thought after the first could only guess what the calls before it will return (and a guess in
    the history reads later like a result)."""
    rules = {
        "heron-call": _turn_schema(request, final=None, thought_chars=request.thought_chars),
        "heron-later-call": _turn_schema(request, final=None, thought_chars=0),
    }
    if request.final is not None:
        rules["heron-answer"] = _turn_schema(request, final=request.final, specs=())
    more = f'("\\n" heron-later-call){{0,{request.max_calls - 1}}}'
    root = f"heron-call {more}" + (" | heron-answer" if request.final is not None else "")
    return f"{grammar_of_rules(rules).rstrip()}\nroot ::= {root}\n"


def _turn_schema(
    request: TurnRequest,
    *,
    final: str | None,
    thought_chars: int = 0,
    specs: Sequence[ActionSpec] | None = None,
) -> dict[str, Any]:
    return action_schema(
        request.specs if specs is None else specs,
        final=final,
        citable_ids=list(request.citable_ids),
        min_citations=request.min_citations,
        thought_chars=thought_chars,
        answer_chars=request.answer_chars,
        argument_chars=request.argument_chars,
    )


class NativeFormat:
    """The model's own tool-call syntax; ``tools`` are declared to its chat template once, unchanged
    from turn to turn (the prompt's prefix stays the same, so llama.cpp reuses its KV cache)."""

    def __init__(self, syntax: ToolFormat, tools: Sequence[Tool], parallel: bool = True) -> None:
        self.syntax = syntax
        self.parallel = parallel and syntax.parallel
        self.key = syntax.name
        self.name = f"{syntax.label}, native"
        self.declarations = tuple(declarations([(t.name, t.description, t.json_schema()) for t in tools]))

    def system_prompt(self, tools: Sequence[Tool], instructions: str) -> str:
        cites = any(t.cites for t in tools)
        return render("agent_system_native", parallel=self.parallel, cites=cites, instructions=instructions)

    def finish_phrase(self, final: str) -> str:
        if final == STEP_DONE:
            return "a plain-text note of what the step found (no tool call)"
        return "your answer in plain text (no tool call)"

    def answer_stream(self) -> TextStream:
        return TextStream((self.syntax.opening or "{", SOURCES))

    def decode(
        self, llm: LLM, messages: Sequence[Message], request: TurnRequest, options: GenerationOptions
    ) -> DecodedTurn:
        if not isinstance(llm, DecodesGrammar):
            raise UsageError(
                f"the {self.name} tool format needs a model that decodes a raw grammar (a local GGUF)",
                "set the agent's tool_format to 'generic' for this model",
            )
        call_schema = None
        if request.specs:
            parameters, defs = tool_parameters(request.specs, request.argument_chars)
            call_schema = self.syntax.call_schema(parameters)
            call_schema = {**call_schema, "$defs": defs} if defs else call_schema
        text_chars = request.answer_chars if request.final is not None else None
        grammar = self.syntax.grammar(call_schema, request.max_calls, text_chars, self._sources_rule(request))
        options = options.model_copy(update={"tools": self.declarations})
        text, refused, usage = _judged_decode(
            llm, messages, grammar, options, request, self.syntax.first_name
        )
        if refused is not None:
            return DecodedTurn(text, SetAside(refused), usage)
        text = self._made_together(text, request.specs, request.made_calls)
        return DecodedTurn(text, self._action(text, request), usage)

    def _made_together(self, text: str, specs: Sequence[ActionSpec], made: Collection[str] = ()) -> str:
        """The turn as far as its calls are made (:func:`made_together`); the dropped calls are
        written again in a later turn, where the model wants them still."""
        turn = self.syntax.parse(text)
        specs_by_name = {s.name: s for s in specs}
        kept = made_together(turn.calls, lambda call: (call.name, call.arguments), specs_by_name, made)
        return text if kept == list(turn.calls) else self.syntax.write(kept, text=turn.text)

    def _sources_rule(self, request: TurnRequest) -> str:
        ids = list(dict.fromkeys(request.citable_ids))
        if not ids or request.final is None:
            return ""
        one = "(" + " | ".join(json.dumps(i) for i in ids) + ")"
        listed = f'{json.dumps(SOURCES)} {one} (", " {one}){{0,4}}'
        return listed if request.min_citations > 0 else f"({listed})?"

    def _action(self, text: str, request: TurnRequest) -> ToolCallAction | CallBatch | FinalAction:
        turn = self.syntax.parse(text)
        if turn.calls:
            calls = [
                ToolCallAction(tool=c.name, arguments=c.arguments, thought=turn.text) for c in turn.calls
            ]
            return batch_of(calls)
        answer = turn.text
        citations: list[str] = []
        ids = "|".join(re.escape(i) for i in request.citable_ids)
        listed = re.search(rf"{re.escape(SOURCES)}((?:{ids})(?:, (?:{ids}))*)$", answer) if ids else None
        if listed is not None:  # the grammar's last line: ids of passages the run retrieved
            answer, citations = answer[: listed.start()], listed.group(1).split(", ")
        written = text[: text.rfind(SOURCES)] if listed is not None else text  # as the grammar bounds it
        cut = answer_was_cut(written, request.answer_chars)
        return FinalAction(kind=request.answer_kind, answer=answer.strip(), citations=citations, cut=cut)


def turn_format(setting: str, llm: LLM, tools: Sequence[Tool], parallel: bool = True) -> TurnFormat:
    """The format for ``setting`` ("auto", "generic" or a family of :data:`heron.llm.tool_formats.FORMATS`):
    "auto" takes the model's native syntax when its chat template has one, the backend can decode it,
    and the model writes it (:func:`speaks`); else the generic action."""
    if setting not in TOOL_FORMATS:
        raise UsageError(f"unknown tool format {setting!r}", f"use one of: {', '.join(TOOL_FORMATS)}")
    if setting == "generic":
        return GenericFormat(parallel)
    if setting == "auto":
        syntax = native_syntax(llm)
        return NativeFormat(syntax, tools, parallel) if syntax is not None else GenericFormat(parallel)
    if not isinstance(llm, DecodesGrammar) or llm.native_tool_format is None:
        raise UsageError(
            f"tool_format {setting!r} needs a local model whose chat template renders tools; "
            f"{getattr(llm, 'name', 'this model')} has none (its tools would never be shown to it)",
            "set the agent's tool_format to 'auto' or 'generic'",
        )
    return NativeFormat(FORMATS[setting], tools, parallel)


_PROBE_TOOL = (
    "get_weather",
    "Current weather in a city.",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)
_spoken: weakref.WeakKeyDictionary[Any, ToolFormat | None] = weakref.WeakKeyDictionary()


def native_syntax(llm: LLM) -> ToolFormat | None:
    """The native syntax "auto" uses for ``llm``: its template's (``native_tool_format``), if the model
    actually writes it (:func:`speaks`); else None. Asked once per model object, and once per model
    file where the model says what it is (``identity``): the answer is kept in heron's cache folder."""
    if not isinstance(llm, DecodesGrammar):
        return None
    if llm not in _spoken:
        syntax = llm.native_tool_format
        _spoken[llm] = syntax if syntax is not None and _remembered_speaks(llm, syntax) else None
    return _spoken[llm]


# what speaks() answered per model file: the probe evaluates a prompt of about 160 tokens, seconds on a
# CPU at the start of every `heron run` or `heron chat`; bump the version when the probe changes
_PROBE_VERSION = 1


def speaks_cache_path() -> Path:
    """The file that remembers the probe's answers (``~/.cache/heron/tool-format-probes.json``)."""
    return Path(platformdirs.user_cache_dir("heron", appauthor=False)) / "tool-format-probes.json"


def _remembered_speaks(llm: LLM, syntax: ToolFormat) -> bool:
    key = _probe_key(llm, syntax)
    if key is None:  # nothing names this model's weights (or its file is gone): ask it every time
        return speaks(llm, syntax)
    path = speaks_cache_path()
    try:
        known = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):  # none yet, unreadable or not JSON: asked again, then rewritten
        known = {}
    if not isinstance(known, dict):
        known = {}
    if isinstance(known.get(key), bool):
        return bool(known[key])
    answer = known[key] = speaks(llm, syntax)
    try:  # a cache that cannot be written costs the probe next time, nothing else
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f"{path.name}.", suffix=".tmp")
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(known, out, indent=1, sort_keys=True)
        os.replace(temporary, path)
    except OSError:
        pass
    return answer


def _probe_key(llm: LLM, syntax: ToolFormat) -> str | None:
    """The memo's key: the model file's identity and a digest of the probe as this model sees it (the
    rendered prompt, the opening looked for), so a changed template, probe or syntax asks again."""
    try:
        identity = getattr(llm, "identity", None)
        messages, options = _probe_request()
        rendered = llm.render_prompt(messages, options.tools) if hasattr(llm, "render_prompt") else None
    except (OSError, UsageError, ModelError):  # a moved model file, a template that refuses the tools
        return None
    if not isinstance(identity, str) or not isinstance(rendered, str):
        return None
    digest = hashlib.sha256(f"{rendered}\0{syntax.opening}".encode()).hexdigest()[:16]
    return f"v{_PROBE_VERSION}|{syntax.name}|{digest}|{identity}"


def _probe_request() -> tuple[list[Message], GenerationOptions]:
    messages = [
        Message.system("You are a helpful assistant."),
        Message.user("What is the weather in Paris now?"),
    ]
    return messages, GenerationOptions(max_tokens=6, tools=tuple(declarations([_PROBE_TOOL])))


def speaks(llm: LLM, syntax: ToolFormat) -> bool:
    """Whether the model, shown one tool (a weather look-up) and a question only that tool answers,
    starts its reply, unconstrained and greedy, with the syntax's call. A template can declare a
    syntax its model was never trained to write: Qwen2.5-Coder-1.5B's template asks for
    ``<tool_call>``, and the model writes a fenced JSON block instead (log P of ``<tool_call>`` as its
    first token: about -64), which under the native grammar reads as text, never as a call."""
    messages, options = _probe_request()
    try:
        reply = llm.chat(messages, options).text.lstrip()
    except UsageError:  # the template refused the tools or these messages: it does not speak it
        return False
    opening = syntax.opening.strip() or "{"
    return reply.startswith(opening)
