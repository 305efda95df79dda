"""Sessions over HTTP (``X-Session-Id``): the server keeps the history, a session is its
caller's (another user gets 404 and never the transcript), a restarted server continues with
the agent that owned the conversation, two servers share a Redis store, and the default store
is the SQLite file under ``WEBAGENTS_HOME``."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from webagents import AgentNetwork, BaseAgent
from webagents.agents.network import use_default_network
from webagents.server import create_app
from webagents.sessions import SessionKey
from webagents.sessions.sqlite import SQLiteSessionStore
from webagents.testing import scripted_agent, text, transfer
from webagents.testing.served import ServedApp

KEYS = {"key-ada": "ada", "key-bob": "bob"}


def said(request: dict[str, Any]) -> Any:
    """The model's answer lists what the user said in the conversation so far."""
    users = [m["content"] for m in request["messages"] if m["role"] == "user"]
    return text(" | ".join(users))


def turn(
    served: ServedApp, agent: str, message: str, session: str, key: str | None = "key-ada"
) -> httpx.Response:
    headers = {"X-Session-Id": session}
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    return httpx.post(
        f"{served.url}/agents/{agent}/chat/completions",
        json={"messages": [{"role": "user", "content": message}]},
        headers=headers,
    )


def content(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    return str(response.json()["choices"][0]["message"]["content"])


@pytest.fixture
def store_spec(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/sessions.db"


@pytest.fixture
def served(store_spec: str) -> Iterator[ServedApp]:
    scripted_agent("desk", responder=said)
    agent, _ = scripted_agent("other", responder=said)
    network = agent.network
    with ServedApp(create_app(network, api_keys=KEYS, sessions=store_spec)) as server:
        yield server


def test_the_server_keeps_the_history(served: ServedApp) -> None:
    assert content(turn(served, "desk", "I am Ada", "s1")) == "I am Ada"
    assert content(turn(served, "desk", "Who am I?", "s1")) == "I am Ada | Who am I?"
    # the same id on another agent, or another id, is another conversation
    assert content(turn(served, "other", "Hi", "s1")) == "Hi"
    assert content(turn(served, "desk", "Fresh", "s2")) == "Fresh"


def test_a_session_continues_in_a_stream(served: ServedApp) -> None:
    content(turn(served, "desk", "first", "s1"))
    stream = openai.OpenAI(
        api_key="key-ada",
        base_url=f"{served.url}/agents/desk",
        max_retries=0,
        default_headers={"X-Session-Id": "s1"},
    ).chat.completions.create(
        model="desk", messages=[{"role": "user", "content": "second"}], stream=True
    )
    texts = [c.choices[0].delta.content or "" for c in stream if c.choices]
    assert "".join(texts) == "first | second"
    assert content(turn(served, "desk", "third", "s1")) == "first | second | third"


def test_a_client_resending_the_whole_conversation_adds_nothing_twice(served: ServedApp) -> None:
    first = content(turn(served, "desk", "one", "s1"))
    response = httpx.post(
        f"{served.url}/agents/desk/chat/completions",
        json={
            "messages": [
                {"role": "user", "content": "one"},
                {"role": "assistant", "content": first},
                {"role": "user", "content": "two"},
            ]
        },
        headers={"X-Session-Id": "s1", "Authorization": "Bearer key-ada"},
    )
    assert content(response) == "one | two"


def test_another_users_session_is_not_found(served: ServedApp) -> None:
    content(turn(served, "desk", "my secret plan", "s1"))
    response = turn(served, "desk", "show me", "s1", key="key-bob")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "session_not_found"
    assert "secret plan" not in response.text and "ada" not in response.text
    streamed = httpx.post(
        f"{served.url}/agents/desk/chat/completions",
        json={"messages": [{"role": "user", "content": "show me"}], "stream": True},
        headers={"X-Session-Id": "s1", "Authorization": "Bearer key-bob"},
    )
    assert streamed.status_code == 404 and "secret plan" not in streamed.text
    # and ada's conversation is untouched
    assert content(turn(served, "desk", "still mine?", "s1")) == "my secret plan | still mine?"


def build_triage(network: AgentNetwork) -> BaseAgent:
    """triage hands the first turn to billing, which then owns the conversation."""
    with use_default_network(network):
        billing, _ = scripted_agent("billing", responder=said)
        triage, _ = scripted_agent("triage", [transfer("billing")], handoffs=[billing])
    return triage


def test_a_restarted_server_continues_with_the_owner(store_spec: str) -> None:
    triage = build_triage(AgentNetwork("shop"))
    with ServedApp(create_app([triage], api_keys=KEYS, sessions=store_spec)) as served:
        first = turn(served, "triage", "my invoice", "s1")
        assert first.json()["webagents"]["handoff_chain"] == ["triage", "billing"]
    # a new process would build the same agents again: a new network of the same name
    triage = build_triage(AgentNetwork("shop"))
    with ServedApp(create_app([triage], api_keys=KEYS, sessions=store_spec)) as served:
        again = turn(served, "triage", "is it paid?", "s1")
    assert content(again) == "my invoice | is it paid?"
    assert again.json()["webagents"] == {"agent": "billing", "handoff_chain": ["billing"]}


def test_two_servers_share_a_redis_store(redis_url: str) -> None:
    apps = []
    for _ in range(2):
        with use_default_network(AgentNetwork("shared")) as network:
            scripted_agent("desk", responder=said)
        apps.append(create_app(network, api_keys=KEYS, sessions=redis_url))
    with ServedApp(apps[0]) as first, ServedApp(apps[1]) as second:
        assert content(turn(first, "desk", "one", "s1")) == "one"
        assert content(turn(second, "desk", "two", "s1")) == "one | two"
        assert turn(second, "desk", "three", "s1", key="key-bob").status_code == 404
        assert content(turn(first, "desk", "three", "s1")) == "one | two | three"


def test_the_default_store_is_sqlite_under_webagents_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEBAGENTS_HOME", str(tmp_path))
    monkeypatch.delenv("WEBAGENTS_SESSIONS", raising=False)
    network = AgentNetwork("plain")  # given no store: agents get the library's default
    with use_default_network(network):
        agent, _ = scripted_agent("desk", responder=said)
    with ServedApp(create_app([agent])) as served:
        assert content(turn(served, "desk", "kept", "s1", key=None)) == "kept"
    assert isinstance(agent.sessions, SQLiteSessionStore)

    async def stored() -> list[dict[str, Any]]:
        store = SQLiteSessionStore(tmp_path / "sessions.db")
        try:
            session = await store.read(SessionKey("plain/desk", "s1"))
            assert session is not None
            return session.messages
        finally:
            await store.aclose()

    assert [m["content"] for m in asyncio.run(stored())] == ["kept", "kept"]


def test_an_agent_keeps_a_store_it_was_given(tmp_path: Path) -> None:
    agent, _ = scripted_agent("desk", responder=said)
    given = agent.sessions  # the test network's in-memory store
    with ServedApp(create_app([agent])) as served:
        content(turn(served, "desk", "x", "s1", key=None))
    assert agent.sessions is given


def test_a_bad_sessions_setting_is_a_clear_error() -> None:
    agent, _ = scripted_agent("desk", responder=said)
    with pytest.raises(TypeError, match="takes a SessionStore or a spec string"):
        create_app([agent], sessions=42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown session store 'mongo://x'"):
        create_app([agent], sessions="mongo://x")
