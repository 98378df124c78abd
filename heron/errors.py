"""Every error heron raises, split by who has to act on it.

- ``ModelRetry``: goes back to the model as a hint (bad tool arguments, unknown tool); the run goes on.
- ``UsageError`` and subclasses: the developer's or user's mistake (config, paths, task files, tool
  declarations). The message says what was wrong and how to fix it.
- ``RunError`` and subclasses: something failed while running (model, tool, sandbox, budget).

Inside a tool the agent runs, the tool's call is the model's: a ``UsageError`` or ``RunError`` the
tool raises (a path outside the workspace, no image model configured) becomes that call's error
result, which the model reads and the trace keeps; the run goes on. Raised anywhere else (settings,
task files, the agent's own arguments), a ``UsageError`` reaches the developer.

Keep the cause: ``raise ConfigError(...) from exc``.
"""

from __future__ import annotations


class SettingsWarning(UserWarning):
    """A setting heron passes over: a ``HERON_*`` variable that names no setting (a misspelling)."""


class HeronError(Exception):
    """Base of every error heron raises on purpose."""


class ModelRetry(HeronError):
    """A message for the model: what it did wrong and what to do instead. The run continues."""


class ArgumentsRetry(ModelRetry):
    """A ModelRetry in heron's own words (arguments that do not fit a tool's schema, an unknown tool),
    not the tool's: an answer that only repeats it is no answer."""


class UsageError(HeronError):
    """A mistake by the person using heron; ``hint`` says how to fix it."""

    def __init__(self, problem: str, hint: str | None = None) -> None:
        self.problem = problem
        self.hint = hint
        super().__init__(f"{problem}\n  fix: {hint}" if hint else problem)


class ConfigError(UsageError):
    """A setting has a value heron cannot use."""


class ModelLoadError(UsageError):
    """A model file is missing, truncated or not in the expected format."""


class StateFileError(UsageError):
    """A saved LLM state (KV cache) file is missing, damaged or was saved from another model."""


class ToolDeclarationError(UsageError):
    """A function cannot become a tool (missing type hints, docstring, ...)."""


class TaskFileError(UsageError):
    """A task file is malformed; the message names the file and line."""


class DatasetError(UsageError):
    """An evaluation data file is missing or malformed; the message names the file and line."""


class IngestionError(UsageError):
    """A path given for ingestion cannot be read."""


class ImageModelError(UsageError):
    """No image model configured, a folder that is not a diffusers model, or the ``image`` extra missing."""


class ProvenanceError(UsageError):
    """A C2PA manifest could not be signed or read (missing or mismatched certificate and key)."""


class RunError(HeronError):
    """A failure while running: the inputs were fine, something at run time was not."""


class ModelError(RunError):
    """The language model failed to produce output."""


class OutputTruncatedError(ModelError):
    """A structured output ran past its ``max_tokens`` before its JSON was complete. The agent's loop
    handles this one (it tells the model and gives the turn more tokens); every other ``ModelError``
    (a context overflow, a server's HTTP error, a failed decode) ends the run with status ``error``.
    ``text``: what was decoded before the limit, so a trace can show what ran long."""

    def __init__(self, message: str, text: str = "") -> None:
        super().__init__(message)
        self.text = text


class ContextOverflowError(ModelError):
    """A prompt does not fit the model's context window; shorten the history or raise context_size."""


class ToolExecutionError(RunError):
    """A tool raised while running."""


class SandboxError(RunError):
    """The code sandbox could not start, or a cell broke a limit and the sandbox was reset."""


class SandboxDiedError(SandboxError):
    """The sandbox's worker died before it was ready, saying nothing on its stderr."""


class SandboxUnavailableError(SandboxError, UsageError):
    """No working sandbox on this machine (bubblewrap missing or blocked)."""

    def __init__(self, problem: str, hint: str | None = None) -> None:
        UsageError.__init__(self, problem, hint)


class MCPServerError(RunError, UsageError):
    """An MCP server could not be started, reached or listed (a wrong command or URL, a crash, a
    timeout); the message names the server and what it printed."""

    def __init__(self, problem: str, hint: str | None = None) -> None:
        UsageError.__init__(self, problem, hint)


class BudgetExhaustedError(RunError):
    """A step, token or time budget ran out."""


class RunTakenOverError(RunError):
    """Another process took the run up (``heron resume``, a cluster retry after its worker was
    presumed dead) while this one still drove it; this one stops, the run store keeps the other's."""


class RunCancelledError(RunError):
    """The user stopped the run (Ctrl-C in ``heron chat``); the conversation goes on without it."""
