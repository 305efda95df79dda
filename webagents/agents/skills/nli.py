"""``NLISkill``: ask another agent in natural language, in this process or over HTTP.

Local agents answer in-process through the same call; remote agents get the conversation as an
OpenAI chat request at ``POST {url}/chat/completions``. ``query_agent`` never raises for a
failing agent: the outcome is in the returned dict.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from webagents.agents.registry import RemoteAgent, get_registry
from webagents.agents.skills.base import Skill
from webagents.errors import UnknownAgentError, WebAgentsError

if TYPE_CHECKING:
    from webagents.agents.agent import BaseAgent

__all__ = ["NLISkill", "RemoteAgentError", "query_remote"]

DEFAULT_TIMEOUT = 60.0


class RemoteAgentError(WebAgentsError):
    """A remote agent could not be reached or answered with an error."""


async def query_remote(
    remote: RemoteAgent,
    messages: list[dict[str, Any]],
    *,
    timeout: float = DEFAULT_TIMEOUT,
    api_key: str | None = None,
) -> str:
    """The remote agent's answer to ``messages``; ``RemoteAgentError`` if there is none."""
    import httpx

    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    body = {"model": remote.name, "messages": messages}
    try:
        async with httpx.AsyncClient(timeout=timeout) as client:
            response = await client.post(
                f"{remote.url}/chat/completions", json=body, headers=headers
            )
    except httpx.HTTPError as error:
        raise RemoteAgentError(f"{remote.name} at {remote.url} unreachable: {error}") from error
    if response.status_code != 200:
        raise RemoteAgentError(
            f"{remote.name} at {remote.url} answered HTTP {response.status_code}: "
            f"{response.text[:200]}"
        )
    try:
        content = response.json()["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError) as error:
        raise RemoteAgentError(f"{remote.name} sent no chat completion: {error}") from error
    return str(content or "")


class NLISkill(Skill):
    """Query other agents by name (local or remote) with fallbacks.

    Config: ``timeout`` (seconds, default 60), ``fallbacks`` (``{"agent": ["backup", ...]}``,
    tried in order when the agent fails), ``api_key`` (bearer token for remote agents).
    """

    def __init__(self, config: dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(config, **kwargs)
        self.timeout = float(self.config.get("timeout", DEFAULT_TIMEOUT))
        self.fallbacks: dict[str, list[str]] = {
            name: list(backups) for name, backups in self.config.get("fallbacks", {}).items()
        }
        self.api_key: str | None = self.config.get("api_key")

    async def query_agent(
        self,
        agent: str,
        message: str,
        *,
        messages: list[dict[str, Any]] | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """Ask ``agent`` (then its fallbacks) ``message``, after the optional ``messages``.

        Returns ``{"success", "response", "agent", "error", "attempts", "latency_ms"}``;
        ``response`` is present only on success, so ``result.get("response", default)`` gives
        the caller's default when the agent could not answer.
        """
        started = time.perf_counter()
        conversation = [
            *(messages or []),
            *([{"role": "user", "content": message}] if message else []),
        ]
        errors: list[str] = []
        attempts = 0
        for name in [agent, *self.fallbacks.get(agent, [])]:
            attempts += 1
            try:
                response, answered_by = await self._ask(name, conversation, timeout)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                errors.append(f"{name}: {str(error) or type(error).__name__}")  # TimeoutError: ""
                continue
            return _outcome(True, response, answered_by, None, attempts, started)
        return _outcome(False, None, agent, "; ".join(errors), attempts, started)

    async def _ask(
        self, name: str, conversation: list[dict[str, Any]], timeout: float | None
    ) -> tuple[str, str]:
        from webagents.agents.agent import BaseAgent

        if not conversation:
            raise ValueError("nothing to ask: give a message or messages")
        found = get_registry().get(name)
        if found is None:
            raise UnknownAgentError(name, get_registry().names())
        limit = timeout if timeout is not None else self.timeout
        if isinstance(found, BaseAgent):
            return await _ask_local(found, conversation, limit)
        answer = await query_remote(found, conversation, timeout=limit, api_key=self.api_key)
        return answer, found.name


async def _ask_local(
    agent: BaseAgent, conversation: list[dict[str, Any]], timeout: float
) -> tuple[str, str]:
    async with asyncio.timeout(timeout):
        result = await agent.run(conversation)
    return result.content, result.agent


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
