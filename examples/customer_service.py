"""Customer service: a front desk that hands customers to billing, technical support and sales.

## Example

Offline, with a stand-in LLM behind a real OpenAI-compatible HTTP server (no key needed)::

    make demo                        # or: python examples/customer_service.py
    webagents demo                   # the same, from an installed webagents-net

With a real model, set a key; every agent then uses ``openai/gpt-4o-mini``::

    OPENAI_API_KEY=sk-... python examples/customer_service.py
    OPENAI_API_KEY=sk-... OPENAI_MODEL=gpt-4o python examples/customer_service.py

``OPENAI_BASE_URL`` points the same script at any OpenAI-compatible server (vLLM, Ollama, ...).

The code is the package module ``webagents.demo`` (team and run) and ``webagents.demo.offline``
(the stand-in LLM), so that ``webagents demo`` runs it wherever webagents is installed; this
script runs the same code.

## What it shows

* ``front-desk`` routes two ways. A *condition* (``RoutingSkill.about_billing``) sends anything
  about invoices, refunds or charges to ``billing`` before the model is even asked. Everything
  else is the *model's* choice: ``handoffs=[billing, technical_support, sales]`` gives it one
  ``transfer_to_<name>`` tool per department.
* A ``before_handoff`` hook looks the customer up and passes ``handoff_context`` (name, tier,
  topic) to the department; it also vetoes transfers for accounts on hold (``HandoffError``).
* An ``after_handoff`` hook replaces a failed handoff with a polite answer (a fallback).
* Departments answer with their own tools, and keep the conversation: the next message in the
  same session goes straight to them.
"""

from __future__ import annotations

from webagents.demo import (
    CONVERSATIONS,
    CUSTOMERS,
    Turn,
    build_agents,
    converse,
    describe,
    main,
    offline_llm,
    run_demo,
)

__all__ = [
    "CONVERSATIONS",
    "CUSTOMERS",
    "Turn",
    "build_agents",
    "converse",
    "describe",
    "main",
    "offline_llm",
    "run_demo",
]

if __name__ == "__main__":
    main()
