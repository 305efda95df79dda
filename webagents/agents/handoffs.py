"""Handoffs: deciding (conditions, transfer tools), bounding and performing a transfer.

Order of a transfer: bounds and target resolution -> the source's ``before_handoff`` hooks
(``HandoffError`` vetoes) -> the target takes over (local: in this run; remote: over NLI)
-> the source's ``after_handoff`` hooks, which may replace ``handoff_result``. Failures are
recorded and returned, never raised out of the run.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from webagents.agents.dispatch import call_user
from webagents.agents.registry import RemoteAgent
from webagents.agents.result import HandoffRecord
from webagents.agents.tools import tool_message
from webagents.errors import HandoffError, HookError, UnknownAgentError
from webagents.events import (
    AgentCompleted,
    HandoffFailed,
    HandoffTransfer,
    ToolCallEvent,
    ToolResultEvent,
)

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from webagents.agents.agent import BaseAgent
    from webagents.agents.runner import Run
    from webagents.models.base import ToolCall

__all__ = [
    "Decision",
    "Pending",
    "Step",
    "carried_history",
    "evaluate_conditions",
    "fail_handoff",
    "finish_handoff",
    "start_handoff",
    "transfer_call",
]


_HANDOFF_KEYS = (
    "handoff_agent",
    "handoff_metadata",
    "handoff_reason",
    "handoff_trigger",
    "handoff_context",
)


@dataclass(frozen=True, slots=True)
class Decision:
    target: str
    reason: str
    metadata: dict[str, Any]
    trigger: Literal["condition", "llm"]


@dataclass(slots=True)
class Step:
    """Who the run loop runs next, on which view of the conversation. ``turns`` set means the
    agent resumes its model loop with that many model calls left (after a failed handoff)."""

    agent: BaseAgent
    view: list[dict[str, Any]]
    handoff_context: Mapping[str, Any] | None
    first: bool = False
    turns: int | None = None


@dataclass(slots=True)
class Pending:
    """A handoff in flight: its target runs next (``target``, on ``target_view``, with
    ``payload``); the handoff is finished (after-hooks, record) when the target answers, or
    undone when it raises, and then the source resumes with ``resume_turns`` model calls."""

    source: BaseAgent
    view: list[dict[str, Any]]
    name: str
    reason: str
    metadata: dict[str, Any]
    trigger: Literal["condition", "llm"]
    transfer_message: dict[str, Any] | None
    source_context: Mapping[str, Any] | None
    resume_turns: int
    started: float
    own_keys: tuple[Any, ...] | None  # kept only for the source's after-hooks
    record_index: int
    transcript_mark: int
    chain_mark: int
    duration_ms: float | None = None
    target: BaseAgent | None = None
    target_view: list[dict[str, Any]] | None = None
    payload: dict[str, Any] | None = None


async def evaluate_conditions(run: Run, agent: BaseAgent, query: str) -> Decision | None:
    """The first condition (by priority, then declaration) that names another agent."""
    from webagents.agents.agent import BaseAgent

    for condition in agent.capabilities.conditions:
        args = (query, run.context) if condition.takes_context else (query,)
        value = await call_user(condition.where, "handoff condition", condition.call, *args)
        if not value:
            continue
        if condition.target is not None:
            target = condition.target
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
        if target != agent.name:  # routing to oneself is no handoff
            return Decision(target, condition.reason, dict(condition.metadata), "condition")
    return None


def carried_history(target: BaseAgent, transcript: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What ``target`` receives of the conversation, by its ``handoff_history`` policy."""
    policy = target.handoff_history
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
    return list(policy(list(transcript)))


async def transfer_call(
    run: Run,
    agent: BaseAgent,
    view: list[dict[str, Any]],
    calls: Sequence[ToolCall],
    transfer: ToolCall,
    source_context: Mapping[str, Any] | None,
    resume_turns: int,
) -> str | Pending | None:
    """The model called ``transfer_to_<name>``, maybe among other tools: answer every call
    (others are not run: one transfer per turn) and hand off."""
    target = agent.target_for_tool(transfer.name)
    assert target is not None
    reason = _reason_argument(transfer.arguments) or f"{agent.name} chose {target}"
    transfer_message = tool_message(transfer, "")
    for call in calls:
        run.emit(ToolCallEvent, agent.name, call.id, call.name, call.arguments)
        if call is transfer:
            run.append(view, transfer_message)
            continue
        if agent.target_for_tool(call.name) is not None:
            text = f"Not performed: one transfer per turn, and {target} was chosen first."
        else:
            text = (
                f"Not run: a transfer to {target} was requested in the same turn; "
                "call this tool again if it is still needed."
            )
        run.append(view, tool_message(call, text))
        run.emit(ToolResultEvent, agent.name, call.id, call.name, text, True)
    decision = Decision(target, reason, {}, "llm")
    return await start_handoff(
        run, agent, view, decision, source_context, resume_turns, transfer_message
    )


def _reason_argument(arguments: str) -> str:
    if "reason" not in arguments:
        return ""
    try:
        parsed = json.loads(arguments or "{}")
    except ValueError:
        return ""
    reason = parsed.get("reason") if isinstance(parsed, dict) else None
    return reason if isinstance(reason, str) else ""


def _refusal(run: Run, source: BaseAgent, target: str) -> str | None:
    chain = " -> ".join(run.chain)
    if run.transfers >= run.max_handoffs:
        return f"max_handoffs ({run.max_handoffs}) reached; chain: {chain}"
    if (source.name, target) in run.edges:
        return f"ping-pong: {source.name} -> {target} already happened in this run; chain: {chain}"
    return None


async def start_handoff(
    run: Run,
    source: BaseAgent,
    view: list[dict[str, Any]],
    decision: Decision,
    source_context: Mapping[str, Any] | None,
    resume_turns: int,
    transfer_message: dict[str, Any] | None = None,
) -> str | Pending | None:
    """Check, hook and begin a handoff. A local target comes back as a ``Pending`` handoff
    for the run loop to continue with (no nesting: a step costs the same at any chain depth);
    a remote one answers here. Otherwise the answer an after-hook substituted, or None: the
    source goes on by itself."""
    from webagents.agents.agent import BaseAgent

    started = time.perf_counter()
    name = decision.target
    error = _refusal(run, source, name)
    target: BaseAgent | RemoteAgent | None = None
    if error is None:
        try:
            target = source.find_target(name)
        except UnknownAgentError as unknown:
            error = str(unknown)
    context = run.context
    context.update(
        handoff_agent=name,
        handoff_metadata=decision.metadata,
        handoff_reason=decision.reason,
        handoff_trigger=decision.trigger,
        handoff_context={},
        handoff_result=None,
    )
    if error is None and "before_handoff" in source.capabilities.hooks:
        try:
            await run.hooks(source, "before_handoff")
        except HandoffError as veto:
            error = f"vetoed: {veto}"
    context = run.context
    metadata = context.get("handoff_metadata")
    reason = context.get("handoff_reason")
    pending = Pending(
        source=source,
        view=view,
        name=name,
        # a before-hook may replace the metadata or the reason
        reason=reason if isinstance(reason, str) and reason else decision.reason,
        metadata=metadata if isinstance(metadata, dict) else decision.metadata,
        trigger=decision.trigger,
        transfer_message=transfer_message,
        source_context=source_context,
        resume_turns=resume_turns,
        started=started,
        # This handoff's keys, restored for its after-hooks once later handoffs overwrote them.
        own_keys=tuple(context.get(key) for key in _HANDOFF_KEYS)
        if "after_handoff" in source.capabilities.hooks
        else None,
        record_index=len(run.records),
        transcript_mark=len(run.transcript),
        chain_mark=len(run.chain),
    )
    run.records.append(None)  # this handoff's place, before the handoffs its target makes
    if error is not None or target is None:
        return await finish_handoff(run, pending, None, error)
    if transfer_message is not None:
        transfer_message["content"] = f"Transferred to {name}; {name} now handles this."
    run.emit(HandoffTransfer, source.name, source.name, name, pending.reason, pending.trigger)
    run.transfers += 1
    run.edges.add((source.name, name))
    run.chain.append(name)
    payload = dict(context.get("handoff_context") or {})
    if isinstance(target, BaseAgent):
        pending.duration_ms = (time.perf_counter() - started) * 1000
        pending.target = target
        pending.target_view = carried_history(target, run.transcript)
        pending.payload = payload
        return pending
    try:
        response = await _remote_answer(target, view, payload)
    except Exception as failure:  # a remote agent down is a failed handoff, not a crash
        return await fail_handoff(run, pending, failure)
    pending.duration_ms = (time.perf_counter() - started) * 1000
    run.append(view, {"role": "assistant", "content": response})
    run.emit(AgentCompleted, name, response)
    run.remote_owner = target  # it owns the conversation from here, in later turns too
    return await finish_handoff(run, pending, response, None)


async def fail_handoff(run: Run, pending: Pending, failure: Exception) -> str | None:
    """The target raised: undo its part of the run and finish the handoff as failed."""
    del run.transcript[pending.transcript_mark :]
    del run.chain[pending.chain_mark :]
    del run.records[pending.record_index + 1 :]
    run.active = pending.source
    error = f"{pending.name} failed: {type(failure).__name__}: {failure}"
    return await finish_handoff(run, pending, None, error)


async def finish_handoff(
    run: Run, pending: Pending, response: str | None, error: str | None
) -> str | None:
    """Record the outcome and run the source's after-hooks; returns the run's answer from
    here (the target's, or a substitute), or None when the source must answer itself."""
    source, name = pending.source, pending.name
    if error is not None:
        if pending.transfer_message is not None:
            pending.transfer_message["content"] = (
                f"Transfer to {name} failed ({error}). Continue helping the user yourself."
            )
        run.emit(HandoffFailed, source.name, source.name, name, pending.reason, error)
    run.records[pending.record_index] = HandoffRecord(
        from_agent=source.name,
        to_agent=name,
        reason=pending.reason,
        trigger=pending.trigger,
        metadata=dict(pending.metadata),
        success=error is None,
        error=error,
        duration_ms=pending.duration_ms
        if pending.duration_ms is not None
        else (time.perf_counter() - pending.started) * 1000,
    )
    result: dict[str, Any] = {
        "success": error is None,
        "response": response,
        "agent": run.owner_name if error is None else name,
        "error": error,
    }
    if pending.own_keys is not None:
        run.context.update(zip(_HANDOFF_KEYS, pending.own_keys, strict=True))
    return await _after_handoff(run, source, pending.view, result)


async def _after_handoff(
    run: Run, source: BaseAgent, view: list[dict[str, Any]], result: dict[str, Any]
) -> str | None:
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
        return str(response) if response is not None else str(result["response"])
    if final.get("success") and final.get("response") is not None:
        answer = str(final["response"])  # an after-hook substituted a fallback answer
        run.append(view, {"role": "assistant", "content": answer})
        run.emit(AgentCompleted, source.name, answer)
        return answer
    return None


async def _remote_answer(
    target: RemoteAgent, view: list[dict[str, Any]], payload: dict[str, Any]
) -> str:
    from webagents.agents.skills.nli import query_remote

    messages = list(view)
    if payload:
        note = json.dumps(payload, default=str, ensure_ascii=False)
        messages.insert(0, {"role": "system", "content": f"Context handed over: {note}"})
    return await query_remote(target, messages)
