"""Fallbacks of a remote agent: names of other agents, resolved in the caller's network when
the call fails (so an agent registered later still counts), and a local fallback answering
in-process."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from webagents._urls import shown_name
from webagents.remote.reply import RemoteReply

if TYPE_CHECKING:
    from webagents.agents.agent import BaseAgent
    from webagents.agents.network import AgentNetwork, RemoteAgent

__all__ = ["answer_locally", "fallback_agents"]

logger = logging.getLogger("webagents")


def fallback_agents(
    network: AgentNetwork | None, remote: RemoteAgent, names: Sequence[str]
) -> list[BaseAgent | RemoteAgent]:
    """The agents ``names`` stand for in ``network``, in order. A name the network does not
    know (or the failed agent itself) is skipped with a WARNING: a typo in a fallback list
    must show, but must not turn one failure into another."""
    found: list[BaseAgent | RemoteAgent] = []
    for name in names:
        agent = network.get(name) if network is not None else None
        if agent is None or name == remote.name:
            where = f"agent network {network.name!r}" if network is not None else "no network"
            logger.warning(
                "remote agent %r: fallback %r skipped: not an agent of %s",
                remote.name,
                shown_name(name),
                where,
            )
            continue
        found.append(agent)
    return found


async def answer_locally(
    agent: BaseAgent, messages: list[dict[str, Any]], timeout: float
) -> RemoteReply:
    """A local fallback's answer: a run of ``agent`` on ``messages`` in this process, within
    ``timeout`` seconds."""
    async with asyncio.timeout(timeout):
        result = await agent.run(messages)
    return RemoteReply(
        result.content,
        result.agent,
        tuple(result.handoff_chain),
        result.usage,
        via=agent,
        completed=result.completed,
    )
