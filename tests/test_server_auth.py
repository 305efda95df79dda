"""Who may call the server: bearer API keys (a key's user id becomes the run's
``peer_user_id``; the seed's paid handoff runs over HTTP with it) and signed requests (good,
unsigned, wrong key, replayed, stale, the query string covered)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import openai
import pytest

from webagents import BaseAgent, Context, PaymentSkill
from webagents.errors import AgentConfigError
from webagents.remote.signing import SIGNATURE_HEADER, sign_request
from webagents.server import create_app
from webagents.testing import ScriptedModel, scripted_agent, text, tool_call
from webagents.testing.served import ServedApp

HI = [{"role": "user", "content": "Hello"}]
CHAT = "/agents/whoami/chat/completions"


def whoami(context: Context) -> str:
    """Say who the caller is."""
    return f"user={context.peer_user_id}"


def answer_with_tool_result(request: dict[str, Any]) -> Any:
    last = request["messages"][-1]
    return text(last["content"]) if last["role"] == "tool" else tool_call("whoami")


@pytest.fixture
def agent() -> BaseAgent:
    agent, _ = scripted_agent("whoami", responder=answer_with_tool_result, tools=[whoami])
    return agent


@pytest.fixture
def keyed(agent: BaseAgent) -> Iterator[ServedApp]:
    app = create_app([agent], api_keys={"key-ada": "ada", "key-anon": None})
    with ServedApp(app) as served:
        yield served


def ask(served: ServedApp, key: str) -> str | None:
    openai_client = openai.OpenAI(
        api_key=key, base_url=f"{served.url}/agents/whoami", max_retries=0
    )
    completion = openai_client.chat.completions.create(model="whoami", messages=HI)
    return completion.choices[0].message.content


# API keys --------------------------------------------------------------------------------------


def test_a_mapped_key_names_the_user_the_run_sees(keyed: ServedApp) -> None:
    assert ask(keyed, "key-ada") == "user=ada"
    assert ask(keyed, "key-anon") == "user=None"


def test_missing_or_wrong_keys_are_401(keyed: ServedApp) -> None:
    missing = httpx.post(f"{keyed.url}{CHAT}", json={"messages": HI})
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == "Bearer"
    error = missing.json()["error"]
    assert error["type"] == "authentication_error" and "Authorization: Bearer" in error["message"]
    with pytest.raises(openai.AuthenticationError, match="invalid API key"):
        ask(keyed, "key-eve")
    basic = httpx.get(f"{keyed.url}/agents", headers={"Authorization": "Basic a2V5LWFkYQ=="})
    assert basic.status_code == 401


def test_keys_guard_every_route_but_health(keyed: ServedApp) -> None:
    assert httpx.get(f"{keyed.url}/health").status_code == 200
    for path in ("/agents", "/agents/whoami", "/nowhere", "/openapi.json"):
        assert httpx.get(f"{keyed.url}{path}").status_code == 401, path
    good = {"Authorization": "Bearer key-ada"}
    assert httpx.get(f"{keyed.url}/agents", headers=good).status_code == 200
    assert httpx.get(f"{keyed.url}/nowhere", headers=good).status_code == 404


def test_keys_from_the_environment(agent: BaseAgent, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBAGENTS_API_KEYS", " key-bob=bob , key-plain ")
    with ServedApp(create_app([agent])) as served:
        assert ask(served, "key-bob") == "user=bob"
        assert ask(served, "key-plain") == "user=None"
        with pytest.raises(openai.AuthenticationError):
            ask(served, "key-eve")


def test_an_open_server_runs_anonymously(agent: BaseAgent, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WEBAGENTS_API_KEYS", raising=False)
    with ServedApp(create_app([agent])) as served:
        assert ask(served, "anything") == "user=None"


def test_bad_key_settings_are_clear_errors(
    agent: BaseAgent, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(AgentConfigError, match="not a string; write api_keys=\\[key\\]"):
        create_app([agent], api_keys="key-1")  # type: ignore[arg-type]
    with pytest.raises(AgentConfigError, match="key #2 must be a non-empty string") as error:
        create_app([agent], api_keys=["key-1", " key-2"])
    assert "key-2" not in str(error.value)
    with pytest.raises(AgentConfigError, match="is empty"):
        create_app([agent], api_keys=[])
    monkeypatch.setenv("WEBAGENTS_API_KEYS", "key-1=")
    with pytest.raises(AgentConfigError, match="WEBAGENTS_API_KEYS: an entry 'key=' names no user"):
        create_app([agent])


# the seed's payment-aware handoff over HTTP -------------------------------------------------


def test_the_paid_expert_flow_over_http(
    load_example: Callable[[str], ModuleType], tmp_path: Path
) -> None:
    example = load_example("paid_expert")
    payment = PaymentSkill({"db": tmp_path / "ledger.db"})
    expert = BaseAgent(
        example.EXPERT,
        model=ScriptedModel(responder=lambda request: text("Yes, within limits.")),
        metadata={"price": 2.5},
    )
    desk = BaseAgent(
        example.FRONT,
        model=ScriptedModel(responder=example.front_desk),
        skills={"paid": example.PaidHandoffSkill(payment)},
        handoffs=[expert],
    )
    keys = {"key-ada": "ada", "key-visitor": None}
    asyncio.run(payment.credit("ada", "5.00", "top-up"))
    with ServedApp(create_app([desk], api_keys=keys)) as served:

        def ask_desk(key: str) -> dict[str, Any]:
            response = httpx.post(
                f"{served.url}/agents/{example.FRONT}/chat/completions",
                json={"messages": [{"role": "user", "content": "A tax question, please"}]},
                headers={"Authorization": f"Bearer {key}"},
            )
            assert response.status_code == 200
            return dict(response.json())

        paid = ask_desk("key-ada")
        visitor = ask_desk("key-visitor")
        balance = asyncio.run(payment.get_balance("ada"))
    assert paid["webagents"] == {
        "agent": example.EXPERT,
        "handoff_chain": [example.FRONT, example.EXPERT],
    }
    assert paid["choices"][0]["message"]["content"] == "Yes, within limits."
    assert balance == Decimal("2.50")
    assert visitor["webagents"]["agent"] == example.FRONT  # the visitor's handoff was vetoed
    assert visitor["choices"][0]["message"]["content"] == example.FREE_OVERVIEW


# signed requests ---------------------------------------------------------------------------


@pytest.fixture
def signed(agent: BaseAgent) -> Iterator[ServedApp]:
    with ServedApp(create_app([agent], signing_keys=["old-key", "new-key"])) as served:
        yield served


def post_signed(
    served: ServedApp, headers: dict[str, str], body: bytes, path: str = CHAT
) -> httpx.Response:
    return httpx.post(
        f"{served.url}{path}",
        content=body,
        headers={"Content-Type": "application/json", **headers},
    )


BODY = json.dumps({"messages": HI}).encode()


def test_a_signed_request_is_answered(signed: ServedApp) -> None:
    for key in ("old-key", "new-key"):  # either key while one is rotated out
        response = post_signed(signed, sign_request(key, "POST", CHAT, BODY), BODY)
        assert response.status_code == 200, response.text
    query = f"{CHAT}?trace=1"
    response = post_signed(signed, sign_request("new-key", "POST", query, BODY), BODY, query)
    assert response.status_code == 200


def test_signature_refusals_say_what_is_wrong(signed: ServedApp) -> None:
    def refusal(response: httpx.Response) -> str:
        assert response.status_code == 401
        error = response.json()["error"]
        assert error["code"] == "invalid_signature"
        return str(error["message"])

    assert "not signed" in refusal(post_signed(signed, {}, BODY))
    wrong = sign_request("eve-key", "POST", CHAT, BODY)
    good_signature = sign_request(
        "new-key",
        "POST",
        CHAT,
        BODY,
        timestamp=float(wrong["X-Webagents-Timestamp"]),
        nonce=wrong["X-Webagents-Nonce"],
    )[SIGNATURE_HEADER]
    response = post_signed(signed, wrong, BODY)
    assert "does not match" in refusal(response)
    assert good_signature.removeprefix("v1=") not in response.text
    # the body or the path changed after signing
    headers = sign_request("new-key", "POST", CHAT, BODY)
    assert "does not match" in refusal(post_signed(signed, headers, BODY.replace(b"Hello", b"Bye")))
    headers = sign_request("new-key", "POST", CHAT, BODY)
    assert "does not match" in refusal(post_signed(signed, headers, BODY, f"{CHAT}?x=1"))
    # replayed
    headers = sign_request("new-key", "POST", CHAT, BODY)
    assert post_signed(signed, headers, BODY).status_code == 200
    assert "replayed" in refusal(post_signed(signed, headers, BODY))
    # stale
    stale = sign_request("new-key", "POST", CHAT, BODY, timestamp=time.time() - 3600)
    assert "outside the 300s window" in refusal(post_signed(signed, stale, BODY))


def test_signing_keys_from_the_environment(
    agent: BaseAgent, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEBAGENTS_SIGNING_KEYS", "env-key")
    with ServedApp(create_app([agent])) as served:
        assert post_signed(served, {}, BODY).status_code == 401
        headers = sign_request("env-key", "POST", CHAT, BODY)
        assert post_signed(served, headers, BODY).status_code == 200
        # reading routes are not signed
        assert httpx.get(f"{served.url}/agents").status_code == 200
