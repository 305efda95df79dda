"""The agent registry: names resolve for as long as nobody unregisters them."""

from __future__ import annotations

import gc
import uuid

import pytest

from webagents import BaseAgent, UnknownAgentError
from webagents.agents import get_registry, register_remote
from webagents.agents.registry import RemoteAgent
from webagents.testing import ScriptedModel


def build(name: str) -> None:
    BaseAgent(name, model=ScriptedModel(["hello from " + name]))


async def test_an_agent_built_without_a_reference_stays_reachable_by_name() -> None:
    name = f"orphan-{uuid.uuid4().hex[:8]}"
    build(name)
    gc.collect()

    desk = BaseAgent(f"desk-{name}", model=ScriptedModel(responder=lambda r: "unused"))
    target = desk.find_target(name)

    assert isinstance(target, BaseAgent)
    assert (await target.run("hi")).content == f"hello from {name}"


def test_newest_agent_takes_the_name_and_unregister_frees_it() -> None:
    name = f"dup-{uuid.uuid4().hex[:8]}"
    first = BaseAgent(name)
    second = BaseAgent(name)
    registry = get_registry()
    assert registry.resolve(name) is second is not first

    registry.unregister(name)

    with pytest.raises(UnknownAgentError, match=f"^unknown agent '{name}'$"):
        registry.resolve(name)


def test_remote_registration_replaces_a_local_agent_of_that_name() -> None:
    name = f"remote-{uuid.uuid4().hex[:8]}"
    BaseAgent(name)
    remote = register_remote(name, "http://127.0.0.1:9/agents/x", "far away")

    assert (
        get_registry().resolve(name)
        == remote
        == RemoteAgent(name, "http://127.0.0.1:9/agents/x", "far away")
    )
    with pytest.raises(ValueError, match="needs an http"):
        register_remote(name, "ftp://nope")
    get_registry().unregister(name)
