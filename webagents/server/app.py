"""``create_app``: a FastAPI app serving agents over the OpenAI Chat Completions API.

Routes: ``GET /health``, ``GET /agents`` (cards), ``GET /agents/{name}`` (one card),
``POST /agents/{name}/chat/completions`` (``webagents.server.chat``) and
``/agents/{name}/mcp`` (the agent's tools over MCP, ``webagents.mcp.server``).
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from webagents.a2a.routes import add_a2a_routes
from webagents.mcp.server import mount_mcp
from webagents.server.auth import BearerAuth, load_api_keys, load_signing
from webagents.server.chat import ChatRoute, ServerState, agent_not_found, shutting_down
from webagents.server.errors import install_error_handlers
from webagents.server.playground import install_playground
from webagents.server.stores import assign_stores
from webagents.server.targets import agent_path, served_agents
from webagents.server.wire import RequestBody

if TYPE_CHECKING:
    from starlette.types import Receive, Scope, Send

    from webagents.agents.agent import BaseAgent
    from webagents.remote.signing import SignatureVerifier
    from webagents.sessions.base import SessionStore

__all__ = ["create_app"]

logger = logging.getLogger("webagents.server")

_JSON = "application/json"
_HEALTH = b'{"status":"ok"}'
_CHAT_PATH = "/agents/{name}/chat/completions"


def create_app(
    target: object,
    *,
    api_keys: Sequence[str] | Mapping[str, str | None] | None = None,
    signing_keys: str | bytes | Sequence[str | bytes] | SignatureVerifier | None = None,
    sessions: SessionStore[Any] | str | None = None,
    max_body_bytes: int = 1_000_000,
    max_concurrent_runs: int | None = None,
    title: str = "webagents",
) -> FastAPI:
    """An ASGI app (FastAPI) serving ``target``: a list of agents, a mapping name -> agent, an
    ``AgentNetwork`` (its local agents) or a team (an object with a ``network``).

    ``api_keys``: a list of bearer keys, or a mapping key -> user id (that user becomes the
    run's ``peer_user_id`` and owns the sessions it starts); default ``WEBAGENTS_API_KEYS``
    (``k1,k2`` or ``k1=ada,k2=bob``); none means an open server. ``signing_keys``: POSTs must
    be signed (``webagents.remote.signing``); default ``WEBAGENTS_SIGNING_KEYS``.
    ``sessions``: the store of ``X-Session-Id`` conversations (see
    ``webagents.server.stores``). ``max_body_bytes`` bounds a request body (413 past it);
    ``max_concurrent_runs`` answers 429 beyond that many runs in flight. Shutting down closes
    the served agents' networks and the session store the app opened.
    """
    if (
        isinstance(max_body_bytes, bool)
        or not isinstance(max_body_bytes, int)
        or max_body_bytes < 1
    ):
        raise ValueError(f"create_app(max_body_bytes={max_body_bytes!r}) must be an int >= 1")
    if max_concurrent_runs is not None and (
        isinstance(max_concurrent_runs, bool)
        or not isinstance(max_concurrent_runs, int)
        or max_concurrent_runs < 1
    ):
        raise ValueError(
            f"create_app(max_concurrent_runs={max_concurrent_runs!r}) must be an int >= 1 or None"
        )
    served = served_agents(target)
    keys = load_api_keys(api_keys)
    verifier = load_signing(signing_keys)
    state = ServerState(most=max_concurrent_runs, networks=served.networks)
    state.stores = assign_stores(served.agents.values(), sessions)
    agents = served.agents

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        assert isinstance(app, AgentServer)
        app.check_fast_path()
        yield
        state.closing = True
        await close_mcp()
        await _close(state)

    app = AgentServer(title=title, lifespan=lifespan)
    install_error_handlers(app)
    playground = install_playground(app, agents, _start(target, agents))
    if keys is not None:
        app.add_middleware(BearerAuth, keys=keys, open_paths=playground)

    def find(name: str) -> BaseAgent:
        agent = agents.get(name)
        if agent is None:
            raise agent_not_found(name)
        return agent

    @app.get("/health")
    async def health() -> Response:
        if state.closing:
            raise shutting_down()
        return Response(_HEALTH, media_type=_JSON)

    @app.get("/agents")
    async def list_agents(request: Request) -> Response:
        base = str(request.base_url).rstrip("/")
        cards = [_card(name, agent, base) for name, agent in agents.items()]
        return Response(json.dumps(cards, default=str).encode(), media_type=_JSON)

    @app.get("/agents/{name}")
    async def get_agent(name: str, request: Request) -> Response:
        card = _card(name, find(name), str(request.base_url).rstrip("/"))
        return Response(json.dumps(card, default=str).encode(), media_type=_JSON)

    # The chat route is a plain ASGI endpoint, matched first (and reached directly by
    # AgentServer): FastAPI's request handling (dependency solving, exit stacks) cost more
    # than the rest of a quick run. A route that never runs documents it in the OpenAPI schema.
    chat = ChatRoute(
        agents,
        state,
        max_body_bytes=max_body_bytes,
        verifier=verifier,
    )
    app.router.routes.insert(0, Route(_CHAT_PATH, chat, methods=["POST"]))
    app.fast_chat = BearerAuth(chat, keys) if keys is not None else chat
    close_mcp = mount_mcp(app, agents, title=title)  # /agents/{name}/mcp, behind the same keys
    app.own_middleware = len(app.user_middleware)
    app.add_api_route(
        _CHAT_PATH,
        _documented_only,
        methods=["POST"],
        openapi_extra={"requestBody": _request_schema()},
        responses={200: {"description": "a chat.completion, or chunks when stream is true"}},
        summary="Chat with the agent (OpenAI Chat Completions format)",
    )
    # each agent is an A2A agent too (webagents.a2a.serve)
    add_a2a_routes(app, agents, state, verifier=verifier, max_body_bytes=max_body_bytes)
    return app


class AgentServer(FastAPI):
    """The app ``create_app`` returns. A chat request goes straight to the chat endpoint
    (behind the API-key check), skipping the middleware stack of every other route: that
    stack cost more than a quick run's own handling. It takes the full stack as soon as
    middleware is added (``app.add_middleware``) or FastAPI's native telemetry is
    configured when the app starts, so neither ever misses a request."""

    fast_chat: Any = None
    own_middleware = 0
    _fast = True

    def check_fast_path(self) -> None:
        telemetry = getattr(self, "_native_telemetry", None)
        self._fast = telemetry is None or not telemetry.enabled()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] == "POST"
            and self._fast
            and self.fast_chat is not None
            and len(self.user_middleware) == self.own_middleware
        ):
            name = _chat_agent(scope)
            if name is not None:
                scope["app"] = self
                scope["path_params"] = {"name": name}
                await self.fast_chat(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


def _start(target: object, agents: Mapping[str, BaseAgent]) -> str:
    """The agent the playground offers first: a team's start, else the first agent no other
    served agent hands off to (a triage desk), else the first."""
    name = getattr(getattr(target, "start", None), "name", None)
    if isinstance(name, str) and name in agents:
        return name
    targets = {t for agent in agents.values() for t in agent.target_names()}
    return next((n for n in agents if n not in targets), next(iter(agents)))


def _chat_agent(scope: Scope) -> str | None:
    """The agent of a ``/agents/{name}/chat/completions`` path, as the route would match it."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root) :]
    if path.startswith("/agents/") and path.endswith("/chat/completions"):
        name = path[len("/agents/") : -len("/chat/completions")]
        if name and "/" not in name:
            return name
    return None


async def _documented_only(name: str) -> None:
    raise AssertionError("the Starlette route above answers this path")  # pragma: no cover


def _card(name: str, agent: BaseAgent, base: str) -> dict[str, Any]:
    """The wire contract's card: what discovery and remote callers read."""
    tags = agent.metadata.get("tags") or []
    return {
        "name": name,
        "description": agent.description,
        "url": base + agent_path(name),
        "tools": [
            entry.name for entry in agent.capabilities.tools.values() if entry.scope == "all"
        ],
        "handoffs": agent.target_names(),
        "tags": list(tags) if isinstance(tags, list | tuple) else [str(tags)],
        "price": agent.metadata.get("price"),
    }


@functools.cache
def _request_schema() -> dict[str, Any]:
    """The request body in the OpenAPI document (the route reads the raw body itself, so
    FastAPI cannot derive it): the pydantic schema with its definitions inlined."""
    from pydantic import TypeAdapter

    schema = TypeAdapter(RequestBody).json_schema()
    definitions = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return inline(definitions[ref.removeprefix("#/$defs/")])
            # a discriminator maps to definitions no longer there; the roles' consts suffice
            return {key: inline(value) for key, value in node.items() if key != "discriminator"}
        if isinstance(node, list):
            return [inline(item) for item in node]
        return node

    return {"required": True, "content": {_JSON: {"schema": inline(schema)}}}


async def _close(state: ServerState) -> None:
    """Shutdown: the served agents' networks (agents, models, skills, remote connections),
    then the stores the app opened; a failure is logged and the rest still closes."""
    for network in state.networks:
        try:
            await network.aclose()
        except Exception:
            logger.exception("closing agent network %r at shutdown failed", network.name)
    for store in state.stores:
        try:
            await store.aclose()
        except Exception:
            logger.exception("closing session store %r at shutdown failed", store)
