"""``LocalLLM``: a GGUF model run in-process by llama.cpp, with its own decode loop.

The loop (not ``Llama.create_completion``) is heron's so that it can: reuse the KV cache for the
longest common prefix of consecutive prompts, check a grammar only where the model disagrees with
it (see ``heron.llm.sampling``), shift logits before the grammar check (the DRY repetition penalty,
a caller's ``GenerationOptions.logit_bias``: ``heron.llm.logit_bias``), report per-token logprobs,
and save/restore the KV cache.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Literal, TypeVar

import numpy as np
from pydantic import BaseModel

from heron.config import Settings
from heron.errors import ModelError, StateFileError, UsageError
from heron.llm.call_guard import CallGuard
from heron.llm.chat_template import ChatTemplate
from heron.llm.fast_forward import ForcedText
from heron.llm.kv_session import KVSession
from heron.llm.llama_loader import LoadedModel, load_llama
from heron.llm.logit_bias import LogitBias, biased_logits
from heron.llm.lookup_draft import LookupDraft
from heron.llm.repetition import RepetitionPenalty, breaker_tokens
from heron.llm.sampling import TokenSampler, token_logprob
from heron.llm.schema import (
    check_complete,
    grammar_for,
    json_schema_of,
    parse_json_output,
    schema_key,
    validate_structured,
)
from heron.llm.state_file import read_state_file, write_state_file
from heron.llm.string_bounds import StringBound, chars_before_quote, long_string_bounds
from heron.llm.text_stream import StopTextStream
from heron.llm.tool_formats import ToolFormat, detect
from heron.llm.types import Completion, GenerationOptions, Message, TokenLogprob, Usage

T = TypeVar("T", bound=BaseModel)

_GRAMMAR_CACHE_SIZE = 32
_BACKEND = "llama.cpp"
_KV_CELLS = "per-sequence"  # the layout a saved state needs (heron.llm.llama_compat)


@dataclass
class _Outcome:
    """Filled in by one generation while it streams."""

    finish_reason: Literal["stop", "length"] = "length"
    logprobs: list[TokenLogprob] | None = None
    usage: Usage = field(default_factory=Usage)


@dataclass(frozen=True)
class _Reply:
    """What the last decode wrote, for a call that goes on with it (``GenerationOptions.reply_start``):
    its prompt, the tokens it wrote (sampled or forced), and whether the last of them were a forced run
    (the next token is then sampled, not forced)."""

    prompt: list[int]
    tokens: list[int]
    jumped: bool


class LocalLLM:
    """A chat model in this process (llama.cpp). Thread-safe: concurrent callers wait their turn.

    >>> with LocalLLM.from_settings(load_settings()) as llm:
    ...     llm.chat([Message.user("Say hi")]).text

    One call runs at a time (a lock serializes callers; a ``stream`` holds it until it is exhausted
    or closed). ``close()`` frees the model and context memory; the object is unusable after.
    """

    def __init__(
        self,
        model_path: Path | str,
        *,
        context_size: int = 8192,
        gpu_layers: int | Literal["auto"] = "auto",
        threads: int | None = None,
        seed: int = 0,
        lora_path: Path | str | None = None,
        lora_scale: float = 1.0,
    ) -> None:
        self._load_args: dict[str, Any] = {
            "model_path": Path(model_path),
            "context_size": context_size,
            "gpu_layers": gpu_layers,
            "threads": threads,
            "seed": seed,
            "lora_path": Path(lora_path) if lora_path else None,
            "lora_scale": lora_scale,
        }
        loaded = load_llama(**self._load_args)
        self._loaded: LoadedModel | None = loaded
        self._llama: Any = loaded.llama
        self._session, self._scoring = _sessions(loaded)
        self._template = _template_for(loaded)
        self._parameter_count = int(loaded.llama._model.n_params())  # read once: a suspended model is freed
        self._seed = seed
        self._lora_scale = lora_scale
        self._grammars: OrderedDict[str, Any] = OrderedDict()
        self._pieces: tuple[bytes, ...] | None = None  # every token's bytes (logit biases, breakers)
        self._breaker_masks: dict[tuple[str, ...], np.ndarray] = {}  # per set of sequence breakers
        self._quote_adds: np.ndarray | None = None  # characters each token adds to a string (string_bounds)
        self._forced: ForcedText | None = None  # fast-forward's prober, built at the first grammar call
        self._suspended = False
        self._guard = CallGuard("LocalLLM", on_enter=self._ensure_resident)
        self._last_usage = Usage()
        self._last_logprobs: list[TokenLogprob] | None = None
        self._last_reply: _Reply | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> LocalLLM:
        """The model, context, GPU layers, threads, seed and LoRA adapter that ``settings`` name."""
        return cls(
            settings.llm_model_path(),
            context_size=settings.context_size,
            gpu_layers=settings.gpu_layers,
            threads=settings.threads,
            seed=settings.seed,
            lora_path=settings.llm_lora_path(),
            lora_scale=settings.lora_scale,
        )

    # --- facts ---------------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return f"local:{self._header().path.name}"

    @property
    def context_size(self) -> int:
        """Tokens of context in use: the setting, capped by the model's trained context."""
        return self._session.n_ctx

    @property
    def parameter_count(self) -> int:
        """The model's number of weights (134,515,008 for SmolLM2-135M); known even while suspended."""
        return self._parameter_count

    @property
    def gpu_layers(self) -> int:
        """Layers offloaded to a GPU as passed to llama.cpp (-1 = all, 0 = none)."""
        return self._require().gpu_layers

    @property
    def resumes_replies(self) -> bool:
        """A reply ``stop_when`` ended goes on with ``GenerationOptions.reply_start`` (ResumesReplies)."""
        return True

    @property
    def last_usage(self) -> Usage:
        return self._last_usage

    @property
    def last_logprobs(self) -> list[TokenLogprob] | None:
        return self._last_logprobs

    def render_prompt(self, messages: Sequence[Message], tools: Sequence[dict[str, Any]] = ()) -> str:
        """The prompt text ``messages`` (and ``tools``) become under the model's own chat template."""
        return self._template.render(messages, tools)

    def count_tokens(self, messages: Sequence[Message]) -> int:
        """Prompt tokens ``messages`` take, with the chat template applied."""
        with self._guard.exclusive():
            return len(self._prompt_tokens(messages))

    # --- generation ----------------------------------------------------------------------------

    def chat(self, messages: Sequence[Message], options: GenerationOptions | None = None) -> Completion:
        outcome = _Outcome()
        with self._guard.exclusive():
            text = "".join(self._generate(messages, options or GenerationOptions(), None, outcome))
        return Completion(
            text=text, usage=outcome.usage, finish_reason=outcome.finish_reason, logprobs=outcome.logprobs
        )

    def stream(
        self, messages: Sequence[Message], options: GenerationOptions | None = None
    ) -> Generator[str, None, None]:
        """Text deltas as they are decoded; ``last_usage`` is set once the stream is exhausted.

        The LLM stays locked while the stream is open: exhaust it or call its ``close()``.
        """
        with self._guard.exclusive():
            yield from self._generate(messages, options or GenerationOptions(), None, _Outcome())

    def structured(
        self, messages: Sequence[Message], schema: type[T], options: GenerationOptions | None = None
    ) -> T:
        """Decode under a grammar built from ``schema``'s JSON schema; return the validated instance.

        ``schema`` is a pydantic model, or any type pydantic validates (a discriminated union of
        models: "one of these tool calls, or a final answer").
        """
        options = options or GenerationOptions()
        text, finish = self._constrained_text(messages, schema, options)
        check_complete(text, finish, options.max_tokens)
        return validate_structured(text, schema)

    def structured_json(
        self, messages: Sequence[Message], schema: dict[str, Any], options: GenerationOptions | None = None
    ) -> Any:
        options = options or GenerationOptions()
        text, finish = self._constrained_text(messages, schema, options)
        check_complete(text, finish, options.max_tokens)
        return parse_json_output(text)

    def _constrained_text(
        self, messages: Sequence[Message], schema: Any, options: GenerationOptions
    ) -> tuple[str, str]:
        schema = json_schema_of(schema)  # once: the grammar and the bounds it cannot hold
        grammar_text = grammar_for(schema)
        bounds = long_string_bounds(schema)
        if bounds:
            options = options.model_copy(update={"string_bounds": bounds | options.string_bounds})
        outcome = _Outcome()
        with self._guard.exclusive():
            grammar = self._compiled_grammar(grammar_text)
            text = "".join(self._generate(messages, options, grammar, outcome))
        return text, outcome.finish_reason

    @property
    def native_tool_format(self) -> ToolFormat | None:
        """The tool-call syntax of the model's chat template (``heron.llm.tool_formats.detect``)."""
        return detect(self._template.source)

    def grammar_chat(
        self, messages: Sequence[Message], grammar: str, options: GenerationOptions
    ) -> Completion:
        """A reply under ``grammar`` (GBNF text, start rule ``root``); ``options.tools`` go to the chat
        template. Raises OutputTruncatedError when the token limit cuts the reply."""
        outcome = _Outcome()
        with self._guard.exclusive():
            compiled = self._compiled_grammar(grammar)
            text = "".join(self._generate(messages, options, compiled, outcome))
        check_complete(text, outcome.finish_reason, options.max_tokens)
        return Completion(text=text, usage=outcome.usage, finish_reason=outcome.finish_reason)

    def score_options(self, messages: Sequence[Message], options: Sequence[str]) -> list[float]:
        """log P(option | prompt) of each option as the assistant's reply, summed over its tokens.

        Scored in the KV cache's second sequence: the conversation ``chat`` holds stays cached (unless
        the two do not fit the context together), and prompts scored one after another share their
        common start."""
        started = time.perf_counter()
        with self._guard.exclusive():
            prompt = self._prompt_tokens(messages)
            continuations = [
                self._llama.tokenize(option.encode(), add_bos=False, special=False) for option in options
            ]
            scores, cached = self._scoring.score_continuations(prompt, continuations)
            self._last_usage = Usage(
                prompt_tokens=len(prompt), cached_prompt_tokens=cached, seconds=time.perf_counter() - started
            )
        return scores

    def _generate(
        self, messages: Sequence[Message], options: GenerationOptions, grammar: Any | None, outcome: _Outcome
    ) -> Iterator[str]:
        """The decode loop. Runs with the lock held; fills ``outcome`` and ``last_usage`` at the end."""
        started = time.perf_counter()
        session = self._session
        prompt = self._prompt_tokens(messages, options.tools)
        start, jumped = self._reply_start(prompt, options.reply_start)
        chosen: list[int] = []  # tokens written (sampled or forced) that the cache does not hold yet
        if start:  # the cache holds what the earlier call evaluated; the rest is evaluated as it would have
            cached = session.keep_prefix(prompt + start)
            chosen = (prompt + start)[cached:]
        else:
            cached = session.prefill(prompt)
        seed = options.seed if options.seed is not None else self._seed
        text = StopTextStream(options.stop)
        logprobs: list[TokenLogprob] | None = [] if options.logprobs else None
        generated = 0
        outcome.finish_reason = "length"
        sampler = TokenSampler(session.n_vocab, options, seed, grammar)
        biases = self._logit_biases(options, prompt, structured=grammar is not None, begun=len(start))
        # forced text carries no logprobs of its own, so a call that asks for them samples every token
        fast_forward = grammar is not None and options.fast_forward and not options.logprobs
        forced = self._forced_text() if fast_forward else None

        written: list[str] = [options.reply_start] if start else []  # the reply so far, for stop_when
        lookup = LookupDraft(prompt, options.draft_tokens) if options.draft_tokens else None
        reply = list(start)  # every token of the reply, the begun part too (the next _Reply)

        def feed(token: int) -> bytes:
            """Tell the biases and the lookup a token of the reply; its bytes."""
            piece = session.piece(token)
            for bias in biases:
                bias.feed(token, piece.decode("utf-8", errors="ignore"))
            if lookup is not None:
                lookup.push(token)
            return piece

        for token in start:  # the grammar, the biases and the lookup as the earlier call left them
            if not sampler.accept_forced(token):
                sampler.close()
                raise UsageError(
                    f"the reply to go on from does not fit the grammar: {options.reply_start!r}",
                    "pass as reply_start the text an earlier call under the same grammar wrote",
                )
            feed(token)
        guessed: list[int] = []  # guessed tokens the cache holds after the last kept one, not yet sampled
        guess_size = 0  # how many tokens the last guess held
        guessed_total = kept = 0
        row = -1  # the position of the last batch whose logits give the next token (-1: its last)

        def emit(token: int) -> str:
            delta = text.push(feed(token))
            written.append(delta)
            reply.append(token)
            return delta

        def asked_to_stop() -> bool:
            return options.stop_when is not None and options.stop_when("".join(written))

        def drop_guess() -> None:
            if guessed:
                if lookup is not None:
                    lookup.settle(guess_size, guess_size - len(guessed))
                session.truncate(max(0, len(session.tokens) - len(guessed)))
                guessed.clear()

        try:
            while generated < options.max_tokens:
                if forced is not None and not jumped:
                    jump, ends = self._jump(forced, sampler, options.max_tokens - generated)
                    if jump or ends:  # the grammar decides what comes next, not a guess
                        drop_guess()
                    generated += len(jump)
                    jumped = bool(
                        jump
                    )  # (the next token is sampled: a call going on from here skips the jump)
                    delta = "".join(emit(token) for token in jump)
                    if delta:
                        if options.on_text is not None:
                            options.on_text(delta)
                        yield delta
                    if ends or text.stopped or (delta and asked_to_stop()):
                        outcome.finish_reason = "stop"
                        break
                    chosen.extend(jump)
                    if generated >= options.max_tokens:
                        break
                if chosen:  # evaluate them with any forced text after them, and a guess, in one batch
                    guess = lookup.guess(room=options.max_tokens - generated - 1) if lookup else []
                    if (
                        guess and len(chosen) + len(guess) > session.n_batch
                    ):  # (a reply begun, evaluated again)
                        guess = []
                    if guess and not session.make_room(len(chosen) + len(guess)):
                        guess = []
                    if not session.make_room(len(chosen)):
                        break
                    if guess:
                        session.decode_rows([*chosen, *guess], first_row=len(chosen) - 1)
                        guessed.extend(guess)
                        guess_size = len(guess)
                        guessed_total += guess_size
                        row = len(chosen) - 1
                    elif len(chosen) == 1:
                        session.decode_one(chosen[0])
                        row = -1
                    else:
                        session.decode(chosen)
                        row = -1
                    chosen.clear()
                with biased_logits(partial(session.logits_row, row), biases):
                    token = sampler.sample(session.ctx, row)
                if session.is_end_of_generation(token):
                    outcome.finish_reason = "stop"
                    break
                generated += 1
                if logprobs is not None:
                    logprob = token_logprob(session.ctx, session.n_vocab, token, row)
                    logprobs.append(
                        TokenLogprob(
                            token=session.piece(token).decode("utf-8", errors="replace"), logprob=logprob
                        )
                    )
                delta = emit(token)
                jumped = False
                if delta:
                    if options.on_text is not None:
                        options.on_text(delta)
                    yield delta
                if text.stopped or (delta and asked_to_stop()):
                    outcome.finish_reason = "stop"
                    break
                if any(isinstance(b, RepetitionPenalty) and b.looping for b in biases):
                    break  # a free value loops (RepetitionControl.free_loop_tokens): cut, as by the limit
                if guessed and token == guessed[0]:  # guessed right: the cache already holds it
                    guessed.pop(0)
                    kept += 1
                    row += 1
                    if not guessed and lookup is not None:
                        lookup.settle(guess_size, guess_size)
                    continue
                drop_guess()
                chosen.append(token)
            tail = text.finish()
            if tail:
                if options.on_text is not None:
                    options.on_text(tail)
                yield tail
        finally:
            drop_guess()
            sampler.close()
            self._last_reply = _Reply(prompt, reply, jumped)
            outcome.logprobs = self._last_logprobs = logprobs
            outcome.usage = self._last_usage = Usage(
                prompt_tokens=len(prompt),
                cached_prompt_tokens=min(cached, len(prompt)),  # (a reply begun is not prompt)
                completion_tokens=generated,
                seconds=time.perf_counter() - started,
                guessed_tokens=guessed_total,
                guessed_kept=kept,
            )

    def _reply_start(self, prompt: list[int], begun: str) -> tuple[list[int], bool]:
        """The tokens of ``begun`` (``GenerationOptions.reply_start``) and whether they end with a forced
        run: the last decode's own, when it had this prompt and wrote this text, so the reply goes on
        exactly as that decode would have; else the text tokenized (special tokens included)."""
        if not begun:
            return [], False
        last = self._last_reply
        if last is not None and last.prompt == prompt:
            pieces = b"".join(self._session.piece(token) for token in last.tokens)
            if pieces.decode("utf-8", errors="replace") == begun:  # (as the text stream decodes it)
                return list(last.tokens), last.jumped
        return list(self._llama.tokenize(begun.encode(), add_bos=False, special=True)), False

    def _jump(self, forced: ForcedText, sampler: TokenSampler, limit: int) -> tuple[list[int], bool]:
        """The tokens of the text the grammar forces now (at most ``limit``, fed to the grammar), and
        whether the grammar admits only the end after them."""
        data, ends = forced.forced(sampler.grammar)
        if not data:
            return [], ends
        tokens = list(self._llama.tokenize(data, add_bos=False, special=False))
        if not ends:
            # token healing: the forced text's last token may be the start of a longer token the model
            # would write with what follows (`": "` then `-3` is `":`, ` -`, `3` in the model's own
            # tokenization); it is left to the sampler, whom the grammar still holds to the same bytes
            tokens = tokens[:-1]
        if len(tokens) > limit:
            tokens, ends = tokens[:limit], False
        for i, token in enumerate(tokens):
            if not sampler.accept_forced(token):  # cannot happen for text the grammar forced; be safe
                return tokens[:i], False
        return tokens, ends

    def _logit_biases(
        self, options: GenerationOptions, prompt: Sequence[int], structured: bool, begun: int = 0
    ) -> list[LogitBias]:
        """What shifts logits in this call: the caller's bias, the repetition penalty (both optional).
        ``begun``: tokens of a reply begun earlier, fed to them before the call's own."""
        biases: list[LogitBias] = []
        if options.logit_bias is not None:
            biases.append(options.logit_bias(self._vocabulary()))
        control = options.repetition
        if control is not None:
            breakers = self._breaker_tokens(control.sequence_breakers)
            biases.append(
                RepetitionPenalty(control, breakers, options.max_tokens + begun, prompt, structured)
            )
        if options.string_bounds and structured:
            if self._quote_adds is None:
                self._quote_adds = chars_before_quote(self._token_texts())
            biases.append(StringBound(options.string_bounds, self._quote_adds))
        return biases

    def _breaker_tokens(self, breakers: tuple[str, ...]) -> np.ndarray:
        mask = self._breaker_masks.get(breakers)
        if mask is None:
            mask = self._breaker_masks[breakers] = breaker_tokens(self._token_texts(), breakers)
        return mask

    def _forced_text(self) -> ForcedText:
        """The grammar prober for fast-forward (built once: it scans the vocabulary for byte tokens)."""
        if self._forced is None:
            session = self._session
            self._forced = ForcedText(session.n_vocab, session.piece, session.end_token)
        return self._forced

    def _vocabulary(self) -> tuple[bytes, ...]:
        """Every token's bytes, by id (read once)."""
        if self._pieces is None:
            session = self._session
            self._pieces = tuple(session.piece(t) for t in range(session.n_vocab))
        return self._pieces

    def _token_texts(self) -> list[str]:
        """The text of every token of the vocabulary (special tokens and partial UTF-8: what decodes)."""
        return [piece.decode("utf-8", errors="ignore") for piece in self._vocabulary()]

    # --- prompt and grammar --------------------------------------------------------------------

    def _prompt_tokens(self, messages: Sequence[Message], tools: Sequence[dict[str, Any]] = ()) -> list[int]:
        prompt = self._template.render(messages, tools)
        # A template that writes the BOS token itself must not get a second one from the tokenizer.
        add_bos = not (self._template.bos_token and prompt.startswith(self._template.bos_token))
        return list(self._llama.tokenize(prompt.encode(), add_bos=add_bos, special=True))

    def _compiled_grammar(self, grammar_text: str) -> Any:
        """A llama.cpp grammar sampler for ``grammar_text``, parsed once and kept (LRU) for reuse."""
        import llama_cpp

        key = schema_key({"gbnf": grammar_text})
        grammar = self._grammars.get(key)
        if grammar is not None:
            self._grammars.move_to_end(key)
            return grammar
        grammar = llama_cpp.llama_sampler_init_grammar(self._session.vocab, grammar_text.encode(), b"root")
        if not grammar:
            raise UsageError(
                "llama.cpp could not parse the grammar built from this schema",
                "simplify the schema (see heron.llm.schema.grammar_for for the grammar text)",
            )
        self._grammars[key] = grammar
        if len(self._grammars) > _GRAMMAR_CACHE_SIZE:
            _, evicted = self._grammars.popitem(last=False)
            llama_cpp.llama_sampler_free(evicted)
        return grammar

    # --- state ---------------------------------------------------------------------------------

    def save_state(self, path: Path | str) -> None:
        """Write the KV cache and the tokens it holds to ``path``; ``load_state`` skips re-processing them."""
        with self._guard.exclusive():
            tokens = list(self._session.tokens)
            payload = np.asarray(tokens, dtype="<i4").tobytes() + self._session.snapshot()
            header = {
                "backend": _BACKEND,
                "model": self._fingerprint(),
                "kv_cells": _KV_CELLS,
                "n_tokens": len(tokens),
                "payload_bytes": len(payload),
            }
            write_state_file(Path(path), header, payload)

    def load_state(self, path: Path | str) -> None:
        """Restore a KV cache saved by ``save_state`` from the same model file and LoRA adapter."""
        with self._guard.exclusive():
            header, payload = read_state_file(Path(path), _BACKEND)
            if header.get("model") != self._fingerprint():
                raise StateFileError(
                    f"{path} was saved from another model: {header.get('model')}, this LLM runs "
                    f"{self._fingerprint()}",
                    "load it into an LLM opened with the same model file and LoRA adapter",
                )
            if header.get("kv_cells") != _KV_CELLS:
                raise StateFileError(
                    f"{path} was saved by a heron whose conversation and scored prompts shared one set "
                    "of KV cells; this one keeps them apart, and llama.cpp cannot load the old layout",
                    "nothing is lost: the prompt is evaluated again; a state saved now loads",
                )
            n = int(header["n_tokens"])
            if n > self._session.n_ctx:
                raise StateFileError(
                    f"{path} holds {n} tokens, more than this LLM's context of {self._session.n_ctx}",
                    "open the LLM with a context_size at least as large as when the state was saved",
                )
            tokens = np.frombuffer(payload[: 4 * n], dtype="<i4").tolist()
            try:
                self._session.restore(tokens, payload[4 * n :])
                self._last_reply = None  # (the reply it recorded is not what the cache holds now)
            except ModelError as exc:
                raise StateFileError(f"cannot restore {path}: {exc}", "save the state again") from exc

    @property
    def identity(self) -> str:
        """What makes this model's replies what they are, for what is remembered across processes: the
        weights file (path, size, modification time), the LoRA adapter and its scale, llama.cpp's
        version. Any change gives another identity."""
        import llama_cpp

        loaded = self._require()
        stat = loaded.header.path.stat()
        parts = [str(loaded.header.path.resolve()), str(stat.st_size), str(stat.st_mtime_ns)]
        if loaded.lora is not None:
            lora = loaded.lora.path.stat()
            parts += [str(loaded.lora.path.resolve()), str(lora.st_size), str(lora.st_mtime_ns)]
            parts.append(str(self._lora_scale))
        return "|".join([*parts, f"llama_cpp {llama_cpp.__version__}"])

    def _fingerprint(self) -> dict[str, Any]:
        loaded = self._require()
        model = loaded.header.path
        out: dict[str, Any] = {"file": model.name, "bytes": model.stat().st_size}
        if loaded.lora is not None:
            out["lora"] = {
                "file": loaded.lora.path.name,
                "bytes": loaded.lora.path.stat().st_size,
                "scale": self._lora_scale,
            }
        return out

    # --- sharing the GPU (heron.gpu_share) --------------------------------------------------------

    @property
    def uses_gpu(self) -> bool:
        """True when layers of this model sit in GPU memory (and it is not suspended)."""
        from heron.llm.devices import gpu_offload_supported

        return (
            self._loaded is not None
            and not self._suspended
            and self._loaded.gpu_layers != 0
            and gpu_offload_supported()
        )

    @property
    def suspended(self) -> bool:
        return self._suspended

    def suspend(self) -> None:
        """Free the weights, KV cache and grammars (VRAM included) until ``resume`` or the next call.

        Waits for a running call. The next prompt is evaluated from scratch (its cache is gone)."""
        with self._guard.exclusive():
            if self._suspended or self._loaded is None:
                return
            self._free_native()
            self._suspended = True

    def resume(self) -> None:
        """Load the model again after ``suspend`` (a call does this by itself when needed)."""
        with self._guard.exclusive():
            pass  # the guard's on_enter reloads

    def _ensure_resident(self) -> None:
        if not self._suspended:
            return
        loaded = load_llama(**self._load_args)
        self._loaded, self._llama = loaded, loaded.llama
        self._session, self._scoring = _sessions(loaded)
        self._suspended = False

    def _free_native(self) -> None:
        import llama_cpp

        for grammar in self._grammars.values():
            llama_cpp.llama_sampler_free(grammar)
        self._grammars.clear()
        self._session.close()
        self._scoring.close()
        self._llama.close()

    # --- lifetime ------------------------------------------------------------------------------

    def _require(self) -> LoadedModel:
        if self._loaded is None:
            raise UsageError("this LLM has been closed", "open a new one (LocalLLM.from_settings(...))")
        return self._loaded

    def _header(self) -> Any:
        return self._require().header

    def close(self) -> None:
        """Free the model, context and grammars. Waits for a running call; a second close does nothing."""
        with self._guard.closing() as first:
            if not first or self._loaded is None:
                return
            if not self._suspended:
                self._free_native()
            self._llama = None
            self._loaded = None

    def __enter__(self) -> LocalLLM:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._loaded is None else f"context={self._session.n_ctx}"
        return f"LocalLLM({self._loaded.header.path if self._loaded else ''!s}, {state})"


def _sessions(loaded: LoadedModel) -> tuple[KVSession, KVSession]:
    """The conversation's KV sequence and the scoring one, each in its own cells."""
    chat = KVSession(loaded.llama, seq=0)
    return chat, KVSession(loaded.llama, seq=1)


def _template_for(loaded: LoadedModel) -> ChatTemplate:
    import llama_cpp

    llama = loaded.llama
    vocab = llama_cpp.llama_model_get_vocab(llama.model)

    def token_text(token_id: int) -> str:
        if token_id < 0:
            return ""
        return llama_cpp.llama_vocab_get_text(vocab, token_id).decode("utf-8", errors="replace")

    template = loaded.header.chat_template
    assert template is not None  # load_llama refuses models without one
    return ChatTemplate(
        template, bos_token=token_text(llama.token_bos()), eos_token=token_text(llama.token_eos())
    )
