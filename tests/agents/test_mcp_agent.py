"""An agent run with the real capable model that calls an MCP server's tool and answers from its
result: through the SDK, and through a task file's `mcp:` section (`heron run`)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from heron import Agent
from heron.agents.runner import TaskRunner
from heron.config import MCPServerSettings, load_settings
from heron.errors import MCPServerError
from heron.llm import LocalLLM
from heron.models import resolve_model
from heron.tools.mcp import MCPToolset
from heron.tracing import ToolCallEvent, read_trace
from tests.conftest import CAPABLE_MODEL, MACHINE_MODELS_DIR

pytestmark = [pytest.mark.model, pytest.mark.capable]

FIXTURE = Path(__file__).resolve().parent.parent / "tools" / "mcp_fixture_server.py"
QUESTION = "Which carrier ships order 4417, and how many parcels are there?"


@pytest.fixture(scope="module")
def llm() -> Iterator[LocalLLM]:
    with LocalLLM(resolve_model(CAPABLE_MODEL, MACHINE_MODELS_DIR), context_size=4096) as model:
        yield model


def test_the_agent_calls_an_mcp_tool_and_answers_from_it(llm: LocalLLM, tmp_path: Path) -> None:
    spec = MCPServerSettings(command=sys.executable, args=[str(FIXTURE), "stdio"])
    with MCPToolset("shop", spec) as shop:
        tools = [t for t in shop.tools() if t.name in ("order_status", "add")]
        with Agent(llm, tools=tools, workspace=tmp_path / "ws") as agent:
            result = agent.run(QUESTION)
    calls = [e for e in read_trace(result.trace_path) if isinstance(e, ToolCallEvent)]
    assert [c.tool for c in calls][:1] == ["order_status"]
    assert "4417" in str(calls[0].arguments["order_id"])
    assert result.succeeded, result.describe_status()
    assert "Bluewing" in result.answer and "3" in result.answer


def test_a_task_file_names_its_mcp_server(llm: LocalLLM, tmp_path: Path) -> None:
    task = tmp_path / "order.yaml"
    task.write_text(
        f"goal: {QUESTION}\n"
        f"mcp:\n  shop: {{command: {sys.executable}, args: ['{FIXTURE}', stdio]}}\n"
        "checks:\n  - {answer_contains: Bluewing}\n"
    )
    outcome = TaskRunner(load_settings(), llm).run(task)
    assert outcome.status == "succeeded", outcome
    assert "Bluewing" in outcome.answer


def test_a_task_whose_mcp_server_does_not_start_stops_before_running(llm: LocalLLM, tmp_path: Path) -> None:
    task = tmp_path / "broken.yaml"
    task.write_text("goal: anything\nmcp:\n  gone: {command: /nonexistent/mcp-server}\n")
    with pytest.raises(MCPServerError, match="gone"):
        TaskRunner(load_settings(), llm).run(task)
    named = tmp_path / "named.yaml"
    named.write_text("goal: anything\nmcp:\n  notconfigured:\n")
    with pytest.raises(Exception, match=r"heron\.toml has no"):
        TaskRunner(load_settings(), llm).run(named)
