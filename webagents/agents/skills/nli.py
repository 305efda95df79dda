"""``NLISkill``: ask another agent in natural language, in this process or over HTTP.

Local agents answer in-process through the same call; remote agents get the conversation as an
OpenAI chat request at ``POST {url}/chat/completions``. ``query_agent`` never raises for a
failing agent: the outcome is in the returned dict.

Trust rules: a URL is an agent address only where the developer wrote it (the ``agents``
config, ``register_remote``, or any URL with ``allow_urls: true``), so a name a model produces
can never make the process post the conversation somewhere. Failure text names the agent and
what failed in one line; it never carries a URL's credentials or query, a remote's response
body, a traceback or a listing of other agents. Nested queries (an agent asking itself, or a
cycle of agents) are bounded per run chain.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterator
from contextvars import ContextVar
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr

from webagents._urls import is_url, shown_name
from webagents.agents.network import (
    AgentNetwork,
    RemoteAgent,
    default_network,
    network_of,
    remote_from_url,
)
from webagents.agents.skills.base import Skill
from webagents.errors import UnknownAgentError, WebAgentsError
from webagents.remote.errors import RemoteAgentError
from webagents.remote.fallbacks import fallback_agents

if TYPE_CHECKING:
    from webagents.agents.agent import BaseAgent

__all__ = [
    "NLIConfig",
    "NLISkill",
    "NestingLimitError",
    "RemoteAgentError",
    "describe_failure",
    "nested_query",
    "query_remote",
]

DEFAULT_TIMEOUT = 60.0
DEFAULT_MAX_DEPTH = 5

logger = logging.getLogger(__name__)

# How many NLI queries (or consult tools) the current run chain is inside. A local agent runs
# in the caller's task (or a task copied from it), so the value follows the chain of runs.
_depth: ContextVar[int] = ContextVar("webagents_nli_depth", default=0)


class NestingLimitError(WebAgentsError):
    """An NLI query was refused because the run chain is already ``limit`` queries deep."""

    def __init__(self, agent: str, limit: int) -> None:
        self.agent = agent
        self.limit = limit
        super().__init__(
            f"agent {shown_name(agent)!r} was not asked: NLI nesting limit of {limit} reached "
            f"(agents asking themselves or each other in a cycle)"
        )


@contextlib.contextmanager
def nested_query(agent: str, limit: int) -> Iterator[None]:
    """One level deeper in the run chain's NLI nesting for the duration of the block;
    ``NestingLimitError`` when ``limit`` levels are already open."""
    depth = _depth.get()
    if depth >= limit:
        raise NestingLimitError(agent, limit)
    token = _depth.set(depth + 1)
    try:
        yield
    finally:
        _depth.reset(token)


def describe_failure(agent: str, error: BaseException, timeout: float | None = None) -> str:
    """One line saying that ``agent`` failed and how, safe to show to a model: the framework's
    own texts for unknown agents, remote failures and the nesting limit; for anything else
    the exception's type (and HTTP status), since its text may carry secrets."""
    if isinstance(error, UnknownAgentError | RemoteAgentError | NestingLimitError):
        return str(error)
    shown = shown_name(agent)
    if isinstance(error, TimeoutError) and timeout is not None:
        return f"agent {shown!r} timed out after {timeout:g}s"
    status = getattr(error, "status_code", None)
    detail = type(error).__name__ + (f" (HTTP {status})" if isinstance(status, int) else "")
    return f"agent {shown!r} failed: {detail}"


async def query_remote(
    remote: RemoteAgent,
    messages: list[dict[str, Any]],
    *,
    timeout: float | None = None,
    api_key: str | None = None,
    network: AgentNetwork | None = None,
) -> str:
    """The remote agent's answer to ``messages``; a ``RemoteAgentError`` if there is none.

    The call goes through ``network``'s remote client (``network.remote_client``; the
    default network's when None), with its retries, total deadline per attempt, circuit
    breaker, signing and fallbacks (``RemoteClient.complete`` gives who answered too).
    ``timeout`` and ``api_key`` (bearer token) default to the remote agent's own, then to 60
    seconds and no token.
    """
    network = network if network is not None else default_network()
    return await network.remote_client.chat(
        remote, messages, timeout=timeout, api_key=api_key, network=network
    )


def _normal_url(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=parts.path.rstrip("/")))


def _agent_url(url: str) -> str:
    if not is_url(url) or not urlsplit(url).hostname:
        # No echo of the value: it may carry credentials.
        raise ValueError("must be an http(s):// URL with a host")
    return _normal_url(url)


class NLIConfig(BaseModel):
    """``NLISkill`` config. ``agents`` maps names to the URLs of remote agents the developer
    trusts; ``allow_urls`` lets any ``http(s)://`` string be asked directly (off by default,
    since a model's tool argument must never pick where the conversation is posted)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    timeout: float = Field(DEFAULT_TIMEOUT, gt=0)
    retries: int | None = Field(None, ge=0)  # None: the network's remote client's setting
    fallbacks: dict[str, list[str]] = Field(default_factory=dict)
    api_key: SecretStr | None = None
    signing_key: SecretStr | None = None
    agents: dict[str, Annotated[str, AfterValidator(_agent_url)]] = Field(default_factory=dict)
    allow_urls: bool = False
    max_depth: int = Field(DEFAULT_MAX_DEPTH, ge=1)


class NLISkill(Skill):
    """Query other agents by name (local or remote) with fallbacks.

    Config (``NLIConfig``): ``timeout`` (seconds per attempt, default 60), ``retries``
    (further attempts per remote agent; default: the remote client's), ``fallbacks``
    (``{"agent": ["backup", ...]}``, tried in order when the agent fails; without an entry, a
    registered remote agent's own fallbacks), ``api_key`` (bearer token) and ``signing_key``
    (request signing) for remote agents without their own, ``agents`` (``{name: url}``),
    ``allow_urls`` (default false), ``max_depth`` (nested queries per run chain, default 5).
    """

    config_model = NLIConfig

    def __init__(self, config: dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(config, **kwargs)
        settings: NLIConfig = self.settings
        self.timeout = settings.timeout
        self.retries = settings.retries
        self.fallbacks = {name: list(backups) for name, backups in settings.fallbacks.items()}
        self.api_key = settings.api_key.get_secret_value() if settings.api_key else None
        self.signing_key = settings.signing_key.get_secret_value() if settings.signing_key else None
        self.agents = dict(settings.agents)
        self.allow_urls = settings.allow_urls
        self.max_depth = settings.max_depth

    async def query_agent(
        self,
        agent: str,
        message: str,
        *,
        messages: list[dict[str, Any]] | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """Ask ``agent`` (then its fallbacks) ``message``, after the optional ``messages``.

        ``agent`` is a name in the ``agents`` config, else an agent of the network (the
        attached agent's, else the current run's agent's, else the default network), else
        (only with ``allow_urls``) an ``http(s)://`` URL. Returns ``{"success", "response", "agent",
        "error", "attempts", "latency_ms"}``; ``response`` is present only on success, so
        ``result.get("response", default)`` gives the caller's default when the agent could
        not answer.
        """
        started = time.perf_counter()
        conversation = [
            *(messages or []),
            *([{"role": "user", "content": message}] if message else []),
        ]
        limit = timeout if timeout is not None else self.timeout
        errors: list[str] = []
        attempts = 0
        if not conversation:
            errors.append(f"nothing to ask agent {shown_name(agent)!r}: give a message")
            return _outcome(False, None, shown_name(agent), errors[0], attempts, started)
        try:
            with nested_query(agent, self.max_depth):
                for name in [agent, *self._fallbacks_of(agent)]:
                    attempts += 1
                    try:
                        response, answered_by = await self._ask(name, conversation, timeout)
                    except asyncio.CancelledError:
                        raise
                    except Exception as error:
                        errors.append(_logged_failure(name, error, limit))
                        continue
                    return _outcome(True, response, answered_by, None, attempts, started)
        except NestingLimitError as refused:
            logger.warning("NLI query refused: %s", refused)
            errors.append(str(refused))
        return _outcome(False, None, shown_name(agent), "; ".join(errors), attempts, started)

    def resolve(self, name: str) -> BaseAgent | RemoteAgent:
        """The agent ``name`` stands for, by the rules in ``query_agent``; else
        ``UnknownAgentError`` suggesting close names from this skill's config only."""
        url = self.agents.get(name)
        if url is not None:
            return RemoteAgent(name=name, url=url)
        found = network_of(self.agent).get(name)
        if found is not None:
            return found
        if is_url(name):
            written = _normal_url(name)
            for configured, url in self.agents.items():
                if url == written:
                    return RemoteAgent(name=configured, url=url)
            if self.allow_urls:
                return remote_from_url(name)
        raise UnknownAgentError(name, self._known_names() - {name})

    def _fallbacks_of(self, agent: str) -> list[str]:
        """The config's fallbacks for ``agent``; without an entry there, a registered remote
        agent's own (names its network does not know are skipped with a WARNING)."""
        if agent in self.fallbacks:
            return self.fallbacks[agent]
        try:
            found = self.resolve(agent)
        except UnknownAgentError:
            return []
        if not isinstance(found, RemoteAgent) or not found.fallbacks:
            return []
        network = network_of(self.agent)
        return [backup.name for backup in fallback_agents(network, found, found.fallbacks)]

    def _known_names(self) -> set[str]:
        """The names this skill's config mentions: the only ones worth suggesting."""
        names = set(self.agents) | set(self.fallbacks)
        for backups in self.fallbacks.values():
            names.update(backups)
        return names

    async def _ask(
        self, name: str, conversation: list[dict[str, Any]], timeout: float | None
    ) -> tuple[str, str]:
        """``timeout`` is the caller's; without it a remote agent's own timeout applies, then
        this skill's. A remote agent's own api_key and signing_key win over this skill's.
        Fallbacks are this skill's loop, not the client's: one attempt per agent here."""
        from webagents.agents.agent import BaseAgent

        found = self.resolve(name)
        if isinstance(found, BaseAgent):
            async with asyncio.timeout(timeout if timeout is not None else self.timeout):
                result = await found.run(conversation)
            return result.content, result.agent
        if timeout is None:
            timeout = found.timeout if found.timeout is not None else self.timeout
        api_key = found.api_key if found.api_key is not None else self.api_key
        signing_key = found.signing_key if found.signing_key is not None else self.signing_key
        network = network_of(self.agent)
        reply = await network.remote_client.complete(
            found,
            conversation,
            timeout=timeout,
            api_key=api_key,
            signing_key=signing_key,
            retries=self.retries,
            fallbacks=(),
            network=network,
        )
        return reply.content, reply.agent


def _logged_failure(name: str, error: Exception, timeout: float) -> str:
    """The failure's one-line text. The log gets it too: at INFO when the outcome says all
    there is to know (an unknown name, a remote down, a timeout), at WARNING with the
    traceback when code raised (a local agent's model, tool or hook)."""
    text = describe_failure(name, error, timeout)
    if isinstance(error, UnknownAgentError | RemoteAgentError | TimeoutError):
        logger.info("NLI query failed: %s", text)
    else:
        logger.warning("NLI query failed: %s", text, exc_info=error)
    return text


def _outcome(
    success: bool,
    response: str | None,
    agent: str,
    error: str | None,
    attempts: int,
    started: float,
) -> dict[str, Any]:
    outcome: dict[str, Any] = {"success": success, "agent": agent, "error": error}
    if success:
        outcome["response"] = response
    outcome["attempts"] = attempts
    outcome["latency_ms"] = round((time.perf_counter() - started) * 1000, 3)
    return outcome
