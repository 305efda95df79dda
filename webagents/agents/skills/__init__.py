"""Skills and the stock skills: NLI, discovery and payment (imported when first used)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from webagents.agents.skills.base import Skill
from webagents.errors import HandoffError

if TYPE_CHECKING:
    from webagents.agents.skills.discovery import DiscoverySkill
    from webagents.agents.skills.nli import NLISkill
    from webagents.agents.skills.payment import PaymentSkill

__all__ = ["DiscoverySkill", "HandoffError", "NLISkill", "PaymentSkill", "Skill"]

_STOCK = {
    "DiscoverySkill": "webagents.agents.skills.discovery",
    "NLISkill": "webagents.agents.skills.nli",
    "PaymentSkill": "webagents.agents.skills.payment",
}


def __getattr__(name: str) -> Any:
    module = _STOCK.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
