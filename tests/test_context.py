"""The run Context: a mapping and an object, visible to skills through get_context()."""

from __future__ import annotations

import copy
import uuid

import pytest

from webagents import BaseAgent, Context, Skill, tool
from webagents.context import current_context
from webagents.testing import ScriptedModel, text, tool_call, transfer


class WhoAmI(Skill):
    @tool
    def who(self) -> str:
        """Say who is asking."""
        context = self.get_context()
        return f"{context.peer_user_id}@{context.agent_name}"


async def test_a_skill_after_a_skill_less_agent_still_sees_the_run_context() -> None:
    suffix = uuid.uuid4().hex[:6]
    expert_model = ScriptedModel([tool_call("who"), text("done")])
    expert = BaseAgent(f"expert-{suffix}", model=expert_model, skills={"who": WhoAmI()})
    desk = BaseAgent(
        f"desk-{suffix}", model=ScriptedModel([transfer(expert.name)]), handoffs=[expert]
    )

    result = await desk.run("who am I?", user_id="u-7")

    assert result.content == "done"
    assert expert_model.requests[1]["messages"][-1]["content"] == f"u-7@{expert.name}"
    assert current_context.get() is None  # reset when the run ended


def test_mapping_and_attribute_access() -> None:
    context = Context(agent_name="a", messages=[], run_id="r", data={"tier": "gold"})

    context["topic"] = "billing"
    context.flag = True
    context.update({"agent_name": "b"}, extra=1)

    assert context["tier"] == context.tier == "gold"
    assert context.get("topic") == "billing" and context.get("missing", 0) == 0
    assert context["flag"] is True and "flag" in context and "agent_name" in context
    assert context.agent_name == context["agent_name"] == "b"
    assert sorted(context) == ["extra", "flag", "tier", "topic"]
    with pytest.raises(KeyError, match="run attribute"):
        del context["agent_name"]
    with pytest.raises(AttributeError, match="no attribute or key 'nope'"):
        _ = context.nope
    clone = copy.copy(context)
    clone["tier"] = "silver"
    assert context["tier"] == "gold" and clone.agent_name == "b"
