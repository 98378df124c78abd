"""Where a decode is in a JSON text, fed piece by piece: inside a key, a string value, or elsewhere,
and under which key. The repetition penalty reads it to act on text only, not JSON's structure
(``RepetitionControl.strings_only``) and to leave the values of some keys alone
(``RepetitionControl.free_keys``)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class _Frame:
    """An open object or list: its bracket, whether a key comes next (objects), the last key read."""

    bracket: str
    expects_key: bool
    key: str | None = None


@dataclass
class JsonCursor:
    """Feed the JSON text as it is decoded; ``in_string_value`` says whether the next character
    goes into a string value (not a key), ``in_text`` whether it goes into a string value or into
    text outside the JSON, ``value_key`` under which key a string value sits."""

    frames: list[_Frame] = field(default_factory=list)
    in_string: bool = False
    string_is_key: bool = False
    escaped: bool = False
    # line breaks written in string values (JSON's escaped \n) and in text outside the JSON
    line_breaks: int = 0
    _key_chars: list[str] = field(default_factory=list)

    @property
    def in_string_value(self) -> bool:
        return self.in_string and not self.string_is_key

    @property
    def in_text(self) -> bool:
        """Inside a string value, or outside any object or list: text around the JSON (an answer in
        plain text, as native tool-call formats write it) counts as text, JSON's own structure not."""
        return self.in_string_value or (not self.in_string and not self.frames)

    @property
    def value_key(self) -> str | None:
        """The key of the member being written in the innermost object (a list's items count as
        their list's member), or None outside any object."""
        for frame in reversed(self.frames):
            if frame.bracket == "{":
                return frame.key
        return None

    def feed(self, text: str) -> None:
        for char in text:
            self._step(char)

    def _step(self, char: str) -> None:
        if self.in_string:
            if self.escaped:
                self.escaped = False
                if char == "n" and not self.string_is_key:
                    self.line_breaks += 1
            elif char == "\\":
                self.escaped = True
            elif char == '"':
                self.in_string = False
                if self.string_is_key and self.frames:
                    self.frames[-1].key = "".join(self._key_chars)
                return
            if self.string_is_key:
                self._key_chars.append(char)
            return
        top = self.frames[-1] if self.frames else None
        if char == "\n" and top is None:
            self.line_breaks += 1
        if char == '"':
            self.in_string = True
            self.string_is_key = top is not None and top.bracket == "{" and top.expects_key
            self._key_chars = []
        elif char in "{[":
            self.frames.append(_Frame(char, char == "{"))
        elif char in "}]":
            if self.frames:
                self.frames.pop()
        elif char == ":" and top is not None:
            top.expects_key = False
        elif char == "," and top is not None:
            top.expects_key = top.bracket == "{"
