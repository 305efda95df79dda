"""The playground in a real browser: headless Chromium, driven by Selenium, against the
server under uvicorn on 127.0.0.1, with scripted models as the only stand-in."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING

import pytest

from tests.playground_browser import (
    ROOT,
    artifacts_dir,
    browser,
    bubbles,
    by_css,
    graph_classes,
    idle,
    one,
    open_page,
    script_errors,
    send,
    start_message,
    wait_for,
)
from webagents import AgentNetwork, BaseAgent
from webagents.errors import ModelError
from webagents.models.base import ModelRequest, ModelResponse
from webagents.server import create_app
from webagents.testing import ScriptedModel, error, tool_call, transfer
from webagents.testing.served import ServedApp

if TYPE_CHECKING:
    from selenium.webdriver.remote.webdriver import WebDriver

__all__ = ["browser"]  # the fixture, imported for pytest

MARKUP = "<img src=x onerror=\"document.title='owned'\">"


@pytest.fixture(autouse=True)
def _no_script_errors(browser: WebDriver) -> Iterator[None]:
    script_errors(browser)
    yield
    assert script_errors(browser) == []


def serve(network: AgentNetwork, **options: object) -> ServedApp:
    return ServedApp(create_app(network, sessions="memory", **options))  # type: ignore[arg-type]


@pytest.fixture
def support() -> Iterator[tuple[AgentNetwork, ScriptedModel, ScriptedModel]]:
    """desk hands billing questions to billing, which answers with markup in its text."""
    network = AgentNetwork("support")
    billing_model = ScriptedModel(
        responder=lambda request: f"Invoice 42 is paid. {MARKUP}", name="billing-model"
    )
    desk_model = ScriptedModel([transfer("billing", "invoice question")], name="desk-model")
    billing = BaseAgent("billing", "You handle invoices.", model=billing_model, network=network)
    BaseAgent(
        "desk",
        "You route customers.",
        model=desk_model,
        handoffs=[billing],
        network=network,
    )
    yield network, desk_model, billing_model


def test_a_handoff_shows_who_answered_the_handoff_and_the_owner(
    browser: WebDriver, support: tuple[AgentNetwork, ScriptedModel, ScriptedModel]
) -> None:
    network, _, _ = support
    with serve(network) as server:
        open_page(browser, server.url)
        assert one(browser, "#agent").get_attribute("value") == "desk"
        assert one(browser, "#owner").text == "desk"
        send(browser, f"Is my invoice paid? {MARKUP}")

        assert bubbles(browser) == [("billing", f"Invoice 42 is paid. {MARKUP}")]
        handoff = one(browser, "#transcript .handoff")
        assert "ok" in (handoff.get_attribute("class") or "")
        assert one(handoff, ".route").text == "desk → billing"
        assert one(handoff, ".status").text == "handed over"
        assert one(handoff, ".detail").text == "reason: invoice question · trigger: llm"
        assert one(browser, "#owner").text == "billing"
        # Text is data: the markup of the user and of the model shows as text, never runs.
        assert one(browser, "#transcript .bubble.user .text").text.endswith(MARKUP)
        assert by_css(browser, "#transcript img") == []
        assert browser.title == "webagents playground"
        # The path of the conversation in the team's graph.
        assert {"start", "on-path"} <= graph_classes(browser, "desk")
        assert {"on-path", "owner"} <= graph_classes(browser, "billing")
        edge = one(browser, "#graph path.edge[data-source='desk'][data-target='billing']")
        assert "on-path" in (edge.get_attribute("class") or "")


def test_a_reload_keeps_the_session_and_a_reset_starts_a_new_one(
    browser: WebDriver, support: tuple[AgentNetwork, ScriptedModel, ScriptedModel]
) -> None:
    network, desk_model, billing_model = support
    with serve(network) as server:
        open_page(browser, server.url)
        send(browser, "Is my invoice paid?")
        session = one(browser, "#session").text
        assert one(browser, "#owner").text == "billing"

        browser.refresh()
        wait_for(browser, lambda d: one(d, "#app").is_displayed(), "the page after a reload")
        assert one(browser, "#session").text == session
        assert one(browser, "#owner").text == "billing"
        assert bubbles(browser) == [("billing", f"Invoice 42 is paid. {MARKUP}")]
        send(browser, "And invoice 43?")
        # The specialist that owns the session answered; desk was not asked again.
        assert [agent for agent, _ in bubbles(browser)] == ["billing", "billing"]
        assert len(desk_model.requests) == 1 and len(billing_model.requests) == 2
        assert len(by_css(browser, "#transcript .handoff")) == 1

        desk_model.add_replies("Welcome back to the front desk.")
        one(browser, "#reset").click()
        wait_for(browser, lambda d: one(d, "#session").text != session, "a new session id")
        assert by_css(browser, "#transcript > li") == []
        assert one(browser, "#owner").text == "desk"
        assert "on-path" not in graph_classes(browser, "billing")
        send(browser, "Hello?")
        assert bubbles(browser) == [("desk", "Welcome back to the front desk.")]
        assert one(browser, "#owner").text == "desk"


class PausingModel(ScriptedModel):
    """Streams ``before``, then waits until the test sets ``release``, then the rest."""

    def __init__(self, before: str, after: str) -> None:
        super().__init__([before + after], name="pausing")
        self.before = before
        self.release = threading.Event()

    async def stream(self, request: ModelRequest) -> AsyncIterator[str | ModelResponse]:
        response = await self.complete(request)
        yield self.before
        if not await asyncio.to_thread(self.release.wait, 60):
            raise ModelError("the test never released the stream")
        yield (response.content or "")[len(self.before) :]
        yield response


def test_text_and_the_handoff_show_while_the_answer_is_streamed(browser: WebDriver) -> None:
    network = AgentNetwork("streaming")
    model = PausingModel("The first half, ", "and the second half.")
    writer = BaseAgent("writer", model=model, network=network)
    desk_model = ScriptedModel([transfer("writer", "needs writing")])
    BaseAgent("desk", model=desk_model, handoffs=[writer], network=network)
    with serve(network) as server:
        try:
            open_page(browser, server.url)
            start_message(browser, "Write something")
            wait_for(
                browser,
                lambda d: (
                    [(a, t.strip()) for a, t in bubbles(d)] == [("writer", "The first half,")]
                ),
                "the first half, before the answer is complete",
            )
            assert by_css(browser, "#transcript .bubble.agent.streaming")
            assert not idle(browser)
            # The handoff is on the graph already; the session changes hands at the end.
            edge = one(browser, "#graph path.edge[data-source='desk'][data-target='writer']")
            assert "on-path" in (edge.get_attribute("class") or "")
            assert one(browser, "#transcript .handoff .status").text == "transferring…"
            assert one(browser, "#owner").text == "desk"
        finally:
            model.release.set()
        wait_for(browser, idle, "the end of the answer")
        assert bubbles(browser) == [("writer", "The first half, and the second half.")]
        assert by_css(browser, "#transcript .bubble.streaming") == []
        assert one(browser, "#transcript .handoff .status").text == "handed over"
        assert one(browser, "#owner").text == "writer"
        assert "owner" in graph_classes(browser, "writer")


def lookup_order(order_id: str) -> str:
    """Look an order up.

    Args:
        order_id: The order's number.
    """
    return f"order {order_id}: shipped on Monday <b>by courier</b>"


def test_a_tool_call_expands_to_its_arguments_and_result(browser: WebDriver) -> None:
    network = AgentNetwork("orders")
    model = ScriptedModel([tool_call("lookup_order", {"order_id": "A-17"}), "It shipped Monday."])
    BaseAgent("orders", model=model, tools=[lookup_order], network=network)
    with serve(network) as server:
        open_page(browser, server.url)
        send(browser, "Where is order A-17?")
        details = one(browser, "#transcript details.tool")
        assert one(details, "summary").text == "orders called lookup_order"
        arguments, result = one(details, "pre.arguments"), one(details, "pre.result")
        assert not arguments.is_displayed()  # collapsed until asked
        one(details, "summary").click()
        wait_for(browser, lambda d: arguments.is_displayed(), "the expanded tool call")
        assert arguments.text == '{"order_id": "A-17"}'
        assert result.text == "order A-17: shipped on Monday <b>by courier</b>"
        assert bubbles(browser) == [("orders", "It shipped Monday.")]


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port  # nothing listens there now: connections are refused


def test_a_failed_remote_handoff_shows_the_failure_and_the_fallback(browser: WebDriver) -> None:
    network = AgentNetwork("remote-down")
    down = f"http://127.0.0.1:{_closed_port()}/agents"
    network.register_remote("expert", f"{down}/expert", timeout=5)
    network.register_remote("archive", f"{down}/archive", timeout=5, fallbacks=["backup"])
    desk_model = ScriptedModel(
        [
            transfer("expert", "needs an expert"),
            "The expert is away; here is what I know.",
            transfer("archive", "old records"),
        ]
    )
    BaseAgent("desk", model=desk_model, handoffs=["expert", "archive"], network=network)
    BaseAgent("backup", model=ScriptedModel(["The backup desk found it."]), network=network)
    with serve(network) as server:
        open_page(browser, server.url)
        assert one(browser, "#agent").get_attribute("value") == "desk"
        assert "remote" in graph_classes(browser, "expert")

        send(browser, "A hard question")
        handoff = one(browser, "#transcript .handoff")
        assert "failed" in (handoff.get_attribute("class") or "")
        assert one(handoff, ".route").text == "desk → expert"
        assert one(handoff, ".status").text == "failed"
        assert "unreachable" in one(handoff, ".detail").text
        [fallback] = by_css(browser, "#transcript .bubble.agent.fallback")
        assert one(fallback, ".who").text == "desk"
        assert one(fallback, ".text").text == "The expert is away; here is what I know."
        assert "fallback answer" in one(fallback, ".note").text
        assert one(browser, "#owner").text == "desk"

        # A remote agent with a fallback of its own: the fallback answers in its place.
        send(browser, "Something from the archive")
        second = by_css(browser, "#transcript .handoff")[1]
        assert one(second, ".route").text == "desk → archive"
        assert one(second, ".status").text == "failed"
        assert "archive did not answer" in one(second, ".detail").text
        last = by_css(browser, "#transcript .bubble.agent")[-1]
        assert one(last, ".who").text == "backup"
        assert "fallback" in (last.get_attribute("class") or "")
        assert one(last, ".text").text == "The backup desk found it."
        assert one(browser, "#owner").text == "backup"


class BreakingModel(ScriptedModel):
    """Streams some text, then fails, as a model whose connection drops mid-answer."""

    async def stream(self, request: ModelRequest) -> AsyncIterator[str | ModelResponse]:
        await self.complete(request)
        yield "Let me check your invo"
        raise ModelError("model 'breaking' failed: the connection dropped")


def test_text_of_a_target_that_fails_is_withdrawn_and_the_source_answers(
    browser: WebDriver,
) -> None:
    network = AgentNetwork("withdrawn")
    billing = BaseAgent("billing", model=BreakingModel(["unused"]), network=network)
    desk_model = ScriptedModel(
        [transfer("billing", "invoice question"), "Billing is down; I can help."]
    )
    BaseAgent("desk", model=desk_model, handoffs=[billing], network=network)
    with serve(network) as server:
        open_page(browser, server.url)
        send(browser, "Is my invoice paid?")
        assert bubbles(browser) == [
            ("billing", "Let me check your invo"),
            ("desk", "Billing is down; I can help."),
        ]
        withdrawn, answer = by_css(browser, "#transcript .bubble.agent")
        assert "withdrawn" in (withdrawn.get_attribute("class") or "")
        assert one(withdrawn, ".note").text == "withdrawn: handoff to billing failed"
        assert "fallback" in (answer.get_attribute("class") or "")
        assert one(browser, "#transcript .handoff .status").text == "failed"
        assert one(browser, "#owner").text == "desk"


def test_a_model_that_is_down_shows_an_error_not_an_empty_answer(browser: WebDriver) -> None:
    network = AgentNetwork("model-down")
    BaseAgent("desk", model=ScriptedModel([error(503, "upstream down")]), network=network)
    with serve(network) as server:
        open_page(browser, server.url)
        send(browser, "Hello?")
        problem = one(browser, "#transcript .error")
        assert "(run_failed)" in problem.text and "'desk' failed to answer" in problem.text
        assert bubbles(browser) == []


def test_with_api_keys_the_page_asks_for_one_and_keeps_it_in_the_tab(browser: WebDriver) -> None:
    network = AgentNetwork("keyed")
    BaseAgent("desk", model=ScriptedModel(["Hello, Ada."]), network=network)
    with serve(network, api_keys={"key-ada": "ada"}) as server:
        browser.get(f"{server.url}/")  # redirects to the playground, with no key
        wait_for(browser, lambda d: one(d, "#key-form").is_displayed(), "the key prompt")
        assert browser.current_url == f"{server.url}/playground"
        assert not one(browser, "#app").is_displayed()

        one(browser, "#key").send_keys("wrong-key")
        one(browser, "#key-submit").click()
        wait_for(browser, lambda d: one(d, "#key-error").is_displayed(), "the refusal")
        assert "refused" in one(browser, "#key-error").text

        one(browser, "#key").send_keys("key-ada")
        one(browser, "#key-submit").click()
        wait_for(browser, lambda d: one(d, "#app").is_displayed(), "the page, with the key")
        send(browser, "Hi")
        assert bubbles(browser) == [("desk", "Hello, Ada.")]
        stored = browser.execute_script(
            "return [JSON.stringify(localStorage), document.cookie,"
            " sessionStorage.getItem('webagents.playground.key')]"
        )
        assert stored == ["{}", "", "key-ada"]


def test_a_screenshot_of_a_conversation(browser: WebDriver) -> None:
    """Saved under test-artifacts/ (and as docs/playground.png when
    WEBAGENTS_PLAYGROUND_SCREENSHOT=docs)."""
    network = AgentNetwork("customer-service")
    billing = BaseAgent(
        "billing",
        description="Invoices, refunds and payments",
        model=ScriptedModel(
            [
                tool_call("lookup_order", {"order_id": "A-17"}),
                "Order A-17 was refunded on Monday; the money is on its way.",
            ]
        ),
        tools=[lookup_order],
        network=network,
    )
    network.register_remote(
        "warehouse", "http://127.0.0.1:9/agents/warehouse", description="Stock levels"
    )
    support = BaseAgent(
        "technical-support",
        description="Installation and troubleshooting",
        model=ScriptedModel([]),
        handoffs=["warehouse"],
        network=network,
    )
    sales = BaseAgent("sales", description="Plans and upgrades", model=ScriptedModel([]),
                      handoffs=[billing], network=network)  # fmt: skip
    BaseAgent(
        "front-desk",
        description="Routes customers to the right desk",
        model=ScriptedModel(
            [transfer("billing", "refund for order A-17")],
            responder=lambda request: "Happy to help.",
        ),
        handoffs=[billing, support, sales],
        network=network,
    )
    with serve(network) as server:
        open_page(browser, server.url)
        assert one(browser, "#agent").get_attribute("value") == "front-desk"
        send(browser, "Where is the refund for order A-17?")
        one(browser, "#transcript details.tool summary").click()
        wait_for(browser, lambda d: one(d, "pre.result").is_displayed(), "the tool's result")
        assert {"on-path", "owner"} <= graph_classes(browser, "billing")
        target = artifacts_dir() / "playground.png"
        assert browser.save_screenshot(str(target))
        assert target.stat().st_size > 10_000
        if os.environ.get("WEBAGENTS_PLAYGROUND_SCREENSHOT") == "docs":
            shutil.copyfile(target, ROOT / "docs" / "playground.png")
