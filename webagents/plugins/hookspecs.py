"""pluggy hook specifications of the ``webagents`` project.

An agent collects its skills through a plugin manager of its own (``AgentSpecs``); installed
plugin packages extend webagents through the process-wide manager (``PluginSpecs``). Both use
the same ``hookimpl`` marker.
"""

from __future__ import annotations

from typing import Any

import pluggy

PROJECT = "webagents"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

__all__ = ["PROJECT", "AgentSpecs", "PluginSpecs", "hookimpl", "hookspec"]


class AgentSpecs:
    """Hooks an agent calls on the skills it is built from, once, at construction."""

    @hookspec
    def webagents_agent_members(self) -> list[Any]:  # type: ignore[empty-body]
        """Return this plugin's members as ``AgentMember`` records (tools, hooks, handoff
        conditions, prompts), bound to their owner, in declaration order."""


class PluginSpecs:
    """Hooks that installed plugin packages implement to extend webagents.

    Each receives a ``register`` callback; the plugin calls it once per thing it provides.
    """

    @hookspec
    def register_skills(self, register: Any) -> None:
        """Provide skill classes: ``register(MySkill, name="my-skill")``.

        The name is what ``BaseAgent(skills={"key": "my-skill"})`` and team files use.
        """

    @hookspec
    def register_models(self, register: Any) -> None:
        """Provide model providers: ``register(factory, prefix="myprovider")``.

        ``factory(name)`` returns a Model for ``model="myprovider/<name>"``.
        """

    @hookspec
    def register_tools(self, register: Any) -> None:
        """Provide plain function tools: ``register(func, name=None)``.

        Agents add them by name with ``BaseAgent(tools=[get_tool("name")])``.
        """
