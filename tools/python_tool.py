"""The ``python`` tool: run code in the session's sandbox, a persistent Python like a notebook.

**Line breaks inside one-line strings.** The model writes its code as a JSON string, where ``\\n``
is a line break; when it means Python's own ``\\n`` escape inside a string literal
(``f.write(f'{n}\\n')``), JSON hands Python a real line break inside quotes, which no Python
accepts ("unterminated string literal"; the default model did this in 2 of 16 requests of a
newcomer's ``heron chat`` session, BENCHMARKS.md). So code that does not compile, and compiles once each line
break inside a one-line string literal is written as ``\\n``, runs that way, and the result says
so. Triple-quoted strings and comments are left alone; code that compiles is never changed.
"""

from __future__ import annotations

import re
import warnings

from heron.config import SandboxSettings
from heron.tools.context import ToolContext, current_call
from heron.tools.declaration import LongText, tool
from heron.tools.results import Risk, ToolResult

ESCAPED_NOTE = "[note] each line break inside a one-line string literal was read as \\n\n"
# what heron installs, and so the sandbox's Python has when it shares heron's packages (the default)
SHARED_PACKAGES = ("numpy", "pandas", "matplotlib", "scikit-learn")
_INSTALLING = re.compile(
    r"^\s*[!%]?\s*(?:pip3?|python3? -m pip|conda|apt(?:-get)?)\s+install\b", re.MULTILINE
)


@tool(name="python", risk=Risk.HIGH, think=True, repeats_allowed=("code",))
def python_tool(code: LongText, ctx: ToolContext) -> ToolResult:
    """Run Python code in an isolated sandbox. Variables and imports persist between calls, like a
    notebook; print what you need to see. Files go in the current folder (the workspace); figures
    left open are saved as PNG files. No network access. The code cannot see earlier tool results
    or documents: type the values you need into it, one statement per line, e.g.
    {"code": "sizes = [12.5, 30.0]\\nprint(sum(sizes))"}.

    Args:
        code: Python source code to run
    """
    repaired = breaks_in_strings_escaped(code)
    scope = current_call.get()  # a cancel of the calling run stops the cell, or keeps it from starting
    result = ctx.sandbox.run_cell(repaired or code, cancelled=scope.cancelled if scope else None)
    note = ESCAPED_NOTE if repaired is not None else ""
    text = note + result.to_text()
    if not result.ok and ("ModuleNotFoundError" in text or _INSTALLING.search(code)):
        text += "\n" + installing_note(ctx.sandbox.settings)
    return ToolResult(text=text, artifacts=result.artifacts, is_error=not result.ok)


def installing_note(settings: SandboxSettings) -> str:
    """What a cell that imported a missing module, or tried to install one, is told: nothing can be
    installed (no network; pip is a shell command, not Python), and which packages there are."""
    shared = settings.share_site_packages and settings.python is None
    packages = f"the standard library and {', '.join(SHARED_PACKAGES)}" if shared else "the standard library"
    return (
        "[note] nothing can be installed here: the sandbox has no network, and pip is a shell command, "
        f"not Python. Use what is installed: {packages}."
    )


def breaks_in_strings_escaped(code: str) -> str | None:
    """``code`` with each line break inside a one-line string literal written as ``\\n``, when
    ``code`` does not compile and that version does; otherwise None (compiling runs nothing)."""
    if _compiles(code):
        return None
    escaped = _escape_breaks(code)
    return escaped if escaped != code and _compiles(escaped) else None


def _compiles(code: str) -> bool:
    with warnings.catch_warnings():  # (an invalid escape such as '\d' warns; the cell itself says so)
        warnings.simplefilter("ignore")
        try:
            compile(code, "<cell>", "exec")
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return False
    return True


def _escape_breaks(code: str) -> str:
    """Line breaks inside ``'...'`` and ``"..."`` literals as ``\\n``; everything else as it is."""
    out: list[str] = []
    quote = ""  # the open string's delimiter: ', ", ''' or """ ("" outside strings)
    i = 0
    while i < len(code):
        char = code[i]
        if not quote:
            if char == "#":  # a comment runs to the end of its line
                end = code.find("\n", i)
                end = len(code) if end < 0 else end
                out.append(code[i:end])
                i = end
                continue
            if char in "'\"":
                quote = code[i : i + 3] if code[i : i + 3] == char * 3 else char
                out.append(quote)
                i += len(quote)
                continue
        elif char == "\\":  # an escape: the next character is the string's, whatever it is
            out.append(code[i : i + 2])
            i += 2
            continue
        elif code.startswith(quote, i):
            out.append(quote)
            i += len(quote)
            quote = ""
            continue
        elif char == "\n" and len(quote) == 1:
            out.append("\\n")
            i += 1
            continue
        out.append(char)
        i += 1
    return "".join(out)
