"""The A2A routes of ``create_app`` (``webagents.a2a.serve``), or, without the ``a2a``
extra, the same routes answering 501 with the command that installs it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from starlette.responses import Response

from webagents.server.errors import ApiError

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.requests import Request

    from webagents.agents.agent import BaseAgent
    from webagents.remote.signing import SignatureVerifier
    from webagents.server.chat import ServerState

__all__ = ["add_a2a_routes"]

_PATHS = (
    ("/agents/{name}/.well-known/agent-card.json", ["GET"]),
    ("/agents/{name}", ["POST"]),
)
_SDK_MODULES = frozenset({"a2a", "google", "sse_starlette"})


def add_a2a_routes(
    app: Starlette,
    agents: Mapping[str, BaseAgent],
    state: ServerState | None = None,
    *,
    verifier: SignatureVerifier | None = None,
    max_body_bytes: int = 1_000_000,
) -> None:
    """Serve every agent of ``agents`` (name in the URL -> agent) as an A2A agent on
    ``app``; with a ``verifier``, JSON-RPC requests must be signed; a body past
    ``max_body_bytes`` is refused (413). Runs count among ``state``'s (the server's limit
    of runs in flight, 503 while it shuts down)."""
    try:
        from webagents.a2a.serve import A2AServer
    except ImportError as error:
        if (error.name or "").partition(".")[0] not in _SDK_MODULES:
            raise
        paths = list(_PATHS)
        if len(agents) == 1:
            paths.append(("/.well-known/agent-card.json", ["GET"]))
        for path, methods in paths:
            app.add_route(path, _not_installed, methods=methods, include_in_schema=False)
        return
    served = A2AServer(agents, state=state, verifier=verifier, max_body_bytes=max_body_bytes)
    for path, endpoint, methods in served.routes():
        app.add_route(path, endpoint, methods=methods, include_in_schema=False)


async def _not_installed(request: Request) -> Response:
    raise ApiError(
        501,
        "A2A is not available on this server: it needs the a2a extra "
        "(pip install 'webagents-net[a2a]')",
        code="a2a_not_installed",
    )
