"""Served agents as A2A agents (protocol 1.0 JSON-RPC, the 0.3 method names accepted), built
from the ``a2a-sdk``'s server pieces: its JSON-RPC dispatcher and default request handler,
and an ``AgentExecutor`` that runs our agent.

Per served agent ``{name}``:

- ``GET /agents/{name}/.well-known/agent-card.json``: its card (name, description, the
  JSON-RPC URL, streaming, its ``all``-scope tools as skills);
- ``POST /agents/{name}``: JSON-RPC ``SendMessage``, ``SendStreamingMessage``, ``GetTask``
  (and ``message/send``, ``message/stream``, ``tasks/get``).

A2A's ``contextId`` is the session id of the agent's session store: a message in a context
continues that conversation with its owner answering (a specialist that took over answers
the next message), only for the API key's user that started it. A message without one
starts a new context, whose id the answer carries. Each message is one task: the answer
streams as chunks of one artifact, then the task completes with the answer as its status
message, whose metadata says who answered (``{"webagents": {"agent", "handoff_chain"}}``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from a2a.auth.user import User
from a2a.helpers.proto_helpers import get_data_parts, new_task, new_text_message, new_text_part
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.request_handlers import DefaultRequestHandler
from a2a.server.request_handlers.response_helpers import agent_card_to_dict
from a2a.server.routes.common import DefaultServerCallContextBuilder
from a2a.server.routes.jsonrpc_dispatcher import JsonRpcDispatcher
from a2a.server.tasks import InMemoryTaskStore, TaskUpdater
from a2a.types.a2a_pb2 import (
    AgentCapabilities,
    AgentCard,
    AgentInterface,
    AgentSkill,
    Role,
    TaskState,
)
from a2a.utils.errors import InternalError, InvalidParamsError
from starlette.responses import JSONResponse, Response

from webagents.agents.runner import Run
from webagents.errors import InvalidRequestError
from webagents.events import TextDelta
from webagents.server.auth import USER_SCOPE_KEY, verify_signature
from webagents.server.chat import Counted, RunSlot, ServerState, agent_not_found, shutting_down
from webagents.server.runs import ClientGone, read_body, run_failure
from webagents.server.targets import agent_path

if TYPE_CHECKING:
    from a2a.server.context import ServerCallContext
    from a2a.server.events import EventQueue
    from starlette.requests import Request
    from starlette.types import Message

    from webagents.agents.agent import BaseAgent
    from webagents.remote.signing import SignatureVerifier

__all__ = ["A2AServer", "agent_card"]

logger = logging.getLogger("webagents.server")

_MAX_CONTEXT_ID = 256
_RUN_SLOT = "webagents.run_slot"  # the request's place among the server's runs in flight
_SENDS = frozenset({"SendMessage", "SendStreamingMessage", "message/send", "message/stream"})
_ARTIFACT = "answer"
_ROLES = ("user", "assistant")


class _Caller(User):
    """The API key's user: the owner of the tasks it starts (the SDK scopes tasks by it)."""

    def __init__(self, user_id: str | None) -> None:
        self.user_id = user_id

    @property
    def is_authenticated(self) -> bool:
        return self.user_id is not None

    @property
    def user_name(self) -> str:
        return self.user_id or ""


class _CallContexts(DefaultServerCallContextBuilder):
    """The SDK's call context (headers, extensions) with the caller our auth middleware
    identified."""

    def build_user(self, request: Request) -> User:
        return _Caller(request.scope.get(USER_SCOPE_KEY))

    def build(self, request: Request) -> ServerCallContext:
        context = super().build(request)
        context.state[_RUN_SLOT] = request.scope.get(_RUN_SLOT)
        return context


def agent_card(name: str, agent: BaseAgent, base: str) -> AgentCard:
    """The A2A card of the agent served as ``name`` on the server at ``base``."""
    url = base + agent_path(name)
    skills = [
        AgentSkill(
            id=entry.name,
            name=entry.name,
            description=entry.schema.description or entry.name,
            tags=["tool"],
        )
        for entry in agent.capabilities.tools.values()
        if entry.scope == "all"
    ]
    if not skills:  # a card needs one: the agent's conversation itself
        skills = [
            AgentSkill(id=name, name=name, description=agent.description or name, tags=["chat"])
        ]
    return AgentCard(
        name=name,
        description=agent.description or name,
        supported_interfaces=[  # one endpoint, which takes 0.3 method names too
            AgentInterface(url=url, protocol_binding="JSONRPC", protocol_version=version)
            for version in ("1.0", "0.3")
        ],
        version="1.0.0",
        capabilities=AgentCapabilities(streaming=True),
        default_input_modes=["text/plain", "application/json"],
        default_output_modes=["text/plain"],
        skills=skills,
    )


class _Executor(AgentExecutor):
    """Runs the served agent for one A2A message, in the session its ``contextId`` names."""

    def __init__(self, agent: BaseAgent) -> None:
        self.agent = agent

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        task_id, context_id = context.task_id, context.context_id
        assert task_id is not None and context_id is not None  # the SDK gave both
        if len(context_id) > _MAX_CONTEXT_ID or not context_id.isprintable():
            raise InvalidParamsError(
                message=f"contextId must be 1 to {_MAX_CONTEXT_ID} printable characters"
            )
        slot = context.call_context.state.get(_RUN_SLOT)
        if isinstance(slot, RunSlot):  # the run holds it, even past a response not waiting
            slot.held = True
        try:
            await self._execute(context, event_queue, task_id, context_id)
        finally:
            if isinstance(slot, RunSlot):
                slot.release()

    async def _execute(
        self, context: RequestContext, event_queue: EventQueue, task_id: str, context_id: str
    ) -> None:
        messages = _conversation(context)
        user = context.call_context.user
        user_id = user.user_id if isinstance(user, _Caller) else None
        try:
            run = Run.create(self.agent, messages, context_id, user_id, None, "all", streaming=True)
        except InvalidRequestError as error:  # our own text, naming what is wrong
            raise InvalidParamsError(message=f"the message cannot start a run: {error}") from None
        if run.trace is not None:  # the caller's trace (traceparent) goes on in this run
            from webagents import tracing

            tracing.continue_trace(run, context.call_context.state.get("headers") or {})
        if context.current_task is None:
            history = [context.message] if context.message is not None else []
            task = new_task(task_id, context_id, TaskState.TASK_STATE_SUBMITTED, history=history)
            await event_queue.enqueue_event(task)
        updater = TaskUpdater(event_queue, task_id, context_id)
        await updater.start_work()
        first = True
        try:
            async for event in run.stream():
                if isinstance(event, TextDelta) and event.text:
                    await updater.add_artifact(
                        [new_text_part(event.text)],
                        artifact_id=_ARTIFACT,
                        name=_ARTIFACT,
                        metadata={"webagents": {"agent": event.agent}},
                        append=not first,
                        last_chunk=False,
                    )
                    first = False
        except Exception as error:
            failure = run_failure(error, run)  # logged there, with the traceback
            if failure.code == "session_not_found":
                message = (
                    f"context {context_id!r} not found for this caller (a context continues "
                    f"only with the API key's user that started it)"
                )
                raise InvalidParamsError(message=message) from None
            raise InternalError(message=failure.message) from None
        final = run.result("")
        # The turn's last message, never in a session's stored history (the turn added at
        # least its user message): read without joining the history in front.
        last = run.transcript[-1] if run.transcript else {}
        answer = last.get("content") if last.get("role") == "assistant" else None
        text = answer if isinstance(answer, str) else ""
        extension: dict[str, Any] = {
            "agent": final.agent,
            "handoff_chain": list(final.handoff_chain),
        }
        if final.completed:
            extension["completed"] = True
        # The whole answer once more, replacing the chunks: text a failed handoff withdrew
        # is gone from it.
        await updater.add_artifact(
            [new_text_part(text)],
            artifact_id=_ARTIFACT,
            name=_ARTIFACT,
            metadata={"webagents": {"agent": final.agent}},
            append=False,
            last_chunk=True,
        )
        reply = new_text_message(text, context_id=context_id, task_id=task_id, role=Role.ROLE_AGENT)
        reply.metadata.update({"webagents": extension})
        await updater.complete(reply)

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        # The SDK cancels the task running ``execute`` (the run gets CancelledError); what is
        # left is to say so.
        task_id, context_id = context.task_id, context.context_id
        if task_id is not None and context_id is not None:
            await TaskUpdater(event_queue, task_id, context_id).cancel()


def _conversation(context: RequestContext) -> list[dict[str, Any]]:
    """The run's messages: the turns a caller hands over as ``{"webagents": {"history":
    [...]}}`` data (only user and assistant text), then the user's message: its text parts,
    and any other data as JSON text after them."""
    message = context.message
    if message is None:
        raise InvalidParamsError(message="the request has no message")
    texts: list[str] = []
    history: list[dict[str, Any]] = []
    for part in message.parts:
        kind = part.WhichOneof("content")
        if kind == "text":
            texts.append(part.text)
        elif kind == "data":
            data = get_data_parts([part])[0]
            carried = data.get("webagents") if isinstance(data, dict) else None
            if isinstance(carried, dict) and set(carried) <= {"history", "handoff_context"}:
                history.extend(_turns(carried.get("history")))
                if carried.get("handoff_context"):
                    texts.append(_data_text({"handoff_context": carried["handoff_context"]}))
            else:
                texts.append(_data_text(data))
        else:
            raise InvalidParamsError(
                message=f"message part of kind {kind!r} is not accepted: send text or data parts"
            )
    text = "\n\n".join(piece for piece in texts if piece)
    if not text:
        raise InvalidParamsError(message="the message has no text: send a text part")
    return [*history, {"role": "user", "content": text}]


def _turns(history: object) -> list[dict[str, Any]]:
    if not isinstance(history, list):
        return []
    return [
        {"role": turn["role"], "content": turn["content"]}
        for turn in history
        if isinstance(turn, dict)
        and turn.get("role") in _ROLES
        and isinstance(turn.get("content"), str)
    ]


def _data_text(data: object) -> str:
    return "Data:\n" + json.dumps(data, ensure_ascii=False, sort_keys=True, default=str)


def _starts_run(body: bytes) -> bool:
    """Whether a JSON-RPC body sends a message. What does not parse, and a batch (which the
    SDK does not take), are the SDK's to refuse."""
    try:
        call = json.loads(body)
    except ValueError:
        return False
    return isinstance(call, dict) and call.get("method") in _SENDS


def _replayed(request: Request, body: bytes) -> Request:
    """``request`` with its body read already: ``receive`` gives the body once, then the
    client's own messages (a disconnect ends a stream)."""
    from starlette.requests import Request

    given = False

    async def receive() -> Message:
        nonlocal given
        if given:
            return await request.receive()
        given = True
        return {"type": "http.request", "body": body, "more_body": False}

    return Request(request.scope, receive)


class A2AServer:
    """The A2A side of one app: a card route and a JSON-RPC route for every served agent."""

    def __init__(
        self,
        agents: Mapping[str, BaseAgent],
        *,
        state: ServerState | None = None,
        verifier: SignatureVerifier | None = None,
        max_body_bytes: int = 1_000_000,
    ) -> None:
        self.agents = agents
        self.state = state if state is not None else ServerState()
        self.verifier = verifier
        self.max_body_bytes = max_body_bytes
        builder = _CallContexts()
        self.dispatchers: dict[str, JsonRpcDispatcher] = {}
        for name, agent in agents.items():
            handler = DefaultRequestHandler(
                agent_executor=_Executor(agent),
                task_store=InMemoryTaskStore(),
                agent_card=agent_card(name, agent, ""),
            )
            self.dispatchers[name] = JsonRpcDispatcher(
                handler, context_builder=builder, enable_v0_3_compat=True
            )

    async def card(self, request: Request) -> Response:
        name = request.path_params.get("name")
        if name is None and len(self.agents) == 1:
            name = next(iter(self.agents))
        agent = self.agents.get(name) if isinstance(name, str) else None
        if agent is None or not isinstance(name, str):
            raise agent_not_found(str(name))
        base = str(request.base_url).rstrip("/")
        return JSONResponse(agent_card_to_dict(agent_card(name, agent, base)))

    async def rpc(self, request: Request) -> Response:
        name = request.path_params["name"]
        dispatcher = self.dispatchers.get(name)
        if dispatcher is None:
            raise agent_not_found(name)
        if self.state.closing:
            raise shutting_down()
        # As on the chat route: the body read up to the server's limit, signed when the
        # server checks signatures, and a run only within the server's limit of runs.
        declared = request.headers.get("content-length")
        try:
            body = await read_body(request.receive, self.max_body_bytes, declared)
        except ClientGone:
            return Response(status_code=204)  # nobody is listening any more
        if self.verifier is not None:
            verify_signature(self.verifier, request.scope, request.headers, body)
        if not _starts_run(body):  # reading or cancelling a task takes no place
            return await dispatcher.handle_requests(_replayed(request, body))
        slot = request.scope[_RUN_SLOT] = self.state.admit()
        try:
            response = await dispatcher.handle_requests(_replayed(request, body))
        except BaseException:
            if not slot.held:
                slot.release()
            raise
        return Counted(response, slot)

    def routes(self) -> list[tuple[str, Callable[[Request], Any], list[str]]]:
        """(path, endpoint, methods) of every A2A route."""
        found: list[tuple[str, Callable[[Request], Any], list[str]]] = [
            ("/agents/{name}/.well-known/agent-card.json", self.card, ["GET"]),
            ("/agents/{name}", self.rpc, ["POST"]),
        ]
        if len(self.agents) == 1:
            found.append(("/.well-known/agent-card.json", self.card, ["GET"]))
        return found
