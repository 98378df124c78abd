"""`heron serve` with a scripted model (orchestration: the API shapes, the queue, approvals, the runs
API, the security checks). The real model and the browser are in test_serve_capable.py."""

from __future__ import annotations

import itertools
import json
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from openai import APIError, APIStatusError, BadRequestError, OpenAI

from heron.agents.serve import create_app
from heron.cli import EXIT_OK, main
from heron.config import Settings
from heron.errors import UsageError
from heron.llm.fake import ScriptedLLM
from tests.agents.serve_helpers import served


def call(tool: str, **arguments: object) -> dict:
    return {"action": tool, "arguments": arguments}


def answer(text: str) -> dict:
    return {"action": "final_answer", "answer": text, "citations": []}


def profile_settings(settings: Settings, **profile: Any) -> Settings:
    spec = {"tools": ["calculator", "python"], **profile}
    return settings.model_copy(update={"serve": Settings(serve={"profiles": {"calc": spec}}).serve})


def test_the_openai_client_gets_an_answer_with_the_tool_calls_in_the_extension_field(
    settings: Settings,
) -> None:
    llm = ScriptedLLM([call("calculator", expression="17*23"), answer("17*23 is 391.")])
    with served(create_app(profile_settings(settings), llm=llm)) as url:
        client = OpenAI(base_url=f"{url}/v1", api_key="unused")
        assert [m.id for m in client.models.list()] == ["calc"]
        reply = client.chat.completions.create(
            model="calc", messages=[{"role": "user", "content": "What is 17*23?"}]
        )
    assert reply.choices[0].message.content == "17*23 is 391."
    assert reply.choices[0].finish_reason == "stop"
    heron = reply.model_extra["heron"]
    assert heron["status"] == "succeeded" and (heron["failed_calls"], heron["denied_calls"]) == (0, 0)
    call_event, result_event = heron["events"]
    assert (call_event["tool"], call_event["arguments"]) == ("calculator", {"expression": "17*23"})
    assert result_event["text"] == "391"
    # usage is the run's: the scripted model counts words of the two turns it wrote
    assert reply.usage.completion_tokens == sum(len(json.dumps(r).split()) for r in llm_replies_written(llm))
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens > 0


def test_an_answer_cut_at_its_length_limit_finishes_with_length(settings: Settings) -> None:
    cut = "v" * 995  # within 10 characters of the default answer_chars (1000): the grammar ended it
    llm = ScriptedLLM([call("calculator", expression="1+1"), answer(cut)])
    with served(create_app(profile_settings(settings), llm=llm)) as url:
        client = OpenAI(base_url=f"{url}/v1", api_key="unused")
        reply = client.chat.completions.create(model="calc", messages=[{"role": "user", "content": "Go on."}])
    assert reply.choices[0].message.content == cut and reply.choices[0].finish_reason == "length"
    assert reply.model_extra["heron"]["answer_cut"] is True


def llm_replies_written(llm: ScriptedLLM) -> list[Any]:
    return [call("calculator", expression="17*23"), answer("17*23 is 391.")][: len(llm.calls)]


def test_a_streamed_answer_arrives_as_chunks_with_events_and_usage_last(settings: Settings) -> None:
    llm = ScriptedLLM([call("calculator", expression="2+2"), answer("The sum is 4.")])
    with served(create_app(profile_settings(settings), llm=llm)) as url:
        client = OpenAI(base_url=f"{url}/v1", api_key="unused")
        chunks = list(
            client.chat.completions.create(
                model="calc", messages=[{"role": "user", "content": "2+2?"}], stream=True
            )
        )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "The sum is 4."
    kinds = [(c.model_extra.get("heron") or {}).get("event", {}).get("type") for c in chunks]
    assert kinds.index("tool_call") < kinds.index("tool_result")
    last = chunks[-1]
    assert last.choices[0].finish_reason == "stop"
    assert last.usage is not None and last.usage.completion_tokens > 0
    assert last.model_extra["heron"]["status"] == "succeeded"


def test_earlier_turns_and_system_messages_reach_the_model(settings: Settings) -> None:
    llm = ScriptedLLM([answer("Your name is Ada.")])
    with served(create_app(profile_settings(settings), llm=llm)) as url:
        OpenAI(base_url=f"{url}/v1", api_key="unused").chat.completions.create(
            model="calc",
            messages=[
                {"role": "system", "content": "Answer in one sentence."},
                {"role": "user", "content": "My name is Ada."},
                {"role": "assistant", "content": "Hello Ada."},
                {"role": "user", "content": "What is my name?"},
            ],
        )
    sent = llm.calls[0].messages
    assert "Answer in one sentence." in sent[0].content  # the system prompt, with the instructions
    assert [(m.role, m.content) for m in sent[1:]] == [
        ("user", "My name is Ada."),
        ("assistant", "Hello Ada."),
        ("user", "What is my name?"),
    ]


def test_a_figure_an_earlier_answer_gave_is_not_called_the_model_s_own(settings: Settings) -> None:
    """A client sends earlier turns as text (their tool results stay with the server): a figure the
    last answer repeats from an earlier answer is not flagged; one nothing shows is."""
    llm = ScriptedLLM([answer("It is 151.67 cm, or 59.71 inches.")])
    with served(create_app(profile_settings(settings), llm=llm)) as url:
        reply = httpx.post(
            f"{url}/v1/chat/completions",
            json={
                "model": "calc",
                "messages": [
                    {"role": "user", "content": "What is the mean wingspan?"},
                    {"role": "assistant", "content": "The mean wingspan is 151.67 cm."},
                    {"role": "user", "content": "And in inches?"},
                ],
            },
            timeout=60,
        ).json()
    assert reply["heron"]["unsourced_numbers"] == ["59.71"]


def test_requests_for_one_model_take_turns_and_never_mix(settings: Settings) -> None:
    """Four runs of two turns each (a calculator call, then the answer), sent at once: every run's
    turns come in one block (a run holds the model from its first turn to its last)."""
    order: list[str] = []
    guard = threading.Lock()

    def turn(recorded: Any) -> dict:
        goal = recorded.messages[1].content  # the request (no history here)
        with guard:
            order.append(goal)
        time.sleep(0.1)  # long enough for another request to slip in if nothing held the model
        if len(recorded.messages) > 2:  # the call was made: its result follows the request
            return answer(f"answer to {goal}")
        return call("calculator", expression="1+1")

    llm = ScriptedLLM([turn] * 8)
    questions = [f"Q{i}" for i in range(4)]
    answers: dict[str, str] = {}
    with served(create_app(profile_settings(settings), llm=llm)) as url:

        def ask(question: str) -> None:
            reply = httpx.post(
                f"{url}/v1/chat/completions",
                json={"model": "calc", "messages": [{"role": "user", "content": question}]},
                timeout=30,
            )
            answers[question] = reply.json()["choices"][0]["message"]["content"]

        threads = [threading.Thread(target=ask, args=(q,)) for q in questions]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert answers == {q: f"answer to {q}" for q in questions}
    blocks = [goal for goal, _ in itertools.groupby(order)]
    assert sorted(blocks) == questions, order  # each request's two turns are adjacent


def test_a_client_that_leaves_mid_stream_cancels_its_run_and_frees_the_model(settings: Settings) -> None:
    release = threading.Event()

    def stalls(recorded: Any) -> dict:
        options = recorded.options
        options.on_text('{"action": "final_answer", "answer": "Thinking')  # a first token reaches the client
        release.wait(10)  # ... which leaves; the run learns it at its next token
        options.on_text(" more")
        return answer("never seen")

    llm = ScriptedLLM([stalls, answer("second")])
    with served(create_app(profile_settings(settings), llm=llm)) as url:
        with httpx.stream(
            "POST",
            f"{url}/v1/chat/completions",
            json={"model": "calc", "stream": True, "messages": [{"role": "user", "content": "slow"}]},
            timeout=30,
        ) as response:
            for line in response.iter_lines():
                if '"run_id"' in line:
                    run_id = json.loads(line[6:])["heron"]["run_id"]
                if "Thinking" in line:
                    break
        deadline = time.monotonic() + 10
        while not httpx.get(f"{url}/api/runs/{run_id}").json()["cancel_requested"]:
            assert time.monotonic() < deadline, "the server did not notice the client leaving"
            time.sleep(0.05)
        release.set()
        reply = httpx.post(
            f"{url}/v1/chat/completions",
            json={"model": "calc", "messages": [{"role": "user", "content": "next"}]},
            timeout=30,
        )
        runs = httpx.get(f"{url}/api/runs").json()
    assert reply.json()["choices"][0]["message"]["content"] == "second"
    assert {r["goal"]: r["status"] for r in runs} == {"slow": "cancelled", "next": "succeeded"}


def test_a_client_that_gives_up_on_a_reply_cancels_its_run(settings: Settings) -> None:
    release = threading.Event()

    def stalls(recorded: Any) -> dict:
        release.wait(10)  # the client gives up meanwhile; the run learns it at its next token
        recorded.options.on_text('{"action": "final_answer", "answer": "late')
        return answer("never seen")

    llm = ScriptedLLM([stalls, answer("second")])
    with served(create_app(profile_settings(settings), llm=llm)) as url:
        body = {"model": "calc", "messages": [{"role": "user", "content": "slow"}]}
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(f"{url}/v1/chat/completions", json=body, timeout=1)
        (run,) = httpx.get(f"{url}/api/runs").json()
        deadline = time.monotonic() + 10
        while not httpx.get(f"{url}/api/runs/{run['id']}").json()["cancel_requested"]:
            assert time.monotonic() < deadline, "the server did not notice the client leaving"
            time.sleep(0.05)
        release.set()
        body["messages"][0]["content"] = "next"
        reply = httpx.post(f"{url}/v1/chat/completions", json=body, timeout=30)
        runs = httpx.get(f"{url}/api/runs").json()
        cancelled = httpx.get(f"{url}/api/runs/{run['id']}").json()
        # cancelled in its first turn, before any checkpoint: nothing to resume, and the API says so
        assert cancelled["resumable"] is False
        assert httpx.post(f"{url}/api/runs/{run['id']}/resume").status_code == 409
    assert reply.json()["choices"][0]["message"]["content"] == "second"
    assert {r["goal"]: r["status"] for r in runs} == {"slow": "cancelled", "next": "succeeded"}


def test_a_risky_call_waits_for_the_decision_made_through_the_runs_api(settings: Settings) -> None:
    llm = ScriptedLLM([call("python", code="print(6 * 7)"), answer("It printed 42.")])
    with served(create_app(profile_settings(settings), llm=llm)) as url:
        seen: list[dict] = []
        with httpx.stream(
            "POST",
            f"{url}/v1/chat/completions",
            json={
                "model": "calc",
                "stream": True,
                "heron": {"ask": True},
                "messages": [{"role": "user", "content": "Use python for 6*7"}],
            },
            timeout=120,
        ) as response:
            for line in response.iter_lines():
                if not line.startswith("data: {"):
                    continue
                chunk = json.loads(line[6:])
                event = (chunk.get("heron") or {}).get("event") or {}
                seen.append(event)
                if event.get("type") == "approval_needed":
                    run = httpx.get(f"{url}/api/runs/{event['run_id']}").json()
                    assert run["pending_approvals"][0]["tool"] == "python"
                    decided = httpx.post(
                        f"{url}/api/runs/{event['run_id']}/approvals/{event['approval_id']}",
                        json={"decision": "approve"},
                    )
                    assert decided.status_code == 200
    result = next(e for e in seen if e.get("type") == "tool_result")
    assert result["text"].split() == ["[stdout]", "42"]  # ran in the sandbox after the approval
    assert [e["decision"] for e in seen if e.get("type") == "approval"] == ["approved"]


def test_without_asking_a_risky_call_the_profile_does_not_allow_is_denied(settings: Settings) -> None:
    llm = ScriptedLLM([call("python", code="print(1)"), answer("I could not run it.")])
    with served(create_app(profile_settings(settings), llm=llm)) as url:
        reply = httpx.post(
            f"{url}/v1/chat/completions",
            json={"model": "calc", "messages": [{"role": "user", "content": "run it"}]},
            timeout=30,
        ).json()
    approval = next(e for e in reply["heron"]["events"] if e["type"] == "approval")
    assert approval["decision"] == "denied" and "did not ask for approvals" in approval["reason"]


def test_the_runs_api_lists_a_served_run_with_its_events_and_resumes_an_interrupted_one(
    settings: Settings,
) -> None:
    llm = ScriptedLLM([call("calculator", expression="6*7"), RuntimeError("the model crashed"), answer("42")])
    with served(create_app(profile_settings(settings), llm=llm)) as url:
        failed = httpx.post(
            f"{url}/v1/chat/completions",
            json={"model": "calc", "messages": [{"role": "user", "content": "6*7?"}]},
            timeout=30,
        )
        assert failed.status_code == 500 and "the model crashed" in failed.json()["error"]["message"]
        runs = httpx.get(f"{url}/api/runs").json()
        run_id = runs[0]["id"]
        assert runs[0]["status"] == "error" and runs[0]["kind"] == "api"
        run = httpx.get(f"{url}/api/runs/{run_id}").json()
        assert [e["type"] for e in run["events"]][:3] == ["run_started", "model_turn", "tool_call"]
        assert run["resumable"]
        assert httpx.post(f"{url}/api/runs/{run_id}/resume").status_code == 200
        lines = httpx.get(f"{url}/api/runs/{run_id}/events").text.split("\n\n")
        events = [json.loads(frame[6:]) for frame in lines if frame.startswith("data: ")]
        assert lines[-2].startswith("event: end")
        assert events[-1]["type"] == "run_finished" and events[-1]["status"] == "succeeded"
        calls = [e for e in events if e["type"] == "tool_call"]
        assert len(calls) == 1  # the finished call was not made again
        assert httpx.get(f"{url}/api/runs/nope").status_code == 404


def test_files_and_reports_never_leave_their_folders(settings: Settings) -> None:
    with served(create_app(profile_settings(settings), llm=ScriptedLLM([]))) as url:
        root = settings.data_dir / "serve-workspace"
        (root / "run1").mkdir(parents=True)
        (root / "run1" / "ok.png").write_bytes(b"\x89PNG fine")
        secret = settings.data_dir / "secret.png"  # outside every run's workspace
        secret.write_bytes(b"\x89PNG secret")
        (root / "run1" / "link.png").symlink_to(secret)
        (root / "elsewhere.png").write_bytes(b"\x89PNG not a run's")
        assert httpx.get(f"{url}/api/runs/run1/files/ok.png").content == b"\x89PNG fine"
        for path in (
            "run1/files/link.png",  # a link out of the workspace
            "run1/files/..%2F..%2Fsecret.png",  # up to the data dir
            "run1/files/%2E%2E%2F%2E%2E%2Fsecret.png",
            "%2E%2E/files/secret.png",  # the run id itself climbing out
            "%2E%2E/files/elsewhere.png",
        ):
            response = httpx.get(f"{url}/api/runs/{path}")
            assert response.status_code == 404, path
            assert b"PNG" not in response.content
        reports = settings.data_dir / "evals"
        reports.mkdir(parents=True)
        (reports / "r.html").write_text("<h1>report</h1><script>alert(1)</script>")
        (settings.data_dir / "outside.html").write_text("<h1>not a report</h1>")
        page = httpx.get(f"{url}/api/reports/r.html")
        assert page.status_code == 200 and "sandbox" in page.headers["content-security-policy"]
        assert "script-src" not in page.headers["content-security-policy"]  # default-src 'none' rules
        assert httpx.get(f"{url}/api/reports/..%2Foutside.html").status_code == 404


def test_a_failed_run_is_an_error_the_openai_client_does_not_retry(settings: Settings) -> None:
    crash = RuntimeError("the model crashed")
    llm = ScriptedLLM([crash, crash, answer("a retry would get this")])
    with served(create_app(profile_settings(settings), llm=llm)) as url:
        client = OpenAI(base_url=f"{url}/v1", api_key="unused")
        with pytest.raises(APIStatusError, match="the model crashed") as info:
            client.chat.completions.create(model="calc", messages=[{"role": "user", "content": "x"}])
        assert info.value.status_code == 500
        with pytest.raises(APIError, match="the model crashed"):
            streamed = [{"role": "user", "content": "y"}]
            list(client.chat.completions.create(model="calc", messages=streamed, stream=True))
    assert len(llm.calls) == 2  # once per request: no retry ran the agent again


def test_off_loopback_a_token_is_required_for_the_api_and_the_page(settings: Settings) -> None:
    with pytest.raises(UsageError, match="needs a token"):
        create_app(settings, host="0.0.0.0")
    app = create_app(
        profile_settings(settings), llm=ScriptedLLM([answer("hi")]), host="0.0.0.0", token="s3cret"
    )
    with served(app) as url:
        assert httpx.get(f"{url}/v1/models").status_code == 401
        page = httpx.get(f"{url}/")
        assert page.status_code == 401 and "/?token=TOKEN" in page.text  # this server has a page
        assert httpx.get(f"{url}/api/runs").status_code == 401
        headers = {"Authorization": "Bearer s3cret"}
        assert httpx.get(f"{url}/v1/models", headers=headers).status_code == 200
        with httpx.Client() as browser:  # the page: /?token= once, then a cookie
            first = browser.get(f"{url}/?token=s3cret", follow_redirects=True)
            assert first.status_code == 200 and "<title>heron</title>" in first.text
            assert browser.get(f"{url}/api/runs").status_code == 200
        with httpx.Client() as stranger:
            assert stranger.get(f"{url}/?token=wrong").status_code == 401
            assert stranger.get(f"{url}/api/runs").status_code == 401


def test_state_changing_requests_from_another_origin_or_host_are_refused(settings: Settings) -> None:
    with served(create_app(profile_settings(settings), llm=ScriptedLLM([answer("hi")]))) as url:
        body = {"model": "calc", "messages": [{"role": "user", "content": "hi"}]}
        evil = httpx.post(f"{url}/v1/chat/completions", json=body, headers={"Origin": "http://evil.example"})
        assert evil.status_code == 403
        rebound = httpx.get(f"{url}/api/runs", headers={"Host": "evil.example:80"})
        assert rebound.status_code == 403  # a re-pointed name (DNS rebinding) reaches nothing
        own = httpx.post(f"{url}/v1/chat/completions", json=body, headers={"Origin": url}, timeout=30)
        assert own.status_code == 200
        page = httpx.get(f"{url}/")
        policy = page.headers["content-security-policy"]
        assert (
            "default-src 'none'" in policy and "connect-src 'self'" in policy and "img-src 'self'" in policy
        )


def test_bad_requests_get_openai_shaped_errors(settings: Settings) -> None:
    with served(create_app(profile_settings(settings), llm=ScriptedLLM([]))) as url:
        unknown = httpx.post(
            f"{url}/v1/chat/completions",
            json={"model": "nope", "messages": [{"role": "user", "content": "x"}]},
        )
        assert (
            unknown.status_code == 404
            and "no agent profile named 'nope'" in unknown.json()["error"]["message"]
        )
        client_tools = httpx.post(
            f"{url}/v1/chat/completions",
            json={
                "model": "calc",
                "messages": [{"role": "user", "content": "x"}],
                "tools": [{"type": "function"}],
            },
        )
        assert client_tools.status_code == 400 and "own tools" in client_tools.json()["error"]["message"]
        not_user = httpx.post(
            f"{url}/v1/chat/completions",
            json={"model": "calc", "messages": [{"role": "assistant", "content": "x"}]},
        )
        assert not_user.status_code == 400


def _openai_error(response: httpx.Response) -> dict[str, Any]:
    """The error of an OpenAI-shaped 400 answer (what OpenAI answers an invalid request with)."""
    assert response.status_code == 400, response.text
    assert set(response.json()) == {"error"}
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    return dict(error)


def test_invalid_requests_get_openai_shaped_errors_that_say_what_to_fix(settings: Settings) -> None:
    with served(create_app(profile_settings(settings), llm=ScriptedLLM([]))) as url:
        endpoint = f"{url}/v1/chat/completions"
        missing = _openai_error(httpx.post(endpoint, json={"model": "calc"}))
        assert missing["message"].startswith("messages: field required: send a list of {role, content}")
        assert missing["param"] == "messages"
        bad_role = _openai_error(
            httpx.post(endpoint, json={"model": "calc", "messages": [{"role": "bot", "content": "x"}]})
        )
        assert bad_role["message"].startswith("messages[0].role: input should be 'system'")
        assert bad_role["param"] == "messages[0].role"
        bad_content = _openai_error(
            httpx.post(endpoint, json={"model": "calc", "messages": [{"role": "user", "content": 5}]})
        )
        assert bad_content["param"] == "messages[0].content"  # not pydantic's union member (.str)
        assert ".str" not in bad_content["message"] and "list[" not in bad_content["message"]
        no_model = _openai_error(httpx.post(endpoint, json={"messages": [{"role": "user", "content": "x"}]}))
        assert "model: field required: name an agent profile" in no_model["message"]
        not_json = _openai_error(
            httpx.post(endpoint, content=b"{not json", headers={"Content-Type": "application/json"})
        )
        assert not_json["message"].startswith("the body is not valid JSON")
        assert "send a JSON object with `model` and `messages`" in not_json["message"]
        for body in (b"{not json", b"[1, 2]", b""):  # untyped, not an object, empty
            assert "send a JSON object" in _openai_error(httpx.post(endpoint, content=body))["message"]
        client = OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
        with pytest.raises(BadRequestError, match="messages: list should have at least 1 item"):
            client.chat.completions.create(model="calc", messages=[])
        # the runs API keeps FastAPI's own shape for its bad requests
        decision = httpx.post(f"{url}/api/runs/r1/approvals/a1", json={"decision": "maybe"})
        assert decision.status_code == 422 and "detail" in decision.json()


def test_heron_runs_lists_a_served_run_with_the_kind_the_runs_api_reports(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    with served(create_app(profile_settings(settings), llm=ScriptedLLM([answer("4")]))) as url:
        httpx.post(
            f"{url}/v1/chat/completions",
            json={"model": "calc", "messages": [{"role": "user", "content": "what is 2+2?"}]},
            timeout=30,
        )
        [listed] = httpx.get(f"{url}/api/runs").json()
    assert main(["runs", "--json"]) == EXIT_OK
    [row] = json.loads(capsys.readouterr().out)
    assert (row["id"], row["kind"], listed["kind"]) == (listed["id"], "api", "api")
    assert row["title"] == "calc: what is 2+2?"  # the profile and the request, as the page shows them
    assert main(["runs"]) == EXIT_OK
    [line] = [line for line in capsys.readouterr().out.splitlines() if listed["id"] in line]
    assert " api " in line and "calc: what is 2+2?" in line and "api:" not in line


def _events_until(url: str, body: dict, on_event: Any) -> list[dict]:
    """Stream a chat completion, calling ``on_event`` with each reported heron event."""
    seen: list[dict] = []
    with httpx.stream("POST", f"{url}/v1/chat/completions", json=body, timeout=120) as response:
        for line in response.iter_lines():
            if line.startswith("data: {"):
                event = (json.loads(line[6:]).get("heron") or {}).get("event")
                if event:
                    seen.append(event)
                    on_event(event)
    return seen


def test_an_edited_call_runs_with_the_users_arguments_and_a_denied_one_not_at_all(settings: Settings) -> None:
    llm = ScriptedLLM(
        [call("python", code="print(1)"), answer("done"), call("python", code="print(3)"), answer("not run")]
    )
    body = {"model": "calc", "stream": True, "heron": {"ask": True}}
    with served(create_app(profile_settings(settings), llm=llm)) as url:

        def decide(decision: dict) -> Any:
            def on_event(event: dict) -> None:
                if event["type"] == "approval_needed":
                    target = f"{url}/api/runs/{event['run_id']}/approvals/{event['approval_id']}"
                    assert httpx.post(target, json=decision).status_code == 200
                    assert httpx.post(target, json=decision).status_code == 409  # decided already

            return on_event

        edit = {"decision": "edit", "arguments": {"code": "print(2)"}}
        edited = _events_until(url, {**body, "messages": [{"role": "user", "content": "a"}]}, decide(edit))
        denied = _events_until(
            url, {**body, "messages": [{"role": "user", "content": "b"}]}, decide({"decision": "deny"})
        )
    assert next(e for e in edited if e["type"] == "tool_result")["text"].split() == ["[stdout]", "2"]
    assert [e["decision"] for e in edited if e["type"] == "approval"] == ["edited"]
    assert [e["decision"] for e in denied if e["type"] == "approval"] == ["denied"]
    assert "[stdout]" not in json.dumps([e for e in denied if e["type"] == "tool_result"])


def test_cancel_stops_a_run_waiting_for_approval(settings: Settings) -> None:
    llm = ScriptedLLM([call("python", code="print(1)"), answer("never")])
    body = {
        "model": "calc",
        "stream": True,
        "heron": {"ask": True},
        "messages": [{"role": "user", "content": "x"}],
    }
    with served(create_app(profile_settings(settings), llm=llm)) as url:

        def cancel(event: dict) -> None:
            if event["type"] == "approval_needed":
                assert httpx.post(f"{url}/api/runs/{event['run_id']}/cancel").status_code == 200

        seen = _events_until(url, body, cancel)
        run_id = seen[0]["run_id"]
        run = httpx.get(f"{url}/api/runs/{run_id}").json()
        assert httpx.post(f"{url}/api/runs/{run_id}/cancel").status_code == 409  # not running any more
    assert run["status"] == "cancelled" and not run["live"]
    assert not [e for e in seen if e["type"] == "tool_result" and "[stdout]" in e["text"]]


def test_a_crashed_task_run_resumes_through_the_runs_api_without_repeating_its_call(
    settings: Settings, tmp_path: Path
) -> None:
    from heron.agents.runner import TaskRunner

    task = tmp_path / "task.yaml"
    task.write_text("goal: What is 6*7?\ntools: [calculator]\nchecks:\n  - answer_contains: '42'\n")
    # SystemExit passes every handler, as a killed process would: the run is left "running"
    crashing = ScriptedLLM([call("calculator", expression="6*7"), SystemExit("the machine went down")])
    with pytest.raises(SystemExit), TaskRunner(settings, crashing) as runner:
        runner.run(task)
    with served(create_app(profile_settings(settings), llm=ScriptedLLM([answer("6*7 is 42.")]))) as url:
        [listed] = [r for r in httpx.get(f"{url}/api/runs").json() if r["kind"] == "task"]
        assert listed["status"] == "running"  # what a crash leaves
        assert httpx.post(f"{url}/api/runs/{listed['id']}/resume").status_code == 200
        frames = httpx.get(f"{url}/api/runs/{listed['id']}/events").text.split("\n\n")
        events = [json.loads(frame[6:]) for frame in frames if frame.startswith("data: ")]
        record = httpx.get(f"{url}/api/runs/{listed['id']}").json()
    assert events[-1]["type"] == "run_finished" and events[-1]["status"] == "succeeded"
    assert [e["tool"] for e in events if e["type"] == "tool_call"] == ["calculator"]  # once, before the crash
    assert record["status"] == "succeeded"
