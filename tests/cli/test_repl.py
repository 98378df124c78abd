"""`heron chat` driven through a pseudo-terminal (pexpect), as a person would use it.

Most tests script the model's replies (``tests/cli/scripted_chat.py`` runs ``heron chat`` with a
scripted fake model) so the REPL's own
behaviour is what is tested: approvals, slash commands, Ctrl-C, errors, Ctrl-D, history. The tests
marked ``model`` run the real bundled GGUF through llama.cpp.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pexpect
import pytest

from heron.bundled import bundled_gguf_path
from heron.cli.repl_input import history_path
from heron.tracing import read_trace
from tests.stub_server import stub_server

HERON = str(Path(sys.executable).with_name("heron"))
SCRIPTED_CHAT = str(Path(__file__).with_name("scripted_chat.py"))  # heron chat, a scripted model
PROMPT = "heron>"
# Terminal control sequences (colours, cursor moves) and carriage returns, removed before matching.
_CONTROL = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[()][0-9A-B]|\x1b[=>]|\r")
ALT_ENTER = "\x1b\r"
UP = "\x1b[A"


class ChatTerminal:
    """``heron chat`` in a pseudo-terminal; ``expect`` waits for text in the output, escapes removed."""

    def __init__(
        self,
        args: list[str],
        env: dict[str, str],
        timeout: float,
        sigint_ignored: bool = False,
        replies: Path | None = None,
    ) -> None:
        # sigint_ignored: started the way a shell without job control starts a background command
        ignore = (lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if sigint_ignored else None
        program, argv = (
            (sys.executable, [SCRIPTED_CHAT, str(replies), *args]) if replies else (HERON, ["chat", *args])
        )
        self.child = pexpect.spawn(
            program, argv, env=env, encoding="utf-8", dimensions=(50, 200), preexec_fn=ignore
        )
        self.timeout = timeout
        self.output = ""
        self._seen = 0

    def expect(self, text: str, timeout: float | None = None) -> None:
        """Wait until ``text`` appears after what earlier calls matched."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while (found := self.output.find(text, self._seen)) < 0:
            if time.monotonic() > deadline or not self.child.isalive():
                self._read(0.2)
                if self.output.find(text, self._seen) >= 0:
                    continue
                raise AssertionError(f"{text!r} did not appear; output after the last match:\n{self.unread}")
            self._read(0.2)
        self._seen = found + len(text)

    def ask(self, line: str, until: str, timeout: float | None = None) -> None:
        """Send a line, wait for ``until`` in the reply and then for the next prompt."""
        self.child.sendline(line)
        self.expect(until, timeout)
        self.expect(PROMPT, timeout)

    def exit_code(self) -> int:
        """Wait for the process to end (keeping its last output); its exit status."""
        self.child.expect(pexpect.EOF, timeout=self.timeout)
        self.output += _CONTROL.sub("", self.child.before or "")
        self.child.close()
        assert self.child.exitstatus is not None, f"killed by signal {self.child.signalstatus}"
        return int(self.child.exitstatus)

    @property
    def unread(self) -> str:
        return self.output[self._seen :]

    def _read(self, wait: float) -> None:
        try:
            self.output += _CONTROL.sub("", self.child.read_nonblocking(65536, timeout=wait))
        except pexpect.TIMEOUT:
            pass
        except pexpect.EOF:
            time.sleep(wait)

    def close(self) -> None:
        if self.child.isalive():
            self.child.terminate(force=True)


@pytest.fixture
def chat(tmp_path: Path):
    """Start ``heron chat ARGS`` with optional scripted model replies; every terminal is closed after."""
    terminals: list[ChatTerminal] = []

    def start(
        *args: str,
        replies: list[Any] | None = None,
        timeout: float = 30,
        sigint_ignored: bool = False,
        **env: str,
    ) -> ChatTerminal:
        environment = {**os.environ, "PROMPT_TOOLKIT_NO_CPR": "1", "NO_COLOR": "1", "TERM": "xterm", **env}
        script = None
        if replies is not None:
            script = tmp_path / f"replies-{len(terminals)}.json"
            script.write_text(json.dumps(replies), encoding="utf-8")
        terminal = ChatTerminal(list(args), environment, timeout, sigint_ignored, script)
        terminals.append(terminal)
        terminal.expect(PROMPT, timeout=max(timeout, 60))
        return terminal

    yield start
    for terminal in terminals:
        terminal.close()


def data_dir() -> Path:
    return Path(os.environ["HERON_DATA_DIR"])


def run_statuses() -> list[str]:
    """How every run recorded in this test's traces ended, in order."""
    statuses = []
    for path in sorted((data_dir() / "traces").glob("*.jsonl")):
        statuses += [e.status for e in read_trace(path) if e.type == "run_finished"]
    return statuses


def calc_call(expression: str) -> dict[str, Any]:
    return {"action": "calculator", "arguments": {"expression": expression}}


def write_call(path: str, content: str) -> dict[str, Any]:
    return {"action": "write_file", "arguments": {"path": path, "content": content}}


def answer(text: str) -> dict[str, Any]:
    return {"action": "final_answer", "answer": text, "citations": []}


def test_risky_tool_call_is_approved_denied_or_edited_by_the_user(chat) -> None:
    term = chat(
        "--no-memory",
        replies=[
            write_call("approved.txt", "approved text"),
            answer("Saved the note."),
            write_call("denied.txt", "never written"),
            answer("The user said no."),
            write_call("edited.txt", "old text"),
            answer("Saved the edited note."),
            write_call("interrupted.txt", "never written either"),
        ],
    )
    workspace = data_dir() / "workspace"

    term.child.sendline("save a note")
    term.expect('call write_file({"path": "approved.txt", "content": "approved text"})')
    term.expect("approve? [y]es / [n]o / [e]dit arguments")
    term.child.sendline("y")
    term.expect("approval write_file: approved")
    term.expect("result created approved.txt")
    term.expect("Saved the note.")
    term.expect(PROMPT)
    assert (workspace / "approved.txt").read_text() == "approved text"

    term.child.sendline("save another")
    term.expect("approve? [y]es / [n]o / [e]dit arguments")
    term.child.sendline("n")
    term.expect("approval write_file: denied (denied by the user)")
    term.expect("The user said no.")
    term.expect(PROMPT)
    assert not (workspace / "denied.txt").exists()

    term.child.sendline("save a third")
    term.expect("approve? [y]es / [n]o / [e]dit arguments")
    term.child.sendline("e")
    term.expect("new arguments (JSON object)")
    term.child.send("\x15")  # Ctrl-U clears the pre-filled arguments
    term.child.sendline(json.dumps({"path": "edited.txt", "content": "edited by the user"}))
    term.expect("approval write_file: edited")
    term.expect("Saved the edited note.")
    term.expect(PROMPT)
    assert (workspace / "edited.txt").read_text() == "edited by the user"

    # Ctrl-C at the approval prompt refuses the call and stops the question
    term.child.sendline("save a fourth")
    term.expect("approve? [y]es / [n]o / [e]dit arguments")
    term.child.sendintr()
    term.expect("stopped. The question was dropped from the conversation.")
    term.expect(PROMPT)
    assert not (workspace / "interrupted.txt").exists()
    assert run_statuses() == ["succeeded", "succeeded", "succeeded", "cancelled"]


def test_the_status_line_says_how_many_tool_calls_failed(chat) -> None:
    term = chat("--no-memory", replies=[calc_call("2 +* 3"), answer("It is 5.")])
    term.child.sendline("what is 2 plus 3?")
    term.expect("It is 5.")
    term.expect("tokens generated; 1 failed call)")
    term.expect(PROMPT)


def test_each_slash_command_without_memory(chat) -> None:
    term = chat("--no-memory", replies=[answer("First answer."), answer("After the reset.")])

    term.ask("/help", "/exit")
    for usage in ("/help", "/tools", "/ingest PATH", "/memory [QUERY]", "/trace", "/model [NAME]", "/reset"):
        assert usage in term.output
    assert "/trace [all|full]" in term.output  # brackets are text, not rich markup
    term.ask("/tools", "list_files")
    assert re.search(r"python\s+high: asks first", term.output)
    assert re.search(r"calculator\s+low", term.output)
    term.ask("/model", "model: scripted-test-llm")
    term.ask("/model /no/such/model.gguf", "error: model '/no/such/model.gguf' is neither a known model")
    term.ask("/memory", "memory is off")
    term.ask("/ingest notes.md", "memory is off")
    term.ask("/trace", "no run yet in this session")
    term.ask("/frobnicate", "unknown command /frobnicate")

    term.ask("what now?", "First answer.")
    term.ask("/trace", "finished succeeded")
    assert "answer: First answer." in term.output  # a line of the trace, not of the live view
    term.ask("/reset", "conversation cleared")
    term.ask("and now?", "After the reset.")
    # after /reset the question starts a new conversation, recorded as a new trace
    assert len(list((data_dir() / "traces").glob("*.jsonl"))) == 2

    term.child.sendline("/exit")
    assert term.exit_code() == 0
    assert "bye" in term.output


def test_the_banner_says_memory_is_unused_in_plain_chat(chat) -> None:
    agent = chat(replies=[])
    assert "memory: on (collection heron)" in agent.output
    plain = chat("--no-tools", replies=[])  # no retrieve or remember tool: nothing reads memory
    assert "tools: none (plain chat, replies stream); memory: unused without tools" in plain.output
    assert "memory: on" not in plain.output


def test_ingest_and_memory_commands_use_real_vector_memory(chat, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "herons.md").write_text(
        "# Herons\n\nThe grey heron hunts fish in shallow water and nests in colonies called heronries.\n"
    )
    source = str(docs / "herons.md")
    term = chat(
        replies=[
            {"action": "retrieve", "arguments": {"query": "where do herons nest"}},
            {"action": "final_answer", "answer": "In heronries.", "citations": [source]},
        ]
    )

    term.ask("/memory", "0 chunks from 0 sources")
    term.ask(f"/ingest {docs}", "ingested: 1 added", timeout=120)
    term.ask("/memory", "1 chunks from 1 sources")
    assert source in term.output
    term.ask("/memory where do herons nest?", "colonies called heronries")
    term.ask("/ingest /no/such/folder", "error: path not found: /no/such/folder")

    # the agent's retrieve tool reads the same memory; passages and sources show as they arrive
    term.child.sendline("where do herons nest?")
    term.expect('call retrieve({"query": "where do herons nest"})')
    term.expect("colonies called heronries")
    term.expect('retrieved 1 passages for "where do herons nest"')
    term.expect("heron: In heronries.")
    term.expect("sources:")
    term.expect(source)
    term.expect(PROMPT)
    # /memory shows a passage by the id retrieve shows and cites
    ids = re.findall(r"\[([a-p]{8})\]", term.output)
    assert ids and len(set(ids)) == 1, ids


@pytest.mark.parametrize("sigint_ignored", [False, True], ids=["plain", "started-with-sigint-ignored"])
def test_ctrl_c_stops_the_running_question_and_the_next_one_is_answered(chat, sigint_ignored: bool) -> None:
    # The model is slow to pick a risky call (pre-approved by --yes); Ctrl-C arrives meanwhile.
    # Started from a shell without job control (`heron chat &` in a script), the process inherits an
    # ignored SIGINT; the chat takes Ctrl-C back all the same.
    slow_call = {"$sleep": 3, "reply": write_call("too-late.txt", "must not be written")}
    term = chat(
        "--no-memory",
        "--yes",
        replies=[slow_call, answer("Answered after the stop.")],
        sigint_ignored=sigint_ignored,
    )

    term.child.sendline("write something slowly")
    term.expect("thinking")
    term.child.sendintr()
    term.expect("stopping...")
    term.expect("stopped. The question was dropped from the conversation.")
    term.expect(PROMPT)
    term.ask("are you still there?", "Answered after the stop.")

    # the stop was real: the tool call the model chose was never run
    assert not (data_dir() / "workspace" / "too-late.txt").exists()
    assert run_statuses() == ["cancelled", "succeeded"]


def test_tool_and_model_errors_are_shown_and_the_session_goes_on(chat) -> None:
    term = chat(
        "--no-memory",
        replies=[
            {"action": "calculator", "arguments": {"expression": "1/0"}},
            answer("Division by zero is undefined."),
            {"$raise": "the model crashed"},
            answer("Still here."),
        ],
    )
    term.child.sendline("divide one by zero")
    term.expect('call calculator({"expression": "1/0"})')
    term.expect("error cannot evaluate `1/0`: division by zero")
    term.expect("Division by zero is undefined.")
    term.expect(PROMPT)

    term.ask("crash please", "unexpected error (RuntimeError): the model crashed")
    assert "the session goes on" in term.output
    term.ask("are you alive?", "Still here.")
    assert run_statuses() == ["succeeded", "error", "succeeded"]


def test_multiline_input_history_across_sessions_and_ctrl_d(chat) -> None:
    term = chat("--no-memory", replies=[answer("Got two lines."), answer("Got two more.")])
    term.child.send("first line\\\r")  # a trailing backslash continues the message
    term.child.send("second line\r")
    term.expect("Got two lines.")
    term.expect(PROMPT)
    term.child.send("third line" + ALT_ENTER + "fourth line\r")
    term.expect("Got two more.")
    term.expect(PROMPT)
    term.ask("/model", "model: scripted-test-llm")
    term.child.sendeof()  # Ctrl-D
    assert term.exit_code() == 0

    goals = [
        e.goal
        for p in (data_dir() / "traces").glob("*.jsonl")
        for e in read_trace(p)
        if e.type == "run_started"
    ]
    assert goals == ["first line\nsecond line", "third line\nfourth line"]

    # a new session finds the earlier input in its history: Up recalls the last line
    term = chat("--no-memory", replies=[])
    term.child.send(UP + "\r")
    term.expect("model: scripted-test-llm")
    term.expect(PROMPT)
    history = history_path(data_dir()).read_text()
    assert "+first line\n+second line" in history and "+/model" in history
    term.child.sendeof()
    assert term.exit_code() == 0


@pytest.mark.model
def test_real_model_reply_streams_ctrl_c_stops_it_and_model_switches(chat) -> None:
    gguf = bundled_gguf_path()
    assert gguf is not None
    term = chat("--no-tools", "--no-memory", timeout=180)
    assert f"model local:{gguf.name}" in term.output

    term.child.sendline("Write a long story about a heron who learns to fish.")
    term.expect("heron: ")
    term.expect(" ")  # a first piece of the streamed reply has arrived
    term.child.sendintr()
    term.expect("stopped. The question was dropped from the conversation.")
    term.expect(PROMPT)

    # /model loads the GGUF afresh; the next question is answered by the new instance
    term.ask(f"/model {gguf}", f"model: local:{gguf.name} (the conversation is kept)")
    term.ask("Say hello.", "(succeeded in")
    term.child.sendeof()
    assert term.exit_code() == 0
    assert run_statuses() == ["cancelled", "succeeded"]


def test_model_switches_the_served_model_when_the_backend_is_a_server(chat) -> None:
    with stub_server(["served-a", "served-b"]) as server:
        term = chat("--no-memory", replies=[], HERON_LLM_BASE_URL=server.url)
        term.ask("/model", "a model name the server offers")
        # not a local file: the served model changes, nothing is loaded from disk
        term.ask("/model served-b", f"model: http:{server.url}#served-b (the conversation is kept)")


def test_the_risky_calls_of_one_turn_are_approved_together_all_or_each(chat) -> None:
    term = chat(
        "--no-memory",
        replies=[
            [write_call("one.txt", "first"), write_call("two.txt", "second")],
            answer("Saved both."),
            [write_call("three.txt", "third"), write_call("four.txt", "fourth")],
            answer("Saved one of them."),
        ],
    )
    workspace = data_dir() / "workspace"

    term.child.sendline("save two notes")
    term.expect("approval needed: 2 calls of one turn want to run")
    term.expect("approve? [a]ll / [e]ach in turn / [n]one")
    term.child.sendline("a")
    term.expect("Saved both.")
    term.expect(PROMPT)
    assert (workspace / "one.txt").read_text() == "first" and (workspace / "two.txt").read_text() == "second"

    term.child.sendline("save two more")
    term.expect("approve? [a]ll / [e]ach in turn / [n]one")
    term.child.sendline("e")
    term.expect("approve? [y]es / [n]o / [e]dit arguments")
    term.child.sendline("y")
    term.expect("approve? [y]es / [n]o / [e]dit arguments")
    term.child.sendline("n")
    term.expect("Saved one of them.")
    term.expect(PROMPT)
    assert (workspace / "three.txt").exists() and not (workspace / "four.txt").exists()


def test_configured_mcp_servers_tools_are_offered_and_a_broken_one_is_only_noted(chat) -> None:
    fixture = Path(__file__).resolve().parent.parent / "tools" / "mcp_fixture_server.py"
    Path("heron.toml").write_text(
        f'[mcp.servers.fx]\ncommand = "{sys.executable}"\nargs = ["{fixture}", "stdio"]\n\n'
        '[mcp.servers.gone]\ncommand = "/nonexistent/mcp-server"\n'
    )
    term = chat(
        "--no-memory", replies=[{"action": "add", "arguments": {"a": 20, "b": 22}}, answer("It is 42.")]
    )
    term.ask("/tools", "order_status")
    assert re.search(r"add\s+low\s+\(MCP server fx\) Add two integers", term.output)
    assert re.search(r"append_ledger\s+high: asks first", term.output)
    assert "MCP: MCP server `gone`" in term.output  # said once, the session goes on
    term.ask("what is 20 + 22?", "It is 42.")
    term.child.sendline("/exit")
    assert term.exit_code() == 0


def piped_chat(
    tmp_path: Path, replies: list[Any], lines: str, workspace: Path
) -> subprocess.CompletedProcess[str]:
    """``heron chat --no-memory --workspace WORKSPACE`` with a scripted model and ``lines`` on its
    standard input (a pipe, not a terminal)."""
    script = tmp_path / "replies.json"
    script.write_text(json.dumps(replies), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, SCRIPTED_CHAT, str(script), "--no-memory", "--workspace", str(workspace)],
        input=lines,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200"},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done


def test_questions_piped_in_are_answered_one_per_line_with_approvals_read_from_the_next(
    tmp_path: Path,
) -> None:
    """`heron chat < file`: each line is a message, echoed after the prompt; an approval takes the
    next line; the tools work in the folder --workspace names, which the banner shows (with how input
    is read, not the keys of a terminal)."""
    replies = [calc_call("6*7"), answer("It is 42."), write_call("note.txt", "hello"), answer("Saved it.")]
    folder = tmp_path / "my-folder"
    folder.mkdir()
    done = piped_chat(tmp_path, replies, "What is 6 * 7?\n/tools\nsave a note\\\nplease\ny\n", folder)
    out = done.stdout
    assert f"workspace (files the tools read and write): {folder.resolve()}" in out
    assert "reading standard input: each line is a message" in out and "Alt-Enter" not in out
    assert "heron> What is 6 * 7?" in out and out.count("It is 42.") == 1
    assert "heron> /tools" in out and "calculator" in out
    assert "heron> save a note\n...... please" in out  # a trailing backslash goes on with the next line
    assert "approve? [y]es / [n]o / [e]dit arguments: y" in out and "Saved it." in out
    assert (folder / "note.txt").read_text() == "hello"
    assert out.rstrip().endswith("bye") and "not a terminal" not in done.stderr


def test_a_piped_line_that_is_no_approval_reply_refuses_the_call_and_is_the_next_message(
    tmp_path: Path,
) -> None:
    replies = [write_call("note.txt", "hello"), answer("Not saved."), calc_call("6*7"), answer("42.")]
    out = piped_chat(tmp_path, replies, "save a note\nWhat is 6 * 7?\n", tmp_path / "w").stdout
    assert "'What is 6 * 7?' is no reply to the approval" in out and "Not saved." in out
    assert "heron> What is 6 * 7?" in out and "42." in out
    assert not (tmp_path / "w" / "note.txt").exists()


def test_edited_arguments_that_are_not_json_are_asked_for_again(tmp_path: Path) -> None:
    """A mistyped edit asks for the arguments again; it does not fall back to the approval question,
    which would take the corrected arguments for a wrong reply and refuse the call."""
    replies = [write_call("note.txt", "hello"), answer("Saved the edited note.")]
    edited = json.dumps({"path": "edited.txt", "content": "edited by me"})
    out = piped_chat(
        tmp_path, replies, f"save a note\ne\nnot json at all\n[1]\n{edited}\n", tmp_path / "w"
    ).stdout
    assert "not JSON" in out and "need a JSON object" in out and "is no reply to the approval" not in out
    assert out.count("new arguments (JSON object): ") == 3 and "approval write_file: edited" in out
    assert (tmp_path / "w" / "edited.txt").read_text() == "edited by me"


def test_an_answer_that_is_no_answer_is_marked_below_it_not_answered_twice(tmp_path: Path) -> None:
    """The model's text is shown as it is written; when heron then finds it is no answer (it repeats
    heron's own messages), the verdict says so of the text above instead of a second `heron:` reply."""
    echo = "The user did not approve this call. Choose another action or finish with final_answer."
    replies = [write_call("note.txt", "hello"), answer(echo)]
    out = piped_chat(tmp_path, replies, "save a note\nn\n", tmp_path / "w").stdout
    assert out.count("heron:") == 1 and f"heron: {echo}" in out
    assert "(the text above is no answer: the model only repeated heron's instructions)" in out
