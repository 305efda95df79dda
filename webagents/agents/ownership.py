"""Who answers a session's next turn: the stored owner, resolved only to agents the entry
agent knows, and a remote owner asked first, with ownership back to the entry agent when it
cannot answer."""

from __future__ import annotations

from typing import TYPE_CHECKING

from webagents import tracing
from webagents._urls import is_url
from webagents.agents.handoffs import failure_text
from webagents.agents.network import RemoteAgent
from webagents.errors import UnknownAgentError
from webagents.events import HandoffFailed, TextWithdrawn
from webagents.messages import new_turn
from webagents.sessions.base import Session, SessionAccessError
from webagents.transcript import Transcript, joined

if TYPE_CHECKING:
    from webagents.agents.agent import BaseAgent
    from webagents.agents.network import AgentNetwork
    from webagents.agents.runner import Run

__all__ = ["ask_remote_owner", "owner_key", "resume_session", "session_owner"]


def resume_session(run: Run, session: Session | None) -> int:
    """Continue a stored conversation: its history first, and its owner answers. Returns how
    many of the transcript's messages were stored already. Only the user who started the
    conversation may continue it."""
    if session is None:
        return 0
    if session.user_id != run.context.peer_user_id:
        raise SessionAccessError(session.key)
    stored = len(session.messages)
    # The store's list is read in place, not copied (see ``Transcript``).
    run.transcript = Transcript(new_turn(run.transcript, bool(stored)), session.messages)
    owner = session_owner(run.entry, session.owner)
    if isinstance(owner, RemoteAgent):
        run.remote_owner = owner
    else:
        run.active = owner
    run.book.chain[0] = owner.name
    return stored


async def ask_remote_owner(run: Run, remote: RemoteAgent) -> str | None:
    """A later turn of a session that a remote agent owns goes to that agent (or, when it
    cannot answer, to its fallbacks); if none answers, what it streamed is withdrawn,
    ownership returns to the entry agent, which answers itself (None). The turn's user
    message stays in the transcript either way, so the session keeps it."""
    from webagents.remote.turns import remote_turn, take_over

    try:
        with tracing.remote_agent_span(run, remote):
            reply = await remote_turn(run, remote, list(joined(run.transcript)), 0)
    except Exception as failure:  # the owner being down is a failed hand-over, not a crash
        spoke = list(run.book.chain)
        run.remote_owner = run.remote_speaker = None
        run.book.chain[:] = [run.entry.name]
        if run.streaming:
            for agent in spoke:
                run.emit(TextWithdrawn, agent=agent, reason=f"{remote.name} failed")
        run.emit(
            HandoffFailed,
            agent=run.entry.name,
            from_agent=run.entry.name,
            to_agent=remote.name,
            reason="session owner",
            error=failure_text(remote.name, failure),
        )
        return None
    run.transcript.append({"role": "assistant", "content": reply.content})
    take_over(run, reply)
    return reply.content


def session_owner(entry: BaseAgent, owner: str | None) -> BaseAgent | RemoteAgent:
    """The agent a stored session names as its owner: one of the entry agent's own targets
    or a name its network knows. Anything else (an unregistered URL, an agent of another
    network) is ignored: the entry agent answers."""
    if owner is None or owner == entry.name:
        return entry
    if is_url(owner):
        # A URL the developer wrote as a target of the entry agent, stored without its
        # credentials and query (see owner_key).
        for target in entry.handoff_targets:
            if isinstance(target, RemoteAgent) and owner in (target.shown_url, target.url):
                return target
    try:
        return entry.find_target(owner)
    except UnknownAgentError:
        return entry


def owner_key(remote: RemoteAgent | None, network: AgentNetwork) -> str | None:
    """How a session names a remote owner: its name when ``network`` (the entry agent's)
    finds it by that name, else its URL without credentials or query (a session store keeps
    no secret; ``session_owner`` finds the target the developer wrote by it)."""
    if remote is None:
        return None
    return remote.name if network.get(remote.name) == remote else remote.shown_url
