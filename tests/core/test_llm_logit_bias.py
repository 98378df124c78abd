"""GenerationOptions.logit_bias, the core's generic hook into the decode loop, with the real bundled
SmolLM2 through llama.cpp: a caller's bias changes what the grammar lets through, sees every token
chosen, and leaves the reported logprobs the model's own; a served model refuses it."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import pytest

from heron.bundled import bundled_gguf_path
from heron.errors import UsageError
from heron.llm import HTTPLLM, GenerationOptions, LocalLLM, Message

pytestmark = pytest.mark.model

ASK = [Message.user("Which fruit is red: apple or banana? Reply with JSON.")]
FRUIT = {
    "type": "object",
    "properties": {"fruit": {"enum": ["apple", "banana"]}},
    "required": ["fruit"],
}


class Favour:
    """A LogitBias that adds ``amount`` to every token whose text starts ``prefix`` (after a quote)."""

    def __init__(self, vocabulary: Sequence[bytes], prefix: str, amount: float) -> None:
        self.ids = np.array(
            [i for i, piece in enumerate(vocabulary) if piece.lstrip(b'"').startswith(prefix.encode())],
            dtype=np.intc,
        )
        self.amount = amount
        self.seen: list[str] = []

    def adjustment(self) -> tuple[np.ndarray, np.ndarray]:
        return self.ids, np.full(len(self.ids), self.amount, dtype=np.float32)

    def feed(self, token: int, text: str) -> None:
        self.seen.append(text)


@pytest.fixture(scope="module")
def llm() -> Iterator[LocalLLM]:
    with LocalLLM(bundled_gguf_path(), context_size=512) as model:
        yield model


def test_a_callers_bias_steers_the_choice_the_grammar_allows(llm: LocalLLM) -> None:
    plain = llm.structured_json(ASK, FRUIT, GenerationOptions(max_tokens=20))
    made: list[Favour] = []

    def towards(prefix: str) -> object:
        def build(vocabulary: Sequence[bytes]) -> Favour:
            made.append(Favour(vocabulary, prefix, 40.0))
            return made[-1]

        return build

    other = "banana" if plain["fruit"] == "apple" else "apple"
    biased = llm.structured_json(
        ASK, FRUIT, GenerationOptions(max_tokens=20, logit_bias=towards(other[:2]), fast_forward=False)
    )
    assert biased == {"fruit": other}  # the bias won where the grammar allowed both
    assert len(made) == 1 and "".join(made[0].seen).replace(" ", "") == '{"fruit":"' + other + '"}'
    # the grammar still decides: a bias towards text it does not admit changes nothing
    kept = llm.structured_json(ASK, FRUIT, GenerationOptions(max_tokens=20, logit_bias=towards("zz")))
    assert kept == plain


def test_reported_logprobs_stay_the_models_own(llm: LocalLLM) -> None:
    def favour_x(vocabulary: Sequence[bytes]) -> Favour:
        return Favour(vocabulary, "X", 5.0)

    plain = llm.chat(ASK, GenerationOptions(max_tokens=1, logprobs=True))
    biased = llm.chat(ASK, GenerationOptions(max_tokens=1, logprobs=True, logit_bias=favour_x))
    assert plain.logprobs is not None and biased.logprobs is not None
    if biased.logprobs[0].token == plain.logprobs[0].token:
        assert biased.logprobs[0].logprob == pytest.approx(plain.logprobs[0].logprob, abs=1e-4)
    else:  # the bias chose another token: its logprob is the model's, lower than the greedy one's
        assert biased.logprobs[0].logprob < plain.logprobs[0].logprob


def test_a_served_model_refuses_a_logit_bias() -> None:
    http = HTTPLLM("http://127.0.0.1:9", model="any")  # refused before anything is sent
    with pytest.raises(UsageError, match="logit_bias needs heron's own decode loop"):
        http.chat(ASK, GenerationOptions(logit_bias=lambda vocabulary: None))
