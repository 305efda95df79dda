"""The per-run ``Context``: a mapping of run data that also carries the run's identity."""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from contextvars import ContextVar
from typing import Any

from webagents.transcript import joined

__all__ = ["Context", "current_context"]

_ATTRIBUTES = frozenset(
    {"agent_name", "messages", "peer_user_id", "session_id", "run_id", "scope", "agent"}
)


class Context(MutableMapping[str, Any]):
    """State of one run, handed to hooks, conditions, prompts and tools.

    It is a mapping (``context["handoff_agent"]``, ``context.get("k", d)``, ``"k" in context``)
    and an object (``context.agent_name``, ``context.messages``, ``context.peer_user_id``,
    ``context.session_id``, ``context.run_id``, ``context.scope``). Keys that are not
    attributes may also be read and written as attributes. One Context exists per run, so
    nothing stored here leaks into another run.
    """

    __slots__ = (
        "_data",
        "_messages",
        "agent",
        "agent_name",
        "peer_user_id",
        "run_id",
        "scope",
        "session_id",
    )

    agent_name: str
    peer_user_id: str | None
    session_id: str | None
    run_id: str
    scope: str
    agent: Any

    def __init__(
        self,
        *,
        agent_name: str,
        messages: list[dict[str, Any]],
        run_id: str,
        peer_user_id: str | None = None,
        session_id: str | None = None,
        scope: str = "all",
        agent: Any = None,
        data: dict[str, Any] | None = None,
    ) -> None:
        set_slot = object.__setattr__
        set_slot(self, "_data", dict(data) if data else {})
        set_slot(self, "agent_name", agent_name)
        set_slot(self, "_messages", messages)
        set_slot(self, "run_id", run_id)
        set_slot(self, "peer_user_id", peer_user_id)
        set_slot(self, "session_id", session_id)
        set_slot(self, "scope", scope)
        set_slot(self, "agent", agent)

    def __getitem__(self, key: str) -> Any:
        if key in _ATTRIBUTES:
            return object.__getattribute__(self, key)
        return self._data[key]

    def __setitem__(self, key: str, value: Any) -> None:
        if key in _ATTRIBUTES:
            object.__setattr__(self, key, value)
        else:
            self._data[key] = value

    def __delitem__(self, key: str) -> None:
        if key in _ATTRIBUTES:
            raise KeyError(f"{key!r} is a run attribute of the Context and cannot be deleted")
        del self._data[key]

    def __contains__(self, key: object) -> bool:
        return key in _ATTRIBUTES or key in self._data

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def get(self, key: str, default: Any = None) -> Any:
        if key in _ATTRIBUTES:
            return object.__getattribute__(self, key)
        return self._data.get(key, default)

    def update(self, *args: Any, **kwargs: Any) -> None:
        data = dict(*args, **kwargs)
        if _ATTRIBUTES.isdisjoint(data):
            self._data.update(data)
        else:
            for key, value in data.items():
                self[key] = value

    def switch_to(self, agent: Any, messages: list[dict[str, Any]]) -> None:
        """Make ``agent`` the active agent, seeing ``messages`` (the run loop's hand-over)."""
        set_slot = object.__setattr__
        set_slot(self, "agent", agent)
        set_slot(self, "agent_name", agent.name)
        set_slot(self, "_messages", messages)

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The conversation the active agent sees; edits in place reach its model."""
        return joined(self._messages)

    @messages.setter
    def messages(self, messages: list[dict[str, Any]]) -> None:
        object.__setattr__(self, "_messages", messages)

    def __getattr__(self, name: str) -> Any:
        # Only reached when normal lookup fails: expose data keys as attributes.
        if name.startswith("__") or name == "_data":
            raise AttributeError(name)
        try:
            return self._data[name]
        except KeyError:
            raise AttributeError(f"Context has no attribute or key {name!r}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _ATTRIBUTES or name == "_data":
            object.__setattr__(self, name, value)
        else:
            self._data[name] = value

    def __copy__(self) -> Context:
        return Context(
            agent_name=self.agent_name,
            messages=self._messages,
            run_id=self.run_id,
            peer_user_id=self.peer_user_id,
            session_id=self.session_id,
            scope=self.scope,
            agent=self.agent,
            data=self._data,
        )

    def data(self) -> dict[str, Any]:
        """The mapping part as a plain dict (a shallow copy)."""
        return dict(self._data)

    def __repr__(self) -> str:
        return (
            f"Context(agent_name={self.agent_name!r}, run_id={self.run_id!r}, "
            f"session_id={self.session_id!r}, keys={sorted(self._data)})"
        )


current_context: ContextVar[Context | None] = ContextVar("webagents_context", default=None)
