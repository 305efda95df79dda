"""What ``webagents run`` and ``webagents chat`` share: a TARGET loaded into the agent that
answers, the session store a terminal conversation lives in, the one-line errors, and the
``--debug`` line of a run event.

TARGET is a team file (``team.yaml``, through ``webagents.teams.load_team``) or what
``webagents serve`` takes (``module:attribute`` or a Python file, through ``load_target``).
The entry agent is the team's ``start``; for agents defined in code, the one ``--agent``
names, else a mapping's ``"start"`` entry, else the first agent no other one hands off to.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast

import click

from webagents.agents.agent import BaseAgent
from webagents.agents.network import AgentNetwork
from webagents.errors import UnknownAgentError, WebAgentsError
from webagents.events import (
    AgentCompleted,
    HandoffFailed,
    HandoffTransfer,
    RunEvent,
    ToolCallEvent,
)

if TYPE_CHECKING:
    from webagents.agents.result import RunResult
    from webagents.sessions.base import Session, SessionStore

__all__ = ["Loaded", "event_line", "fail", "load_entry", "run_command"]


class Runnable(Protocol):
    """An agent or a team: what the commands run."""

    def run(
        self, messages: str, *, session_id: str | None = None, user_id: str | None = None
    ) -> Awaitable[RunResult]: ...

    def run_streaming(
        self, messages: str, *, session_id: str | None = None, user_id: str | None = None
    ) -> AsyncIterator[RunEvent]: ...


@dataclass
class Loaded:
    """A loaded TARGET: what runs (``runner``, a team or the entry agent), the entry agent
    whose session store keeps the conversation, and what to close at the end."""

    runner: Runnable
    entry: BaseAgent
    agents: list[BaseAgent]
    team: Any = None
    opened: list[SessionStore[Any]] = field(default_factory=list)

    async def read_session(self, session_id: str) -> Session | None:
        return await self.entry.sessions.read(self.entry.session_key(session_id))

    async def aclose(self) -> None:
        """Close the team or the agents, the stores opened here and this loop's model
        clients (the process ends, but open connections would warn)."""
        from webagents.models.openai_provider import close_loop_clients

        try:
            if self.team is not None and hasattr(self.team, "aclose"):
                await self.team.aclose()
            else:
                for agent in self.agents:
                    await agent.close()
            for store in self.opened:
                await store.aclose()
        finally:
            await close_loop_clients()


class _BadInput(click.ClickException):
    exit_code = 2


def fail(message: str, *, code: int = 1) -> click.ClickException:
    """A one-line ``Error: ...`` on stderr and exit status ``code`` (1: the run failed,
    2: the command line or TARGET is wrong)."""
    kind = _BadInput if code == 2 else click.ClickException
    return kind(" ".join(message.split()))


def explain(error: BaseException, *, debug: bool) -> click.ClickException:
    """An exception raised while running, as one line; the traceback only with ``--debug``.
    Errors webagents raises on purpose already name the thing and the fix."""
    if debug:
        traceback.print_exception(error)
    if isinstance(error, WebAgentsError):
        return fail(str(error))
    hint = "" if debug else " (run with --debug for the traceback)"
    return fail(f"{type(error).__name__}: {error}{hint}")


def is_team_file(spec: str) -> bool:
    return spec.strip().lower().endswith((".yaml", ".yml"))


def load_entry(spec: str, agent: str | None, *, debug: bool = False) -> Loaded:
    """Load TARGET and pick its entry agent; one-line errors (exit 2) for what cannot be."""
    loaded = _load_team(spec, agent) if is_team_file(spec) else _load_code(spec, agent, debug=debug)
    loaded.opened = _terminal_store(loaded.agents)
    return loaded


def _load_team(spec: str, agent: str | None) -> Loaded:
    try:
        from webagents.teams import load_team
    except ImportError as error:
        raise fail(
            f"TARGET {spec!r} is a team file, which needs webagents.teams and PyYAML "
            f"({error.name} is missing); reinstall webagents-net",
            code=2,
        ) from None
    path = Path(spec)
    if not path.is_file():
        raise fail(f"TARGET {spec!r}: no file {str(path)!r}; check the path", code=2)
    try:
        team = load_team(path)
    except (ValueError, OSError) as error:  # TeamFileError names file, line, agent and field
        raise fail(str(error), code=2) from None
    members = [a for a in team.agents.values() if isinstance(a, BaseAgent)]
    if agent is None:
        return Loaded(team, team.start, members, team)
    picked = _pick(spec, members, agent)
    return Loaded(picked, picked, members, team)


def _load_code(spec: str, agent: str | None, *, debug: bool) -> Loaded:
    from webagents.server.loading import TargetError, load_target

    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # `webagents run mymodule:desk`, as python -m would
    try:
        target = load_target(spec)
    except TargetError as error:
        if error.__cause__ is not None and debug:
            traceback.print_exception(error.__cause__)
        text = str(error)
        if not debug:
            text = text.replace("(traceback above)", "(run with --debug for the traceback)")
        raise fail(text, code=2) from None
    start = getattr(target, "start", None)
    network = getattr(target, "network", None)
    if isinstance(start, BaseAgent) and isinstance(network, AgentNetwork):  # a team in code
        members = network.local_agents()
        if agent is None:
            return Loaded(cast(Runnable, target), start, members, target)
        picked = _pick(spec, members, agent)
        return Loaded(picked, picked, members, target)
    members, default = _agents_of(spec, target)
    picked = default if agent is None else _pick(spec, members, agent)
    return Loaded(picked, picked, members)


def _agents_of(spec: str, target: object) -> tuple[list[BaseAgent], BaseAgent]:
    if isinstance(target, BaseAgent):
        return [target], target
    if isinstance(target, AgentNetwork):
        members = target.local_agents()
    elif isinstance(target, Mapping):
        members = [a for a in target.values() if isinstance(a, BaseAgent)]
        start = target.get("start")
        if isinstance(start, BaseAgent):
            return members, start
    elif isinstance(target, list | tuple):
        members = [a for a in target if isinstance(a, BaseAgent)]
    else:
        raise fail(
            f"TARGET {spec!r} is a {type(target).__name__}; name an agent, a list or mapping "
            f"of agents, an AgentNetwork or a team",
            code=2,
        )
    if not members:
        raise fail(f"TARGET {spec!r} holds no local agents to run", code=2)
    return members, _root(members)


def _root(members: list[BaseAgent]) -> BaseAgent:
    """The first agent no other one hands off to: specialists are defined before the desk
    that names them, so "the first agent" alone would skip the desk."""
    targets = {name for member in members for name in member.target_names()}
    return next((m for m in members if m.name not in targets), members[0])


def _pick(spec: str, members: list[BaseAgent], name: str) -> BaseAgent:
    for member in members:
        if member.name == name:
            return member
    unknown = UnknownAgentError(name, [m.name for m in members])
    raise fail(
        f"--agent: {unknown} in TARGET {spec!r} (its agents: {', '.join(m.name for m in members)})",
        code=2,
    )


def _terminal_store(agents: list[BaseAgent]) -> list[SessionStore[Any]]:
    """As ``webagents serve`` does: an agent on the library's default store keeps its
    conversations in ``sessions.db`` under ``WEBAGENTS_HOME`` (so ``--session`` continues
    them in a later command), unless ``WEBAGENTS_SESSIONS`` names the store; a store given
    in code is kept."""
    from webagents.sessions import ENV_VAR, default_session_store, open_session_store

    if os.environ.get(ENV_VAR, "").strip():
        return []
    library_default = default_session_store()
    opened: list[SessionStore[Any]] = []
    for agent in agents:
        if agent.sessions is library_default:
            if not opened:
                opened.append(open_session_store("sqlite://"))
            agent.sessions = opened[0]
    return opened


# --- webagents run ---------------------------------------------------------------------------


def event_line(event: RunEvent) -> str | None:
    """The ``--debug`` line of an event: handoffs and tool calls; None for the others."""
    if isinstance(event, HandoffTransfer):
        return (
            f"handoff {event.from_agent} -> {event.to_agent} "
            f"(trigger: {event.trigger}, reason: {event.reason or '-'})"
        )
    if isinstance(event, HandoffFailed):
        return (
            f"handoff {event.from_agent} -> {event.to_agent} failed "
            f"(reason: {event.reason or '-'}): {event.error}"
        )
    if isinstance(event, ToolCallEvent) and not event.name.startswith("transfer_to_"):
        return f"tool {event.agent}: {event.name}({event.arguments or ''})"
    return None


async def _run_live(
    loaded: Loaded, message: str, session_id: str | None, user_id: str | None
) -> str:
    """Stream the run, printing each ``--debug`` line as its event comes; the answer is the
    last completed agent's (a later one replaces an earlier, withdrawn answer)."""
    answer, speaker = "", loaded.entry.name
    try:
        events = loaded.runner.run_streaming(message, session_id=session_id, user_id=user_id)
        async for event in events:
            line = event_line(event)
            if line is not None:
                click.secho(line, fg="cyan", err=True)
            if isinstance(event, AgentCompleted):
                answer, speaker = event.content, event.agent
    finally:
        await loaded.aclose()
    click.secho(f"answered by {speaker}", fg="cyan", err=True)
    return answer


def run_command(
    target: str,
    message: str,
    *,
    agent: str | None,
    session_id: str | None,
    user_id: str | None,
    debug: bool,
    as_json: bool,
    echo: Callable[[str], None] = click.echo,
) -> None:
    """``webagents run``: one message, the answer on stdout (the run result with ``--json``),
    with ``--debug`` one line per handoff and tool call on stderr, printed as they happen
    (after the run with ``--json``, which needs the whole result)."""
    import asyncio

    loaded = load_entry(target, agent, debug=debug)
    if debug and not as_json:
        try:
            answer = asyncio.run(_run_live(loaded, message, session_id, user_id))
        except Exception as error:
            raise explain(error, debug=debug) from None
        echo(answer)
        return

    async def run() -> RunResult:
        try:
            return await loaded.runner.run(message, session_id=session_id, user_id=user_id)
        finally:
            await loaded.aclose()

    try:
        result = asyncio.run(run())
    except Exception as error:
        raise explain(error, debug=debug) from None
    if debug:
        for event in result.events:
            line = event_line(event)
            if line is not None:
                click.secho(line, fg="cyan", err=True)
        click.secho(f"answered by {result.agent}", fg="cyan", err=True)
    if as_json:
        data = result.to_dict()
        # the transcript and events are for --debug and the API; the command's JSON is the
        # result a script reads
        data.pop("events", None)
        data.pop("messages", None)
        echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))
    else:
        echo(result.content)
