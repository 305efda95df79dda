"""Signed requests from the remote client: every POST to an agent with a signing key carries
``sign_request`` headers over the exact bytes sent and the URL path with its query. Checked
by the real webagents server (``create_app(..., signing_keys=...)``) and by a small Starlette
app that verifies with ``SignatureVerifier``, both under real uvicorn (``ServedApp``)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from webagents.agents import AgentNetwork, register_remote
from webagents.agents.network import RemoteAgent
from webagents.agents.skills import NLISkill
from webagents.events import HandoffFailed, TextDelta
from webagents.remote import RemoteClient, RemoteStatusError
from webagents.remote.signing import (
    NONCE_HEADER,
    SIGNATURE_HEADER,
    SignatureError,
    SignatureVerifier,
    sign_request,
)
from webagents.server import create_app
from webagents.testing import scripted_agent, text, transfer
from webagents.testing.served import ServedApp

KEY = "signing-key-s3cret"
HI = [{"role": "user", "content": "Grüße, is my desk deductible? ✓"}]


def completion(answer: str) -> dict[str, Any]:
    return {"choices": [{"message": {"role": "assistant", "content": answer}}]}


class Checking:
    """Verifies every request's signature with ``SignatureVerifier`` over the path and query
    as uvicorn received them and the body bytes; answers the next status in ``statuses``
    (then 200), or 401 naming what was wrong. Records each request."""

    def __init__(self, *statuses: int) -> None:
        self.statuses = list(statuses)
        self.verifier = SignatureVerifier(KEY)
        self.requests: list[dict[str, Any]] = []
        self.refusals: list[str] = []

        async def chat(request: Request) -> Response:
            body = await request.body()
            path = request.scope["raw_path"].decode()
            if request.scope["query_string"]:
                path += "?" + request.scope["query_string"].decode()
            self.requests.append({"path": path, "headers": dict(request.headers), "body": body})
            try:
                self.verifier.verify("POST", path, request.headers, body)
            except SignatureError as error:
                self.refusals.append(str(error))
                return JSONResponse({"error": {"message": str(error)}}, 401)
            status = self.statuses.pop(0) if self.statuses else 200
            if status != 200:
                return JSONResponse({"error": {"message": "busy"}}, status)
            return JSONResponse(completion("signed and answered"))

        routes = [Route("/agents/{name}/chat/completions", chat, methods=["POST"])]
        self.served = ServedApp(Starlette(routes=routes))

    def __enter__(self) -> Checking:
        self.served.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.served.stop()


@pytest.fixture
async def client() -> AsyncIterator[RemoteClient]:
    made = RemoteClient(random=lambda: 0.0)
    yield made
    await made.aclose()


@pytest.fixture
def expert_server() -> Iterator[str]:
    """The real webagents server, requiring signatures, serving ``finance-expert``."""
    served_network = AgentNetwork("expert-server")
    expert, _ = scripted_agent(
        "finance-expert",
        responder=lambda request: text("Signed answer."),
        network=served_network,
    )
    with ServedApp(create_app([expert], signing_keys=KEY)) as served:
        yield served.url


async def test_every_post_is_signed_over_the_bytes_sent_and_the_path_with_query(
    client: RemoteClient,
) -> None:
    with Checking() as server:
        remote = RemoteAgent(
            name="finance-expert",
            url=f"{server.served.url}/agents/finance-expert?tenant=7",
            signing_key=KEY,
        )
        assert await client.chat(remote, HI) == "signed and answered"

    [sent] = server.requests
    assert server.refusals == []
    assert sent["path"] == "/agents/finance-expert/chat/completions?tenant=7"
    assert json.loads(sent["body"])["messages"] == HI  # non-ASCII text signed as sent


async def test_a_retry_is_signed_anew_and_is_not_taken_for_a_replay(
    client: RemoteClient,
) -> None:
    with Checking(503) as server:
        remote = RemoteAgent(
            name="finance-expert",
            url=f"{server.served.url}/agents/finance-expert",
            signing_key=KEY,
        )
        assert await client.chat(remote, HI) == "signed and answered"

    first, second = server.requests
    assert server.refusals == []
    assert first["headers"][NONCE_HEADER.lower()] != second["headers"][NONCE_HEADER.lower()]


async def test_unsigned_or_wrongly_signed_requests_are_refused_and_not_retried(
    client: RemoteClient,
) -> None:
    with Checking() as server:
        url = f"{server.served.url}/agents/finance-expert"
        with pytest.raises(RemoteStatusError) as unsigned:
            await client.chat(RemoteAgent(name="finance-expert", url=url), HI)
        wrong = RemoteAgent(name="finance-expert", url=url, signing_key="another-key")
        with pytest.raises(RemoteStatusError) as refused:
            await client.chat(wrong, HI)

    assert (unsigned.value.status_code, refused.value.status_code) == (401, 401)
    assert len(server.requests) == 2  # a refusal is not retried
    assert server.refusals[0].startswith("the request is not signed")
    assert server.refusals[1] == "the signature does not match the request"
    assert "another-key" not in str(refused.value) and "another-key" not in repr(wrong)


async def test_the_real_server_accepts_signed_handoffs_and_refuses_a_replay(
    expert_server: str,
) -> None:
    register_remote("finance-expert", f"{expert_server}/agents/finance-expert", signing_key=KEY)
    desk, _ = scripted_agent("desk", [transfer("finance-expert")], handoffs=["finance-expert"])

    result = await desk.run("Is my desk deductible?")

    assert (result.content, result.agent) == ("Signed answer.", "finance-expert")
    assert result.handoff_chain == ["desk", "finance-expert"]
    # The same signed bytes sent again are a replay.
    body = json.dumps({"model": "finance-expert", "messages": HI}).encode()
    path = "/agents/finance-expert/chat/completions"
    headers = {"Content-Type": "application/json", **sign_request(KEY, "POST", path, body)}
    async with httpx.AsyncClient(base_url=expert_server) as raw:
        first = await raw.post(path, content=body, headers=headers)
        again = await raw.post(path, content=body, headers=headers)
    assert (first.status_code, again.status_code) == (200, 401)
    assert "replayed" in again.json()["error"]["message"]


async def test_the_real_server_streams_to_a_signed_streamed_handoff(expert_server: str) -> None:
    register_remote("finance-expert", f"{expert_server}/agents/finance-expert", signing_key=KEY)
    desk, _ = scripted_agent("desk", [transfer("finance-expert")], handoffs=["finance-expert"])

    events = [e async for e in desk.run_streaming("Is my desk deductible?")]

    said = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert said == "Signed answer."
    assert {e.agent for e in events if isinstance(e, TextDelta)} == {"finance-expert"}


async def test_a_wrong_key_is_a_failed_handoff_that_names_no_key(expert_server: str) -> None:
    register_remote(
        "finance-expert", f"{expert_server}/agents/finance-expert", signing_key="not-the-key"
    )
    desk, _ = scripted_agent(
        "desk",
        [transfer("finance-expert"), text("I'll answer myself.")],
        handoffs=["finance-expert"],
    )

    result = await desk.run("Is my desk deductible?")

    assert (result.content, result.agent) == ("I'll answer myself.", "desk")
    [failed] = [e for e in result.events if isinstance(e, HandoffFailed)]
    assert failed.error.endswith("refused the request: HTTP 401")
    shown = json.dumps(result.to_dict())
    assert "not-the-key" not in shown and KEY not in shown


async def test_nli_signs_with_its_key_unless_the_agent_has_its_own() -> None:
    with Checking() as server:
        url = f"{server.served.url}/agents/finance-expert"
        nli = NLISkill({"agents": {"finance-expert": url}, "signing_key": KEY})
        configured = await nli.query_agent("finance-expert", "hi")
        register_remote("own-key", f"{server.served.url}/agents/own", signing_key="own-key")
        own = await nli.query_agent("own-key", "hi")

    assert configured["success"] is True
    assert own["success"] is False and own["error"].endswith("refused the request: HTTP 401")
    assert [SIGNATURE_HEADER.lower() in r["headers"] for r in server.requests] == [True, True]
    assert server.refusals == ["the signature does not match the request"]
    assert "s3cret" not in repr(nli.settings)


def test_a_signing_key_is_checked_and_never_shown() -> None:
    remote = register_remote("keyed", "http://127.0.0.1:9/agents/keyed", signing_key=KEY)
    assert KEY not in repr(remote)
    assert remote == RemoteAgent(name="keyed", url="http://127.0.0.1:9/agents/keyed")
    net = AgentNetwork("keys")
    for bad in ("", 42):
        with pytest.raises(Exception) as raised:
            net.register_remote("bad", "http://h/agents/bad", signing_key=bad)  # type: ignore[arg-type]
        assert "signing_key must be a non-empty string or bytes" in str(raised.value)
