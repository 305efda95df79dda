"""Serve agents over HTTP: a triage agent and a billing agent behind the OpenAI Chat
Completions API, called with the stock ``openai`` client.

## Run it

Offline, with scripted models (no key needed): serves the agents on a free port, has a
client talk to them (a plain answer, a session over two turns, a streamed answer with its
handoff events), prints what it sees and stops::

    python examples/serve_agents.py

Keep it running and call it yourself::

    webagents serve examples/serve_agents.py --api-key demo-key=ada
    curl -s localhost:8000/agents -H 'Authorization: Bearer demo-key'
    curl -s localhost:8000/agents/triage/chat/completions -H 'Authorization: Bearer demo-key' \\
        -H 'X-Session-Id: s1' -d '{"messages": [{"role": "user", "content": "My invoice?"}]}'

## What it shows

* ``create_app(network, api_keys={key: user})``: one URL per agent, a bearer key whose user
  owns the sessions it starts.
* The answer names who gave it (``webagents.agent``) and the handoff chain.
* With ``X-Session-Id`` the server keeps the conversation: the client sends only the new
  message, and billing, which took the conversation over, answers the next turn directly.
* ``stream=True``: text chunks named by the speaking agent, and the handoff as events.
"""

from __future__ import annotations

from typing import Any

from webagents import AgentNetwork, BaseAgent
from webagents.sessions import InMemorySessionStore
from webagents.testing import ScriptedModel, text, transfer

KEY, USER = "demo-key", "ada"

network = AgentNetwork("support", sessions=InMemorySessionStore())


def billing_model(request: dict[str, Any]) -> Any:
    turns = sum(1 for m in request["messages"] if m["role"] == "user")
    if turns == 1:
        return text("Your last invoice, INV-7, was paid on 2 May.")
    return text(f"Happy to help again (this is message {turns} of our conversation).")


def triage_model(request: dict[str, Any]) -> Any:
    question = next(m["content"] for m in reversed(request["messages"]) if m["role"] == "user")
    if "invoice" in question.lower():
        return transfer("billing", "an invoice question")
    return text("I route customers: ask me about an invoice.")


billing = BaseAgent(
    "billing",
    "You handle invoices.",
    description="Invoices and payments",
    model=ScriptedModel(responder=billing_model),
    metadata={"tags": ["invoices"]},
    network=network,
)
triage = BaseAgent(
    "triage",
    "You route customers to the right desk.",
    description="Routes customers",
    model=ScriptedModel(responder=triage_model),
    handoffs=[billing],
    network=network,
)


def demo() -> None:
    import httpx
    import openai

    from webagents.server import create_app
    from webagents.testing.served import ServedApp

    with ServedApp(create_app(network, api_keys={KEY: USER})) as server:
        auth = {"Authorization": f"Bearer {KEY}"}
        cards = httpx.get(f"{server.url}/agents", headers=auth).json()
        print("Served:", ", ".join(f"{card['name']} ({card['url']})" for card in cards))

        client = openai.OpenAI(api_key=KEY, base_url=f"{server.url}/agents/triage")
        hello = client.chat.completions.create(
            model="triage", messages=[{"role": "user", "content": "Hello!"}]
        )
        print(f"\nuser: Hello!\n  triage: {hello.choices[0].message.content}")

        session = openai.OpenAI(
            api_key=KEY,
            base_url=f"{server.url}/agents/triage",
            default_headers={"X-Session-Id": "conversation-1"},
        )
        for question in ("Where is my invoice?", "Thanks! One more thing?"):
            answer = session.chat.completions.create(
                model="triage", messages=[{"role": "user", "content": question}]
            )
            extension = (answer.model_extra or {})["webagents"]
            chain = " -> ".join(extension["handoff_chain"])
            print(f"\nuser: {question}\n  {extension['agent']} [{chain}]: ", end="")
            print(answer.choices[0].message.content)

        print("\nuser: Is my invoice paid? (streamed)")
        stream = client.chat.completions.create(
            model="triage",
            messages=[{"role": "user", "content": "Is my invoice paid?"}],
            stream=True,
        )
        speaker = None
        for chunk in stream:
            extension = (chunk.model_extra or {}).get("webagents", {})
            event = extension.get("event")
            if event and event["type"] == "handoff.transfer":
                print(f"  [handoff {event['from_agent']} -> {event['to_agent']}]")
            elif chunk.choices and chunk.choices[0].delta.content:
                if extension["agent"] != speaker:  # text arrives in pieces, named by speaker
                    speaker = extension["agent"]
                    print(f"  {speaker}: ", end="")
                print(chunk.choices[0].delta.content, end="", flush=True)
        print()


if __name__ == "__main__":
    demo()
