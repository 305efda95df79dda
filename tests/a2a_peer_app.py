"""An A2A agent built with the ``a2a-sdk`` alone (its own ``AgentExecutor``, served by the
SDK's route builders on Starlette): the peer that webagents' A2A client is tested against.

It answers deterministically: ``"<prefix> #<n>: <text>"``, where ``n`` counts the messages
of the context (so a test sees a context continue) and ``text`` is the message's text; with
``stream_words`` it streams the answer word by word as artifact chunks. The data parts it
received are kept in ``seen_data`` for the test to read.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from typing import Any

from a2a.helpers.proto_helpers import (
    get_data_parts,
    new_task,
    new_text_artifact,
    new_text_message,
    new_text_part,
)
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.server.request_handlers import DefaultRequestHandler
from a2a.server.routes import create_agent_card_routes, create_jsonrpc_routes
from a2a.server.tasks import InMemoryTaskStore, TaskUpdater
from a2a.types.a2a_pb2 import (
    AgentCapabilities,
    AgentCard,
    AgentInterface,
    AgentSkill,
    TaskState,
)
from starlette.applications import Starlette


class PeerExecutor(AgentExecutor):
    def __init__(
        self, prefix: str, *, reply_as_message: bool, fail: bool, whole_task: bool = False
    ) -> None:
        self.prefix = prefix
        self.whole_task = whole_task
        self.release = threading.Event()
        self.reply_as_message = reply_as_message
        self.fail = fail
        self.turns: Counter[str] = Counter()
        self.seen_data: list[Any] = []
        self.contexts: list[str] = []

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        assert context.message is not None and context.context_id and context.task_id
        text = context.get_user_input()
        if text == "hang":  # no answer until the test releases it (after its deadline)
            await asyncio.to_thread(self.release.wait, 60)
        self.seen_data.extend(get_data_parts(context.message.parts))
        self.contexts.append(context.context_id)
        self.turns[context.context_id] += 1
        answer = f"{self.prefix} #{self.turns[context.context_id]}: {text}"
        if self.reply_as_message:
            await event_queue.enqueue_event(
                new_text_message(answer, context_id=context.context_id, task_id=None)
            )
            return
        if self.whole_task:  # one event: the task, done, with its artifact
            artifact = new_text_artifact("answer", answer)
            done = new_task(
                context.task_id, context.context_id, TaskState.TASK_STATE_COMPLETED, [artifact]
            )
            await event_queue.enqueue_event(done)
            return
        await event_queue.enqueue_event(
            new_task(context.task_id, context.context_id, TaskState.TASK_STATE_SUBMITTED)
        )
        updater = TaskUpdater(event_queue, context.task_id, context.context_id)
        await updater.start_work()
        if self.fail:
            await updater.failed(new_text_message("internal trouble: do not show me"))
            return
        words = answer.split(" ")
        for index, word in enumerate(words):
            piece = word if index == 0 else " " + word
            await updater.add_artifact(
                [new_text_part(piece)], artifact_id="a1", append=index > 0, last_chunk=False
            )
        await updater.complete()

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        raise NotImplementedError


def peer_card(url: str, *, streaming: bool = True) -> AgentCard:
    return AgentCard(
        name="Peer",
        description="An A2A agent of another framework",
        supported_interfaces=[
            AgentInterface(url=url, protocol_binding="JSONRPC", protocol_version="1.0")
        ],
        version="1.0.0",
        capabilities=AgentCapabilities(streaming=streaming),
        default_input_modes=["text/plain"],
        default_output_modes=["text/plain"],
        skills=[AgentSkill(id="echo", name="echo", description="Echoes", tags=["echo"])],
    )


def peer_app(
    prefix: str = "Peer",
    *,
    reply_as_message: bool = False,
    fail: bool = False,
    streaming: bool = True,
    whole_task: bool = False,
) -> tuple[Starlette, PeerExecutor]:
    """The peer's ASGI app (JSON-RPC at ``/``, card at ``/.well-known/agent-card.json``) and
    its executor."""
    executor = PeerExecutor(
        prefix, reply_as_message=reply_as_message, fail=fail, whole_task=whole_task
    )
    card = peer_card("http://127.0.0.1/", streaming=streaming)
    handler = DefaultRequestHandler(
        agent_executor=executor, task_store=InMemoryTaskStore(), agent_card=card
    )
    routes = create_agent_card_routes(card) + create_jsonrpc_routes(handler, rpc_url="/")
    return Starlette(routes=routes), executor
