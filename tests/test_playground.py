"""The playground's server side, over real HTTP: its routes (open without a key, the data
behind one), the graph it draws, tool events streamed only on request, the static files in
the wheel, and ``webagents serve`` printing its URL. The page itself is tested in a browser
(``test_playground_browser.py``)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import httpx
import pytest

from tests.test_cli_serve import ServerProcess, write
from webagents import AgentNetwork, BaseAgent
from webagents.server import create_app
from webagents.teams import Team
from webagents.testing import ScriptedModel, tool_call
from webagents.testing.served import ServedApp

ROOT = Path(__file__).resolve().parents[1]
STATIC = ("index.html", "app.js", "transcript.js", "graph.js", "style.css")


def lookup(order: str) -> str:
    """Look an order up."""
    return f"order {order} shipped"


def chunks(response: httpx.Response) -> list[dict[str, object]]:
    lines = [line.removeprefix("data: ") for line in response.text.split("\n\n") if line]
    assert lines[-1] == "[DONE]"
    return [json.loads(line) for line in lines[:-1]]


def events(response: httpx.Response) -> list[dict[str, object]]:
    found = []
    for chunk in chunks(response):
        extension = chunk.get("webagents")
        if isinstance(extension, dict) and "event" in extension:
            found.append(extension["event"])
    return found


@pytest.mark.parametrize("asked", [False, True])
def test_tool_events_are_streamed_only_when_asked_for(asked: bool) -> None:
    network = AgentNetwork("tools")
    model = ScriptedModel(
        [tool_call("lookup", {"order": "7"}, id="call_7"), "Shipped."] * 2, name="m"
    )
    BaseAgent("desk", model=model, tools=[lookup], network=network)
    options = {"include_usage": True, "include_tool_events": True} if asked else {}
    body = {"messages": [{"role": "user", "content": "Order 7?"}], "stream": True}
    with ServedApp(create_app(network, sessions="memory")) as server:
        url = f"{server.url}/agents/desk/chat/completions"
        streamed = httpx.post(url, json={**body, "stream_options": options})
        plain = httpx.post(url, json={**body, "stream": False, "stream_options": options})
    tool_events = [e for e in events(streamed) if str(e["type"]).startswith("tool.")]
    if asked:
        assert tool_events == [
            {
                "type": "tool.call",
                "agent": "desk",
                "call_id": "call_7",
                "name": "lookup",
                "arguments": '{"order": "7"}',
            },
            {
                "type": "tool.result",
                "agent": "desk",
                "call_id": "call_7",
                "name": "lookup",
                "output": "order 7 shipped",
                "is_error": False,
            },
        ]
    else:
        assert tool_events == []
    assert [e["type"] for e in events(streamed) if e not in tool_events] == [
        "agent.started",
        "agent.completed",
    ]
    # A plain answer is the same either way.
    assert plain.json()["choices"][0]["message"]["content"] == "Shipped."


def test_include_tool_events_must_be_a_boolean() -> None:
    network = AgentNetwork("bad-option")
    BaseAgent("desk", model=ScriptedModel(["hi"]), network=network)
    with ServedApp(create_app(network, sessions="memory")) as server:
        answer = httpx.post(
            f"{server.url}/agents/desk/chat/completions",
            json={
                "messages": [{"role": "user", "content": "hi"}],
                "stream": True,
                "stream_options": {"include_tool_events": "lots"},
            },
        )
    assert answer.status_code == 422
    assert answer.json()["error"]["param"] == "stream_options.include_tool_events"


def support_team() -> object:
    network = AgentNetwork("support")
    billing = BaseAgent(  # hands back to desk: only the team says where runs start
        "billing", description="Invoices", model=ScriptedModel([]), handoffs=["desk"],
        network=network,
    )  # fmt: skip
    network.register_remote(
        "expert", "http://127.0.0.1:9/agents/expert", description="Hard cases",
        fallbacks=["billing"],
    )  # fmt: skip
    desk = BaseAgent("desk", model=ScriptedModel([]), handoffs=[billing, "expert"], network=network)
    return Team("support", network, desk)


def test_the_graph_names_the_start_the_members_and_every_edge() -> None:
    with ServedApp(create_app(support_team(), sessions="memory")) as server:
        graph = httpx.get(f"{server.url}/playground/graph.json").json()
    assert graph == {
        "start": "desk",
        "nodes": [
            {"name": "billing", "role": "agent", "description": "Invoices"},
            {"name": "desk", "role": "start", "description": ""},
            {"name": "expert", "role": "remote", "description": "Hard cases"},
        ],
        "edges": [
            {"source": "billing", "target": "desk", "triggers": ["transfer"]},
            {"source": "desk", "target": "billing", "triggers": ["transfer"]},
            {"source": "desk", "target": "expert", "triggers": ["transfer"]},
            {"source": "expert", "target": "billing", "triggers": ["fallback"]},
        ],
    }


def test_a_network_starts_at_the_agent_nobody_hands_off_to() -> None:
    network = AgentNetwork("net")
    billing = BaseAgent("billing", model=ScriptedModel([]), network=network)
    BaseAgent("desk", model=ScriptedModel([]), handoffs=[billing, "nowhere"], network=network)
    with ServedApp(create_app(network, sessions="memory")) as server:
        graph = httpx.get(f"{server.url}/playground/graph.json").json()
    assert graph["start"] == "desk"
    assert {"name": "nowhere", "role": "unknown", "description": ""} in graph["nodes"]


def test_the_page_and_its_files_are_served_with_a_strict_policy() -> None:
    network = AgentNetwork("page")
    BaseAgent("desk", model=ScriptedModel([]), network=network)
    with ServedApp(create_app(network, sessions="memory")) as server, httpx.Client() as client:
        root = client.get(f"{server.url}/")
        page = client.get(f"{server.url}/playground")
        files = {name: client.get(f"{server.url}/playground/static/{name}") for name in STATIC}
        missing = client.get(f"{server.url}/playground/static/secrets.py")
        up = client.get(f"{server.url}/playground/static/..%2Fapp.py")
    assert root.status_code == 307 and root.headers["location"].endswith("/playground")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    assert files["index.html"].status_code == 404  # the page is served at /playground only
    assert files["app.js"].headers["content-type"].startswith("text/javascript")
    assert files["style.css"].headers["content-type"].startswith("text/css")
    # No inline script and nothing from another origin: the page works offline.
    assert "<script>" not in page.text and "http" not in page.text.replace("http-equiv", "")
    for name in ("app.js", "transcript.js", "graph.js"):
        assert "innerHTML" not in files[name].text and "http://" not in files[name].text.replace(
            "http://www.w3.org/2000/svg", ""
        )
    assert missing.status_code == 404 and up.status_code == 404
    assert missing.json()["error"]["code"] == "route_not_found"


def test_with_keys_the_page_is_open_and_the_data_is_not() -> None:
    network = AgentNetwork("keyed")
    BaseAgent("desk", model=ScriptedModel([]), network=network)
    app = create_app(network, sessions="memory", api_keys={"key-ada": "ada"})
    with ServedApp(app) as server, httpx.Client(base_url=server.url) as client:
        assert client.get("/").status_code == 307
        assert client.get("/playground").status_code == 200
        assert client.get("/playground/static/app.js").status_code == 200
        for path in ("/playground/graph.json", "/agents", "/agents/desk", "/nothing", "/docs"):
            refused = client.get(path)
            assert refused.status_code == 401, path
            assert refused.json()["error"]["code"] == "invalid_api_key"
        keyed = client.get("/playground/graph.json", headers={"Authorization": "Bearer key-ada"})
        assert keyed.status_code == 200 and keyed.json()["start"] == "desk"


def test_an_app_that_already_answers_the_root_keeps_it() -> None:
    from webagents.server.playground import install_playground

    network = AgentNetwork("root")
    desk = BaseAgent("desk", model=ScriptedModel([]), network=network)
    app = create_app(network, sessions="memory")
    app.router.routes[:] = [r for r in app.router.routes if getattr(r, "path", "") != "/"]

    @app.get("/")
    async def home() -> dict[str, str]:
        return {"home": "mine"}

    assert "/" not in install_playground(app, {"desk": desk}, "desk")
    with ServedApp(app) as server:
        assert httpx.get(f"{server.url}/").json() == {"home": "mine"}


def test_the_wheel_ships_the_static_files(tmp_path: Path) -> None:
    script = "import sys, hatchling.build; print(hatchling.build.build_wheel(sys.argv[1]))"
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    wheel = tmp_path / done.stdout.strip().splitlines()[-1]
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        shipped = {
            name: archive.read(f"webagents/server/playground/static/{name}") for name in STATIC
        }
    assert "webagents/server/playground/__init__.py" in names
    for name, data in shipped.items():
        assert data == (ROOT / "webagents/server/playground/static" / name).read_bytes(), name


def test_serve_prints_the_playground_url(tmp_path: Path) -> None:
    write(
        tmp_path / "agents.py",
        """
        from webagents import BaseAgent
        from webagents.testing import ScriptedModel

        desk = BaseAgent("desk", model=ScriptedModel(["hi"]))
        """,
    )
    server = ServerProcess("agents.py", cwd=tmp_path)
    try:
        server.started()
        page = httpx.get(f"{server.url}/playground")
    finally:
        log = server.stop()
    assert f"Playground: http://127.0.0.1:{server.port}/playground" in log
    assert page.status_code == 200 and "webagents playground" in page.text


INNER_TEST = """
from playground_browser import browser

def test_uses_the_browser(browser):
    assert browser
"""


@pytest.mark.parametrize(("ci", "outcome"), [("true", "1 error"), ("", "1 skipped")])
def test_without_a_browser_the_tests_skip_or_fail_under_ci(
    tmp_path: Path, ci: str, outcome: str
) -> None:
    (tmp_path / "pytest.ini").write_text(
        "[pytest]\nasyncio_default_fixture_loop_scope = function\n"
    )
    shutil.copyfile(ROOT / "tests" / "playground_browser.py", tmp_path / "playground_browser.py")
    (tmp_path / "test_inner.py").write_text(INNER_TEST)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["PATH"] = str(tmp_path)  # neither chromium nor chromedriver on it
    if ci:
        env["CI"] = ci
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:randomly", "test_inner.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert outcome in done.stdout, done.stdout + done.stderr
    assert "chromium is not installed; run `make services`" in done.stdout
