"""DiscoverySkill: who is listed, and what a listing may show."""

from __future__ import annotations

import json
import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from webagents import AgentNetwork, BaseAgent, Skill, tool
from webagents._urls import redact_url
from webagents.agents import register_remote
from webagents.agents.skills import DiscoverySkill, discovery
from webagents.agents.skills.discovery import DiscoveryToolSkill, rank_agents
from webagents.errors import AgentConfigError
from webagents.testing import scripted_agent, text, tool_call


class Finder(Skill):
    """Keeps its DiscoverySkill inside, as the seed's SmartRouterSkill does."""

    def __init__(self) -> None:
        super().__init__()
        self.discovery = DiscoverySkill()

    @tool
    async def find(self, intent: str) -> str:
        """Find agents for an intent."""
        found = await self.discovery.find_agents(intent=intent, max_results=10)
        return ",".join(entry["name"] for entry in found)


async def test_the_asking_agent_is_not_listed() -> None:
    peer, _ = scripted_agent("travel-peer", description="travel answers")
    attached = DiscoverySkill()
    asker = BaseAgent("travel-asker", description="travel questions", skills={"d": attached})
    inner, model = scripted_agent(
        "travel-router",
        [tool_call("find", {"intent": "travel"}), text("done")],
        description="travel routing",
        skills={"f": Finder()},
    )

    listed = [entry["name"] for entry in await attached.find_agents("travel", max_results=10)]
    await inner.run("find someone")

    assert sorted(listed) == sorted([peer.name, inner.name])
    found_inside = model.requests[1]["messages"][-1]["content"].split(",")
    assert sorted(found_inside) == sorted([peer.name, asker.name])


async def test_only_the_agents_of_the_asking_agents_network_are_listed() -> None:
    red = AgentNetwork("red")
    BaseAgent("travel-red", description="travel", network=red)
    red.register_remote("travel-far", "http://127.0.0.1:9/agents/travel-far", description="travel")
    BaseAgent("travel-default", description="travel")
    BaseAgent("travel-blue", description="travel", network=AgentNetwork("blue"))
    attached = DiscoverySkill()
    BaseAgent("asker", network=red, skills={"d": attached})
    router, model = scripted_agent(
        "router",
        [tool_call("find", {"intent": "travel"}), text("done")],
        network=red,
        skills={"f": Finder()},
    )

    listed = [entry["name"] for entry in await attached.find_agents("travel")]
    await router.run("find someone")  # a kept-inside skill lists the running agent's network
    outside = [entry["name"] for entry in await DiscoverySkill().find_agents("travel")]

    assert sorted(listed) == ["travel-far", "travel-red"]
    assert sorted(model.requests[1]["messages"][-1]["content"].split(",")) == sorted(listed)
    assert outside == ["travel-default"]


async def test_remote_urls_are_listed_without_credentials_or_query() -> None:
    url = "http://admin:pw@127.0.0.1:9/agents/vault-keeper?token=t"
    register_remote("vault-keeper", url, description="vault keeper")

    [found] = await DiscoverySkill().find_agents("vault keeper")

    assert found["name"] == "vault-keeper"
    assert found["url"] == "http://127.0.0.1:9/agents/vault-keeper"


def card(
    name: str, description: str = "", tools: tuple[str, ...] = (), **extra: Any
) -> dict[str, Any]:
    return {
        "name": name,
        "description": description,
        "tools": [{"name": tool_name, "description": ""} for tool_name in tools],
        **extra,
    }


@pytest.mark.parametrize(
    ("intent", "described"),
    [
        ("my invoices", "Sends an invoice."),
        ("an invoice", "Sends invoices."),
        ("refunds", "Refund a payment."),
        ("refunded twice", "Handles refunds."),
        ("billing question", "Bill disputes."),
        ("insurance policies", "Explains a policy."),
        ("taxes", "Tax returns."),
        ("shipping", "We ship parcels."),
        ("pricing", "Price lists."),
    ],
)
def test_plurals_and_simple_inflections_match(intent: str, described: str) -> None:
    found = rank_agents(intent, [card("helper", described), card("other", "Plants.")], 5)

    assert [entry["name"] for entry in found] == ["helper"]


def test_name_weighs_most_then_description_then_tools_and_tags() -> None:
    cards = [
        card("by-tag", "Something.", tags=["refunds"]),
        card("by-tool", "Something.", tools=("issue_refund",)),
        card("refund-desk", "Something."),
        card("by-description", "Issues refunds."),
        card("unrelated", "Gardens."),
    ]

    found = rank_agents("refund", cards, 10)

    assert [entry["name"] for entry in found] == [
        "refund-desk",
        "by-description",
        "by-tag",
        "by-tool",
    ]
    assert found[0]["score"] > found[1]["score"] > found[2]["score"] == found[3]["score"] > 0
    assert all(entry["url"] is None for entry in found)


def test_ties_are_broken_by_name_and_max_results_cuts() -> None:
    cards = [card(name, "Invoices.") for name in ("c-desk", "a-desk", "b-desk")]

    assert [entry["name"] for entry in rank_agents("invoice", cards, 2)] == ["a-desk", "b-desk"]
    assert rank_agents("invoice", list(reversed(cards)), 3) == rank_agents("invoice", cards, 3)
    assert rank_agents("the and of", cards, 3) == []  # nothing but stopwords


@pytest.mark.parametrize("bad", [0, -1, True, 2.0, "3", None])
async def test_max_results_must_be_a_positive_int(bad: Any) -> None:
    with pytest.raises(ValueError, match=r"max_results must be an int >= 1, got "):
        rank_agents("invoice", [], bad)
    with pytest.raises(ValueError, match=r"max_results must be an int >= 1, got "):
        await DiscoverySkill().find_agents("invoice", max_results=bad)


async def test_tags_from_agent_metadata_are_searched() -> None:
    net = AgentNetwork("tagged")
    BaseAgent("desk-one", description="Front desk.", metadata={"tags": ["mortgages"]}, network=net)
    BaseAgent("desk-two", description="Front desk.", network=net)
    attached = DiscoverySkill()
    BaseAgent("asker", network=net, skills={"d": attached})

    found = await attached.find_agents("mortgage")

    assert [entry["name"] for entry in found] == ["desk-one"]


class Listing:
    """A tiny webagents-like server on 127.0.0.1: ``routes`` maps a path to (status, body);
    a path in ``stalled`` answers only once ``release`` is set."""

    def __init__(self, routes: dict[str, tuple[int, bytes]], stalled: tuple[str, ...] = ()):
        self.routes = routes
        self.stalled = stalled
        self.release = threading.Event()
        self.requests: list[str] = []
        listing = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                listing.requests.append(self.path)
                if self.path in listing.stalled:
                    listing.release.wait(10)
                status, body = listing.routes.get(self.path, (404, b"{}"))
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.01,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> Listing:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


def listing_of(*cards: dict[str, Any]) -> tuple[int, bytes]:
    return 200, json.dumps(list(cards)).encode()


def dead_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


INVOICES = card("invoice-desk", "Sends invoices.", ("resend_invoice",), handoffs=[], price=None)


async def test_server_listings_are_ranked_with_their_urls_and_register_nothing() -> None:
    net = AgentNetwork("listed")
    BaseAgent("local-invoices", description="Invoice copies.", network=net)
    with Listing({"/agents": listing_of(INVOICES, card("gardener", "Plants."))}) as server:
        attached = DiscoverySkill({"servers": [server.url + "/"]})
        BaseAgent("asker", description="Invoices.", network=net, skills={"d": attached})

        found = await attached.find_agents("invoices")

    assert [(entry["name"], entry["url"]) for entry in found] == [
        ("invoice-desk", f"{server.url}/agents/invoice-desk"),
        ("local-invoices", None),
    ]
    assert found[0]["score"] > found[1]["score"]
    assert server.requests == ["/agents"]
    assert [remote.name for remote in net.remote_agents()] == []  # data, not registrations
    assert net.get("invoice-desk") is None


async def test_a_server_listing_is_kept_for_ttl_seconds() -> None:
    now = [100.0]
    with Listing({"/agents": listing_of(INVOICES)}) as server:
        skill = DiscoverySkill({"servers": [server.url], "ttl": 30}, clock=lambda: now[0])

        first = await skill.find_agents("invoice")
        now[0] += 29.9
        cached = await skill.find_agents("invoice")
        server.routes["/agents"] = listing_of(card("refund-desk", "Refunds invoices."))
        now[0] += 0.1
        fresh = await skill.find_agents("invoice")

    assert server.requests == ["/agents", "/agents"]
    assert [entry["name"] for entry in first] == [entry["name"] for entry in cached]
    assert [entry["name"] for entry in fresh] == ["refund-desk"]


async def test_dead_slow_and_malformed_servers_are_skipped_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    routes = {
        "/bad-json/agents": (200, b"[{not json"),
        "/not-a-list/agents": (200, b'{"name": "x"}'),
        "/failing/agents": (500, b'{"error": "secret-body"}'),
        "/slow/agents": listing_of(INVOICES),
        "/good/agents": listing_of(INVOICES, {"name": 7}, "junk", card("", "Invoices.")),
    }
    with Listing(routes, stalled=("/slow/agents",)) as server:
        broken = [
            dead_url().replace("//", "//user:pw@"),
            *(f"{server.url}/{path}" for path in ("bad-json", "not-a-list", "failing", "slow")),
        ]
        skill = DiscoverySkill({"servers": [*broken, f"{server.url}/good"], "timeout": 0.5})
        with caplog.at_level(logging.WARNING, logger="webagents"):
            found = await skill.find_agents("invoice")

    assert [(entry["name"], entry["url"]) for entry in found] == [
        ("invoice-desk", f"{server.url}/good/agents/invoice-desk")
    ]
    # Servers are asked at once, so their warnings come in any order.
    messages = sorted(r.getMessage() for r in caplog.records if r.name == discovery.__name__)
    assert messages == sorted(
        [
            f"discovery: server {redact_url(broken[0])} skipped: ConnectError",
            f"discovery: server {broken[1]} skipped: malformed JSON",
            f"discovery: server {broken[2]} skipped: not a JSON list of agent cards",
            f"discovery: server {broken[3]} skipped: HTTP 500",
            f"discovery: server {broken[4]} skipped: no answer within the deadline",
        ]
    )
    assert all(r.exc_info is None and r.levelno == logging.WARNING for r in caplog.records)
    assert "pw" not in caplog.text and "secret-body" not in caplog.text


async def test_a_directory_file_lists_agents_with_their_urls(tmp_path: Path) -> None:
    net = AgentNetwork("directory")
    BaseAgent("tax-local", description="Taxes.", network=net)
    path = tmp_path / "agents.json"
    entries = [
        card("tax-remote", "Tax returns.", url="https://ops:pw@tax.example/agents/tax?k=1"),
        card("tax-local", "Taxes, shadowed by the network's agent.", url="https://x.example/a"),
        card("tax-no-url", "Tax without an address."),
        card("tax-bad-url", "Taxes.", url="ftp://tax.example/"),
        card("asker", "Taxes too, but the asker.", url="https://x.example/asker"),
    ]
    path.write_text(json.dumps(entries))
    attached = DiscoverySkill({"directory": str(path)})
    BaseAgent("asker", network=net, skills={"d": attached})

    found = await attached.find_agents("taxes")

    assert sorted((entry["name"], entry["url"]) for entry in found) == [
        ("tax-local", None),
        ("tax-remote", "https://tax.example/agents/tax"),
    ]
    assert net.get("tax-remote") is None


@pytest.mark.parametrize(
    ("content", "reason"),
    [(None, "FileNotFoundError"), ("{oops", "malformed JSON"), ("3", "not a JSON list")],
)
async def test_a_missing_or_malformed_directory_is_skipped_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, content: str | None, reason: str
) -> None:
    path = tmp_path / "agents.json"
    if content is not None:
        path.write_text(content)
    BaseAgent("tax-helper", description="Taxes.", network=(net := AgentNetwork("missing")))
    skill = DiscoverySkill({"directory": str(path)})
    BaseAgent("asker", network=net, skills={"d": skill})

    with caplog.at_level(logging.WARNING, logger="webagents"):
        found = await skill.find_agents("taxes")

    assert [entry["name"] for entry in found] == ["tax-helper"]
    [record] = [r for r in caplog.records if r.name == discovery.__name__]
    assert record.getMessage().startswith(f"discovery: directory {path} skipped: {reason}")


@pytest.mark.parametrize(
    ("config", "problem"),
    [
        ({"servers": ["ftp://host"]}, "servers[0]: Value error, must be an http(s):// URL"),
        ({"servers": ["http://h/?k=1"]}, "servers[0]: Value error, must be a base URL without"),
        ({"ttl": -1}, "ttl: Input should be greater than or equal to 0"),
        ({"timeout": 0}, "timeout: Input should be greater than 0"),
        ({"server": []}, "server: unknown key; did you mean 'servers'?"),
    ],
)
def test_config_errors_name_the_key(config: dict[str, Any], problem: str) -> None:
    with pytest.raises(AgentConfigError) as raised:
        DiscoverySkill(config)

    assert str(raised.value).startswith(f"DiscoverySkill config is invalid: {problem}")


async def test_the_model_can_discover_agents_with_the_tool() -> None:
    net = AgentNetwork("tooling")
    BaseAgent("refund-desk", description="Refunds payments.", network=net)
    BaseAgent("gardener", description="Plants.", network=net)
    desk, model = scripted_agent(
        "front-desk",
        [tool_call("discover_agents", {"intent": "refunds", "max_results": 3}), text("done")],
        network=net,
        skills={"d": DiscoveryToolSkill()},
    )
    plain, plain_model = scripted_agent(
        "plain", ["hi"], network=net, skills={"d": DiscoverySkill()}
    )

    await desk.run("I want my money back")
    await plain.run("hello")

    offered = [t["function"]["name"] for t in model.requests[0]["tools"]]
    assert offered == ["discover_agents"]
    assert "tools" not in plain_model.requests[0] or not plain_model.requests[0]["tools"]
    assert json.loads(model.requests[1]["messages"][-1]["content"]) == [
        {"name": "refund-desk", "description": "Refunds payments.", "url": None}
    ]


async def test_listed_urls_quote_the_name_and_drop_credentials() -> None:
    odd = card("tax/../admin?x", "Taxes.")
    with Listing({"/agents": listing_of(odd)}) as server:
        base = server.url.replace("//", "//ops:pw@")
        [found] = await DiscoverySkill({"servers": [base]}).find_agents("taxes")

    assert found["name"] == "tax/../admin?x"
    assert found["url"] == f"{server.url}/agents/tax%2F..%2Fadmin%3Fx"


async def test_a_failed_server_is_asked_again_only_after_ttl(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [0.0]
    with Listing({"/agents": (503, b"{}")}) as server:
        skill = DiscoverySkill({"servers": [server.url], "ttl": 10}, clock=lambda: now[0])
        with caplog.at_level(logging.WARNING, logger="webagents"):
            assert await skill.find_agents("invoice") == []
            assert await skill.find_agents("invoice") == []
            server.routes["/agents"] = listing_of(INVOICES)
            now[0] = 10.0
            found = await skill.find_agents("invoice")

    assert server.requests == ["/agents", "/agents"]
    assert [entry["name"] for entry in found] == ["invoice-desk"]
    assert len([r for r in caplog.records if r.name == discovery.__name__]) == 1


async def test_a_real_servers_listing_is_discovered_and_its_agent_can_then_be_called() -> None:
    from webagents.server import create_app
    from webagents.testing.served import ServedApp

    served_net = AgentNetwork("served")
    scripted_agent(
        "mortgage-advisor",
        [text("Fix the rate for ten years.")],
        description="Advice on mortgages and home loans.",
        network=served_net,
    )
    scripted_agent("gardener", [], description="Plants and lawns.", network=served_net)
    app = create_app(served_net, sessions="memory")

    async with ServedApp(app) as server:
        net = AgentNetwork("asking")
        attached = DiscoverySkill({"servers": [server.url]})
        BaseAgent("asker", network=net, skills={"d": attached})

        found = await attached.find_agents("mortgages")
        best = found[0]
        assert (best["name"], best["url"]) == (
            "mortgage-advisor",
            f"{server.url}/agents/mortgage-advisor",
        )
        # A listing is data: the developer decides to register what was found.
        net.register_remote(best["name"], best["url"])
        question = [{"role": "user", "content": "Fixed or variable?"}]
        reply = await net.remote_client.chat(net.get(best["name"]), question)
        await net.aclose()

    assert reply == "Fix the rate for ten years."
