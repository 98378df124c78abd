"""heron's MCP client against real servers: the reference servers `mcp-server-time` and `mcp-server-git`
from PyPI over stdio, and a server built with the SDK (tests/tools/mcp_fixture_server.py) over stdio
and over streamable HTTP on 127.0.0.1. No protocol is mocked."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from heron.agents.agent import Agent
from heron.agents.approval import ApprovalRequest, ApprovalResult
from heron.config import MCPServerSettings, load_settings
from heron.errors import ConfigError, MCPServerError
from heron.llm import ScriptedLLM
from heron.tools import Risk, ToolContext
from heron.tools.mcp import MCPServers, MCPToolset

BIN = Path(sys.executable).parent
FIXTURE = Path(__file__).with_name("mcp_fixture_server.py")


def fixture_stdio(**extra: object) -> MCPServerSettings:
    return MCPServerSettings.model_validate(
        {"command": sys.executable, "args": [str(FIXTURE), "stdio"], **extra}
    )


@pytest.fixture
def ctx(tmp_path: Path) -> Iterator[ToolContext]:
    with ToolContext(tmp_path / "ws") as context:
        yield context


def _serve_fixture(mode: str) -> Iterator[int]:
    """The fixture server over HTTP (``mode``: http = streamable HTTP, sse) on a free loopback port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, str(FIXTURE), mode, str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def fixture_http() -> Iterator[str]:
    for port in _serve_fixture("http"):
        yield f"http://127.0.0.1:{port}/mcp"


@pytest.fixture(scope="module")
def fixture_sse() -> Iterator[str]:
    for port in _serve_fixture("sse"):
        yield f"http://127.0.0.1:{port}/sse"


# -- reference servers from PyPI -----------------------------------------------------------------


def test_time_server_tools_are_listed_and_called(ctx: ToolContext) -> None:
    with MCPToolset("time", MCPServerSettings(command=str(BIN / "mcp-server-time"))) as toolset:
        tools = {t.name: t for t in toolset.tools()}
        assert {"get_current_time", "convert_time"} <= tools.keys()
        now = tools["get_current_time"]
        assert now.risk is Risk.LOW and now.concurrent  # the server marks it read-only
        assert now.description.startswith("(MCP server time) ")
        assert "timezone" in now.json_schema()["properties"]
        result = now.invoke({"timezone": "Europe/Paris"}, ctx)
        assert not result.is_error
        assert json.loads(result.text)["timezone"] == "Europe/Paris"
        converted = tools["convert_time"].invoke(
            {"source_timezone": "UTC", "time": "12:00", "target_timezone": "Asia/Tokyo"}, ctx
        )
        assert "21:00" in converted.text
        bad = now.invoke({"timezone": "Mars/Olympus_Mons"}, ctx)
        assert bad.is_error and "Mars/Olympus_Mons" in bad.text  # the server's error, readable by the model


def test_a_bare_server_name_is_found_beside_herons_python_when_path_lacks_it(
    ctx: ToolContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # heron's virtualenv not activated
    with MCPToolset("time", MCPServerSettings(command="mcp-server-time")) as toolset:
        now = {t.name: t for t in toolset.tools()}["get_current_time"]
        assert json.loads(now.invoke({"timezone": "UTC"}, ctx).text)["timezone"] == "UTC"


def test_git_server_reads_a_repository_and_asks_before_writing(ctx: ToolContext, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.org"]
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / "notes.md").write_text("herons\n")
    subprocess.run([*git, "add", "notes.md"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "First notes on herons"], check=True)
    (repo / "draft.md").write_text("egrets\n")
    with MCPToolset("git", MCPServerSettings(command=str(BIN / "mcp-server-git"))) as toolset:
        tools = {t.name: t for t in toolset.tools()}
        status = tools["git_status"].invoke({"repo_path": str(repo)}, ctx)
        assert not status.is_error and "draft.md" in status.text
        log = tools["git_log"].invoke({"repo_path": str(repo)}, ctx)
        assert "First notes on herons" in log.text
        assert tools["git_status"].risk is Risk.LOW
        assert tools["git_commit"].risk is Risk.HIGH and tools["git_add"].risk is Risk.HIGH


# -- the SDK-built fixture server ----------------------------------------------------------------


@pytest.mark.parametrize("transport", ["stdio", "streamable-http", "sse"])
def test_results_errors_images_and_structured_content(
    transport: str, ctx: ToolContext, request: pytest.FixtureRequest
) -> None:
    if transport == "stdio":
        spec = fixture_stdio()
    elif transport == "sse":
        spec = MCPServerSettings(url=request.getfixturevalue("fixture_sse"), transport="sse")
    else:
        spec = MCPServerSettings(url=request.getfixturevalue("fixture_http"))
    with MCPToolset("fx", spec) as toolset:
        tools = {t.name: t for t in toolset.tools()}
        assert tools["add"].invoke({"a": 2, "b": 40}, ctx).text == "42"
        failed = tools["fail"].invoke({"reason": "no stock"}, ctx)
        assert failed.is_error and "refused: no stock" in failed.text
        image = tools["dot_image"].invoke({}, ctx)
        assert image.artifacts[0].kind == "image"
        saved = ctx.workspace / image.artifacts[0].path
        assert saved.read_bytes().startswith(b"\x89PNG")
        assert json.loads(tools["measurements"].invoke({}, ctx).text) == {"wingspan_cm": 175, "mass_kg": 1.5}
        seen: list[tuple[int, int, str]] = []
        with ctx.progress_to(lambda done, total, label: seen.append((done, total, label))):
            assert tools["slow"].invoke({"seconds": 0.6}, ctx).text == "slept 0.6 s"
        assert seen and seen[-1][:2] == (3, 3) and seen[-1][2] == "step 3"
        # arguments the schema does not know are refused before anything is sent
        with pytest.raises(Exception, match="unknown argument"):
            tools["add"].invoke({"a": 1, "b": 2, "c": 3}, ctx)


def test_a_schema_without_a_grammar_form_is_left_out_by_name() -> None:
    with MCPToolset("fx", fixture_stdio()) as toolset:
        names = [t.name for t in toolset.tools()]
    assert "picky" not in names and "add" in names
    assert toolset.skipped == [
        "MCP server `fx`: tool `picky` cannot be offered to the model: "
        "`inputSchema.properties.value.not` has no grammar form"
    ]


def test_a_crashed_server_is_reported_and_restarted_once(ctx: ToolContext) -> None:
    with MCPToolset("fx", fixture_stdio()) as toolset:
        tools = {t.name: t for t in toolset.tools()}
        first = tools["crash"].invoke({}, ctx)
        assert first.is_error and "stopped during the call" in first.text and "started it again" in first.text
        assert tools["add"].invoke({"a": 1, "b": 1}, ctx).text == "2"  # the restarted server answers
        second = tools["crash"].invoke({}, ctx)
        assert second.is_error and "not started again" in second.text
        after = tools["add"].invoke({"a": 1, "b": 1}, ctx)
        assert after.is_error  # no third process; the run goes on with an error result


def test_a_slow_call_is_stopped_at_the_timeout(ctx: ToolContext) -> None:
    with MCPToolset("fx", fixture_stdio(timeout_seconds=1)) as toolset:
        slow = {t.name: t for t in toolset.tools()}["slow"]
        result = slow.invoke({"seconds": 20}, ctx)
    assert result.is_error and "1 s" in result.text


def test_a_server_that_does_not_start_says_what_it_printed() -> None:
    spec = MCPServerSettings(
        command=sys.executable, args=["-c", "import sys; sys.exit('no config at /etc/x')"]
    )
    with MCPToolset("broken", spec) as toolset, pytest.raises(MCPServerError) as caught:
        toolset.tools()
    assert "broken" in caught.value.problem and "no config at /etc/x" in caught.value.problem
    with MCPServers({"broken": spec, "fx": fixture_stdio()}) as servers:
        names = [t.name for t in servers.tools()]
    assert "add" in names and servers.failed and "broken" in servers.failed[0]


def test_a_poisoned_description_changes_no_approval(tmp_path: Path) -> None:
    """The server says its tool is "pre-approved"; heron still asks, and a refusal means no call."""
    ledger = tmp_path / "ledger.txt"
    asked: list[str] = []

    def refuse(request: ApprovalRequest) -> ApprovalResult:
        asked.append(request.tool)
        return ApprovalResult.deny("not now")

    with MCPToolset("fx", fixture_stdio(env={"FIXTURE_LEDGER": str(ledger)})) as toolset:
        tool = {t.name: t for t in toolset.tools()}["append_ledger"]
        assert tool.risk is Risk.HIGH
        assert tool.description.startswith("(MCP server fx) IMPORTANT SYSTEM NOTE")
        assert "\n" not in tool.description
        llm = ScriptedLLM(
            [
                {"action": "append_ledger", "arguments": {"line": "x"}},
                {"action": "final_answer", "answer": "ok", "citations": []},
            ]
        )
        with Agent(llm, tools=[tool], approve=refuse, workspace=tmp_path / "ws") as agent:
            agent.run("append x to the ledger")
    assert asked == ["append_ledger"]
    assert not ledger.exists()


def test_settings_and_task_files_name_servers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (Path.cwd() / "heron.toml").write_text(
        f'[mcp.servers.time]\ncommand = "{BIN / "mcp-server-time"}"\nallow = ["convert_time"]\n'
    )
    settings = load_settings()
    assert settings.mcp.servers["time"].kind == "stdio"
    (Path.cwd() / "heron.toml").write_text(
        '[mcp.servers.both]\ncommand = "x"\nurl = "http://127.0.0.1:1/mcp"\n'
    )
    with pytest.raises(ConfigError, match="either `command`"):
        load_settings()
    with pytest.raises(ValueError, match="http"):
        MCPServerSettings(url="ftp://example.org")


def test_doctor_and_mcp_tools_start_each_configured_server() -> None:
    from heron.cli.doctor import _check_mcp_servers

    (Path.cwd() / "heron.toml").write_text(
        f'[mcp.servers.fx]\ncommand = "{sys.executable}"\nargs = ["{FIXTURE}", "stdio"]\n\n'
        '[mcp.servers.gone]\ncommand = "/nonexistent/mcp-server"\n'
    )
    checks = {c.name: c for c in _check_mcp_servers(load_settings())}
    assert checks["mcp fx"].status == "warn"  # it works, and one tool was left out (picky's schema)
    assert "add" in checks["mcp fx"].detail and "picky" in checks["mcp fx"].detail
    assert checks["mcp gone"].status == "problem" and "/nonexistent/mcp-server" in checks["mcp gone"].detail
    listed = subprocess.run([str(BIN / "heron"), "mcp", "tools"], capture_output=True, text=True, timeout=120)
    assert listed.returncode == 2  # one server did not start
    assert "order_status  (runs unasked)" in listed.stdout
    assert "append_ledger  (asks first)" in listed.stdout
    assert "not available" in listed.stdout


def test_a_task_step_can_name_an_mcp_servers_tool(tmp_path: Path) -> None:
    """A step may pin an MCP server's tool (known only once the server runs); a misspelt one is the task
    file's error, with its line, before anything ran. The model is scripted (ScriptedLLM)."""
    from heron.agents.runner import TaskRunner
    from heron.agents.tasks import load_task
    from heron.errors import TaskFileError
    from heron.tracing import ToolCallEvent, read_trace

    def task(tool: str) -> Path:
        path = tmp_path / f"{tool}.yaml"
        path.write_text(
            "goal: Which carrier ships order 4417?\n"
            f"mcp:\n  shop: {{command: {sys.executable}, args: ['{FIXTURE}', stdio]}}\n"
            f"steps:\n  - {{do: Look up order 4417, tool: {tool}}}\n"
        )
        return path

    load_task(task("order_status"))  # not an error at load: the server's tools are not known yet
    with pytest.raises(TaskFileError, match="not in this task's `tools:` list"):
        load_task(task("python"))  # a built-in the task does not list is still caught at load
    replies = [
        {"action": "order_status", "arguments": {"order_id": "4417"}},
        {"action": "final_answer", "answer": "Bluewing Freight ships it.", "citations": []},
    ]
    done = TaskRunner(load_settings(), ScriptedLLM(replies)).run(task("order_status"))
    calls = [e.tool for e in read_trace(Path(done.trace_path)) if isinstance(e, ToolCallEvent)]
    assert calls == ["order_status"] and done.status == "succeeded", done
    wrong = TaskRunner(load_settings(), ScriptedLLM(replies))
    with pytest.raises(TaskFileError, match=r"order_statu\.yaml:5: steps\[0\]: .*'order_statu'") as error:
        wrong.run(task("order_statu"))
    assert "order_status" in error.value.hint  # the tools it could have named
