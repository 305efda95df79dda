"""NLISkill and ``BaseAgent.as_tool``: which names reach which agent, what failures say, and
how deep agents may ask each other. Remote agents are real HTTP servers on 127.0.0.1 that
record every request; the only stand-in is the model (ScriptedModel)."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from webagents import BaseAgent, Skill, tool
from webagents.agents import AgentNetwork, default_network, register_remote
from webagents.agents.skills import DiscoverySkill, NLISkill
from webagents.agents.skills.nli import RemoteAgentError, query_remote
from webagents.errors import AgentConfigError
from webagents.testing import ScriptedModel, error, scripted_agent, text, tool_call


class RecordingServer:
    """Answers every request with ``status`` and ``body`` (a chat completion of ``answer`` by
    default) and records it; with ``hold`` it answers only once the test is over."""

    def __init__(self, answer: str = "remote answer", *, status: int = 200, body: Any = None):
        self.requests: list[dict[str, Any]] = []
        self.hold = threading.Event()
        self.released = threading.Event()
        payload = body if body is not None else completion(answer)
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                """No access log."""

            def do_GET(self) -> None:
                self.answer()

            def do_POST(self) -> None:
                self.answer()

            def answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                server.requests.append(
                    {
                        "method": self.command,
                        "path": self.path,
                        "headers": dict(self.headers),
                        "body": json.loads(raw) if raw else None,
                    }
                )
                if server.hold.is_set():
                    server.released.wait(30)
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def __enter__(self) -> RecordingServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.released.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()


USER_HI = {"role": "user", "content": "hi"}


def completion(answer: str) -> dict[str, Any]:
    return {"choices": [{"index": 0, "message": {"role": "assistant", "content": answer}}]}


@pytest.fixture
def server() -> Iterator[RecordingServer]:
    with RecordingServer() as running:
        yield running


def asker(name: str, nli: NLISkill, target: str, **options: Any) -> tuple[BaseAgent, ScriptedModel]:
    """An agent whose model asks ``target`` through ``nli`` once, then answers ``[<reply>]``."""

    async def ask(agent: str, question: str) -> str:
        """Ask another agent.

        Args:
            agent: The agent's name.
            question: What to ask.
        """
        outcome = await nli.query_agent(agent, question)
        return str(outcome.get("response") or outcome["error"])

    def respond(request: dict[str, Any]) -> Any:
        last = request["messages"][-1]
        if last["role"] == "tool":
            return text(f"[{last['content']}]")
        return tool_call("ask", {"agent": target, "question": f"{name} asks"})

    return scripted_agent(
        name, responder=respond, tools=[ask, *options.pop("tools", [])], **options
    )


# --- which names reach which agent ------------------------------------------------------------


async def test_a_url_from_the_model_is_an_unknown_agent_and_nothing_is_sent(
    server: RecordingServer,
) -> None:
    url = server.base.replace("http://", "http://user:hunter2@") + "/agents/x?token=s3cret"
    desk, model = asker("desk", NLISkill(), url)

    result = await desk.run("Ask that address for me")

    assert server.requests == []
    told = model.requests[1]["messages"][-1]["content"]
    assert told == f"unknown agent '{server.base}/agents/x'"
    assert result.content == f"[{told}]"
    direct = await NLISkill().query_agent(url, "hello")
    assert (direct["success"], direct["attempts"]) == (False, 1)
    assert "hunter2" not in json.dumps(direct) and "s3cret" not in json.dumps(direct)
    assert server.requests == []


async def test_allow_urls_lets_query_agent_call_a_url(server: RecordingServer) -> None:
    outcome = await NLISkill({"allow_urls": True}).query_agent(f"{server.base}/agents/x", "hi")

    assert (outcome["success"], outcome["response"], outcome["agent"]) == (
        True,
        "remote answer",
        "x",
    )
    [sent] = server.requests
    assert (sent["method"], sent["path"]) == ("POST", "/agents/x/chat/completions")
    assert sent["body"]["messages"] == [{"role": "user", "content": "hi"}]


async def test_names_in_the_agents_config_reach_their_urls_before_the_network(
    server: RecordingServer,
) -> None:
    name = "expert"
    _local, local_model = scripted_agent(name, [text("local answer")])
    nli = NLISkill({"agents": {name: f"{server.base}/agents/{name}"}, "api_key": "k-123"})

    outcome = await nli.query_agent(name, "what do you know?")

    assert (outcome["success"], outcome["response"], outcome["agent"]) == (
        True,
        "remote answer",
        name,
    )
    [sent] = server.requests
    assert sent["path"] == f"/agents/{name}/chat/completions"
    assert sent["body"]["model"] == name
    assert sent["headers"]["Authorization"] == "Bearer k-123"
    assert local_model.requests == []
    # The URL the developer wrote in the config may be used as the name too.
    again = await nli.query_agent(f"{server.base}/agents/{name}", "and again?")
    assert again["success"] is True and len(server.requests) == 2


async def test_registered_local_and_remote_agents_resolve_by_name(server: RecordingServer) -> None:
    local, _ = scripted_agent("local", [text("local answer")])
    remote = "remote"
    register_remote(remote, f"{server.base}/agents/{remote}")
    nli = NLISkill()

    asked_local = await nli.query_agent(local.name, "hi")
    asked_remote = await nli.query_agent(remote, "hi")

    assert (asked_local["response"], asked_remote["response"]) == ("local answer", "remote answer")
    assert [r["path"] for r in server.requests] == [f"/agents/{remote}/chat/completions"]


async def test_fallback_names_resolve_by_the_same_rules(server: RecordingServer) -> None:
    primary, primary_model = scripted_agent("primary", [error(503, "down")])
    url = f"{server.base}/agents/backup"
    nli = NLISkill({"fallbacks": {primary.name: [url]}})

    refused = await nli.query_agent(primary.name, "help")

    assert (refused["success"], refused["attempts"]) == (False, 2)
    assert f"unknown agent '{url}'" in refused["error"]
    assert server.requests == []

    primary_model.add_replies(error(503, "down again"))
    configured = NLISkill({"agents": {"backup": url}, "fallbacks": {primary.name: ["backup"]}})
    answered = await configured.query_agent(primary.name, "help")
    assert (answered["success"], answered["agent"], answered["attempts"]) == (True, "backup", 2)
    assert len(server.requests) == 1


async def test_unknown_agents_get_close_names_from_the_config_never_from_the_network() -> None:
    registered, _ = scripted_agent("support-desk")
    nli = NLISkill(
        {
            "agents": {"billing": "http://127.0.0.1:9/agents/billing"},
            "fallbacks": {"billing": ["billing-backup"], "sales": ["sales-backup"]},
        }
    )

    misspelt = await nli.query_agent("biling", "hello")
    near_registered = await nli.query_agent(registered.name.replace("desk", "dsk"), "hello")

    assert misspelt["error"] == (
        "unknown agent 'biling'; did you mean 'billing' or 'billing-backup'?"
    )
    assert near_registered["error"] == (f"unknown agent '{registered.name.replace('desk', 'dsk')}'")


async def test_a_registered_remote_agent_carries_its_own_api_key(server: RecordingServer) -> None:
    register_remote("keyed", f"{server.base}/agents/keyed", api_key="k-own")
    register_remote("plain", f"{server.base}/agents/plain")
    nli = NLISkill({"api_key": "k-skill"})

    await nli.query_agent("keyed", "hi")
    await nli.query_agent("plain", "hi")
    await query_remote(default_network().resolve("keyed"), [USER_HI])
    await query_remote(default_network().resolve("keyed"), [USER_HI], api_key="k-call")

    assert [r["headers"].get("Authorization") for r in server.requests] == [
        "Bearer k-own",  # the remote's own key, not the skill's
        "Bearer k-skill",  # a remote without a key of its own gets the skill's
        "Bearer k-own",
        "Bearer k-call",  # an explicit argument wins
    ]


async def test_a_registered_remote_agent_carries_its_own_timeout() -> None:
    with RecordingServer() as slow:
        slow.hold.set()  # it answers only when the test is over
        remote = register_remote("slow", f"{slow.base}/agents/slow", timeout=0.2)
        nli = NLISkill({"timeout": 30})

        by_skill = await nli.query_agent("slow", "hello?")
        by_call = await nli.query_agent("slow", "hello?", timeout=0.1)
        with pytest.raises(RemoteAgentError) as direct:
            await query_remote(remote, [USER_HI])

    where = f"agent 'slow' at {slow.base}/agents/slow"
    assert by_skill["error"] == f"{where} timed out after 0.2s"
    assert by_call["error"] == f"{where} timed out after 0.1s"
    assert str(direct.value) == f"{where} timed out after 0.2s" and direct.value.timed_out


async def test_names_resolve_in_the_network_of_the_asking_agent() -> None:
    red = AgentNetwork("red")
    scripted_agent("billing", responder=lambda request: text("red billing"), network=red)
    scripted_agent("billing", responder=lambda request: text("default billing"))
    attached = NLISkill()
    BaseAgent("desk", network=red, skills={"nli": attached})

    class Router(Skill):
        """Keeps its NLISkill inside (attached to no agent), as the seed's router does."""

        def __init__(self) -> None:
            super().__init__()
            self.nli = NLISkill()

        @tool
        async def ask(self, agent: str) -> str:
            """Ask an agent."""
            outcome = await self.nli.query_agent(agent, "hi")
            return str(outcome.get("response") or outcome["error"])

    router, router_model = scripted_agent(
        "router",
        [tool_call("ask", {"agent": "billing"}), text("done")],
        network=red,
        skills={"r": Router()},
    )

    assert (await attached.query_agent("billing", "hi"))["response"] == "red billing"
    await router.run("route me")  # the kept-inside skill asks from a run in the red network
    assert router_model.requests[1]["messages"][-1]["content"] == "red billing"
    outside = await NLISkill().query_agent("billing", "hi")  # outside any run: the default
    assert outside["response"] == "default billing"


# --- what failures say ------------------------------------------------------------------------


async def test_a_failing_remote_is_named_with_its_status_never_its_body_or_secrets() -> None:
    body = {"error": {"message": "db password is SECRET-BODY", "trace": "Traceback ..."}}
    with RecordingServer(status=503, body=body) as down:
        url = down.base.replace("http://", "http://ops:pw-42@") + "/agents/billing?key=q-99"
        nli = NLISkill({"agents": {"billing": url}})

        outcome = await nli.query_agent("billing", "my invoice?")

    assert outcome["success"] is False
    assert outcome["error"] == (
        f"agent 'billing' at {down.base}/agents/billing is unavailable: HTTP 503"
    )
    # A 503 is retried (twice by default); the query string the developer wrote stays on
    # every request.
    assert [sent["path"] for sent in down.requests] == [
        "/agents/billing/chat/completions?key=q-99"
    ] * 3


async def test_a_remote_that_does_not_answer_in_time_is_a_timeout() -> None:
    with RecordingServer() as slow:
        slow.hold.set()  # it answers only when the test is over
        nli = NLISkill({"agents": {"slow": f"{slow.base}/agents/slow"}, "timeout": 0.2})

        outcome = await nli.query_agent("slow", "hello?")

    assert outcome["success"] is False
    assert outcome["error"] == f"agent 'slow' at {slow.base}/agents/slow timed out after 0.2s"


async def test_a_local_agent_that_does_not_answer_in_time_is_a_timeout() -> None:
    never = asyncio.Event()

    async def wait_forever(request: dict[str, Any]) -> Any:
        await never.wait()

    stuck, _ = scripted_agent("stuck", responder=wait_forever)

    outcome = await NLISkill().query_agent(stuck.name, "hello?", timeout=0.05)

    assert outcome["error"] == f"agent '{stuck.name}' timed out after 0.05s"


async def test_a_failing_local_agent_is_one_line_and_the_details_go_to_the_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    broken, _ = scripted_agent("broken", [error(500, "token sk-live-123 rejected")])

    with caplog.at_level(logging.WARNING, logger="webagents"):
        outcome = await NLISkill().query_agent(broken.name, "hello?")

    assert outcome["error"] == f"agent '{broken.name}' failed: ModelError (HTTP 500)"
    [record] = [r for r in caplog.records if r.name == "webagents.agents.skills.nli"]
    assert record.exc_info is not None and "sk-live-123" in str(record.exc_info[1])


# --- nesting ----------------------------------------------------------------------------------


async def test_an_agent_asking_itself_stops_at_max_depth() -> None:
    name = "narcissus"
    me, model = asker(name, NLISkill({"max_depth": 3}), name)

    result = await me.run("Who are you?")

    # The entry run plus three nested ones; the fourth nested query is refused, unrun.
    assert len(model.requests) == 2 * 4
    limit = f"agent '{name}' was not asked: NLI nesting limit of 3 reached"
    assert result.content.startswith("[[[[" + limit) and result.content.endswith("]]]]")
    again = await me.run("And now?")  # the depth is per run chain: it was not left raised
    assert again.content == result.content


async def test_concurrent_run_chains_count_their_own_depth() -> None:
    name = "chorus"
    me, model = asker(name, NLISkill({"max_depth": 2}), name)

    results = await asyncio.gather(*(me.run(f"voice {i}") for i in range(8)))

    # Interleaved chains would exhaust a shared counter early; each got all its levels.
    assert all(r.content.startswith("[[[agent") for r in results)
    assert {r.content for r in results} == {results[0].content}
    assert len(model.requests) == 8 * 2 * 3


async def test_agents_asking_each_other_in_a_cycle_stop_at_the_default_depth() -> None:
    a_name, b_name = "alice", "bob"
    alice, alice_model = asker(a_name, NLISkill(), b_name)
    _bob, bob_model = asker(b_name, NLISkill(), a_name)

    result = await alice.run("Ask Bob")

    # alice -> bob -> alice -> bob -> alice -> bob: five nested queries, the sixth refused.
    assert (len(alice_model.requests), len(bob_model.requests)) == (6, 6)
    assert "nesting limit of 5 reached" in result.content
    assert result.content.count("[") == 6


async def test_a_query_past_the_limit_is_a_failure_outcome_without_running_the_agent() -> None:
    name = "deep"
    target, target_model = scripted_agent("target", [text("unused")])
    nli = NLISkill({"max_depth": 1})
    outcomes: list[dict[str, Any]] = []

    async def ask_twice(question: str) -> str:
        """Ask the target, from inside a query already."""
        outcomes.append(await nli.query_agent(target.name, question))
        return "asked"

    inner, _ = scripted_agent(
        name, [tool_call("ask_twice", {"question": "q"}), text("done")], tools=[ask_twice]
    )
    top = await nli.query_agent(inner.name, "start")

    assert top["success"] is True
    [refused] = outcomes
    assert (refused["success"], refused["attempts"], refused.get("response")) == (False, 0, None)
    assert refused["error"].startswith(
        f"agent '{target.name}' was not asked: NLI nesting limit of 1 reached"
    )
    assert target_model.requests == []


# --- consulting an agent as a tool -----------------------------------------------------------


def tool_schema(request: dict[str, Any], name: str) -> dict[str, Any]:
    [schema] = [t["function"] for t in request["tools"] if t["function"]["name"] == name]
    return dict(schema)


async def test_an_agent_as_a_tool_answers_and_the_desk_keeps_the_conversation() -> None:
    expert, expert_model = scripted_agent(
        "tax expert", [text("Yes, if you work from home.")], description="Tax answers."
    )
    consult = f"consult_{expert.name.replace(' ', '_')}"
    desk, desk_model = scripted_agent(
        "desk",
        [tool_call(consult, {"question": "Can I deduct my desk?"}), text("You can deduct it.")],
        tools=[expert.as_tool()],
    )

    result = await desk.run("I bought a desk for my home office.")

    assert (result.content, result.agent, result.handoffs) == ("You can deduct it.", desk.name, [])
    [asked] = expert_model.requests
    assert asked["messages"][-1] == {"role": "user", "content": "Can I deduct my desk?"}
    assert desk_model.requests[1]["messages"][-1]["content"] == "Yes, if you work from home."
    schema = tool_schema(desk_model.requests[0], consult)
    assert schema["description"] == "Tax answers."
    assert list(schema["parameters"]["properties"]) == ["question"]
    assert schema["parameters"]["required"] == ["question"]
    assert expert.name in schema["parameters"]["properties"]["question"]["description"]


async def test_as_tool_takes_a_name_and_a_description() -> None:
    expert, _ = scripted_agent("expert", description="Ignored here.")
    desk, desk_model = scripted_agent(
        "desk",
        [text("hello")],
        tools=[expert.as_tool(name="ask_tax", description="Tax law, briefly.")],
    )

    await desk.run("hi")

    schema = tool_schema(desk_model.requests[0], "ask_tax")
    assert schema["description"] == "Tax law, briefly."


async def test_a_failing_consulted_agent_is_an_error_line_for_the_model_not_a_crash() -> None:
    expert, _ = scripted_agent("expert", [error(500, "key sk-live-9 refused")])
    desk, desk_model = scripted_agent(
        "desk",
        [tool_call(f"consult_{expert.name}", {"question": "?"}), text("I'll answer myself.")],
        tools=[expert.as_tool()],
    )

    result = await desk.run("Ask the expert")

    told = desk_model.requests[1]["messages"][-1]["content"]
    assert told.startswith(f"Error: agent '{expert.name}' failed: ModelError")
    assert "sk-live-9" not in told and "\n" not in told
    assert result.content == "I'll answer myself."


async def test_consulting_and_querying_share_the_nesting_bound() -> None:
    a_name, b_name = "alice", "bob"
    alice, alice_model = asker(a_name, NLISkill(), b_name)

    def bob_responds(request: dict[str, Any]) -> Any:
        last = request["messages"][-1]
        if last["role"] == "tool":
            return text(f"<{last['content']}>")
        return tool_call(f"consult_{a_name}", {"question": "and you?"})

    _bob, bob_model = scripted_agent(b_name, responder=bob_responds, tools=[alice.as_tool()])

    result = await alice.run("Ask Bob")

    # alice -(query)-> bob -(consult)-> alice ... five levels, the sixth refused.
    assert (len(alice_model.requests), len(bob_model.requests)) == (6, 6)
    assert f"Error: agent '{a_name}' was not asked: NLI nesting limit of 5 reached" in (
        result.content
    )


# --- config -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"timeout": 0}, "timeout"),
        ({"timeout": "soon"}, "timeout"),
        ({"retries": -1}, "retries"),
        ({"max_depth": 0}, "max_depth"),
        ({"agents": {"x": "ftp://host/x"}}, "agents.x"),
        ({"agents": {"x": "billing"}}, "agents.x"),
        ({"fallbacks": {"x": "backup"}}, "fallbacks.x"),
        ({"allow_url": True}, "allow_url"),
    ],
)
def test_bad_nli_config_names_the_skill_and_field(config: dict[str, Any], field: str) -> None:
    with pytest.raises(AgentConfigError) as raised:
        NLISkill(config)

    assert str(raised.value).startswith(f"NLISkill config is invalid: {field}: ")


def test_nli_config_is_kept_as_settings_with_secrets_hidden() -> None:
    nli = NLISkill(
        {
            "timeout": 5,
            "retries": 2,
            "api_key": "k-secret",
            "signing_key": "s-secret",
            "agents": {"x": "https://h.example/agents/x/"},
            "fallbacks": {"x": ["y"]},
        }
    )

    settings = nli.settings
    assert (settings.timeout, settings.retries, settings.max_depth, settings.allow_urls) == (
        5.0,
        2,
        5,
        False,
    )
    assert settings.agents == {"x": "https://h.example/agents/x"}
    assert (nli.timeout, nli.fallbacks, nli.api_key) == (5.0, {"x": ["y"]}, "k-secret")
    assert "secret" not in repr(settings)


def test_bad_discovery_config_names_the_skill_and_field() -> None:
    with pytest.raises(AgentConfigError) as raised:
        DiscoverySkill({"server": ["http://x"]})

    assert str(raised.value).startswith("DiscoverySkill config is invalid: server: ")


# --- retries, fallbacks and who answered ---------------------------------------------------------


async def test_retries_in_the_config_reach_the_remote_client() -> None:
    with RecordingServer(status=503, body={"error": {"message": "busy"}}) as busy:
        url = f"{busy.base}/agents/billing"
        once = await NLISkill({"agents": {"billing": url}, "retries": 0}).query_agent(
            "billing", "hi"
        )
        assert len(busy.requests) == 1
        twice = await NLISkill({"agents": {"billing": url}, "retries": 1}).query_agent(
            "billing", "hi"
        )
        assert len(busy.requests) == 3
        await NLISkill({"agents": {"billing": url}}).query_agent("billing", "hi")
        assert len(busy.requests) == 6  # unset: the network client's own (2 retries)

    assert once["success"] is False and twice["success"] is False
    assert once["attempts"] == 1  # agents tried, not HTTP attempts


async def test_a_registered_remotes_fallbacks_apply_unless_the_config_names_some(
    server: RecordingServer,
) -> None:
    register_remote("primary", "http://127.0.0.1:9/agents/primary", fallbacks=["backup"])
    register_remote("backup", f"{server.base}/agents/backup")
    scripted_agent("configured", [text("configured backup answers")])

    by_registration = await NLISkill({"retries": 0}).query_agent("primary", "hi")
    by_config = await NLISkill(
        {"retries": 0, "fallbacks": {"primary": ["configured"]}}
    ).query_agent("primary", "hi")

    assert (by_registration["agent"], by_registration["attempts"]) == ("backup", 2)
    assert by_registration["response"] == "remote answer"
    assert (by_config["agent"], by_config["response"]) == (
        "configured",
        "configured backup answers",
    )
    assert len(server.requests) == 1  # the config's list replaced the registered one


async def test_the_agent_that_answered_on_the_remote_side_is_named() -> None:
    body = {
        "choices": [{"message": {"role": "assistant", "content": "Deductible."}}],
        "webagents": {"agent": "tax", "handoff_chain": ["finance-expert", "tax"]},
    }
    with RecordingServer(body=body) as expert:
        nli = NLISkill({"agents": {"finance-expert": f"{expert.base}/agents/finance-expert"}})
        outcome = await nli.query_agent("finance-expert", "Is my desk deductible?")

    assert (outcome["success"], outcome["agent"], outcome["response"]) == (
        True,
        "finance-expert/tax",
        "Deductible.",
    )
