"""Render chat messages into a prompt with the chat template stored in a GGUF file's metadata."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from heron.errors import UsageError
from heron.llm.types import Message


class ChatTemplate:
    """A GGUF ``tokenizer.chat_template`` (Jinja, as Hugging Face defines it), ready to render."""

    def __init__(self, template: str, bos_token: str, eos_token: str) -> None:
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        self.bos_token = bos_token
        self.source = template
        self._formatter = Jinja2ChatFormatter(
            template=template, eos_token=eos_token, bos_token=bos_token, add_generation_prompt=True
        )

    def render(self, messages: Sequence[Message], tools: Sequence[dict[str, Any]] = ()) -> str:
        """The prompt text for ``messages``, ending where the assistant's reply begins; ``tools``
        (OpenAI function declarations) go to the template's ``tools`` variable."""
        if not messages:
            raise UsageError("no messages to send to the model", "pass at least one Message.user(...)")
        try:
            chat: list[Any] = [to_chat_dict(m) for m in messages]
            declared: Any = list(tools) or None  # OpenAI function declarations, as the template reads them
            return self._formatter(messages=chat, tools=declared).prompt
        except Exception as exc:  # the template's raise_exception() and Jinja errors alike
            raise UsageError(
                f"the model's chat template rejected these messages: {exc}",
                "some templates require alternating user/assistant turns or allow no system message; "
                "adjust the messages, or use a model whose template accepts them",
            ) from exc


def to_chat_dict(message: Message) -> dict[str, Any]:
    """A message as the OpenAI-style dict that chat templates and servers expect."""
    out: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.name is not None:
        out["name"] = message.name
    return out
