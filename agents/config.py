"""How an agent behaves, grouped in one model instead of a long constructor."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

from heron.agents.budget import Budget
from heron.config import ToolFormatName
from heron.errors import UsageError
from heron.llm.string_bounds import GRAMMAR_STRING_CHARS
from heron.llm.types import RepetitionControl

if TYPE_CHECKING:
    from heron.llm.base import LLM

THOUGHT_CHARS = 200  # the reasoning field's length when the model is big enough to use it
THOUGHT_MIN_PARAMETERS = 1_000_000_000  # SmolLM2-135M wrote digits into it; Qwen2.5-1.5B plans in it
# how much of a plan step's result its record keeps (what a re-plan reads); a tool result up to this
# long is the step's result as it is, a longer one gets the model's note (step_notes)
STEP_RECORD_CHARS = 300


TOOL_CHOICE_MODES = ("auto", "none", "required")  # besides a tool name (tools cannot take these names)


def check_tool_choice(choice: str, tool_names: list[str]) -> None:
    """A ``tool_choice`` is a mode or one of the agent's tools (UsageError naming both otherwise)."""
    if choice not in (*TOOL_CHOICE_MODES, *tool_names):
        raise UsageError(
            f"tool_choice {choice!r} is not a tool of this agent",
            f"use one of {', '.join(map(repr, TOOL_CHOICE_MODES))} or a tool: {', '.join(tool_names)}",
        )


class AgentConfig(BaseModel):
    """Behaviour of an :class:`~heron.agents.agent.Agent`.

    ``planning``: "never" runs one loop (simple questions); "always" first makes a structured plan
    and runs it step by step, re-planning when a step fails.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    budget: Budget = Field(default_factory=lambda: Budget())
    planning: Literal["never", "always"] = "never"
    max_plan_steps: int = Field(4, ge=1, le=10)
    step_tries: int = Field(
        3,
        ge=1,
        le=10,
        description="a plan step that names a tool is done when a call of it succeeds; a call that "
        "fails (an error the model can read, e.g. a traceback) is made again, at most this many calls",
    )
    thought_chars: int | None = Field(
        None,
        ge=0,
        le=400,
        description="after choosing its action, a turn that calls a tool declared with "
        "`think=True` (code, documents: the built-in python and write_file) writes a short reasoning "
        'field ("thought", at most this many characters) before the arguments, so the '
        "model says what it knows (the values it read, its plan) before it writes them; other calls go "
        "straight to their arguments. The action is chosen first, so the choice itself is the same "
        "with or without it. The trace keeps it. 0: no reasoning field. "
        f"None (default): {THOUGHT_CHARS} for models of {THOUGHT_MIN_PARAMETERS:,} weights or more (or "
        "of unknown size), 0 for smaller ones, which fill it with noise that derails later turns",
    )
    step_notes: bool = Field(
        True,
        description=f"after a plan step's tool call succeeds with a result of more than {STEP_RECORD_CHARS} "
        "characters, one more turn in which the model writes down what the step found (the facts and "
        "values, with the passages they come from) as the step's result; later steps read its note "
        "next to the raw result. A long result can hold the few values the next step needs among many "
        "(eight retrieved passages): written down first, they are what the model copies into its code "
        "or report. A shorter result (a printed number, a file written) is the step's result as it "
        "is. False: the raw result is always the step's",
    )
    turn_max_tokens: int = Field(
        1024, ge=16, description="tokens per model turn: room for the longest answer or argument"
    )
    argument_chars: int = Field(
        800,
        ge=10,
        description="longest string argument whose schema sets no maxLength; bounds every turn (past "
        f"{GRAMMAR_STRING_CHARS}, the most a grammar holds, heron's decode loop holds the bound on a local "
        "model: heron.llm.string_bounds)",
    )
    answer_chars: int = Field(
        1000,
        ge=20,
        le=GRAMMAR_STRING_CHARS,
        description="longest answer, in characters; an answer that ends at it was cut off by it, and "
        "the result says so (RunResult.answer_cut; the models tried rewrote the same answer when asked "
        f"for a shorter one). At most {GRAMMAR_STRING_CHARS}: llama.cpp's grammar parser refuses longer "
        "bounded strings",
    )
    temperature: float = Field(0.0, ge=0.0)
    token_logprobs: bool = Field(
        False,
        description="record each generated token's log-probability in the trace (the model turn "
        "events' logprobs), for views of where the model was unsure. Every token is then sampled: "
        "text a grammar forces is not fast-forwarded, so turns take longer. Local models only",
    )
    tries_after_error: int = Field(
        2,
        ge=0,
        description="the turn after failed calls offers tools only, while the run has had at most this "
        "many failed calls: the model fixes the call or tries another tool before it answers (small "
        "models answered with the error). 0: the answer is always offered",
    )
    retry_temperature: float = Field(
        0.7,
        ge=0.0,
        description="the turn after a failed tool call is sampled at this temperature (seeded by the "
        "step, so a run is repeatable): at temperature 0 a model that just read an error tends to make "
        "the same call again. 0: every turn greedy",
    )
    repetition: RepetitionControl | None = Field(
        RepetitionControl(allowed_length=12),
        description="a DRY penalty on text that repeats what the turn already wrote, in the answer and "
        "string arguments (heron.llm.repetition), so a turn cannot loop on a sentence; repeats up to "
        "12 tokens (a path, a name, a line of code) stay free, and so do the arguments tools declare "
        "repeats_allowed (file content, code). None: off",
    )
    tool_choice: str = Field(
        "auto",
        description='"auto": tool or answer; "required": a tool every turn until a budget ends; '
        '"none": answer only; or a tool name: that tool every turn',
    )
    check_first_call: bool | None = Field(
        None,
        description="when a fresh request's first turn calls a tool, ask the model in a separate short "
        "prompt whether that tool does what the request asks, and again for the content-free requests "
        "'N/A', '' and '[MASK]' (their mean P(Yes): its Yes-bias); if, the bias divided out, No is "
        "likelier than Yes, the call is set aside, the other tools are judged the same way, and the "
        "turn is taken again offering those that fit, without the answer, or the answer alone when "
        "none fits. None (default): on for local models of 1B weights or more, "
        "off for smaller ones and for servers",
    )
    require_citations: bool = Field(
        False,
        description="answers must cite a retrieved passage: until a tool returned passages, a turn may "
        "only call the tools that return citations (retrieve; any if there is none) and the answer is "
        "not offered; the answer cites at least one related to the request or answer; a run that "
        "retrieved nothing, or whose answer cites only unrelated passages, ends without an answer",
    )
    tool_format: Literal["settings"] | ToolFormatName = Field(
        "settings",
        description="how the model writes a turn: 'generic' is heron's JSON action (any model, any "
        "backend); 'hermes' (Qwen2.5, Hermes), 'llama3', 'mistral' are models' own tool-call syntaxes, "
        "the tools rendered by the model's chat template (heron.llm.tool_formats; a local GGUF only); "
        "'auto' takes the model's own syntax when its template has one, else generic; 'settings' "
        "(default): the `agent.tool_format` setting (HERON_AGENT__TOOL_FORMAT), itself 'auto' by default",
    )
    parallel_calls: int = Field(
        4,
        ge=1,
        le=16,
        description="most tool calls in one turn (a batch: approvals asked together, calls of "
        "`concurrent` tools run at the same time, each call checkpointed; a call whose arguments "
        "the model composes, code or a document, waits for the results of the calls before it); "
        "1: one call per turn. "
        "A formats whose syntax holds one call (llama3) makes one",
    )
    tool_retries: int = Field(0, ge=0, le=10, description="retries of a tool that raised unexpectedly")
    tool_retry_backoff: float = Field(0.5, ge=0.0, description="seconds before the first retry; doubles")
    instructions: str = Field("", description="extra system-prompt text, e.g. the task's own rules")
    result_chars: int = Field(4000, ge=100, description="tool output shown to the model per call")


def thought_chars(config: AgentConfig, llm: LLM) -> int:
    """The reasoning field's length for this model: the configured one, or by the model's size."""
    if config.thought_chars is not None:
        return config.thought_chars
    parameters = getattr(llm, "parameter_count", None)  # a local GGUF knows it; a server may not
    return THOUGHT_CHARS if parameters is None or parameters >= THOUGHT_MIN_PARAMETERS else 0
