"""LocalLLM with the real bundled SmolLM2 GGUF: chat, streaming, usage, reuse, state, logprobs, threads."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from heron.config import load_settings
from heron.errors import ContextOverflowError, ModelError, StateFileError, UsageError
from heron.llm import LLM, GenerationOptions, KeepsState, LocalLLM, Message, ScoresOptions, best_of, open_llm
from heron.llm.devices import gpu_offload_supported
from heron.llm.schema import grammar_for
from heron.llm.state_file import read_state_file, write_state_file
from heron.llm.types import RepetitionControl

pytestmark = pytest.mark.model

SYSTEM = Message.system("You are a helpful assistant. Answer briefly.")
GREEDY = GenerationOptions(max_tokens=40)


@pytest.fixture(scope="module")
def llm() -> Iterator[LocalLLM]:
    with LocalLLM.from_settings(load_settings(context_size=1024)) as model:
        yield model


def ask(question: str) -> list[Message]:
    return [SYSTEM, Message.user(question)]


def test_local_llm_implements_the_protocol(llm: LocalLLM) -> None:
    assert isinstance(llm, LLM) and isinstance(llm, ScoresOptions) and isinstance(llm, KeepsState)
    assert llm.name.startswith("local:") and "SmolLM2" in llm.name


@pytest.mark.parametrize(
    "question", ["What is the capital of France?", "Write a haiku about rain.", "Count to five."]
)
def test_streaming_equals_chat_at_temperature_zero(llm: LocalLLM, question: str) -> None:
    completion = llm.chat(ask(question), GREEDY)
    deltas = list(llm.stream(ask(question), GREEDY))
    assert completion.text
    assert "".join(deltas) == completion.text
    assert llm.last_usage.completion_tokens == completion.usage.completion_tokens


def test_stop_sequence_cuts_the_text_in_chat_and_stream(llm: LocalLLM) -> None:
    full = llm.chat(ask("Count from one to ten in words, separated by commas."), GREEDY).text
    assert "," in full
    stop = full[full.index(",") : full.index(",") + 2]
    options = GREEDY.model_copy(update={"stop": (stop,)})
    cut = llm.chat(ask("Count from one to ten in words, separated by commas."), options)
    assert cut.text == full[: full.index(stop)]
    assert cut.finish_reason == "stop"
    assert (
        "".join(llm.stream(ask("Count from one to ten in words, separated by commas."), options)) == cut.text
    )


def test_stop_when_ends_the_reply_where_the_callers_test_first_holds(llm: LocalLLM) -> None:
    question = ask("Tell me a long story about a dragon.")
    full = llm.chat(question, GREEDY)
    assert len(full.text.split()) > 6
    asked: list[str] = []

    def four_words(text: str) -> bool:
        asked.append(text)
        return len(text.split()) >= 4

    options = GREEDY.model_copy(update={"stop_when": four_words})
    cut = llm.chat(question, options)
    assert cut.finish_reason == "stop" and cut.usage.completion_tokens < full.usage.completion_tokens
    assert full.text.startswith(cut.text) and len(cut.text.split()) == 4  # ended at the token that held
    assert asked[-1] == cut.text and all(full.text.startswith(t) for t in asked)
    # under a grammar too (a forced run comes in one batch, and is asked about as a whole)
    grammar = 'root ::= "Once upon a" [a-z ,.]{0,60}'
    free = llm.grammar_chat(question, grammar, GREEDY.model_copy(update={"max_tokens": 100})).text
    forced = llm.grammar_chat(question, grammar, options)
    assert forced.finish_reason == "stop" and len(forced.text.split()) == 4 and free.startswith(forced.text)


CALL_GRAMMAR = grammar_for(
    {
        "type": "object",
        "properties": {
            "name": {"enum": ["get_weather", "get_time", "convert_units"]},
            "arguments": {
                "type": "object",
                "properties": {"city": {"type": "string"}, "unit": {"enum": ["celsius", "fahrenheit"]}},
                "required": ["city", "unit"],
            },
        },
        "required": ["name", "arguments"],
    }
)


def test_a_reply_stopped_anywhere_goes_on_as_if_it_had_not_stopped(llm: LocalLLM) -> None:
    """A caller stops a reply (stop_when), asks the model something else, and lets the reply go on
    (reply_start): the text is the one decode would have written, whether the stop fell after a
    sampled token or after a run the grammar forced, with the repetition penalty on as in agent turns."""
    question = ask("What is the weather in Lyon, in celsius? Call a tool.")
    options = GREEDY.model_copy(update={"max_tokens": 60, "repetition": RepetitionControl()})
    whole = llm.grammar_chat(question, CALL_GRAMMAR, options)
    assert json.loads(whole.text)["name"] in {"get_weather", "get_time", "convert_units"}
    for cut in range(1, len(whole.text)):
        stopped = options.model_copy(update={"stop_when": lambda text, cut=cut: len(text) >= cut})
        begun = llm.grammar_chat(question, CALL_GRAMMAR, stopped)
        assert begun.finish_reason == "stop" and whole.text.startswith(begun.text), (cut, begun.text)
        llm.score_options(ask("Is this a question?"), ["Yes", "No"])  # the model asked something else
        left = max(1, options.max_tokens - begun.usage.completion_tokens)
        rest = llm.grammar_chat(
            question, CALL_GRAMMAR, options.model_copy(update={"reply_start": begun.text, "max_tokens": left})
        )
        assert begun.text + rest.text == whole.text, cut
        assert begun.usage.completion_tokens + rest.usage.completion_tokens == whole.usage.completion_tokens
        assert rest.usage.cached_prompt_tokens == rest.usage.prompt_tokens  # the cache kept the prompt


def test_a_reply_begun_elsewhere_goes_on_under_the_grammar_and_one_that_breaks_it_is_refused(
    llm: LocalLLM,
) -> None:
    # not the model's last reply: the text is tokenized, and the reply goes on from it under the grammar
    question = ask("What time is it in Oslo? Call a tool.")
    begun = '{"name": "get_weather", "arguments": {"city": "Os'
    rest = llm.grammar_chat(question, CALL_GRAMMAR, GREEDY.model_copy(update={"reply_start": begun}))
    call = json.loads(begun + rest.text)
    assert call["name"] == "get_weather" and call["arguments"]["city"].startswith("Os")
    with pytest.raises(UsageError, match="does not fit the grammar"):
        llm.grammar_chat(question, CALL_GRAMMAR, GREEDY.model_copy(update={"reply_start": '{"city": 3'}))
    assert llm.chat(ask("Say hi."), GREEDY).text  # the model is usable after the refusal


def test_max_tokens_ends_with_finish_reason_length(llm: LocalLLM) -> None:
    completion = llm.chat(ask("Tell me a long story about a dragon."), GenerationOptions(max_tokens=5))
    assert completion.finish_reason == "length"
    assert completion.usage.completion_tokens == 5


def test_usage_counts_the_prompt_and_the_completion(llm: LocalLLM) -> None:
    messages = ask("Name a fruit.")
    completion = llm.chat(messages, GREEDY)
    assert completion.usage.prompt_tokens == llm.count_tokens(messages)
    assert 0 < completion.usage.completion_tokens <= GREEDY.max_tokens
    assert completion.usage.seconds > 0
    assert llm.last_usage == completion.usage


def test_seeded_sampling_is_repeatable(llm: LocalLLM) -> None:
    options = GenerationOptions(max_tokens=20, temperature=0.9, seed=7)
    assert (
        llm.chat(ask("Invent a name for a cat."), options).text
        == llm.chat(ask("Invent a name for a cat."), options).text
    )


def test_chat_template_comes_from_the_gguf_metadata(llm: LocalLLM) -> None:
    # SmolLM2's own template adds its default system prompt when none is given: proof it is used.
    prompt = llm.render_prompt([Message.user("hi")])
    assert prompt.startswith("<|im_start|>system\nYou are a helpful AI assistant named SmolLM")
    assert prompt.endswith("<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n")


def test_reuse_figures_rise_on_appended_prompts(llm: LocalLLM) -> None:
    history = [Message.system("You are a terse assistant for a gardening shop. " * 3)]
    fractions = []
    previous_prompt = 0
    for question in ["Do you sell roses?", "And tulips?", "What about seeds?", "Are you open today?"]:
        history.append(Message.user(question))
        reply = llm.chat(history, GenerationOptions(max_tokens=12))
        usage = reply.usage
        if previous_prompt:
            # everything the previous call sent is reused (the reply may re-tokenize at its edge)
            assert usage.cached_prompt_tokens >= previous_prompt - 2
        fractions.append(usage.cached_prompt_tokens / usage.prompt_tokens)
        previous_prompt = usage.prompt_tokens
        history.append(Message.assistant(reply.text))
    assert fractions[1:] == sorted(fractions[1:])
    assert fractions[-1] > 0.8


def test_state_round_trips_and_skips_reprocessing(llm: LocalLLM, tmp_path: Path) -> None:
    messages = ask("Explain in one sentence why the sky is blue. " * 4)
    original = llm.chat(messages, GREEDY)
    path = tmp_path / "task.kv"
    llm.save_state(path)
    with LocalLLM.from_settings(load_settings(context_size=1024)) as fresh:
        fresh.load_state(path)
        resumed = fresh.chat(messages, GREEDY)
    # the restored cache holds the prompt: the reply starts the same (llama.cpp's numerics for one
    # token versus a batch differ slightly on some CPUs, so a long greedy reply may part later)
    pairs = zip(resumed.text, original.text, strict=False)
    shared = next((i for i, (a, b) in enumerate(pairs) if a != b), min(len(resumed.text), len(original.text)))
    assert shared >= min(len(original.text), 60), (repr(resumed.text[:80]), repr(original.text[:80]))
    assert resumed.usage.prompt_tokens == original.usage.prompt_tokens
    assert resumed.usage.cached_prompt_tokens == resumed.usage.prompt_tokens - 1  # only the last token re-run
    with LocalLLM.from_settings(load_settings(context_size=1024)) as cold:
        assert cold.chat(messages, GREEDY).usage.cached_prompt_tokens == 0


def test_state_from_another_model_or_damaged_is_refused(llm: LocalLLM, tmp_path: Path) -> None:
    llm.chat(ask("Hello"), GenerationOptions(max_tokens=3))
    good = tmp_path / "good.kv"
    llm.save_state(good)
    header, payload = read_state_file(good, "llama.cpp")
    other = tmp_path / "other.kv"
    write_state_file(other, {**header, "model": {"file": "other.gguf", "bytes": 1}}, payload)
    with pytest.raises(StateFileError, match="another model"):
        llm.load_state(other)
    shared = tmp_path / "shared-cells.kv"  # saved before the sequences had KV cells of their own
    write_state_file(shared, {k: v for k, v in header.items() if k != "kv_cells"}, payload)
    with pytest.raises(StateFileError, match="shared one set of KV cells"):
        llm.load_state(shared)
    truncated = tmp_path / "truncated.kv"
    truncated.write_bytes(good.read_bytes()[:-100])
    with pytest.raises(StateFileError, match="truncated"):
        llm.load_state(truncated)
    with pytest.raises(StateFileError, match="not found"):
        llm.load_state(tmp_path / "missing.kv")


def test_logprob_scoring_ranks_the_right_option_first(llm: LocalLLM) -> None:
    messages = ask("What is the capital of France?")
    right, wrong = llm.score_options(
        messages, ["The capital of France is Paris.", "The capital of France is Berlin."]
    )
    assert right > wrong
    yes, no = llm.score_options(ask("Is fire hot? Answer yes or no."), ["Yes", "Banana"])
    assert yes > no


def test_scores_equal_the_logprobs_of_generated_text(llm: LocalLLM) -> None:
    messages = ask("Name a colour.")
    completion = llm.chat(messages, GenerationOptions(max_tokens=8, logprobs=True))
    assert completion.logprobs is not None
    assert len(completion.logprobs) == completion.usage.completion_tokens
    assert "".join(t.token for t in completion.logprobs) == completion.text
    assert all(t.logprob <= 0 for t in completion.logprobs)
    (score,) = llm.score_options(messages, [completion.text])
    # one batched pass versus token-by-token decoding: equal up to llama.cpp's float noise per token
    assert score == pytest.approx(
        sum(t.logprob for t in completion.logprobs), abs=0.05 * len(completion.logprobs)
    )


def test_scoring_leaves_the_conversation_in_the_cache(llm: LocalLLM) -> None:
    conversation = ask("Describe a heron in two sentences. " * 3)
    llm.chat(conversation, GREEDY)
    llm.score_options(ask("Is a heron a bird? Answer yes or no."), ["Yes", "No"])
    again = llm.chat(conversation, GREEDY)
    assert again.usage.cached_prompt_tokens == again.usage.prompt_tokens - 1  # nothing re-evaluated


def test_scored_prompts_reuse_their_common_start(llm: LocalLLM) -> None:
    llm.score_options(ask("Tool: weather. Request: N/A. Can the tool do it?"), ["Yes", "No"])
    llm.score_options(ask("Tool: weather. Request: rain in Lyon? Can the tool do it?"), ["Yes", "No"])
    usage = llm.last_usage
    assert 0 < usage.cached_prompt_tokens < usage.prompt_tokens


def test_a_scored_prompt_as_long_as_the_conversation_leaves_it_cached() -> None:
    # each sequence has cells of its own, the whole context_size: neither drops the other
    long = "Herons are long-legged freshwater and coastal birds. " * 30  # about 330 tokens
    with LocalLLM.from_settings(load_settings(context_size=512)) as small:
        assert small.context_size == 512
        conversation = ask(long + "Summarise.")
        small.chat(conversation, GenerationOptions(max_tokens=4))
        options = ["Yes", "No", "Perhaps not"]
        scores = small.score_options(ask(long + "Are herons birds?"), options)  # 660 tokens in all
        again = small.chat(conversation, GenerationOptions(max_tokens=4))
        assert again.usage.cached_prompt_tokens == again.usage.prompt_tokens - 1  # nothing re-evaluated
        with LocalLLM.from_settings(load_settings(context_size=512)) as fresh:
            alone = fresh.score_options(ask(long + "Are herons birds?"), options)
    assert scores == pytest.approx(alone, abs=0.05)


def test_a_reply_does_not_depend_on_what_was_scored_before_it() -> None:
    """Scored prompts sat between the conversation's tokens in one shared set of KV cells, which moved
    attention's floating-point sums: the default model's haiku came out different after a few scored
    questions. With cells of its own, the conversation's replies are a fresh model's."""
    questions = ["Name three rivers of France.", "Write a haiku about herons.", "What is 17*23?"]
    options = GenerationOptions(max_tokens=40)
    alone = []
    for question in questions:
        with LocalLLM.from_settings(load_settings(context_size=1024)) as fresh:
            alone.append(fresh.chat(ask(question), options).text)
    with LocalLLM.from_settings(load_settings(context_size=1024)) as llm:
        for i, question in enumerate(questions):
            for j in range(3):
                llm.score_options(ask("Is this about rivers? " * (7 * i + 3 * j + 1)), ["Yes", "No"])
                llm.chat(ask("Say " + "x " * (5 * j + i)), GenerationOptions(max_tokens=5))
            assert llm.chat(ask(question), options).text == alone[i], question


def test_best_of_picks_by_scorer_and_reports_candidates(llm: LocalLLM) -> None:
    result = best_of(llm, ask("Name an animal."), 3, scorer=len, options=GenerationOptions(max_tokens=12))
    assert result.candidates is not None and len(result.candidates) == 3
    assert result.text == max(result.candidates, key=len)
    assert result.usage.completion_tokens >= len(result.candidates)


def test_structured_output_cut_off_raises_a_clear_error(llm: LocalLLM) -> None:
    schema = {"type": "object", "properties": {"story": {"type": "string"}}, "required": ["story"]}
    with pytest.raises(ModelError, match="max_tokens=3"):
        llm.structured_json(ask("Tell a story as JSON."), schema, GenerationOptions(max_tokens=3))


def test_prompt_larger_than_the_context_is_refused(llm: LocalLLM) -> None:
    with pytest.raises(ContextOverflowError, match="context of 1024"):
        llm.chat(ask("word " * 2000), GREEDY)
    assert llm.chat(ask("Still working?"), GenerationOptions(max_tokens=4)).text  # and the LLM goes on


def test_concurrent_callers_are_serialized(llm: LocalLLM) -> None:
    questions = ["Name a river.", "Name a mountain.", "Name a city.", "Name a sea."]
    serial = {q: llm.chat(ask(q), GREEDY).text for q in questions}
    results: dict[str, str] = {}

    def worker(question: str) -> None:
        results[question] = llm.chat(ask(question), GREEDY).text

    threads = [threading.Thread(target=worker, args=(q,)) for q in questions]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == serial


def test_an_open_stream_holds_the_lock_until_it_ends(llm: LocalLLM) -> None:
    order: list[str] = []
    stream = llm.stream(ask("Describe the sea."), GREEDY)
    first = next(stream)  # the stream now holds the LLM
    other = threading.Thread(
        target=lambda: (llm.chat(ask("Hi"), GenerationOptions(max_tokens=4)), order.append("B"))
    )
    other.start()
    other.join(timeout=1.0)
    order.append("A-rest")
    rest = "".join(stream)
    other.join()
    assert first + rest
    assert order == ["A-rest", "B"]


def test_reentry_from_the_streaming_thread_is_an_error(llm: LocalLLM) -> None:
    stream = llm.stream(ask("Describe the sea."), GREEDY)
    next(stream)
    with pytest.raises(UsageError, match="unfinished stream"):
        llm.chat(ask("Hi"), GREEDY)
    stream.close()
    assert llm.chat(ask("Hi"), GenerationOptions(max_tokens=4)).text


def test_settings_drive_the_local_backend() -> None:
    settings = load_settings(context_size=100_000)
    with open_llm(settings) as llm:
        assert isinstance(llm, LocalLLM)
        assert llm.context_size == 8192  # capped at SmolLM2's trained context
        assert llm.gpu_layers == (-1 if gpu_offload_supported() else 0)


def test_a_closed_llm_refuses_calls() -> None:
    llm = LocalLLM.from_settings(load_settings(context_size=256))
    llm.close()
    llm.close()  # idempotent
    with pytest.raises(UsageError, match="closed"):
        llm.chat(ask("Hi"))


def test_suspend_frees_the_model_and_the_next_call_reloads_it(llm: LocalLLM) -> None:
    options = GenerationOptions(max_tokens=12, temperature=0.0)
    before = llm.chat(ask("Name a colour."), options).text
    loaded = llm._llama
    llm.suspend()
    assert llm.suspended and not llm.uses_gpu
    after = llm.chat(ask("Name a colour."), options).text  # reloads by itself
    assert not llm.suspended and after == before and llm._llama is not loaded  # a fresh llama.cpp model
    assert llm.last_usage.cached_prompt_tokens == 0  # the KV cache went with it
    llm.suspend()
    llm.resume()
    assert not llm.suspended and llm.chat(ask("Name a colour."), options).text == before
