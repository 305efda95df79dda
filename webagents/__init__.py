"""webagents: networks of AI agents that hand a conversation to one another."""

from webagents.agents.agent import BaseAgent
from webagents.agents.registry import register_remote
from webagents.agents.result import HandoffRecord, RunResult
from webagents.agents.skills.base import Skill
from webagents.agents.skills.decorators import handoff, hook, prompt, tool
from webagents.context import Context
from webagents.errors import (
    AgentConfigError,
    DefinitionError,
    HandoffError,
    HookError,
    MaxTurnsExceeded,
    MissingAPIKeyError,
    ModelError,
    UnknownAgentError,
    WebAgentsError,
)
from webagents.plugins.hookspecs import hookimpl

__version__ = "0.1.0"

__all__ = [
    "AgentConfigError",
    "BaseAgent",
    "Context",
    "DefinitionError",
    "HandoffError",
    "HandoffRecord",
    "HookError",
    "MaxTurnsExceeded",
    "MissingAPIKeyError",
    "ModelError",
    "RunResult",
    "Skill",
    "UnknownAgentError",
    "WebAgentsError",
    "handoff",
    "hook",
    "hookimpl",
    "prompt",
    "register_remote",
    "tool",
]

for _name in ("BaseAgent", "Skill", "Context", "RunResult", "HandoffRecord"):
    globals()[_name].__module__ = "webagents"
del _name
