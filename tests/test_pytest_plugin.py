"""The fixtures webagents gives plugin authors through its ``pytest11`` entry point."""

from __future__ import annotations

import types
from typing import Any

import pytest

from webagents import AgentConfigError, BaseAgent, Skill, hookimpl, tool
from webagents.models import OpenAIModel
from webagents.plugins import PluginRegistry, get_skill, plugin_registry
from webagents.testing import FakeOpenAIServer, text, tool_call


class Greeter(Skill):
    @tool
    def greet(self, name: str) -> str:
        """Greet someone."""
        greeting = self.config.get("greeting", "Hello")
        return f"{greeting}, {name}!"


def greeter_plugin() -> types.ModuleType:
    module = types.ModuleType("greeter_plugin")

    @hookimpl
    def register_skills(register: Any) -> None:
        register(Greeter, name="greeter")

    module.register_skills = register_skills  # type: ignore[attr-defined]
    return module


def test_register_plugin_uses_an_isolated_registry(
    register_plugin: Any, webagents_plugins: PluginRegistry
) -> None:
    info = register_plugin(greeter_plugin())

    assert info.skills == ["greeter"]
    assert plugin_registry() is webagents_plugins
    assert get_skill("greeter") is Greeter
    assert webagents_plugins.plugins.keys() == {"greeter_plugin"}  # no installed plugins


def test_the_isolated_registry_is_gone_after_the_test() -> None:
    with pytest.raises(AgentConfigError):
        plugin_registry().get_skill("greeter")


async def test_registered_skill_by_name_with_config(
    register_plugin: Any,
    fake_openai_server: FakeOpenAIServer,
    fake_openai_model: OpenAIModel,
) -> None:
    register_plugin(greeter_plugin())
    fake_openai_server.add_replies(tool_call("greet", {"name": "Ada"}), text("Greeted."))
    agent = BaseAgent(
        "greeter-fixture-test",
        model=fake_openai_model,
        skills={"g": {"name": "greeter", "config": {"greeting": "Ahoy"}}},
    )

    result = await agent.run("greet Ada")

    assert result.content == "Greeted."
    assert isinstance(agent.skills["g"], Greeter)
    assert fake_openai_server.requests[1]["messages"][-1]["content"] == "Ahoy, Ada!"


def test_a_malformed_skill_mapping_is_a_clear_error(register_plugin: Any) -> None:
    register_plugin(greeter_plugin())
    with pytest.raises(AgentConfigError, match=r"\{'name': <registered skill>, 'config'"):
        BaseAgent("bad-skill-spec", skills={"g": {"skill": "greeter"}})
