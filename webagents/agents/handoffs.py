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
from webagents.errors import HandoffError, HookError, UnknownAgentError
from webagents.events import (
    AgentCompleted,
    HandoffFailed,
    HandoffTransfer,
    ToolCallEvent,
    ToolResultEvent,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from webagents.agents.agent import BaseAgent
    from webagents.agents.runner import Run
    from webagents.models.base import ToolCall

__all__ = ["Decision", "carried_history", "evaluate_conditions", "hand_off", "transfer_call"]


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
) -> str | None:
    """The model called ``transfer_to_<name>``, maybe among other tools: answer every call
    (others are not run: one transfer per turn) and hand off."""
    from webagents.agents.runner import tool_message

    target = agent.target_for_tool(transfer.name)
    assert target is not None
    reason = _reason_argument(transfer.arguments) or f"{agent.name} chose {target}"
    transfer_message = tool_message(transfer, "")
    for call in calls:
        run.emit(ToolCallEvent(agent.name, call.id, call.name, call.arguments))
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
        run.emit(ToolResultEvent(agent.name, call.id, call.name, text, True))
    decision = Decision(target, reason, {}, "llm")
    return await hand_off(run, agent, view, decision, transfer_message)


def _reason_argument(arguments: str) -> str:
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


async def hand_off(
    run: Run,
    source: BaseAgent,
    view: list[dict[str, Any]],
    decision: Decision,
    transfer_message: dict[str, Any] | None = None,
) -> str | None:
    """Perform a handoff; the answer if the run is answered by it, else None (the source
    goes on by itself)."""
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
    context["handoff_agent"] = name
    context["handoff_metadata"] = decision.metadata
    context["handoff_reason"] = decision.reason
    context["handoff_trigger"] = decision.trigger
    context["handoff_context"] = {}
    context["handoff_result"] = None
    if error is None:
        try:
            await run.hooks(source, "before_handoff")
        except HandoffError as veto:
            error = f"vetoed: {veto}"
    # This handoff's keys, restored for its after-hooks once nested handoffs overwrote them.
    own_keys = {key: run.context.get(key) for key in _HANDOFF_KEYS}
    # Reserve the record's place so nested handoffs are listed after this one.
    record_index = len(run.records)
    run.records.append(_record(decision, source, name, error is None, error, started))
    duration: float | None = None
    response: str | None = None
    if error is None and target is not None:
        payload = dict(run.context.get("handoff_context") or {})
        metadata = run.context.get("handoff_metadata")
        reason = run.context.get("handoff_reason")
        if isinstance(metadata, dict) or isinstance(reason, str):  # a before-hook may have
            decision = Decision(  # replaced the metadata or the reason
                name,
                reason if isinstance(reason, str) and reason else decision.reason,
                metadata if isinstance(metadata, dict) else decision.metadata,
                decision.trigger,
            )
        if transfer_message is not None:
            transfer_message["content"] = f"Transferred to {name}; {name} now handles this."
        run.emit(HandoffTransfer(source.name, source.name, name, decision.reason, decision.trigger))
        run.transfers += 1
        run.edges.add((source.name, name))
        transcript_mark, chain_mark = len(run.transcript), len(run.chain)
        run.chain.append(name)
        try:
            if isinstance(target, BaseAgent):
                duration = (time.perf_counter() - started) * 1000
                carried = carried_history(target, run.transcript)
                response = await run.activate(target, carried, payload)
            else:
                response = await _remote_answer(run, target, view, payload)
                duration = (time.perf_counter() - started) * 1000
                run.append(view, {"role": "assistant", "content": response})
                run.emit(AgentCompleted(name, response))
        except HookError:  # a bug in user code propagates, naming Skill.method
            raise
        except Exception as failure:  # the target raising is a failed handoff, not a crash
            del run.transcript[transcript_mark:]
            del run.chain[chain_mark:]
            run.active = source
            error = f"{name} failed: {type(failure).__name__}: {failure}"
    if error is not None:
        if transfer_message is not None:
            transfer_message["content"] = (
                f"Transfer to {name} failed ({error}). Continue helping the user yourself."
            )
        run.emit(HandoffFailed(source.name, source.name, name, decision.reason, error))
    run.records[record_index] = _record(
        decision, source, name, error is None, error, started, duration
    )
    result: dict[str, Any] = {
        "success": error is None,
        "response": response,
        "agent": run.active.name if error is None else name,
        "error": error,
    }
    run.context.update(own_keys)
    return await _after_handoff(run, source, view, result)


async def _after_handoff(
    run: Run, source: BaseAgent, view: list[dict[str, Any]], result: dict[str, Any]
) -> str | None:
    owner = run.active
    context = run.context
    context.agent_name, context.agent, context.messages = source.name, source, view
    context["handoff_result"] = result
    await run.hooks(source, "after_handoff")
    context = run.context
    final = context.get("handoff_result")
    final = final if isinstance(final, dict) else result
    context.agent_name, context.agent = owner.name, owner
    if result["success"]:
        response = final.get("response")
        return str(response) if response is not None else str(result["response"])
    if final.get("success") and final.get("response") is not None:
        answer = str(final["response"])  # an after-hook substituted a fallback answer
        run.append(view, {"role": "assistant", "content": answer})
        run.emit(AgentCompleted(source.name, answer))
        return answer
    return None


async def _remote_answer(
    run: Run, target: RemoteAgent, view: list[dict[str, Any]], payload: dict[str, Any]
) -> str:
    from webagents.agents.skills.nli import query_remote

    messages = list(view)
    if payload:
        note = json.dumps(payload, default=str, ensure_ascii=False)
        messages.insert(0, {"role": "system", "content": f"Context handed over: {note}"})
    return await query_remote(target, messages)


def _record(
    decision: Decision,
    source: BaseAgent,
    target: str,
    success: bool,
    error: str | None,
    started: float,
    duration_ms: float | None = None,
) -> HandoffRecord:
    return HandoffRecord(
        from_agent=source.name,
        to_agent=target,
        reason=decision.reason,
        trigger=decision.trigger,
        metadata=dict(decision.metadata),
        success=success,
        error=error,
        duration_ms=duration_ms
        if duration_ms is not None
        else (time.perf_counter() - started) * 1000,
    )
