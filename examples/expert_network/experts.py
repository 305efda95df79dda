"""The experts of the expert network, each served in a process of its own::

    webagents serve examples/expert_network/experts.py:tax_expert --port 8001
    webagents serve examples/expert_network/experts.py:accountant --port 8002

Their stand-in LLMs answer from a few notes by keyword, offline; swap ``model=`` for
``"openai/gpt-4o-mini"`` to run them on a real model. See ``front_desk.py`` for the desk
that hands customers over to them.
"""

from __future__ import annotations

from typing import Any

from webagents import BaseAgent
from webagents.testing import ScriptedModel, text

NOTES = {
    "tax-expert": {
        "desk": "A desk used only for work is deductible as a home-office expense.",
        "laptop": "A work laptop is deducted over three years, or at once under 800 EUR.",
    },
    "accountant": {
        "desk": "Keep the receipt: the desk goes under home-office expenses.",
        "laptop": "Your work laptop can be written off; keep the invoice for the tax office.",
    },
}


def notes_llm(name: str) -> Any:
    """A stand-in LLM: the note whose keyword the customer's last message mentions."""

    def respond(request: dict[str, Any]) -> Any:
        asked = [m for m in request["messages"] if m["role"] == "user"]
        question = asked[-1]["content"].lower() if asked else ""
        for keyword, note in NOTES[name].items():
            if keyword in question:
                return text(f"[{name}] {note}")
        return text(f"[{name}] I only know about desks and laptops, I'm afraid.")

    return respond


tax_expert = BaseAgent(
    "tax-expert",
    "You answer questions about tax deductions in one sentence.",
    description="Answers questions about income tax and deductions.",
    model=ScriptedModel(responder=notes_llm("tax-expert")),
)

accountant = BaseAgent(
    "accountant",
    "You stand in for the tax expert: short, practical answers about receipts and costs.",
    description="Bookkeeping and deductible costs; the tax expert's backup.",
    model=ScriptedModel(responder=notes_llm("accountant")),
)
