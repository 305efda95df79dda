"""The playground: one page, served by the agent server, to chat with its agents in a browser
and watch the handoffs happen (``GET /playground``; ``GET /`` redirects there).

The page is plain HTML, CSS and JavaScript shipped in this package (``static/``): no build
step, nothing fetched from elsewhere, so it works offline. It talks to the server's own API
(the chat route, with ``stream_options.include_tool_events`` so it can show tool calls) and
reads the team's handoff graph from ``GET /playground/graph.json``. The page itself holds no
data, so it is open even when API keys are configured; everything it shows comes from routes
that need a key, which the page asks for and keeps in the tab only.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from importlib import resources
from typing import TYPE_CHECKING, Any

from starlette.responses import RedirectResponse, Response

from webagents.server.errors import error_response

if TYPE_CHECKING:
    from fastapi import FastAPI
    from starlette.requests import Request

    from webagents.agents.agent import BaseAgent
    from webagents.agents.network import RemoteAgent

__all__ = ["graph_json", "install_playground"]

PAGE = "/playground"
STATIC = "/playground/static/"

_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}
# Everything the page shows comes from its own origin, and no inline script runs: text a
# model or remote agent wrote can never become code, even if a bug inserted it as HTML.
_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def _static_files() -> dict[str, bytes]:
    folder = resources.files(__name__).joinpath("static")
    return {
        item.name: item.read_bytes()
        for item in folder.iterdir()
        if item.is_file() and any(item.name.endswith(suffix) for suffix in _TYPES)
    }


def install_playground(app: FastAPI, agents: Mapping[str, BaseAgent], start: str) -> frozenset[str]:
    """Add the playground's routes to ``app``: the page, its static files, the graph, and
    ``GET /`` redirecting to the page unless the app already answers ``/``. Returns what a
    caller without an API key may fetch (the page, its files and the redirect: no data),
    for ``BearerAuth``'s ``open_paths`` (``/prefix/*`` is a prefix)."""
    files = _static_files()

    def static(name: str) -> Response:
        suffix = name[name.rfind(".") :]
        return Response(files[name], media_type=_TYPES[suffix], headers=_HEADERS)

    async def page(request: Request) -> Response:
        return static("index.html")

    async def asset(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in files or name == "index.html":
            return error_response(404, f"no playground file {name!r}", code="route_not_found")
        return static(name)

    async def graph(request: Request) -> Response:
        return Response(
            json.dumps(graph_json(agents, start), ensure_ascii=False),
            media_type="application/json",
            headers={"Cache-Control": "no-cache"},
        )

    async def root(request: Request) -> Response:
        return RedirectResponse(str(request.url_for("playground")), status_code=307)

    open_paths = {PAGE, STATIC + "*"}
    if not any(getattr(route, "path", None) == "/" for route in app.router.routes):
        app.add_route("/", root, methods=["GET"], include_in_schema=False)
        open_paths.add("/")
    app.add_route(PAGE, page, methods=["GET"], name="playground", include_in_schema=False)
    app.add_route(STATIC + "{name}", asset, methods=["GET"], include_in_schema=False)
    app.add_route(PAGE + "/graph.json", graph, methods=["GET"], include_in_schema=False)
    return frozenset(open_paths)


def graph_json(agents: Mapping[str, BaseAgent], start: str) -> dict[str, Any]:
    """The handoff graph of the served agents as the page draws it: ``start`` (the agent a
    new conversation begins with), ``nodes`` (``name``, ``role``: start, agent, remote or
    unknown, ``description``) and ``edges`` (``source``, ``target``, ``triggers``: transfer,
    condition, or fallback for a remote agent's fallbacks)."""
    from webagents.agents.network import RemoteAgent
    from webagents.teams.graph import edges

    members: dict[str, BaseAgent | RemoteAgent] = dict(agents)
    found = edges(members)
    # Remote targets are drawn as members of their own (hexagons): look them up by name.
    for edge in found:
        if edge.target not in members:
            network = agents[edge.source].network if edge.source in agents else None
            target = network.get(edge.target) if network is not None else None
            if isinstance(target, RemoteAgent):
                members[edge.target] = target
    links: list[tuple[str, str, list[str]]] = [
        (edge.source, edge.target, list(edge.triggers)) for edge in found
    ]
    for name, member in list(members.items()):
        if isinstance(member, RemoteAgent):
            links += [(name, backup, ["fallback"]) for backup in member.fallbacks]
    nodes = []
    for name, member in members.items():
        role = "remote" if isinstance(member, RemoteAgent) else "agent"
        nodes.append(
            {
                "name": name,
                "role": "start" if name == start else role,
                "description": member.description,
            }
        )
    named = set(members)
    for _, to, _ in links:
        if to not in named:
            named.add(to)
            nodes.append({"name": to, "role": "unknown", "description": ""})
    edge_list = [{"source": source, "target": to, "triggers": how} for source, to, how in links]
    return {"start": start, "nodes": nodes, "edges": edge_list}
