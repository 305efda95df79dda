"""Agent networks: the agents that find one another by name, local and remote.

An ``AgentNetwork`` is an explicit object that agents live in: a server, a team and a test
each build their own, and two networks never see each other's agents. An agent lives as long
as its network, or until it is removed or closed, so dropping a network frees its agents.
One default network serves scripts: ``BaseAgent(...)`` alone joins it and stays findable by
name without a reference, as in the seed.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from webagents._urls import is_url, redact_url, shown_name
from webagents.errors import AgentConfigError, UnknownAgentError

if TYPE_CHECKING:
    from webagents.agents.agent import BaseAgent
    from webagents.agents.sessions import SessionStore
    from webagents.remote.client import RemoteClient

__all__ = [
    "PROTOCOLS",
    "AgentNetwork",
    "RemoteAgent",
    "default_network",
    "is_url",
    "network_of",
    "register_remote",
    "remote_from_url",
    "use_default_network",
]


PROTOCOLS = ("chat", "a2a")  # how a remote agent is spoken to (RemoteAgent.protocol)


@dataclass(frozen=True, slots=True)
class RemoteAgent:
    """An agent in another process, reached over HTTP at ``url`` (``.../agents/<name>``), with
    its own bearer ``api_key``, ``signing_key`` (every request signed with it, see
    ``webagents.remote.signing``) and ``timeout`` (seconds, a total deadline per attempt) when
    set. ``fallbacks`` names other agents of the network (local or remote) to ask, in order,
    when it cannot answer. ``protocol`` is how it is spoken to: ``"chat"`` (OpenAI chat
    completions, a webagents server) or ``"a2a"`` (A2A JSON-RPC at ``url``, its card at
    ``url/.well-known/agent-card.json``; see ``webagents.a2a``). The keys never show: not in
    the repr, not in comparisons, not in errors."""

    name: str
    url: str
    description: str = ""
    api_key: str | None = field(default=None, repr=False, compare=False)
    timeout: float | None = None
    signing_key: str | bytes | None = field(default=None, repr=False, compare=False)
    fallbacks: tuple[str, ...] = ()
    protocol: str = "chat"

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise AgentConfigError(
                f"remote agent {shown_name(self.name)!r}: protocol must be one of "
                f"{', '.join(map(repr, PROTOCOLS))}, got {shown_name(str(self.protocol))!r}"
            )
        # The keys are never echoed: a misplaced value may be a secret.
        if self.api_key is not None and (not isinstance(self.api_key, str) or not self.api_key):
            raise AgentConfigError(
                f"remote agent {shown_name(self.name)!r}: api_key must be a non-empty string "
                f"or None"
            )
        signing_key = self.signing_key
        if signing_key is not None and (
            not isinstance(signing_key, str | bytes) or not signing_key
        ):
            raise AgentConfigError(
                f"remote agent {shown_name(self.name)!r}: signing_key must be a non-empty "
                f"string or bytes, or None"
            )
        fallbacks = self.fallbacks
        if isinstance(fallbacks, str) or not all(
            isinstance(name, str) and name for name in fallbacks
        ):
            raise AgentConfigError(
                f"remote agent {shown_name(self.name)!r}: fallbacks must be a list of agent "
                f"names, e.g. fallbacks=['backup']"
            )
        object.__setattr__(self, "fallbacks", tuple(fallbacks))
        timeout = self.timeout
        if timeout is not None and (
            isinstance(timeout, bool)
            or not isinstance(timeout, int | float)
            or not math.isfinite(timeout)
            or timeout <= 0
        ):
            raise AgentConfigError(
                f"remote agent {shown_name(self.name)!r}: timeout must be a number of seconds "
                f"> 0 or None, got {timeout!r}"
            )

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


class AgentNetwork:
    """Agents by name: local agents (``BaseAgent(..., network=net)`` or ``add``) and remote
    ones (``register_remote``).

    A taken name is an ``AgentConfigError`` unless the caller passes ``replace=True``; in the
    default network (``default_network()``) the newest agent wins with a ``UserWarning``, so a
    notebook re-running a cell keeps working. ``version`` grows on every change (agents cache
    their tool lists against it). ``sessions`` is the session store of the network's agents
    that were given none: the one passed here, else the library default.
    """

    def __init__(self, name: str = "network", *, sessions: SessionStore[Any] | None = None) -> None:
        if not isinstance(name, str) or not name:
            raise AgentConfigError(f"an agent network needs a non-empty name, got {name!r}")
        self.name = name
        self._agents: dict[str, BaseAgent | RemoteAgent] = {}
        self._sessions = sessions
        self._remote_client: RemoteClient | None = None
        self.version = 0

    @property
    def sessions(self) -> SessionStore[Any]:
        if self._sessions is None:
            from webagents.agents.sessions import default_session_store

            self._sessions = default_session_store()
        return self._sessions

    @property
    def remote_client(self) -> RemoteClient:
        """The client every call to a remote agent from this network goes through (NLI,
        remote handoffs, remote session owners): one pooled HTTP client, retries, a deadline
        per attempt and a circuit breaker per remote agent. Made with default settings on
        first use; assign a ``webagents.remote.RemoteClient`` to choose others (or a
        transport). ``aclose()`` closes it."""
        if self._remote_client is None:
            from webagents.remote.client import RemoteClient

            self._remote_client = RemoteClient()
            self._remote_client.bind(self)
        return self._remote_client

    @remote_client.setter
    def remote_client(self, client: RemoteClient) -> None:
        from webagents.remote.client import RemoteClient

        if not isinstance(client, RemoteClient):
            raise TypeError(f"remote_client must be a RemoteClient, got {type(client).__name__}")
        client.bind(self)  # its calls resolve fallback names here
        self._remote_client = client

    # membership ----------------------------------------------------------------------------

    def add(self, agent: BaseAgent, *, replace: bool = False) -> BaseAgent:
        """Make ``agent`` findable by its name here; returns it."""
        from webagents.agents.agent import BaseAgent

        if not isinstance(agent, BaseAgent):
            raise AgentConfigError(
                f"agent network {self.name!r}: add() takes a BaseAgent, got "
                f"{type(agent).__name__}; use register_remote(name, url) for a remote agent"
            )
        self._put(agent, replace=replace, stacklevel=3)
        return agent

    def register_remote(
        self,
        name: str,
        url: str,
        *,
        description: str = "",
        api_key: str | None = None,
        timeout: float | None = None,
        signing_key: str | bytes | None = None,
        fallbacks: Iterable[str] = (),
        replace: bool = False,
        protocol: str = "chat",
    ) -> RemoteAgent:
        """Make the agent served at ``url`` usable by ``name`` wherever a local agent is, with
        its own credentials, signing key, timeout and fallbacks (names of other agents here,
        resolved when a call fails); returns it. ``protocol="a2a"``: an A2A agent, ``url``
        its base URL or its card's URL."""
        return self._register_remote(
            name, url, description, api_key, timeout, signing_key, fallbacks, replace, 4, protocol
        )

    def _register_remote(
        self,
        name: str,
        url: str,
        description: str,
        api_key: str | None,
        timeout: float | None,
        signing_key: str | bytes | None,
        fallbacks: Iterable[str],
        replace: bool,
        stacklevel: int,
        protocol: str = "chat",
    ) -> RemoteAgent:
        if not isinstance(url, str) or not is_url(url) or not urlparse(url).hostname:
            shown = redact_url(url) if isinstance(url, str) else type(url).__name__
            raise AgentConfigError(
                f"remote agent {shown_name(str(name))!r} needs an http(s):// URL with a host, "
                f"got {shown!r}"
            )
        if protocol == "a2a":  # the card's URL names the agent by its base URL
            url = url.rstrip("/").removesuffix(A2A_CARD_PATH)
        remote = RemoteAgent(
            name=name,
            url=url.rstrip("/"),
            description=description,
            api_key=api_key,
            timeout=timeout,
            signing_key=signing_key,
            fallbacks=_names(name, fallbacks),
            protocol=protocol,
        )
        self._put(remote, replace=replace, stacklevel=stacklevel)
        return remote

    def _put(self, agent: BaseAgent | RemoteAgent, *, replace: bool, stacklevel: int) -> None:
        """Add ``agent`` under its name; ``stacklevel`` points a warning at the user's line
        (1 is this function)."""
        name = agent.name
        earlier = self._agents.get(name)
        if earlier is agent or (isinstance(earlier, RemoteAgent) and _same_remote(earlier, agent)):
            return  # registering the same thing again changes nothing
        self._refuse_taken(name, replace)
        if earlier is not None and not replace:
            warnings.warn(
                f"agent {name!r} replaced an earlier agent of that name in the default agent "
                f"network; pass replace=True to say so, or build an AgentNetwork",
                UserWarning,
                stacklevel=stacklevel,
            )
        self._agents[name] = agent
        self.version += 1

    def _refuse_taken(self, name: str, replace: bool) -> None:
        """``AgentConfigError`` if ``name`` cannot be added here: a URL, or taken and not to be
        replaced (checked before an agent is built, so a refused agent leaves its skills
        unattached)."""
        if not isinstance(name, str) or not name or is_url(name):
            raise AgentConfigError(
                f"agent network {self.name!r}: an agent's name must be a non-empty name, not a "
                f"URL, got {shown_name(str(name))!r}"
            )
        if not replace and name in self._agents and self is not _default:
            raise AgentConfigError(
                f"agent network {self.name!r} already has an agent named {name!r}; pass "
                f"replace=True to replace it (BaseAgent(..., replace=True) at construction) "
                f"or give the new agent another name"
            )

    def remove(self, name: str) -> BaseAgent | RemoteAgent:
        """Forget the agent named ``name``; returns it. ``UnknownAgentError`` if none is."""
        agent = self._agents.pop(name, None)
        if agent is None:
            raise UnknownAgentError(name, self._agents)
        self.version += 1
        return agent

    def discard(self, agent: BaseAgent | RemoteAgent) -> None:
        """Forget ``agent`` if it is the one its name finds here (not an agent that replaced
        it); what ``agent.close()`` does."""
        if self._agents.get(agent.name) is agent:
            del self._agents[agent.name]
            self.version += 1

    # lookup --------------------------------------------------------------------------------

    def get(self, name: str) -> BaseAgent | RemoteAgent | None:
        """The agent named ``name``, or None. A URL is never looked up here: an address counts
        only where the developer wrote it (``handoffs=[url]``, ``register_remote``), so a name
        produced at run time can never make the process call an arbitrary URL."""
        if not isinstance(name, str) or is_url(name):
            return None
        return self._agents.get(name)

    def resolve(self, name: str, candidates: Iterable[str] = ()) -> BaseAgent | RemoteAgent:
        """The agent named ``name``; else ``UnknownAgentError`` suggesting close matches among
        ``candidates`` (the names the asker could have meant, never every agent here)."""
        found = self.get(name)
        if found is None:
            raise UnknownAgentError(name, candidates)
        return found

    def names(self) -> list[str]:
        return sorted(self._agents)

    def local_agents(self) -> list[BaseAgent]:
        return [agent for agent in self._agents.values() if not isinstance(agent, RemoteAgent)]

    def remote_agents(self) -> list[RemoteAgent]:
        return [agent for agent in self._agents.values() if isinstance(agent, RemoteAgent)]

    def __contains__(self, item: object) -> bool:
        """``"billing" in net`` by name; ``agent in net`` for that very agent."""
        if isinstance(item, str):
            return self.get(item) is not None
        name = getattr(item, "name", None)
        return isinstance(name, str) and self._agents.get(name) is item

    def __len__(self) -> int:
        return len(self._agents)

    def __repr__(self) -> str:
        return f"AgentNetwork({self.name!r}, agents={len(self._agents)})"

    # lifetime ------------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Close every local agent (``agent.close()``, which also takes it out of the
        network) and the remote client's connections, even when one fails; the first failure
        is raised after, several as an ``ExceptionGroup``. Remote agents stay registered."""
        failures: list[Exception] = []
        for agent in self.local_agents():
            try:
                await agent.close()
            except Exception as failure:
                failures.append(failure)
        if self._remote_client is not None:
            try:
                await self._remote_client.aclose()
            except Exception as failure:
                failures.append(failure)
        if len(failures) == 1:
            raise failures[0]
        if failures:
            raise ExceptionGroup(f"closing agent network {self.name!r}", failures)

    async def __aenter__(self) -> AgentNetwork:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


def _same_remote(earlier: RemoteAgent, new: BaseAgent | RemoteAgent) -> bool:
    return (
        isinstance(new, RemoteAgent)
        and new == earlier
        and new.api_key == earlier.api_key
        and new.signing_key == earlier.signing_key
    )


def _names(agent: str, fallbacks: Iterable[str]) -> tuple[str, ...]:
    if isinstance(fallbacks, str):  # one name where a list belongs
        raise AgentConfigError(
            f"remote agent {shown_name(str(agent))!r}: fallbacks must be a list of agent names, "
            f"e.g. fallbacks=[{fallbacks!r}]"
        )
    try:
        return tuple(fallbacks)
    except TypeError:
        raise AgentConfigError(
            f"remote agent {shown_name(str(agent))!r}: fallbacks must be a list of agent names, "
            f"got {type(fallbacks).__name__}"
        ) from None


_default: AgentNetwork | None = None
A2A_CARD_PATH = "/.well-known/agent-card.json"


def default_network() -> AgentNetwork:
    """The process's default network: agents built without ``network=`` join it and live as
    long as the process (or until removed or closed)."""
    global _default
    if _default is None:
        _default = AgentNetwork("default")
    return _default


def network_of(agent: BaseAgent | None) -> AgentNetwork:
    """The network a skill resolves names through: its agent's; for a skill attached to no
    agent (kept inside another skill), the network of the agent running the current run;
    else the default network."""
    if agent is not None:
        return agent.network
    from webagents.context import current_context

    context = current_context.get()
    running = getattr(context.agent, "network", None) if context is not None else None
    return running if isinstance(running, AgentNetwork) else default_network()


@contextlib.contextmanager
def use_default_network(network: AgentNetwork) -> Iterator[AgentNetwork]:
    """Make ``network`` the default network inside the block (a test's own network), then
    restore the previous one."""
    global _default
    if not isinstance(network, AgentNetwork):
        raise TypeError(f"use_default_network() takes an AgentNetwork, got {network!r}")
    previous, _default = _default, network
    try:
        yield network
    finally:
        _default = previous


def register_remote(
    name: str,
    url: str,
    *,
    description: str = "",
    api_key: str | None = None,
    timeout: float | None = None,
    signing_key: str | bytes | None = None,
    fallbacks: Iterable[str] = (),
    protocol: str = "chat",
) -> RemoteAgent:
    """Make the agent served at ``url`` usable by ``name`` in the default network, with its
    own bearer ``api_key``, ``signing_key``, ``timeout`` and ``fallbacks`` when given;
    ``protocol="a2a"`` for an A2A agent (``url``: its base URL or its card's URL)."""
    return default_network()._register_remote(
        name, url, description, api_key, timeout, signing_key, fallbacks, False, 4, protocol
    )
