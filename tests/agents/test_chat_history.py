"""What a chat message leaves in the conversation (its question and answer), and the oldest
exchanges leaving once the history outgrows its share of the model's context (``heron.agents.chat``).
The model is scripted (``ScriptedLLM``); the real model's chat is in test_agent_real_model.py."""

from __future__ import annotations

import json

from heron.agents.agent import Agent
from heron.agents.budget import Budget
from heron.agents.chat import HISTORY_SHARE, fit_history
from heron.agents.config import AgentConfig
from heron.llm import ScriptedLLM
from heron.llm.types import Message


def call(tool: str, **arguments: object) -> dict:
    return {"action": tool, "arguments": arguments}


def answer(text: str) -> dict:
    return {"action": "final_answer", "answer": text, "citations": []}


class ScriptedLLMWithContext(ScriptedLLM):
    """A scripted model that says its context size (its tokens estimated from characters)."""

    context_size = 400


def test_a_later_message_sees_the_earlier_ones_whole_with_their_calls_and_answers(demo_tools: list) -> None:
    llm = ScriptedLLM([call("add", a=2, b=40), answer("It is 42."), answer("You asked about 2 + 40.")])
    with Agent(llm, tools=demo_tools) as agent:
        session = agent.chat()
        session.send("What is 2 + 40?")
        second = session.send("What did I ask?")
    assert second.answer == "You asked about 2 + 40."
    assert "-chat-" in second.run_id  # `heron runs` and the runs API list the session as a chat
    seen = llm.calls[2].messages  # what the second message's first turn saw
    assert [m.role for m in seen] == ["system", "user", "assistant", "tool", "assistant", "user"]
    assert (
        json.loads(seen[2].content)["action"] == "add"
        and json.loads(seen[4].content)["answer"] == "It is 42."
    )


def test_an_exchange_leaves_whole_with_the_hints_heron_gave_in_it(demo_tools: list) -> None:
    """A hint is a user message too, but not a question: the exchange it belongs to leaves with it."""
    llm = ScriptedLLMWithContext(
        [call("add", a=1, b=2), answer("x" * 200), answer("y" * 200), answer("z" * 200), answer("done")]
    )
    config = AgentConfig(budget=Budget(max_steps=1))  # after the call, a stop hint asks for the answer
    with Agent(llm, tools=demo_tools, config=config) as agent:
        session = agent.chat()
        for question in ("first", "second", "third", "fourth"):
            session.send(question)
    stop_hint = llm.calls[1].messages[-1]
    assert stop_hint.role == "user" and "stopping: max_steps" in stop_hint.content
    assert session.forgotten >= 1
    kept = [m.content for m in llm.calls[-1].messages if m.role == "user"]
    assert kept[-1] == "fourth" and "first" not in kept and stop_hint.content not in kept
    assert all(m.role != "tool" for m in llm.calls[-1].messages)  # the first exchange's result left too


def test_the_oldest_exchanges_leave_once_the_history_outgrows_its_share_of_the_context() -> None:
    llm = ScriptedLLMWithContext()
    assert llm.context_size // HISTORY_SHARE == 100  # tokens: about 400 characters
    messages = [Message.system("s" * 2000)]  # the system prompt does not count
    for number in range(3):  # three exchanges of 126 characters: 94 tokens
        messages += [Message.user(f"q{number} " + "x" * 60), Message.assistant(f"a{number} " + "y" * 60)]
    assert fit_history(messages, llm) == 0
    messages += [Message.user("q3 " + "x" * 60), Message.assistant("a3 " + "y" * 60)]  # 126 tokens
    assert fit_history(messages, llm) == 3  # down to half the share (50 tokens): the last exchange
    assert [m.content[:2] for m in messages] == ["ss", "q3", "a3"]


def test_the_last_exchange_leaves_only_when_it_alone_outgrows_the_share() -> None:
    llm = ScriptedLLMWithContext()
    messages = [Message.system("s"), Message.user("q " + "x" * 300), Message.assistant("a")]  # 75 tokens
    assert fit_history(messages, llm) == 0
    messages[1] = Message.user("q " + "x" * 500)  # 125 tokens
    assert fit_history(messages, llm) == 1 and messages == [Message.system("s")]


def test_a_session_drops_the_oldest_exchange_before_a_message_and_counts_it(demo_tools: list) -> None:
    long = "z" * 300  # an exchange of about 90 tokens: two pass the share of 100
    llm = ScriptedLLMWithContext([answer(long), answer(long), answer(long), answer("short")])
    with Agent(llm, tools=demo_tools) as agent:
        session = agent.chat()
        for question in ("one", "two", "three", "four"):
            session.send(question)
    assert session.forgotten == 2
    assert [m.content for m in llm.calls[3].messages if m.role == "user"] == ["three", "four"]
