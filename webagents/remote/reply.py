"""What a remote agent answers, in local terms: ``RemoteReply``, the names its agents go by
here, and its run events read back from the wire.

A remote agent registered as ``finance-expert`` whose server reports the chain
``["finance-expert", "tax"]`` shows locally as ``finance-expert`` then ``finance-expert/tax``:
the server's entry agent takes the registered name, every other agent of that server the
registered name, a slash and its own name. The server's names are untrusted text, so they are
shortened like any name shown (``shown_name``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import unquote, urlsplit

from webagents._urls import shown_name
from webagents.events import (
    AgentCompleted,
    AgentStarted,
    HandoffComplete,
    HandoffFailed,
    HandoffTransfer,
    RunEvent,
    TextWithdrawn,
)
from webagents.models.base import Usage

if TYPE_CHECKING:
    from webagents.agents.agent import BaseAgent
    from webagents.agents.network import RemoteAgent

__all__ = ["RemoteNames", "RemoteReply", "event_from_wire", "reply_from_completion", "usage_from"]


@dataclass(frozen=True, slots=True)
class RemoteReply:
    """A remote agent's answer.

    ``content`` is the answer text; ``agent`` who gave it and ``handoff_chain`` the agents it
    went through on the remote side, entry first, both in local names (``finance-expert``,
    ``finance-expert/tax``); a server without the ``webagents`` extension (any
    OpenAI-compatible one) gives its registered name and a chain of that name alone.
    ``usage`` is the remote's token count when it sent one. ``attempts`` counts the agents
    tried (the agent asked, then its fallbacks); ``via`` is the agent that answered: the
    remote agent asked, or a fallback (a ``RemoteAgent`` or a local ``BaseAgent``).
    ``completed``: an agent over there ended the task with its ``complete`` tool.
    """

    content: str
    agent: str
    handoff_chain: tuple[str, ...]
    usage: Usage = field(default_factory=Usage)
    attempts: int = 1
    via: RemoteAgent | BaseAgent | None = field(default=None, repr=False, compare=False)
    completed: bool = False


class RemoteNames:
    """Maps one remote server's agent names to local ones (see the module text)."""

    __slots__ = ("entry", "name")

    def __init__(self, remote: RemoteAgent) -> None:
        self.name = remote.name
        # A webagents server serves the agent at .../agents/<name>: its entry agent's name.
        self.entry = unquote(urlsplit(remote.url).path.rstrip("/").rsplit("/", 1)[-1])

    def local(self, server_name: object) -> str | None:
        """The local name of the server's agent ``server_name``; None if it is no name."""
        if not isinstance(server_name, str) or not server_name:
            return None
        if server_name == self.entry:
            return self.name
        return f"{self.name}/{shown_name(server_name)}"

    def chain(self, names: object) -> tuple[str, ...] | None:
        """The local form of a server's handoff chain; None unless it is a list of names."""
        if not isinstance(names, list) or not names:
            return None
        local = [self.local(name) for name in names]
        if any(name is None for name in local):
            return None
        return tuple(name for name in local if name is not None)


def usage_from(data: object) -> Usage:
    """A ``usage`` object from the wire; zeros for anything else."""
    usage = Usage()
    if isinstance(data, dict):
        for key in ("prompt_tokens", "completion_tokens", "total_tokens"):
            value = data.get(key)
            if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
                setattr(usage, key, value)
        usage.requests = 1
    return usage


def reply_from_completion(remote: RemoteAgent, data: Any) -> RemoteReply:
    """The reply in a ``chat.completion`` object; ``ValueError`` if it is none."""
    try:
        content = data["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise ValueError("no chat completion") from None
    if content is not None and not isinstance(content, str):
        raise ValueError("no chat completion")
    names = RemoteNames(remote)
    agent = remote.name
    chain: tuple[str, ...] = (remote.name,)
    completed = False
    extension = data.get("webagents")
    if isinstance(extension, dict):
        server_chain = extension.get("handoff_chain")
        if isinstance(server_chain, list) and server_chain and isinstance(server_chain[0], str):
            names.entry = server_chain[0]  # the chain starts with the server's entry agent
        chain = names.chain(server_chain) or chain
        agent = names.local(extension.get("agent")) or chain[-1]
        completed = extension.get("completed") is True
    usage = usage_from(data.get("usage"))
    return RemoteReply(content or "", agent, chain, usage, via=remote, completed=completed)


# Run events a server streams besides text, and the fields that carry agent names.
_WIRE_EVENTS: Final[dict[str, type[RunEvent]]] = {
    kind.type: kind
    for kind in (
        AgentStarted,
        TextWithdrawn,
        HandoffTransfer,
        HandoffFailed,
        HandoffComplete,
        AgentCompleted,
    )
}
_NAME_FIELDS: Final = frozenset({"agent", "from_agent", "to_agent", "final_agent"})
_OPTIONAL: Final = frozenset({"replacement"})
_TRIGGERS: Final = frozenset({"condition", "llm"})


def event_from_wire(data: object, names: RemoteNames) -> RunEvent | None:
    """The run event a server sent as ``event.to_dict()`` (without ``run_id`` and
    ``timestamp``), with agent names made local; None for anything else (an unknown type, a
    missing or mistyped field), so a newer server's events do not break an older client."""
    if not isinstance(data, dict):
        return None
    kind_name = data.get("type")
    kind = _WIRE_EVENTS.get(kind_name) if isinstance(kind_name, str) else None
    if kind is None:
        return None
    values: dict[str, Any] = {}
    for spec in dataclasses.fields(kind):
        key = spec.name
        if key in ("run_id", "timestamp"):
            continue
        value = data.get(key)
        if key in _NAME_FIELDS:
            value = names.local(value)
        elif key == "chain":
            value = names.chain(value)
        elif key == "trigger":
            value = value if isinstance(value, str) and value in _TRIGGERS else None
        elif value is None and key in _OPTIONAL:
            values[key] = None
            continue
        elif not isinstance(value, str):
            value = None
        if value is None:
            return None
        values[key] = value
    return kind(**values)
