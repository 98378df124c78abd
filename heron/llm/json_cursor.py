"""Where a decode is in a JSON text, fed piece by piece: inside a string (a key or a value), a
number, an object or a list. Logit biases read it to act on some parts of structured output only
(the repetition penalty on string values)."""

from __future__ import annotations

from dataclasses import dataclass, field

NUMBER_CHARS = frozenset("-+.0123456789eE")


@dataclass
class Frame:
    kind: str  # "{" or "["
    key: str | None = None  # the member being written (objects)
    expect: str = "value"  # in an object: "key", "colon", "value", "comma"


@dataclass
class JsonCursor:
    """Feed the JSON text as it is decoded; the fields say where the next character goes.

    ``on_value(key, value, is_string)`` (override in a subclass) is told each string or number
    value that completes an object member, with the root object's key it is nested under.
    """

    frames: list[Frame] = field(default_factory=list)
    in_string: bool = False
    string_is_key: bool = False
    escaped: bool = False
    buffer: str = ""  # the string's content, or the number's text, so far
    in_number: bool = False

    def feed(self, text: str) -> None:
        for char in text:
            self._step(char)

    @property
    def in_string_value(self) -> bool:
        return self.in_string and not self.string_is_key

    def current_key(self) -> str | None:
        """The key of the innermost object member being written (through lists: a list's items)."""
        for frame in reversed(self.frames):
            if frame.kind == "{":
                return frame.key
        return None

    def at_value_start(self) -> bool:
        if not self.frames or self.in_string or self.in_number:
            return False
        return self.frames[-1].expect == "value"

    def on_value(self, root_key: str | None, value: str, is_string: bool) -> None:
        """An object member's string or number value is complete (a hook; does nothing here)."""

    def _step(self, char: str) -> None:
        if self.in_string:
            if self.escaped:
                self.escaped = False
                self.buffer += char
            elif char == "\\":
                self.escaped = True
            elif char == '"':
                self._end_string()
            else:
                self.buffer += char
            return
        if self.in_number:
            if char in NUMBER_CHARS:
                self.buffer += char
                return
            self.in_number = False
            if self.frames and self.frames[-1].kind == "{":
                self.on_value(self.frames[0].key, self.buffer, is_string=False)
            self._value_done()
        top = self.frames[-1] if self.frames else None
        if char == '"':
            self.in_string, self.buffer = True, ""
            self.string_is_key = top is not None and top.kind == "{" and top.expect == "key"
        elif char in "{[":
            self.frames.append(Frame(char, expect="key" if char == "{" else "value"))
        elif char in "}]":
            if self.frames:
                self.frames.pop()
            self._value_done()
        elif char == ":" and top is not None:
            top.expect = "value"
        elif char == "," and top is not None:
            top.expect = "key" if top.kind == "{" else "value"
        elif char in NUMBER_CHARS and top is not None and top.expect == "value":
            self.in_number, self.buffer = True, char

    def _end_string(self) -> None:
        self.in_string = False
        top = self.frames[-1] if self.frames else None
        if self.string_is_key and top is not None:
            top.key, top.expect = self.buffer, "colon"
            return
        if top is not None and top.kind == "{":
            self.on_value(self.frames[0].key, self.buffer, is_string=True)
        self._value_done()

    def _value_done(self) -> None:
        if self.frames:
            self.frames[-1].expect = "comma"
