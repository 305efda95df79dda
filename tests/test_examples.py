"""The examples run end to end, offline, on the fake LLM over real HTTP."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

from webagents.events import AgentStarted, HandoffFailed, HandoffTransfer

ROOT = Path(__file__).resolve().parents[1]
CUSTOMER_SERVICE = ROOT / "examples" / "customer_service.py"


@pytest.fixture
def customer_service(load_example: Callable[[str], ModuleType]) -> ModuleType:
    """The example imported from its path, offline."""
    return load_example("customer_service")


def test_customer_service_routes_hands_off_and_falls_back(
    customer_service: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    turns = customer_service.main()

    assert [(t.session_id, t.message) for t in turns] == [
        (session, message)
        for _, session, messages in customer_service.CONVERSATIONS
        for message in messages
    ]
    ada_refund, ada_follow_up, grace_support, grace_sales, linus_upgrade, linus_invoice = turns

    # A billing keyword: the front desk's condition decides, before any model call.
    assert ada_refund.chain == ["front-desk", "billing"]
    [transfer] = ada_refund.handoffs
    assert isinstance(transfer, HandoffTransfer)
    assert (transfer.from_agent, transfer.to_agent, transfer.trigger) == (
        "front-desk",
        "billing",
        "condition",
    )
    assert "invoice" in transfer.reason
    assert ada_refund.tool_calls == [("billing", "lookup_invoice", {"invoice_id": "INV-1002"})]
    assert ada_refund.agent == "billing"
    assert "charged 2 times" in ada_refund.answer
    assert "Hi Ada" in ada_refund.answer  # the before-hook's handoff_context reached billing

    # Same session: billing owns the conversation now; the front desk is not involved.
    assert ada_follow_up.chain == ["billing"]
    assert ada_follow_up.handoffs == []
    assert [e.agent for e in ada_follow_up.events if isinstance(e, AgentStarted)] == ["billing"]
    assert ada_follow_up.tool_calls == [("billing", "lookup_invoice", {"invoice_id": "INV-1001"})]
    assert ada_follow_up.agent == "billing"
    assert "status: paid" in ada_follow_up.answer

    # No keyword condition fits: the model picks the department with its transfer tool.
    assert grace_support.chain == ["front-desk", "technical-support"]
    [transfer] = grace_support.handoffs
    assert isinstance(transfer, HandoffTransfer) and transfer.trigger == "llm"
    assert [(agent, name) for agent, name, _ in grace_support.tool_calls] == [
        ("front-desk", "transfer_to_technical-support"),
        ("technical-support", "check_service_status"),
    ]
    assert grace_support.tool_calls[1][2] == {"service": "dashboard"}
    assert "INC-2291" in grace_support.answer
    assert "Hi Grace" in grace_support.answer

    assert grace_sales.chain == ["front-desk", "sales"]
    [transfer] = grace_sales.handoffs
    assert isinstance(transfer, HandoffTransfer) and transfer.trigger == "llm"
    assert grace_sales.tool_calls[-1] == ("sales", "quote", {"plan": "pro", "seats": 12})
    assert grace_sales.agent == "sales"
    assert "300.00 USD" in grace_sales.answer

    # An account on hold: the before-hook vetoes sales, the after-hook answers instead.
    assert linus_upgrade.chain == ["front-desk"]
    [failed] = linus_upgrade.handoffs
    assert isinstance(failed, HandoffFailed)
    assert (failed.from_agent, failed.to_agent) == ("front-desk", "sales")
    assert failed.error.startswith("vetoed: ") and "on hold" in failed.error
    assert [name for _, name, _ in linus_upgrade.tool_calls] == ["transfer_to_sales"]
    assert linus_upgrade.agent == "front-desk"
    assert "can't connect you with our sales team" in linus_upgrade.answer
    assert "120.00 USD" in linus_upgrade.answer

    # The front desk kept that session, and billing is still allowed for it.
    assert linus_invoice.chain == ["front-desk", "billing"]
    assert linus_invoice.tool_calls == [("billing", "lookup_invoice", {"invoice_id": "INV-0977"})]
    assert "unpaid, overdue" in linus_invoice.answer

    out = capsys.readouterr().out
    assert "stand-in LLM serves http://127.0.0.1:" in out
    assert "→ handoff front-desk → billing (condition:" in out
    assert "✗ handoff front-desk → sales failed: vetoed:" in out


def test_offline_llm_routes_by_the_offered_tools_not_by_script(
    customer_service: ModuleType,
) -> None:
    """The stand-in LLM reads the request: any tools, any agent, any wording."""

    def function(name: str, description: str, **properties: object) -> dict[str, object]:
        parameters = {"type": "object", "properties": properties, "required": list(properties)}
        spec = {"name": name, "description": description, "parameters": parameters}
        return {"type": "function", "function": spec}

    tools = [
        function("transfer_to_weather", "Hand the conversation over to weather: forecasts."),
        function(
            "book_table",
            "Book a restaurant table.",
            guests={"type": "integer"},
            time={"type": "string", "enum": ["lunch", "dinner"]},
        ),
    ]
    ask = [{"role": "system", "content": "You are a concierge."}]

    reply = customer_service.offline_llm(
        {
            "messages": [*ask, {"role": "user", "content": "Will the forecast say rain?"}],
            "tools": tools,
        }
    )
    [call] = reply["tool_calls"]
    assert call["name"] == "transfer_to_weather"
    assert "forecast" in call["arguments"]["reason"]

    booking = [*ask, {"role": "user", "content": "Please book a table for 4 at dinner"}]
    reply = customer_service.offline_llm({"messages": booking, "tools": tools})
    [call] = reply["tool_calls"]
    assert (call["name"], call["arguments"]) == ("book_table", {"guests": 4, "time": "dinner"})

    done = [
        *booking,
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "book_table", "arguments": "{}"},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": '{"table": 12}'},
    ]
    reply = customer_service.offline_llm({"messages": done, "tools": tools})
    assert "table: 12" in reply["content"]
    assert "tool_calls" not in reply


def test_customer_service_script_runs_offline(
    run_example: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    done = run_example("customer_service")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    out = done.stdout
    for line in (
        "→ handoff front-desk → billing (condition:",
        "→ handoff front-desk → technical-support (llm:",
        "→ handoff front-desk → sales (llm:",
        "⚙ billing calls lookup_invoice(invoice_id='INV-1002')",
        "⚙ technical-support calls check_service_status(service='dashboard')",
        "⚙ sales calls quote(plan='pro', seats=12)",
        "✗ handoff front-desk → sales failed: vetoed:",
        "✓ chain: front-desk → billing; answered by billing",
        "✓ answered by front-desk",
    ):
        assert line in out, f"missing {line!r} in:\n{out}"
    # the follow-up in Ada's session is answered by billing without a new handoff
    follow_up = out.split("Could you also check invoice INV-1001?", 1)[1].split("\n\n", 1)[0]
    assert "handoff" not in follow_up
    assert "✓ answered by billing" in follow_up
