"""A webagents front desk handing a customer to an A2A agent of another framework.

The peer is built with the ``a2a-sdk`` alone (its own ``AgentExecutor``, served by the SDK's
route builders), as a Google ADK, CrewAI or Microsoft Agent Framework agent would be; the
desk registers it with ``protocol="a2a"`` and its (scripted) model hands the conversation
over. Both run on 127.0.0.1, offline:

    python examples/a2a_peer.py

Needs the ``a2a`` and ``server`` extras: ``pip install 'webagents-net[a2a,server]'``.
"""

from __future__ import annotations

import asyncio

from a2a.helpers.proto_helpers import new_task, new_text_part
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

from webagents import AgentNetwork, BaseAgent
from webagents.sessions import InMemorySessionStore
from webagents.testing import ScriptedModel, transfer
from webagents.testing.served import ServedApp


class ShippingExecutor(AgentExecutor):
    """The peer's own logic: a fixed answer about the parcel it was asked about, streamed
    word by word as chunks of one artifact."""

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        assert context.task_id is not None and context.context_id is not None
        question = context.get_user_input()
        await event_queue.enqueue_event(
            new_task(context.task_id, context.context_id, TaskState.TASK_STATE_SUBMITTED)
        )
        updater = TaskUpdater(event_queue, context.task_id, context.context_id)
        await updater.start_work()
        answer = f"Parcel 'A-17' left the depot this morning (you asked: {question})"
        for index, word in enumerate(answer.split(" ")):
            await updater.add_artifact(
                [new_text_part(word if index == 0 else " " + word)],
                artifact_id="answer",
                append=index > 0,
            )
        await updater.complete()

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        raise NotImplementedError("the answer is instant")


def shipping_app() -> Starlette:
    """The A2A agent: JSON-RPC at ``/``, its card at ``/.well-known/agent-card.json``."""
    card = AgentCard(
        name="Shipping",
        description="Tracks parcels",
        supported_interfaces=[
            AgentInterface(
                url="http://127.0.0.1/", protocol_binding="JSONRPC", protocol_version="1.0"
            )
        ],
        version="1.0.0",
        capabilities=AgentCapabilities(streaming=True),
        default_input_modes=["text/plain"],
        default_output_modes=["text/plain"],
        skills=[
            AgentSkill(id="track", name="track", description="Parcel status", tags=["parcels"])
        ],
    )
    handler = DefaultRequestHandler(
        agent_executor=ShippingExecutor(), task_store=InMemoryTaskStore(), agent_card=card
    )
    return Starlette(
        routes=create_agent_card_routes(card) + create_jsonrpc_routes(handler, rpc_url="/")
    )


async def main() -> None:
    async with (
        ServedApp(shipping_app()) as shipping,
        AgentNetwork("shop", sessions=InMemorySessionStore()) as shop,
    ):
        shop.register_remote("shipping", shipping.url, protocol="a2a", description="Tracks parcels")
        desk = BaseAgent(
            "desk",
            "You route customers.",
            model=ScriptedModel([transfer("shipping", "a parcel question")]),
            handoffs=["shipping"],
            network=shop,
        )
        result = await desk.run("Where is my parcel?", session_id="customer-1")
        print(f"{' -> '.join(result.handoff_chain)}: {result.content}")


if __name__ == "__main__":
    asyncio.run(main())
