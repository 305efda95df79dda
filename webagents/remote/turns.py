"""A remote agent's part of a local run: a handoff to it, or a later turn of a session it
owns. Both go through the entry agent's network's remote client, with the agent's registered
key, signing key, timeout and fallbacks.

A streamed run re-streams the remote's text as ``TextDelta``s and its handoff events as local
events, named by agent (``finance-expert``, ``finance-expert/tax``); the remote's handoff
chain joins the local one. When the remote fails, the caller undoes its part as for a local
agent (``TextWithdrawn`` for every agent that streamed).
"""

from __future__ import annotations

import contextlib
import dataclasses
from typing import TYPE_CHECKING, Any

from webagents.agents.network import RemoteAgent
from webagents.events import (
    AgentCompleted,
    AgentStarted,
    HandoffComplete,
    HandoffTransfer,
    TextDelta,
)
from webagents.remote.reply import RemoteReply

if TYPE_CHECKING:
    from webagents.agents.runner import Run

__all__ = ["remote_turn", "take_over"]


async def remote_turn(
    run: Run, remote: RemoteAgent, messages: list[dict[str, Any]], chain_at: int
) -> RemoteReply:
    """``remote``'s answer to ``messages`` (a fallback's when it cannot answer), reported as
    the run's events. ``chain_at`` is where ``remote`` stands in ``run.book.chain``: from
    there the chain becomes the remote side's (or the fallback's) chain, so a failure's
    rollback to that point drops every remote agent that spoke."""
    network = run.entry.network
    run.emit(AgentStarted, agent=remote.name)
    if run.streaming:
        reply = await _restream(run, remote, messages, chain_at)
    else:
        reply = await network.remote_client.complete(
            remote, messages, network=network, session=_session(run)
        )
    run.book.chain[chain_at:] = reply.handoff_chain
    run.emit(AgentCompleted, agent=reply.agent, content=reply.content)
    return reply


async def _restream(
    run: Run, remote: RemoteAgent, messages: list[dict[str, Any]], chain_at: int
) -> RemoteReply:
    network = run.entry.network
    chain = run.book.chain
    reply: RemoteReply | None = None
    items = network.remote_client.stream(remote, messages, network=network, session=_session(run))
    async with contextlib.aclosing(items):
        async for item in items:
            if isinstance(item, RemoteReply):
                reply = item
            elif isinstance(item, TextDelta):
                if item.agent not in chain[chain_at:]:
                    # A fallback speaking: in the chain, so a failure withdraws its text.
                    chain.append(item.agent)
                run.emit(TextDelta, agent=item.agent, text=item.text)
            elif isinstance(item, AgentStarted) and item.agent == remote.name:
                continue  # announced already
            elif not isinstance(item, HandoffComplete | AgentCompleted):
                # The run reports completion itself; the remote's handoffs show as they go.
                if isinstance(item, HandoffTransfer):
                    chain.append(item.to_agent)
                fields = {
                    f.name: getattr(item, f.name)
                    for f in dataclasses.fields(item)
                    if f.name not in ("run_id", "timestamp")
                }
                run.emit(type(item), **fields)
    assert reply is not None  # a stream ends with its reply or raises
    return reply


def _session(run: Run) -> str | None:
    """The run's conversation as a remote agent may know it (an A2A agent's context is
    derived from it): the entry agent's session key, None outside a session."""
    if run.session_id is None:
        return None
    key = run.entry.session_key(run.session_id)
    return f"{key.agent}\n{key.session_id}"


def take_over(run: Run, reply: RemoteReply) -> None:
    """Whoever answered owns the conversation from here, in later turns too: a remote agent
    (the one asked, or a remote fallback), or a local fallback (then the run's active
    agent, answering the session's next turns in-process)."""
    from webagents.agents.agent import BaseAgent

    if reply.completed:  # the task is done: the next turn starts over at the run's entry
        run.completed = True
    via = reply.via
    if isinstance(via, BaseAgent):
        run.remote_owner = None
        run.remote_speaker = None
        run.active = via
    else:
        assert isinstance(via, RemoteAgent)
        run.remote_owner = via
        run.remote_speaker = reply.agent
