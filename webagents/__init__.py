"""webagents: networks of AI agents that hand a conversation to one another."""

from typing import TYPE_CHECKING, Any

from webagents.agents.agent import BaseAgent
from webagents.agents.network import AgentNetwork, register_remote
from webagents.agents.result import HandoffRecord, RunResult
from webagents.agents.skills.base import Skill
from webagents.agents.skills.decorators import handoff, hook, prompt, tool
from webagents.agents.targets import HandoffTarget
from webagents.context import Context
from webagents.errors import (
    AgentConfigError,
    DefinitionError,
    HandoffError,
    HookError,
    MaxTurnsExceeded,
    MissingAPIKeyError,
    ModelError,
    ToolRetry,
    UnknownAgentError,
    WebAgentsError,
)
from webagents.plugins.hookspecs import hookimpl

if TYPE_CHECKING:
    from webagents.agents.skills.discovery import DiscoverySkill
    from webagents.agents.skills.nli import NLISkill
    from webagents.agents.skills.payment import PaymentSkill

__version__ = "0.2.0"

__all__ = [
    "AgentConfigError",
    "AgentNetwork",
    "BaseAgent",
    "Context",
    "DefinitionError",
    "DiscoverySkill",
    "HandoffError",
    "HandoffRecord",
    "HandoffTarget",
    "HookError",
    "MaxTurnsExceeded",
    "MissingAPIKeyError",
    "ModelError",
    "NLISkill",
    "PaymentSkill",
    "RunResult",
    "Skill",
    "ToolRetry",
    "UnknownAgentError",
    "WebAgentsError",
    "handoff",
    "hook",
    "hookimpl",
    "prompt",
    "register_remote",
    "tool",
]

for _name in (
    "AgentNetwork",
    "BaseAgent",
    "Skill",
    "Context",
    "RunResult",
    "HandoffRecord",
    "HandoffTarget",
):
    globals()[_name].__module__ = "webagents"
del _name


def __getattr__(name: str) -> Any:
    # The stock skills load on first use (PaymentSkill brings sqlite3, NLISkill httpx),
    # through the package that owns them.
    if name in ("DiscoverySkill", "NLISkill", "PaymentSkill"):
        from webagents.agents import skills

        return getattr(skills, name)
    raise AttributeError(f"module 'webagents' has no attribute {name!r}")
