"""Handoffs: deciding (conditions, transfer tools), bounding and performing a transfer.

Order of a transfer: bounds and target resolution -> the source's ``before_handoff`` hooks
(``HandoffError`` vetoes) -> the target takes over (local: the next step of this run;
remote: over NLI) -> the source's ``after_handoff`` hooks, which may replace
``handoff_result``. Failures are recorded and returned, never raised out of the run.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from webagents import tracing
from webagents._urls import shown_name
from webagents.agents.capabilities import scope_allows
from webagents.agents.dispatch import call_user
from webagents.agents.network import RemoteAgent
from webagents.agents.result import HandoffRecord
from webagents.agents.steps import (
    CARRY_ON,
    Answered,
    Decision,
    HandedOff,
    Mark,
    Outcome,
    Pending,
    Step,
)
from webagents.agents.tools import string_argument, tool_message
from webagents.context import Context
from webagents.errors import HandoffError, HookError, UnknownAgentError
from webagents.events import (
    AgentCompleted,
    HandoffFailed,
    HandoffTransfer,
    TextWithdrawn,
)
from webagents.messages import context_message
from webagents.transcript import joined

if TYPE_CHECKING:
    from collections.abc import Sequence

    from webagents.agents.agent import BaseAgent
    from webagents.agents.runner import Run
    from webagents.agents.targets import HistoryPolicy
    from webagents.models.base import ToolCall

__all__ = [
    "carried_history",
    "evaluate_conditions",
    "fail_handoff",
    "failure_text",
    "finish_handoff",
    "start_handoff",
    "transfer_call",
]

logger = logging.getLogger("webagents")

_HANDOFF_KEYS = (
    "handoff_agent",
    "handoff_metadata",
    "handoff_reason",
    "handoff_trigger",
    "handoff_context",
)


async def evaluate_conditions(run: Run, agent: BaseAgent, query: str) -> Decision | None:
    """The first condition (by priority, then declaration) that names another agent."""
    from webagents.agents.agent import BaseAgent

    for condition in agent.capabilities.conditions:
        args = (query, run.context) if condition.takes_context else (query,)
        value = await call_user(condition.where, "handoff condition", condition.call, *args)
        if condition.target is not None:
            if not isinstance(value, bool):
                raise HookError(
                    condition.where,
                    "handoff condition",
                    TypeError(
                        f"a condition for {condition.target!r} returns True or False, got {value!r}"
                    ),
                )
            target = condition.target
        elif not value:
            continue
        elif isinstance(value, BaseAgent | RemoteAgent):
            target = value.name
        elif isinstance(value, str):
            target = value
        else:
            raise HookError(
                condition.where,
                "handoff condition",
                TypeError(f"a dynamic handoff returns an agent name or None, got {value!r}"),
            )
        if value and target != agent.name:  # routing to oneself is no handoff
            return Decision(target, condition.reason, dict(condition.metadata), "condition")
    return None


def carried_history(
    target: BaseAgent | str,
    transcript: list[dict[str, Any]],
    policy: HistoryPolicy | None = None,
) -> list[dict[str, Any]]:
    """What ``target`` receives of the conversation: by ``policy`` (an edge's), else by the
    target's own ``handoff_history``."""
    if policy is None:
        assert not isinstance(target, str)
        policy = target.handoff_history
    name = target if isinstance(target, str) else target.name
    if policy == "full":
        return transcript
    if policy == "conversation":
        return [
            m
            for m in transcript
            if m.get("role") in ("user", "system")
            or (m.get("role") == "assistant" and m.get("content") and not m.get("tool_calls"))
        ]
    if policy == "last_user":
        users = [m for m in transcript if m.get("role") == "user"]
        return users[-1:]
    assert callable(policy)
    try:
        return list(policy(list(transcript)))
    except Exception as error:  # a bug in user code, named like a hook's
        where = f"{name}.handoff_history ({getattr(policy, '__qualname__', policy)!r})"
        raise HookError(where, "handoff_history", error) from error


def failure_text(name: str, failure: BaseException) -> str:
    """One line on why ``name`` could not take over: what a model, a record and an event
    may show. A remote agent's error is written for that; anything else is named only by
    its type (its text and traceback go to the log)."""
    from webagents.agents.skills.nli import RemoteAgentError

    if isinstance(failure, RemoteAgentError) and str(failure):
        return str(failure)
    return f"{shown_name(name)} is unavailable ({type(failure).__name__})"


async def transfer_call(
    run: Run, step: Step, calls: Sequence[ToolCall], transfer: ToolCall, turns_left: int
) -> Outcome:
    """The model called ``transfer_to_<name>``, maybe among other tools: answer every call
    (others are not run: one transfer per turn) and hand off."""
    agent, view = step.agent, step.view
    target = agent.target_for_tool(transfer.name)
    assert target is not None
    reason = string_argument(transfer.arguments, "reason") or f"{agent.name} chose {target}"
    transfer_message: dict[str, Any] | None = None
    for call in calls:
        run.tool_called(agent, call)
        if call is transfer:
            # Answered when the handoff's outcome is known: transferred, or failed and why.
            transfer_message = tool_message(call, "")
            run.append(view, transfer_message)
        elif agent.target_for_tool(call.name) is not None:
            text = f"Not performed: one transfer per turn, and {target} was chosen first."
            run.tool_answered(agent, view, call, text, True)
        else:
            text = (
                f"Not run: a transfer to {target} was requested in the same turn; "
                "call this tool again if it is still needed."
            )
            run.tool_answered(agent, view, call, text, True)
    decision = Decision(target, reason, {}, "llm")
    return await start_handoff(run, step, decision, turns_left, transfer_message, call=transfer)


async def start_handoff(
    run: Run,
    step: Step,
    decision: Decision,
    turns_left: int,
    transfer_message: dict[str, Any] | None = None,
    *,
    call: ToolCall | None = None,
) -> Outcome:
    """Check, hook and begin a handoff. A local target is ``HandedOff`` to the run loop (no
    nesting: a step costs the same at any chain depth); a remote one answers here. A failed
    handoff is ``Answered`` by an after-hook's substitute, or ``CARRY_ON``: the source goes on
    by itself, with at least one more model call."""
    from webagents.agents.agent import BaseAgent

    started = time.perf_counter()
    joined(run.transcript)  # a handoff's marks and views count the whole conversation
    source, name = step.agent, decision.target
    book = run.book
    error = book.refusal(source.name, name)
    target: BaseAgent | RemoteAgent | None = None
    if error is None:
        try:
            target = source.find_target(name)
        except UnknownAgentError as unknown:
            error = str(unknown)
    edge = source.edge(name)
    if error is None and edge is not None and not scope_allows(run.context.scope, edge.scope):
        error = f"the handoff to {name} is not available to a caller of scope {run.context.scope!r}"
    context = run.context
    context.update(
        handoff_agent=name,
        handoff_metadata=decision.metadata,
        handoff_reason=decision.reason,
        handoff_trigger=decision.trigger,
        handoff_context={"instructions": edge.instructions} if edge and edge.instructions else {},
        handoff_result=None,
    )
    if error is None:
        try:
            if edge is not None and edge.on_handoff is not None:
                where = f"on_handoff {_qualname(edge.on_handoff)} (edge {source.name} -> {name})"
                await call_user(where, "before_handoff", edge.on_handoff, context)
            if "before_handoff" in source.capabilities.hooks:
                await run.hooks(source, "before_handoff")
        except HandoffError as veto:
            error = f"vetoed: {veto}"
    context = run.context
    metadata = context.get("handoff_metadata")
    reason = context.get("handoff_reason")
    pending = Pending(
        resume=Step(
            source,
            step.view,
            step.handoff_context,
            step.context_at,
            turns=max(turns_left, 1),  # a failed handoff always leaves the source an answer
        ),
        name=name,
        # a before-hook may replace the metadata or the reason
        reason=reason if isinstance(reason, str) and reason else decision.reason,
        metadata=metadata if isinstance(metadata, dict) else decision.metadata,
        trigger=decision.trigger,
        transfer_message=transfer_message,
        started=started,
        own_keys=tuple(context.get(key) for key in _HANDOFF_KEYS)
        if "after_handoff" in source.capabilities.hooks
        else None,
        mark=Mark(book.open_record(), len(run.transcript), len(book.chain)),
    )
    if run.trace is not None:
        tracing.handoff_started(run, step, pending, call)
    if error is not None or target is None:
        return await finish_handoff(run, pending, None, error)
    if transfer_message is not None:
        transfer_message["content"] = f"Transferred to {name}; {name} now handles this."
    run.emit(
        HandoffTransfer,
        agent=source.name,
        from_agent=source.name,
        to_agent=name,
        reason=pending.reason,
        trigger=pending.trigger,
    )
    logger.info(
        "handoff %s -> %s (%s: %s) run=%s",
        source.name,
        name,
        pending.trigger,
        pending.reason,
        run.run_id,
    )
    book.transfer(source.name, name)
    payload = dict(context.get("handoff_context") or {})
    policy = edge.history if edge is not None else None
    pending.handed_context = payload
    if isinstance(target, BaseAgent):
        pending.duration_ms = (time.perf_counter() - started) * 1000
        view = carried_history(target, run.transcript, policy)
        pending.history_length = len(view)
        if edge is not None and not edge.carry_state:
            pending.source_context = run.context
            run.replace_context(_fresh_context(run, target, view))
        pending.target_step = Step(target, view, payload or None, len(view))
        return HandedOff(pending)
    from webagents.remote.turns import remote_turn, take_over

    carried = list(step.view) if policy is None else carried_history(name, step.view, policy)
    pending.history_length = len(carried)
    messages = [*carried, context_message(payload)] if payload else carried
    try:
        with tracing.remote_agent_span(run, target):
            reply = await remote_turn(run, target, messages, pending.mark.chain)
    except Exception as failure:  # a remote agent down is a failed handoff, not a crash
        return await fail_handoff(run, pending, failure)
    pending.duration_ms = (time.perf_counter() - started) * 1000
    run.append(step.view, {"role": "assistant", "content": reply.content})
    take_over(run, reply)  # it owns the conversation from here, in later turns too
    return await finish_handoff(run, pending, reply.content, None)


async def fail_handoff(run: Run, pending: Pending, failure: Exception) -> Outcome:
    """The target raised: undo its part of the run and finish the handoff as failed."""
    error = failure_text(pending.name, failure)
    if pending.trace is not None:
        tracing.handoff_failed(pending, failure)
    logger.warning(
        "handoff %s -> %s failed: %s run=%s",
        pending.source.name,
        pending.name,
        error,
        run.run_id,
        exc_info=failure,
    )
    del run.transcript[pending.mark.transcript :]
    dropped = run.book.roll_back(pending.mark)
    if run.streaming:
        for agent in dropped:
            run.emit(TextWithdrawn, agent=agent, reason=f"handoff to {pending.name} failed")
    run.active = pending.source
    return await finish_handoff(run, pending, None, error)


async def finish_handoff(
    run: Run, pending: Pending, response: str | None, error: str | None
) -> Outcome:
    """Record the outcome and run the source's after-hooks: ``Answered`` with the run's
    answer from here (the target's, or a substitute), or ``CARRY_ON`` when the source must
    answer itself."""
    source, name = pending.source, pending.name
    if pending.source_context is not None:  # the target started fresh; the source resumes
        run.replace_context(pending.source_context)
        pending.source_context = None
    if error is not None:
        if pending.transfer_message is not None:
            pending.transfer_message["content"] = (
                f"Transfer to {shown_name(name)} failed ({error}). "
                "Continue helping the user yourself."
            )
        run.emit(
            HandoffFailed,
            agent=source.name,
            from_agent=source.name,
            to_agent=shown_name(name),
            reason=pending.reason,
            error=error,
        )
    run.book.close_record(
        pending.mark.record,
        HandoffRecord(
            from_agent=source.name,
            to_agent=shown_name(name),
            reason=pending.reason,
            trigger=pending.trigger,
            metadata=dict(pending.metadata),
            success=error is None,
            error=error,
            duration_ms=pending.duration_ms
            if pending.duration_ms is not None
            else (time.perf_counter() - pending.started) * 1000,
            # the dict the target was given, owned by the record now (no copy per handoff)
            context=pending.handed_context if pending.handed_context is not None else {},
            history_length=pending.history_length,
        ),
    )
    result: dict[str, Any] = {
        "success": error is None,
        "response": response,
        "agent": run.owner_name if error is None else shown_name(name),
        "error": error,
    }
    if pending.own_keys is not None:
        run.context.update(zip(_HANDOFF_KEYS, pending.own_keys, strict=True))
    outcome = await _after_handoff(run, pending.resume, result)
    if pending.trace is not None:
        tracing.handoff_ended(run, pending, error, outcome)
    return outcome


def _fresh_context(run: Run, target: BaseAgent, view: list[dict[str, Any]]) -> Context:
    """The context a target starts with along a ``carry_state=False`` edge: the run's
    identity, what the run was started with, and this handoff's keys."""
    old = run.context
    data = dict(run.initial_data or {})
    data.update((key, old.get(key)) for key in (*_HANDOFF_KEYS, "handoff_result"))
    return Context(
        agent_name=target.name,
        messages=view,
        run_id=old.run_id,
        peer_user_id=old.peer_user_id,
        session_id=old.session_id,
        scope=old.scope,
        agent=target,
        data=data,
    )


def _qualname(func: object) -> str:
    return str(getattr(func, "__qualname__", repr(func)))


async def _after_handoff(run: Run, source_step: Step, result: dict[str, Any]) -> Outcome:
    source, view = source_step.agent, source_step.view
    run.context["handoff_result"] = result
    if "after_handoff" in source.capabilities.hooks:
        owner, owner_view = run.active, run.context.messages
        run.context.switch_to(source, view)  # the source's hooks see the source's run
        await run.hooks(source, "after_handoff")
        run.context.switch_to(owner, owner_view)
    final = run.context.get("handoff_result")
    final = final if isinstance(final, dict) else result
    if result["success"]:
        response = final.get("response")
        return Answered(str(response) if response is not None else str(result["response"]))
    if final.get("success") and final.get("response") is not None:
        answer = str(final["response"])  # an after-hook substituted a fallback answer
        run.append(view, {"role": "assistant", "content": answer})
        run.emit(AgentCompleted, agent=source.name, content=answer)
        return Answered(answer)
    return CARRY_ON
