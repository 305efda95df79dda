"""webagents-router: route conversations to other agents from configuration, with no code.

Installed, it registers the skill ``router`` (``BaseAgent(skills={"router": "router"})``); for
rules, pass an instance: ``RouterSkill({"rules": [...], "default": None})``. The config is
validated by ``RouterConfig`` (``RouterSkill.config_model``) when the skill is built.
"""

from __future__ import annotations

from typing import Any

from webagents import hookimpl
from webagents_router.skill import RouteMatch, RouterConfig, RouterSkill, Rule, RuleConfig

__all__ = ["RouteMatch", "RouterConfig", "RouterSkill", "Rule", "RuleConfig", "register_skills"]

__version__ = "0.1.0"


@hookimpl
def register_skills(register: Any) -> None:
    """Register ``RouterSkill`` under the name ``router``."""
    register(RouterSkill, name="router")
