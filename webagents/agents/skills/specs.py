"""A skill as an agent's ``skills=`` mapping names it: a ``Skill`` instance, a plugin's
registered name, or ``{"name": <registered name>, "config": {...}}``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeAlias

from webagents.agents.skills.base import Skill
from webagents.errors import AgentConfigError

__all__ = ["SkillSpec", "skill_from_spec"]

SkillSpec: TypeAlias = "Skill | str | Mapping[str, Any]"


def skill_from_spec(agent: str, key: str, value: SkillSpec) -> Skill:
    """The skill ``value`` names, for ``skills[key]`` of agent ``agent`` (named in errors)."""
    if isinstance(value, Skill):
        return value
    name: object = value
    config: object = None
    if isinstance(value, Mapping):
        unknown = set(value) - {"name", "config"}
        name, config = value.get("name"), value.get("config")
        if unknown or not isinstance(name, str) or not isinstance(config, Mapping | None):
            raise AgentConfigError(
                f"agent {agent!r}: skills[{key!r}] as a mapping takes "
                f"{{'name': <registered skill>, 'config': {{...}}}}, got {dict(value)!r}"
            )
    if isinstance(name, str):
        from webagents.plugins import get_skill

        skill_class = get_skill(name)
        skill: Skill = skill_class(dict(config)) if isinstance(config, Mapping) else skill_class()
        return skill
    raise AgentConfigError(
        f"agent {agent!r}: skills[{key!r}] must be a Skill instance, a registered skill "
        f"name, or {{'name': ..., 'config': {{...}}}}; got {value!r}"
    )
