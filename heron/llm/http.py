"""``HTTPLLM``: the LLM interface over an OpenAI-compatible server (llama.cpp's llama-server,
``python -m llama_cpp.server``, vLLM), for models that do not fit this process or machine.

Structured output sends the same GBNF grammar the local backend uses (``grammar``, understood by
llama.cpp servers), or OpenAI's ``response_format`` with the JSON schema (vLLM, OpenAI), and
validates the reply with pydantic either way.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Generator, Iterator, Sequence
from typing import Any, Literal, TypeVar

from pydantic import BaseModel

from heron.errors import ModelError, UsageError
from heron.llm.call_guard import CallGuard
from heron.llm.chat_template import to_chat_dict
from heron.llm.schema import (
    check_complete,
    grammar_for,
    json_schema_of,
    parse_json_output,
    validate_structured,
)
from heron.llm.types import Completion, GenerationOptions, Message, TokenLogprob, Usage

T = TypeVar("T", bound=BaseModel)
StructuredMode = Literal["grammar", "response_format"]


class HTTPLLM:
    """A chat model behind an OpenAI-compatible HTTP API. Calls are serialized like ``LocalLLM``'s.

    >>> llm = HTTPLLM("http://127.0.0.1:8080/v1")
    >>> llm.chat([Message.user("Say hi")]).text

    ``structured_mode``: "grammar" (llama.cpp servers) or "response_format" (vLLM, OpenAI).
    """

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        model: str | None = None,
        seed: int = 0,
        timeout: float = 600.0,
        structured_mode: StructuredMode = "grammar",
    ) -> None:
        self.base_url = _api_root(base_url)
        self._api_key = api_key
        self._model = model
        self._seed = seed
        self._timeout = timeout
        self._structured_mode = structured_mode
        self._guard = CallGuard("HTTPLLM")
        self._last_usage = Usage()

    @property
    def name(self) -> str:
        return f"http:{self.base_url}" + (f"#{self._model}" if self._model else "")

    @property
    def last_usage(self) -> Usage:
        return self._last_usage

    # --- generation ----------------------------------------------------------------------------

    def chat(self, messages: Sequence[Message], options: GenerationOptions | None = None) -> Completion:
        options = options or GenerationOptions()
        with self._guard.exclusive():
            started = time.perf_counter()
            reply = self._post("chat/completions", self._body(messages, options))
            choice = reply["choices"][0]
            usage = _usage(reply.get("usage"), time.perf_counter() - started)
            self._last_usage = usage
        return Completion(
            text=choice["message"].get("content") or "",
            usage=usage,
            finish_reason="length" if choice.get("finish_reason") == "length" else "stop",
            logprobs=_logprobs(choice.get("logprobs")) if options.logprobs else None,
        )

    def stream(
        self, messages: Sequence[Message], options: GenerationOptions | None = None
    ) -> Generator[str, None, None]:
        """Text deltas from the server's event stream; ``last_usage`` is set when it ends."""
        options = options or GenerationOptions()
        body = self._body(messages, options) | {"stream": True, "stream_options": {"include_usage": True}}
        with self._guard.exclusive():
            started = time.perf_counter()
            usage_seen: dict[str, Any] | None = None
            chunks = 0
            for event in self._post_stream("chat/completions", body):
                usage_seen = event.get("usage") or usage_seen
                for choice in event.get("choices") or []:
                    delta = (choice.get("delta") or {}).get("content")
                    if delta:
                        chunks += 1
                        yield delta
            usage = _usage(usage_seen, time.perf_counter() - started)
            if usage_seen is None:
                # The server sent no usage: one content chunk is one token on llama.cpp servers.
                usage = usage.model_copy(update={"completion_tokens": chunks})
            self._last_usage = usage

    def structured(
        self, messages: Sequence[Message], schema: type[T], options: GenerationOptions | None = None
    ) -> T:
        options = options or GenerationOptions()
        completion = self._constrained(messages, schema, options)
        return validate_structured(completion.text, schema)

    def structured_json(
        self, messages: Sequence[Message], schema: dict[str, Any], options: GenerationOptions | None = None
    ) -> Any:
        options = options or GenerationOptions()
        text = self._constrained(messages, schema, options).text
        if options.on_text is not None:  # not streamed over HTTP: the whole reply at once
            options.on_text(text)
        return parse_json_output(text)

    def _constrained(
        self, messages: Sequence[Message], schema: Any, options: GenerationOptions
    ) -> Completion:
        if self._structured_mode == "grammar":
            extra: dict[str, Any] = {"grammar": grammar_for(schema)}
        else:
            extra = {
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {"name": "reply", "schema": json_schema_of(schema), "strict": True},
                }
            }
        with self._guard.exclusive():
            started = time.perf_counter()
            reply = self._post("chat/completions", self._body(messages, options) | extra)
            choice = reply["choices"][0]
            self._last_usage = _usage(reply.get("usage"), time.perf_counter() - started)
        text = choice["message"].get("content") or ""
        check_complete(text, choice.get("finish_reason") or "stop", options.max_tokens)
        return Completion(text=text, usage=self._last_usage)

    def close(self) -> None:
        with self._guard.closing():
            pass

    def __enter__(self) -> HTTPLLM:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- wire ----------------------------------------------------------------------------------

    def _body(self, messages: Sequence[Message], options: GenerationOptions) -> dict[str, Any]:
        if not messages:
            raise UsageError("no messages to send to the model", "pass at least one Message.user(...)")
        if options.reply_start:
            raise UsageError(
                "GenerationOptions.reply_start needs heron's own decode loop; a served model cannot go on "
                "with a reply it did not keep",
                "send the whole request again, without reply_start",
            )
        if options.logit_bias is not None:
            raise UsageError(
                "GenerationOptions.logit_bias needs heron's own decode loop; a served model cannot take it",
                "use a local model (LocalLLM), or leave out what sets it (a turn policy with a logit bias)",
            )
        body: dict[str, Any] = {
            "messages": [_wire_message(m) for m in messages],
            "max_tokens": options.max_tokens,
            "temperature": options.temperature,
            "top_p": options.top_p,
            "top_k": options.top_k,
            "seed": options.seed if options.seed is not None else self._seed,
            # llama.cpp servers default to a repeat penalty of 1.1; heron's local backend uses none.
            "repeat_penalty": 1.0,
        }
        if options.stop:
            body["stop"] = list(options.stop)
        if options.repetition is not None:
            body |= _dry_fields(options)
        if options.logprobs:
            body["logprobs"] = True
        model = self._model_name()
        if model:
            body["model"] = model
        return body

    def _model_name(self) -> str | None:
        if self._model is None:
            models = self._get("models").get("data") or []
            self._model = str(models[0]["id"]) if models else ""
        return self._model or None

    def _request(self, path: str, body: dict[str, Any] | None) -> urllib.request.Request:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        data = json.dumps(body).encode() if body is not None else None
        return urllib.request.Request(f"{self.base_url}/{path}", data=data, headers=headers)

    def _get(self, path: str) -> dict[str, Any]:
        return self._send(self._request(path, None))

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._send(self._request(path, body))

    def _send(self, request: urllib.request.Request) -> dict[str, Any]:
        with self._open(request) as response:
            return json.loads(response.read())

    def _post_stream(self, path: str, body: dict[str, Any]) -> Iterator[dict[str, Any]]:
        with self._open(self._request(path, body)) as response:
            for raw in response:
                line = raw.decode("utf-8", errors="replace").strip()
                if not line.startswith("data:"):
                    continue
                data = line[len("data:") :].strip()
                if data == "[DONE]":
                    return
                yield json.loads(data)

    def _open(self, request: urllib.request.Request) -> Any:
        try:
            return urllib.request.urlopen(request, timeout=self._timeout)
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", errors="replace")[:1000]
            raise ModelError(f"{request.full_url} answered HTTP {exc.code}: {detail}") from exc
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ModelError(
                f"cannot reach the LLM server at {self.base_url} ({reason}); is it running? "
                "(check llm_base_url / HERON_LLM_BASE_URL)"
            ) from exc


def _api_root(base_url: str) -> str:
    """``http://host:port`` becomes ``http://host:port/v1``; a URL with a path is kept as given."""
    url = base_url.strip().rstrip("/")
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise UsageError(f"not an http(s) URL: {base_url!r}", "use e.g. http://127.0.0.1:8080/v1")
    return url if parsed.path not in ("", "/") else f"{url}/v1"


def _dry_fields(options: GenerationOptions) -> dict[str, Any]:
    """``options.repetition`` as the DRY fields of llama.cpp's ``llama-server``. Other servers
    (``python -m llama_cpp.server``, so ``heron.llm.serve``; vLLM) ignore them: the control is off there.

    The server scans the last ``dry_penalty_last_n`` tokens of the whole context, prompt included,
    and penalises JSON structure as well as strings (no ``strings_only``, ``free_keys`` nor
    ``per_value``): this window covers this call's output and about ``prompt_tokens`` of the prompt,
    which is as close as it gets.
    """
    control = options.repetition
    assert control is not None
    return {
        "dry_multiplier": control.multiplier,
        "dry_base": control.base,
        "dry_allowed_length": control.allowed_length,
        "dry_penalty_last_n": options.max_tokens + control.prompt_tokens,
        "dry_sequence_breakers": list(control.sequence_breakers),
    }


def _usage(raw: dict[str, Any] | None, seconds: float) -> Usage:
    raw = raw or {}
    details = raw.get("prompt_tokens_details") or {}
    return Usage(
        prompt_tokens=int(raw.get("prompt_tokens") or 0),
        cached_prompt_tokens=int(details.get("cached_tokens") or 0),
        completion_tokens=int(raw.get("completion_tokens") or 0),
        seconds=seconds,
    )


def _logprobs(raw: dict[str, Any] | None) -> list[TokenLogprob] | None:
    if not raw or not raw.get("content"):
        return None
    return [TokenLogprob(token=item["token"], logprob=float(item["logprob"])) for item in raw["content"]]


def _wire_message(message: Message) -> dict[str, Any]:
    """A message for an OpenAI-compatible API. heron's tool results are plain text, not replies to a
    native ``tool_calls`` entry (which would need a ``tool_call_id``): they go as user messages."""
    if message.role == "tool":
        return {"role": "user", "content": message.content}
    return to_chat_dict(message)
