"""Models' native tool-call syntaxes: detection from a chat template, grammars llama.cpp accepts,
and the parse of what such a grammar admits."""

from __future__ import annotations

import pytest
from llama_cpp.llama_grammar import LlamaGrammar

from heron.bundled import bundled_gguf_path
from heron.llm.gguf_file import read_gguf_header
from heron.llm.tool_formats import FORMATS, NativeCall, ToolFormat, detect
from heron.models import resolve_model
from tests.conftest import CAPABLE_MODEL, MACHINE_MODELS_DIR

TOOLS = {
    "get_weather": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    "add": {
        "type": "object",
        "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
        "required": ["a", "b"],
    },
}


def test_the_capable_models_template_declares_hermes_calls_and_the_small_ones_none() -> None:
    qwen = read_gguf_header(resolve_model(CAPABLE_MODEL, MACHINE_MODELS_DIR)).chat_template
    assert detect(qwen) is FORMATS["hermes"]
    small = bundled_gguf_path()
    assert small is not None
    assert detect(read_gguf_header(small).chat_template) is None  # SmolLM2's template has no tools


@pytest.mark.parametrize(
    ("template", "family"),
    [
        ("{% for tool in tools %}{{ tool | tojson }}{% endfor %}<tool_call>", "hermes"),
        (
            "{%- if tools %}[AVAILABLE_TOOLS]{{ tools|tojson }}[/AVAILABLE_TOOLS]{% endif %}[TOOL_CALLS]",
            "mistral",
        ),
        (
            '<|start_header_id|>{% if tools %}{"name": function name, "parameters": dictionary}{% endif %}',
            "llama3",
        ),
        ("{% for tool in tools %}<function>{% endfor %}", None),  # tools, but a syntax heron does not know
        ("<|im_start|>{{ message.content }}<tool_call>", None),  # the tag, but no tools variable
    ],
)
def test_detection_reads_the_templates_syntax(template: str, family: str | None) -> None:
    found = detect(template)
    assert (found.name if found else None) == family


@pytest.mark.parametrize("family", sorted(FORMATS))
def test_each_formats_grammar_compiles_and_its_calls_parse_back(family: str) -> None:
    syntax: ToolFormat = FORMATS[family]
    grammar = syntax.grammar(syntax.call_schema(TOOLS), 4, 200, '"\\nSources: " ("p1" | "p2")')
    LlamaGrammar.from_string(grammar, verbose=False)  # raises if llama.cpp cannot parse it
    calls = [NativeCall("add", {"a": 1, "b": 2}), NativeCall("get_weather", {"city": "Paris"})]
    calls = calls if syntax.parallel else calls[1:]
    assert list(syntax.parse(syntax.write(calls)).calls) == calls
    assert syntax.parse("It is sunny.").text == "It is sunny." and not syntax.parse("It is sunny.").calls


def test_text_can_come_before_hermes_calls_and_never_contains_one() -> None:
    hermes = FORMATS["hermes"]
    turn = hermes.parse(hermes.write([NativeCall("add", {"a": 1, "b": 2})], text="Adding first."))
    assert turn.text == "Adding first." and turn.calls == (NativeCall("add", {"a": 1, "b": 2}),)
    grammar = hermes.grammar(hermes.call_schema(TOOLS), 2, 50)
    # free text may not start a call: its first character is not "<", and "<t" never occurs in it
    assert "heron-text ::= [^<\\x00]" in grammar and '"<" [^t<\\x00]' in grammar


def test_a_format_with_one_call_per_turn_refuses_to_write_two() -> None:
    llama3 = FORMATS["llama3"]
    with pytest.raises(Exception, match="one call per turn"):
        llama3.write([NativeCall("add", {"a": 1, "b": 2}), NativeCall("add", {"a": 3, "b": 4})])
    assert "{0," not in llama3.grammar(llama3.call_schema(TOOLS), 4, None)  # one call, whatever is asked


def test_text_that_does_not_read_as_calls_is_text() -> None:
    llama3 = FORMATS["llama3"]
    assert llama3.parse(' {"not": "a call"}').calls == ()  # the grammar's text may start with a space
    assert FORMATS["hermes"].parse("<tool_call>\nnot json\n</tool_call>").calls == ()
