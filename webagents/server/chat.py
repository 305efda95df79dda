"""``POST /agents/{name}/chat/completions``: a plain ASGI endpoint (no Request object, no
dependency injection), since its own cost is what a quick run's request costs beyond the
run itself."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.datastructures import Headers
from starlette.responses import Response

from webagents import tracing
from webagents.agents.runner import Run
from webagents.errors import InvalidRequestError
from webagents.server.auth import USER_SCOPE_KEY, verify_signature
from webagents.server.errors import ApiError, error_response
from webagents.server.runs import ClientGone, SSEResponse, answer, read_body
from webagents.server.wire import parse_chat_request

if TYPE_CHECKING:
    from starlette.types import Receive, Scope, Send

    from webagents.agents.agent import BaseAgent
    from webagents.agents.network import AgentNetwork
    from webagents.remote.signing import SignatureVerifier
    from webagents.sessions.base import SessionStore

__all__ = ["ChatRoute", "RunSlot", "ServerState", "agent_not_found", "shutting_down"]

logger = logging.getLogger("webagents.server")

_MAX_SESSION_ID = 256


@dataclass(slots=True)
class ServerState:
    """What the routes share: whether the server is shutting down, the runs in flight (at
    most ``most``; None for no limit), and what shutdown closes."""

    closing: bool = False
    running: int = 0
    most: int | None = None
    networks: list[AgentNetwork] = field(default_factory=list)
    stores: list[SessionStore[Any]] = field(default_factory=list)

    def admit(self) -> RunSlot:
        """A place for one more run (every route that starts runs takes one), or the error
        its caller gets: 503 while the server shuts down, 429 when ``most`` are in flight."""
        if self.closing:
            raise shutting_down()
        if self.most is not None and self.running >= self.most:
            raise ApiError(
                429,
                f"agent server busy: {self.most} runs in flight; retry shortly",
                code="too_many_runs",
                headers={"Retry-After": "1"},
            )
        self.running += 1
        return RunSlot(self)


class RunSlot:
    """One run's place in ``ServerState.running``, given back once by ``release``. A request
    holds it until its response ends, unless a run ``held`` it: then the run gives it back
    when it ends (an A2A send that does not wait for its run)."""

    __slots__ = ("held", "state")

    def __init__(self, state: ServerState) -> None:
        self.state: ServerState | None = state
        self.held = False

    def release(self) -> None:
        if self.state is not None:
            self.state.running -= 1
            self.state = None


class ChatRoute:
    """The chat endpoint of every served agent."""

    def __init__(
        self,
        agents: Mapping[str, BaseAgent],
        state: ServerState,
        *,
        max_body_bytes: int,
        verifier: SignatureVerifier | None,
    ) -> None:
        self.agents = agents
        self.state = state
        self.limit = max_body_bytes
        self.verifier = verifier

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            response = await self.respond(scope, receive)
        except ApiError as error:
            response = error.response()
        except ClientGone:
            return  # nobody to answer
        except Exception:
            logger.exception("handling %s %s failed", scope["method"], scope["path"])
            response = error_response(
                500, "the agent server failed to handle this request", code="internal_error"
            )
        await response(scope, receive, send)

    async def respond(self, scope: Scope, receive: Receive) -> Response:
        name = scope["path_params"]["name"]
        agent = self.agents.get(name)
        if agent is None:
            raise agent_not_found(name)
        state = self.state
        if state.closing:
            raise shutting_down()
        declared = session_header = None
        for key, value in scope["headers"]:
            if key == b"content-length":
                declared = value.decode("latin-1")
            elif key == b"x-session-id":
                session_header = value.decode("latin-1")
        body = await read_body(receive, self.limit, declared)
        if self.verifier is not None:
            verify_signature(self.verifier, scope, Headers(scope=scope), body)
        chat = parse_chat_request(body)
        session_id = _session_id(session_header)
        try:
            run = Run.create(
                agent,
                chat.messages,
                session_id,
                scope.get(USER_SCOPE_KEY),
                None,
                "all",
                streaming=chat.stream,
            )
        except InvalidRequestError as error:
            raise ApiError(400, str(error), code="invalid_request") from None
        if run.trace is not None:  # the caller's trace (traceparent) goes on in this run
            tracing.continue_trace(run, Headers(scope=scope))
        slot = state.admit()
        if chat.stream:
            streamed = SSEResponse(
                run, agent.name, chat.include_usage, tool_events=chat.tool_events
            )
            return Counted(streamed, slot)
        try:
            return await answer(run, receive, agent.name)
        finally:
            slot.release()


class Counted(Response):
    """A response whose run (a streamed one) holds ``slot`` until the response ends."""

    def __init__(self, inner: Response, slot: RunSlot) -> None:
        self.inner = inner
        self.slot = slot
        self.background = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.inner(scope, receive, send)
        finally:
            if not self.slot.held:
                self.slot.release()


def _session_id(header: str | None) -> str | None:
    if header is None:
        return None
    if not header or len(header) > _MAX_SESSION_ID or not header.isprintable():
        raise ApiError(
            400,
            f"X-Session-Id must be 1 to {_MAX_SESSION_ID} printable characters",
            code="invalid_session_id",
            param="X-Session-Id",
        )
    return header


def agent_not_found(name: str) -> ApiError:
    return ApiError(
        404,
        f"no agent {name!r} is served here; GET /agents lists them",
        code="agent_not_found",
        param="name",
    )


def shutting_down() -> ApiError:
    return ApiError(
        503,
        "the agent server is shutting down; retry on another instance",
        code="shutting_down",
        headers={"Retry-After": "1"},
    )
