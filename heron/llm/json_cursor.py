"""Where a decode is in a JSON text, fed piece by piece: inside a key, a string value, or elsewhere.
The repetition penalty reads it to act on string values only (``RepetitionControl.strings_only``)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class JsonCursor:
    """Feed the JSON text as it is decoded; ``in_string_value`` says whether the next character
    goes into a string value (not a key)."""

    # per open object or list: "{" or "[", and in an object whether a key is expected next
    frames: list[list[str | bool]] = field(default_factory=list)
    in_string: bool = False
    string_is_key: bool = False
    escaped: bool = False

    @property
    def in_string_value(self) -> bool:
        return self.in_string and not self.string_is_key

    def feed(self, text: str) -> None:
        for char in text:
            self._step(char)

    def _step(self, char: str) -> None:
        if self.in_string:
            if self.escaped:
                self.escaped = False
            elif char == "\\":
                self.escaped = True
            elif char == '"':
                self.in_string = False
            return
        top = self.frames[-1] if self.frames else None
        if char == '"':
            self.in_string = True
            self.string_is_key = top is not None and top[0] == "{" and top[1] is True
        elif char in "{[":
            self.frames.append([char, char == "{"])
        elif char in "}]":
            if self.frames:
                self.frames.pop()
        elif char == ":" and top is not None:
            top[1] = False
        elif char == "," and top is not None:
            top[1] = top[0] == "{"
