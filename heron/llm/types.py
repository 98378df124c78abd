"""Values that cross the LLM boundary: messages, generation options, usage, completions."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Role = Literal["system", "user", "assistant", "tool"]


class Message(BaseModel):
    """One chat message. ``name`` is the tool's name for ``role="tool"`` messages."""

    model_config = ConfigDict(frozen=True)

    role: Role
    content: str
    name: str | None = None

    @classmethod
    def system(cls, content: str) -> Message:
        return cls(role="system", content=content)

    @classmethod
    def user(cls, content: str) -> Message:
        return cls(role="user", content=content)

    @classmethod
    def assistant(cls, content: str) -> Message:
        return cls(role="assistant", content=content)


class RepetitionControl(BaseModel):
    """A DRY ("don't repeat yourself") penalty against loops: a token that would extend a repeat of
    earlier text loses ``multiplier * base ** (n - allowed_length)`` of its logit, where ``n`` is the
    length in tokens of the repeated sequence it would continue (``n >= allowed_length``).

    >>> GenerationOptions(repetition=RepetitionControl())  # llama.cpp's DRY defaults

    A repeat never spans a token whose text holds one of ``sequence_breakers``, and such a token is
    never penalised itself: with ``'"'`` among them, JSON keys, ``", "`` between list items and the
    closing quote of a string stay free. ``strings_only``: in structured output, JSON's structure is
    free (keys, numbers, punctuation: a list of numbers may repeat); string values and text outside
    the JSON (a native tool format's plain-text answer) are penalised, as plain text is throughout.
    ``free_keys``: in structured output, string values under these keys are never penalised (data the
    model copies or composes, where repeats are the content: a file's text, code; a penalty there
    corrupts the copy, "a wingspan o 167"); an agent fills it from its tools' ``repeats_allowed``
    arguments, by name, for the tools offered in the turn. ``free_loop_tokens``: such a value whose
    line being written (since its last line break) repeats this many tokens of its earlier text
    verbatim (with no sequence breaker between: in JSON a quote or a colon) is looping, not copying
    (a file may hold a line several times), and ``LocalLLM`` ends
    the decode there as cut by the token limit (``OutputTruncatedError``), so the caller's remedy
    for a cut turn applies at once (the agent takes the turn again with strings a quarter as long)
    instead of after the whole token limit: the default model once wrote ``\\b`` a thousand times
    into one regular expression. None: never.
    ``per_value``: in structured output, each string value is compared with itself only, so a value
    may restate another (an answer restating a thought, two calls writing the same
    text); loops happen within a value. The text compared against is what the model writes in this
    call (in structured output with ``per_value``, in this string value), after the prompt's last
    ``prompt_tokens`` tokens (0: only this call's own output, so copying from the request is free).
    The penalty is a logits bias applied before the grammar check, capped to stay finite, so where
    the grammar allows only penalised tokens one of them is still chosen. ``LocalLLM`` applies it in
    its own decode loop; ``HTTPLLM`` sends llama.cpp server's ``dry_*`` fields (see there).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    multiplier: float = Field(0.8, gt=0.0)
    base: float = Field(1.75, ge=1.0)
    allowed_length: int = Field(2, ge=1)
    sequence_breakers: tuple[str, ...] = ("\n", ":", '"', "*")
    strings_only: bool = True
    free_keys: tuple[str, ...] = ()
    free_loop_tokens: int | None = Field(64, ge=2)
    per_value: bool = True
    prompt_tokens: int = Field(0, ge=0)


class GenerationOptions(BaseModel):
    """Sampling settings for one call. Temperature 0 is greedy and repeatable."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_tokens: int = Field(256, ge=1)
    temperature: float = Field(0.0, ge=0.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    top_k: int = Field(40, ge=0)
    seed: int | None = None
    stop: tuple[str, ...] = ()
    logprobs: bool = False
    logit_bias: Callable[[Sequence[bytes]], Any] | None = Field(
        None,
        exclude=True,
        description="a hook into the decode loop, in the spirit of llama-cpp-python's logits_processor: "
        "called once per call with the model's vocabulary (each token's bytes, by id), it returns a "
        "heron.llm.logit_bias.LogitBias, asked before every sampled token which logits to shift (the "
        "grammar check sees the shifts; reported logprobs stay the model's own) and told each token "
        "chosen. Needs heron's own decode loop: LocalLLM; HTTPLLM refuses it",
    )
    repetition: RepetitionControl | None = Field(
        None, description="a DRY penalty against repeating what this call already wrote; None: off"
    )
    string_bounds: dict[str, int] = Field(
        default_factory=dict,
        description="JSON string values under these keys end after this many characters: bounds longer "
        "than llama.cpp's grammar holds (heron.llm.string_bounds), kept by the decode loop; structured() "
        "finds them in its schema itself. LocalLLM only: elsewhere the token limit bounds such strings",
    )
    fast_forward: bool = Field(
        True,
        description="under a grammar (structured output), evaluate text the grammar forces (JSON keys, "
        "punctuation, the rest of a name) as one batch instead of sampling it token by token. The "
        'last token of each forced run is left to the model (token healing: after a forced `": ` '
        "the model writes ` -3` split as its own tokenizer splits it, ` -` then `3`); the split of "
        "the rest can differ slightly from the model's own. Off when logprobs are asked for",
    )
    draft_tokens: int = Field(
        0,
        ge=0,
        description="prompt-lookup speculation (heron.llm.lookup_draft): when the reply's last tokens "
        "occur earlier in the prompt or the reply, up to this many of the tokens that followed there "
        "are evaluated in one batch with the next token and kept while the sampler picks them: the "
        "same reply in fewer forward passes, up to a near-tie that batched evaluation can flip (off by "
        "default until heron's tests and tasks are checked with it on: one agent test's answer changed). "
        "0: off. LocalLLM only",
    )
    tools: tuple[dict[str, Any], ...] = Field(
        (),
        description="tool declarations (OpenAI function format) the model's chat template renders into "
        "the prompt, as its ``tools`` variable; for a model's native tool calls (heron.llm.tool_formats). "
        "LocalLLM only",
    )
    reply_start: str = Field(
        "",
        description="the reply begins with this text, written by an earlier call that stop_when ended: "
        "the call goes on from it (under the grammar as it stands after it) and returns only what "
        "follows. Where that call was the model's last, with the same prompt, the reply goes on "
        "exactly as it would have without the stop. LocalLLM only (heron.llm.base.ResumesReplies)",
    )
    on_text: Callable[[str], None] | None = Field(
        None,
        exclude=True,
        description="called with each decoded text delta, also for structured output; an exception "
        "it raises stops the decode and propagates (how a caller cancels a turn)",
    )
    stop_when: Callable[[str], bool] | None = Field(
        None,
        exclude=True,
        description="asked with the reply so far after each decoded token (or forced run); True ends "
        "the reply there, as a stop sequence would, though the grammar may not be complete (the "
        "caller cuts the text to what it needs). LocalLLM ends early; other backends return the "
        "whole reply, which callers cut the same way",
    )


class Usage(BaseModel):
    """Token and time accounting of one call; ``cached_prompt_tokens`` were reused from the KV cache."""

    prompt_tokens: int = 0
    cached_prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    guessed_tokens: int = Field(0, description="tokens guessed by prompt lookup (draft_tokens) and checked")
    guessed_kept: int = Field(0, description="of those, the ones the model wrote: forward passes saved")

    @property
    def evaluated_prompt_tokens(self) -> int:
        return self.prompt_tokens - self.cached_prompt_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            cached_prompt_tokens=self.cached_prompt_tokens + other.cached_prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            seconds=self.seconds + other.seconds,
            guessed_tokens=self.guessed_tokens + other.guessed_tokens,
            guessed_kept=self.guessed_kept + other.guessed_kept,
        )


class TokenLogprob(BaseModel):
    """One generated token and its log-probability under the model (before any grammar filtering)."""

    token: str
    logprob: float


class Completion(BaseModel):
    """The result of a chat call."""

    text: str
    usage: Usage = Field(default_factory=Usage)
    finish_reason: Literal["stop", "length"] = "stop"
    logprobs: list[TokenLogprob] | None = None
    candidates: list[str] | None = Field(
        None, description="best_of: every candidate's text, in sampling order"
    )
