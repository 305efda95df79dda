"""Agents by name: local agents (registered when constructed) and remote ones (name -> URL)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from webagents._urls import is_url, redact_url
from webagents.errors import UnknownAgentError

if TYPE_CHECKING:
    from webagents.agents.agent import BaseAgent

__all__ = ["AgentRegistry", "RemoteAgent", "get_registry", "is_url", "register_remote"]


@dataclass(frozen=True, slots=True)
class RemoteAgent:
    """An agent in another process, reached over HTTP at ``url`` (``.../agents/<name>``)."""

    name: str
    url: str
    description: str = ""

    @property
    def shown_url(self) -> str:
        """The URL without credentials or query string: what errors and events may show."""
        return redact_url(self.url)

    def __repr__(self) -> str:
        return f"RemoteAgent(name={self.name!r}, url={self.shown_url!r})"


def remote_from_url(url: str) -> RemoteAgent:
    """A remote agent named after the last segment of its URL."""
    path = urlparse(url).path.rstrip("/")
    name = path.rsplit("/", 1)[-1] or urlparse(url).netloc
    return RemoteAgent(name=name, url=url.rstrip("/"))


class AgentRegistry:
    """Name -> agent. An agent stays findable until it is unregistered or another agent takes
    its name (the newest agent wins), so a network can be wired by names alone."""

    def __init__(self) -> None:
        self._local: dict[str, BaseAgent] = {}
        self._remote: dict[str, RemoteAgent] = {}
        self.version = 0  # bumped on every change, so agents can cache derived tool lists

    def register(self, agent: BaseAgent) -> None:
        self._local[agent.name] = agent
        self._remote.pop(agent.name, None)
        self.version += 1

    def register_remote(self, name: str, url: str, description: str = "") -> RemoteAgent:
        if not is_url(url):
            raise ValueError(
                f"remote agent {name!r} needs an http(s):// URL, got {redact_url(url)!r}"
            )
        remote = RemoteAgent(name=name, url=url.rstrip("/"), description=description)
        self._remote[name] = remote
        self._local.pop(name, None)
        self.version += 1
        return remote

    def unregister(self, name: str) -> None:
        self._local.pop(name, None)
        self._remote.pop(name, None)
        self.version += 1

    def get(self, name: str) -> BaseAgent | RemoteAgent | None:
        """The agent registered as ``name``. A URL is never looked up here: an address counts
        only where the developer wrote it (``handoffs=[url]``, ``register_remote``), so a name
        produced at run time can never make the process call an arbitrary URL."""
        local = self._local.get(name)
        return local if local is not None else self._remote.get(name)

    def resolve(self, name: str, candidates: Iterable[str] = ()) -> BaseAgent | RemoteAgent:
        """The agent registered as ``name``; else ``UnknownAgentError`` suggesting close
        matches among ``candidates`` (the names the asker could have meant, never all)."""
        found = self.get(name)
        if found is None:
            raise UnknownAgentError(name, candidates)
        return found

    def names(self) -> list[str]:
        return sorted({*self._local.keys(), *self._remote})

    def local_agents(self) -> list[BaseAgent]:
        return list(self._local.values())

    def remote_agents(self) -> list[RemoteAgent]:
        return list(self._remote.values())


_REGISTRY = AgentRegistry()


def get_registry() -> AgentRegistry:
    """The process-wide registry that names resolve through."""
    return _REGISTRY


def register_remote(name: str, url: str, description: str = "") -> RemoteAgent:
    """Make the agent served at ``url`` usable by ``name`` wherever a local agent is."""
    return _REGISTRY.register_remote(name, url, description)
