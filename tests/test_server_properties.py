"""Property-based tests of the server's input handling (hypothesis): whatever a caller sends
to ``POST /agents/{name}/chat/completions`` (any JSON, any bytes, odd session ids, odd agent
names, odd methods and keys) the server never answers 5xx, a refusal is an OpenAI-shaped
error, and no answer carries a traceback or the server's file paths.

The app is the real ``create_app`` on a SQLite session file, called in-process through
``httpx.ASGITransport`` (a request costs well under a millisecond), serving a scripted agent
that answers at once by echoing the last message, so arbitrary text also goes back out.
Strategies are written here (hypothesis); schemathesis adds cases for every route from the
server's own OpenAPI schema.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import schemathesis
from hypothesis import (
    HealthCheck,
    assume,
    currently_in_test_context,
    event,
    given,
    settings,
)
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error

import webagents
from webagents.agents import AgentNetwork
from webagents.remote.signing import (
    NONCE_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    sign_request,
)
from webagents.server import create_app
from webagents.sessions import InMemorySessionStore
from webagents.testing import scripted_agent, text

AGENT = "echo"
CHAT = f"/agents/{AGENT}/chat/completions"
HELLO = {"messages": [{"role": "user", "content": "Hello"}]}
KEY = "sk-property-key"
ADA_KEY, BOB_KEY = "sk-ada", "sk-bob"
SIGNING_KEY = "signing-property-key"
LIMIT = 200  # bytes of request body the small server takes

# Places a traceback or an error message could reveal: the package, the interpreter's
# libraries, and the words a formatted traceback always has.
LEAKS = (
    str(Path(webagents.__file__).parent),
    sys.prefix,
    "Traceback (most recent call last)",
    'File "/',
    "site-packages",
)

# A few seconds for the file, on a shared CI machine: no per-example deadline. The app (and
# its session file) deliberately lives across the examples of a test, as a server would.
PROPERTIES = settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def echo(request: dict[str, Any]) -> Any:
    content = request["messages"][-1].get("content")
    return text(content if isinstance(content, str) else json.dumps(content))


@pytest.fixture
async def serve(tmp_path: Path) -> AsyncIterator[Callable[..., httpx.AsyncClient]]:
    """``serve(**options)``: a client of ``create_app([echo], **options)`` on a SQLite session
    file; the app lives across the examples of a test, as a server would."""
    async with contextlib.AsyncExitStack() as stack:

        def make(**options: Any) -> httpx.AsyncClient:
            agent, _ = scripted_agent(AGENT, responder=echo)
            options.setdefault("sessions", f"sqlite:///{tmp_path / 'sessions.db'}")
            app = create_app([agent], **options)
            client = httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://server"
            )
            stack.push_async_callback(client.aclose)
            return client

        yield make


@pytest.fixture
def server(serve: Callable[..., httpx.AsyncClient]) -> httpx.AsyncClient:
    return serve()


@pytest.fixture
def small(serve: Callable[..., httpx.AsyncClient]) -> httpx.AsyncClient:
    return serve(max_body_bytes=LIMIT)


@pytest.fixture
def keyed(serve: Callable[..., httpx.AsyncClient]) -> httpx.AsyncClient:
    return serve(api_keys=[KEY])


@pytest.fixture
def users(serve: Callable[..., httpx.AsyncClient]) -> httpx.AsyncClient:
    return serve(api_keys={ADA_KEY: "ada", BOB_KEY: "bob"})


@pytest.fixture
def signed(serve: Callable[..., httpx.AsyncClient]) -> httpx.AsyncClient:
    return serve(signing_keys=SIGNING_KEY)


def well_behaved(response: httpx.Response) -> None:
    """The properties every answer has: no 5xx, nothing leaked, an OpenAI-shaped error for a
    refusal, a chat completion (or a finished chunk stream) for a success, a redirect only to
    the server itself."""
    body = response.text
    if currently_in_test_context():  # pytest --hypothesis-show-statistics shows the mix
        event(f"HTTP {response.status_code}")
    assert response.status_code < 500, body
    for leak in LEAKS:
        assert leak not in body, body
    if 300 <= response.status_code < 400:  # /agents/ -> /agents: a trailing slash dropped
        assert response.headers["location"].startswith("http://server/agents")
    elif response.status_code >= 400:
        assert response.headers["content-type"].startswith("application/json")
        error = response.json()["error"]
        assert set(response.json()) == {"error"}
        assert set(error) == {"message", "type", "param", "code"}
        assert isinstance(error["message"], str) and error["message"]
        assert isinstance(error["type"], str) and isinstance(error["code"], str)
        assert error["param"] is None or isinstance(error["param"], str)
    elif response.headers["content-type"].startswith("text/event-stream"):
        assert response.status_code == 200
        chunks = sse_chunks(body)
        assert chunks[-1] == "[DONE]", body
        assert not [c for c in chunks[:-1] if "error" in c]  # a run that failed mid-stream
        assert {c["object"] for c in chunks[:-1]} == {"chat.completion.chunk"}
    else:
        assert response.status_code == 200
        completion = response.json()
        assert completion["object"] == "chat.completion"
        assert isinstance(completion["choices"][0]["message"]["content"], str)


def sse_chunks(body: str) -> list[Any]:
    """Every ``data:`` event of a stream, each of which must be JSON (or ``[DONE]``)."""
    assert body.endswith("\n\n"), body
    events = body.removesuffix("\n\n").split("\n\n")
    assert all(event.startswith("data: ") for event in events), body
    data = [event.removeprefix("data: ") for event in events]
    return [item if item == "[DONE]" else json.loads(item) for item in data]


def streamed_text(chunks: list[Any]) -> str:
    return "".join(
        chunk["choices"][0]["delta"].get("content") or ""
        for chunk in chunks[:-1]
        if chunk["choices"]
    )


# strategies --------------------------------------------------------------------------------

# Text with what breaks naive code: NUL, lone surrogates (JSON may escape them: "\ud800"),
# line separators, right-to-left marks, very long runs.
odd_chars = st.characters(codec="utf-8") | st.sampled_from(
    ["\x00", "\ud800", "\udfff", "\u2028", "\u202e", "\ufeff", "\n", '"', "\\", "/", "%"]
)
latin1_text = st.text(st.characters(max_codepoint=0xFF), max_size=80)
odd_text = st.text(odd_chars, max_size=40) | st.sampled_from(["", " ", "x" * 5000])

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()  # NaN and infinities: json.dumps writes them, JSON has no such thing
    | odd_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(odd_text, inner, max_size=4),
    max_leaves=12,
)

roles = st.sampled_from(["user", "system", "assistant", "tool", "developer", "function"]) | odd_text
contents = (
    odd_text
    | st.none()
    | st.lists(
        st.fixed_dictionaries(
            {"type": st.sampled_from(["text", "image_url"]) | odd_text, "text": odd_text}
        ),
        max_size=3,
    )
    | json_values
)
messages = st.fixed_dictionaries(
    {"role": roles, "content": contents},
    optional={
        "name": odd_text | json_values,
        "tool_calls": json_values,
        "tool_call_id": odd_text | json_values,
    },
)
# Close to a real request, so that generated bodies get past the first checks.
chat_bodies = st.fixed_dictionaries(
    {"messages": st.lists(messages, max_size=4) | json_values},
    optional={
        "model": json_values,
        "stream": st.booleans() | json_values,
        "stream_options": st.fixed_dictionaries({}, optional={"include_usage": json_values})
        | json_values,
        "tools": json_values,
        "temperature": json_values,
        "user": json_values,
    },
)

# Valid in shape, odd in content: these get past validation and into a run.
text_parts = st.lists(
    st.fixed_dictionaries({"type": st.just("text"), "text": odd_text}), max_size=3
)
function_calls = st.fixed_dictionaries(
    {
        "id": odd_text,
        "type": st.just("function"),
        "function": st.fixed_dictionaries({"name": odd_text, "arguments": odd_text}),
    }
)
conversation_messages = st.one_of(
    st.fixed_dictionaries(
        {"role": st.sampled_from(["user", "system"]), "content": odd_text | text_parts},
        optional={"name": odd_text},
    ),
    st.fixed_dictionaries(
        {"role": st.just("assistant")},
        optional={
            "content": odd_text | text_parts | st.none(),
            "tool_calls": st.lists(function_calls, max_size=2),
        },
    ),
    st.fixed_dictionaries(
        {"role": st.just("tool"), "content": odd_text | text_parts, "tool_call_id": odd_text}
    ),
)
conversations = st.fixed_dictionaries(
    {"messages": st.lists(conversation_messages, min_size=1, max_size=5)},
    optional={
        "stream": st.booleans(),
        "stream_options": st.fixed_dictionaries({"include_usage": st.booleans()}),
        "model": odd_text,
    },
)


def encoded(value: Any) -> bytes:
    return json.dumps(value).encode()  # ASCII: lone surrogates travel as \ud800 escapes


# properties --------------------------------------------------------------------------------


@PROPERTIES
@given(body=chat_bodies | json_values)
async def test_any_json_body(server: httpx.AsyncClient, body: Any) -> None:
    response = await server.post(
        CHAT, content=encoded(body), headers={"content-type": "application/json"}
    )
    well_behaved(response)


@PROPERTIES
@given(body=conversations, session=st.none() | st.sampled_from(["s-1", "s-2"]))
async def test_any_conversation(server: httpx.AsyncClient, body: Any, session: str | None) -> None:
    headers = {"x-session-id": session} if session else {}
    response = await server.post(CHAT, content=encoded(body), headers=headers)
    well_behaved(response)


@PROPERTIES
@given(body=conversations)
async def test_a_streamed_answer_says_what_the_plain_one_says(
    server: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    plain = await server.post(CHAT, content=encoded({**body, "stream": False}))
    streamed = await server.post(CHAT, content=encoded({**body, "stream": True}))
    well_behaved(plain)
    well_behaved(streamed)
    assert plain.status_code == streamed.status_code
    if plain.status_code == 200:
        content = plain.json()["choices"][0]["message"]["content"]
        chunks = sse_chunks(streamed.text)
        assert streamed_text(chunks) == content
        [final] = [c for c in chunks[:-1] if c["choices"] and c["choices"][0]["finish_reason"]]
        assert (final["choices"][0]["finish_reason"], final["webagents"]["agent"]) == (
            "stop",
            AGENT,
        )


@PROPERTIES
@given(
    body=st.binary(max_size=LIMIT + 100),
    content_type=st.sampled_from(["application/json", "text/plain", "", "a/b; charset=nope"]),
)
async def test_any_bytes_body(small: httpx.AsyncClient, body: bytes, content_type: str) -> None:
    response = await small.post(CHAT, content=body, headers={"content-type": content_type})
    well_behaved(response)
    if len(body) > LIMIT:
        assert response.status_code == 413
    else:  # bytes may happen to be JSON ('{"":""}'), even a request
        assert response.status_code in (200, 400, 422)


@PROPERTIES
@given(session=latin1_text | st.text("abc", min_size=250, max_size=300), stream=st.booleans())
async def test_any_session_id(server: httpx.AsyncClient, session: str, stream: bool) -> None:
    # Header values travel as latin-1 bytes: any of them may arrive.
    headers = {"x-session-id": session.encode("latin-1")}
    for _ in range(2):  # the second turn continues the stored session
        response = await server.post(CHAT, json={**HELLO, "stream": stream}, headers=headers)
        well_behaved(response)
        if response.status_code != 200:
            assert response.status_code == 400
            assert response.json()["error"]["param"] == "X-Session-Id"
            break


@PROPERTIES
@given(name=odd_text, method=st.sampled_from(["POST", "GET", "PUT", "DELETE", "PATCH"]))
async def test_any_agent_name_and_method(server: httpx.AsyncClient, name: str, method: str) -> None:
    path = f"/agents/{quote(name, safe='')}/chat/completions"
    response = await server.request(method, path, json=HELLO)
    well_behaved(response)
    if name != AGENT:
        assert response.status_code in (404, 405)
    card = await server.get(f"/agents/{quote(name, safe='')}")
    well_behaved(card)


@PROPERTIES
@given(raw_path=st.binary(max_size=60))
async def test_any_raw_path(server: httpx.AsyncClient, raw_path: bytes) -> None:
    # Bytes as a client may put them on the request line, percent-encoded or not.
    path = "/agents/" + quote(raw_path, safe="/%") + "/chat/completions"
    response = await server.post(path, json=HELLO)
    well_behaved(response)


@PROPERTIES
@given(authorization=latin1_text | st.just(f"Bearer {KEY}"), body=chat_bodies)
async def test_any_authorization(
    keyed: httpx.AsyncClient, authorization: str, body: dict[str, Any]
) -> None:
    headers = {"authorization": authorization.encode("latin-1")}
    response = await keyed.post(CHAT, content=encoded(body), headers=headers)
    well_behaved(response)
    scheme, _, key = authorization.partition(" ")
    if scheme.lower() != "bearer" or key.strip() != KEY:
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"


@PROPERTIES
@given(
    session=st.text(st.characters(min_codepoint=0x21, max_codepoint=0xFF), min_size=1, max_size=40),
    secret=st.text(
        st.characters(codec="utf-8", exclude_characters="\x00"), min_size=8, max_size=30
    ),
    stream=st.booleans(),
)
async def test_a_session_is_its_users_alone(
    users: httpx.AsyncClient, session: str, secret: str, stream: bool
) -> None:
    # Ada's turn is stored under the session id; Bob naming the same id gets a 404, never
    # her transcript (the echo agent would repeat it back).
    assume(secret not in session)  # the refusal names the session id, which is Bob's to know
    ada = {"authorization": f"Bearer {ADA_KEY}", "x-session-id": session.encode("latin-1")}
    bob = {"authorization": f"Bearer {BOB_KEY}", "x-session-id": session.encode("latin-1")}
    mine = {"messages": [{"role": "user", "content": f"my card is {secret}"}], "stream": stream}
    first = await users.post(CHAT, json=mine, headers=ada)
    well_behaved(first)
    if first.status_code != 200:
        return  # an id the server refuses (too long, unprintable): nothing stored
    theirs = await users.post(CHAT, json={**HELLO, "stream": stream}, headers=bob)
    well_behaved(theirs)
    assert theirs.status_code == 404
    assert secret not in theirs.text and json.dumps(secret)[1:-1] not in theirs.text


def _near_now(offset: int) -> str:
    return str(int(time.time()) + offset)


# A genuine signature with some of its headers replaced or dropped: the changes reach every
# check (format, window, nonce, the signature itself), not only the first.
tampered_headers = st.fixed_dictionaries(
    {},
    optional={
        SIGNATURE_HEADER: st.sampled_from(["v1=", "v2=ab", "v1=" + "0" * 64])
        | latin1_text
        | latin1_text.map("v1=".__add__),
        TIMESTAMP_HEADER: st.integers(-400, 400).map(_near_now) | latin1_text,
        NONCE_HEADER: latin1_text,
    },
)
dropped_headers = st.sets(st.sampled_from([SIGNATURE_HEADER, TIMESTAMP_HEADER, NONCE_HEADER]))


@PROPERTIES
@given(tamper=tampered_headers, drop=dropped_headers, body=conversations)
async def test_any_signature_headers(
    signed: httpx.AsyncClient, tamper: dict[str, str], drop: set[str], body: dict[str, Any]
) -> None:
    content = encoded(body)
    genuine = sign_request(SIGNING_KEY, "POST", CHAT, content)
    headers = {name: value for name, value in {**genuine, **tamper}.items() if name not in drop}
    sent = {name: value.encode("latin-1") for name, value in headers.items()}
    response = await signed.post(CHAT, content=content, headers=sent)
    well_behaved(response)
    if headers != genuine:
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "invalid_signature"


@PROPERTIES
@given(
    declared=st.text(st.sampled_from("0123456789 +-x"), max_size=8)
    | st.text(st.sampled_from("0123456789\u00b2\u00b3\u00b9"), min_size=1, max_size=4)
    | latin1_text
)
async def test_any_declared_content_length(small: httpx.AsyncClient, declared: str) -> None:
    # Under uvicorn the HTTP parser refuses a bad Content-Length before the app runs; other
    # ASGI servers may pass it on, so the app must cope with any value itself.
    body = encoded(HELLO)
    headers = {"content-length": declared.encode("latin-1")}
    response = await small.post(CHAT, content=body, headers=headers)
    well_behaved(response)


# every documented route, from the server's own OpenAPI schema (schemathesis) ---------------


def _echo_app(**options: Any) -> Any:
    network = AgentNetwork("documented", sessions=InMemorySessionStore())
    agent, _ = scripted_agent(AGENT, responder=echo, network=network)
    return create_app([agent], **options)


# The schema is read when the module loads (schemathesis' fixture-based loader does not work
# with pytest 9); each test calls an app of its own, since schemathesis ends the lifespan of
# the apps it called (a shutdown the app does not come back from) when a test ends.
from_schema = schemathesis.openapi.from_asgi("/openapi.json", _echo_app(sessions="memory"))


@pytest.fixture
def documented(tmp_path: Path) -> Any:
    return _echo_app(sessions=f"sqlite:///{tmp_path / 'sessions.db'}")


@from_schema.parametrize()
@settings(PROPERTIES, max_examples=25)
def test_every_documented_route(documented: Any, case: Any) -> None:
    # Only "no 5xx" of schemathesis' checks: the schema documents the success and validation
    # shapes, not every refusal (404, 401, 413, ...), which the checks below cover instead.
    response = case.call(app=documented)
    case.validate_response(response, checks=[not_a_server_error])
    assert response.status_code < 500
    for leak in LEAKS:
        assert leak not in response.text, response.text
    if response.status_code >= 400:
        error = response.json()["error"]
        assert set(error) == {"message", "type", "param", "code"}


# regressions -------------------------------------------------------------------------------


async def test_a_non_ascii_signature_is_refused_with_401(signed: httpx.AsyncClient) -> None:
    content = encoded(HELLO)
    headers = {**sign_request(SIGNING_KEY, "POST", CHAT, content), SIGNATURE_HEADER: "v1=\xe9"}
    sent = {name: value.encode("latin-1") for name, value in headers.items()}
    response = await signed.post(CHAT, content=content, headers=sent)
    well_behaved(response)
    assert response.json()["error"]["code"] == "invalid_signature"


async def test_a_non_ascii_digit_content_length_is_not_a_500(small: httpx.AsyncClient) -> None:
    # "\xb2" is "²", which str.isdigit() accepts and int() refuses: once a 500.
    response = await small.post(CHAT, content=encoded(HELLO), headers={"content-length": b"\xb2"})
    well_behaved(response)
    assert response.status_code == 200  # the body is counted as it arrives
