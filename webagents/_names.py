"""Names that reach an LLM: tool names must match ``^[a-zA-Z0-9_-]{1,64}$``."""

from __future__ import annotations

import re

_UNSAFE = re.compile(r"[^a-zA-Z0-9_-]+")
TRANSFER_PREFIX = "transfer_to_"
COMPLETE_TOOL = "complete"  # the tool that ends a task with a summary (complete_tool=True)


def transfer_tool_name(agent_name: str) -> str:
    """The name of the tool a model calls to hand the conversation to ``agent_name``."""
    safe = _UNSAFE.sub("_", agent_name).strip("_") or "agent"
    return (TRANSFER_PREFIX + safe)[:64]
