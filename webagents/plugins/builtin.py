"""The built-in plugin: webagents' stock skills, registered by name like any installed plugin.

Every ``PluginRegistry`` registers this module before anything else (whatever
``WEBAGENTS_LOAD_PLUGINS`` says), so ``BaseAgent(skills={"pay": "payment"})`` works everywhere
and a third-party plugin registering one of these names gets the usual duplicate-name error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from webagents.plugins.hookspecs import hookimpl

__all__ = ["register_skills"]


@hookimpl
def register_skills(register: Callable[..., Any]) -> None:
    """Register ``NLISkill``, ``DiscoverySkill``, ``PaymentSkill`` and ``MCPSkill`` as ``nli``,
    ``discovery``, ``payment`` and ``mcp``, and the routing strategies as ``round-robin``,
    ``least-busy``, ``capability`` and ``fallback`` (so team files can name them). Their
    modules are imported here, when plugins load, not at import (``webagents.mcp`` loads the
    ``mcp`` package only when a skill connects)."""
    from webagents.agents.skills.discovery import DiscoverySkill
    from webagents.agents.skills.nli import NLISkill
    from webagents.agents.skills.payment import PaymentSkill
    from webagents.mcp import MCPSkill
    from webagents.teams.strategies import SKILL_NAMES as STRATEGIES

    register(NLISkill, name="nli")
    register(DiscoverySkill, name="discovery")
    register(PaymentSkill, name="payment")
    register(MCPSkill, name="mcp")
    for name, strategy in STRATEGIES.items():
        register(strategy, name=name)
