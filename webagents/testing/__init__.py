"""Test kit: ``ScriptedModel`` (in-process) and ``FakeOpenAIServer`` (real HTTP, OpenAI format)."""

from webagents.testing import replies
from webagents.testing.fake_server import FakeOpenAIServer, RawReply
from webagents.testing.replies import (
    Reply,
    as_reply,
    complete,
    error,
    text,
    tool_call,
    tool_calls,
    transfer,
)
from webagents.testing.scripted import ScriptedModel, script_member, scripted_agent

__all__ = [
    "FakeOpenAIServer",
    "RawReply",
    "Reply",
    "ScriptedModel",
    "as_reply",
    "complete",
    "error",
    "replies",
    "script_member",
    "scripted_agent",
    "text",
    "tool_call",
    "tool_calls",
    "transfer",
]
