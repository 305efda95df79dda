"""A handoff to an A2A agent keeps the trace: the A2A request carries ``traceparent`` (the
remote transport's headers) and a webagents server's A2A side continues it."""

from __future__ import annotations

from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from webagents import AgentNetwork, BaseAgent
from webagents.server import create_app
from webagents.sessions import InMemorySessionStore
from webagents.testing import ScriptedModel, text, transfer
from webagents.testing.served import ServedApp


async def test_a_handoff_over_a2a_keeps_the_trace(exporter: InMemorySpanExporter) -> None:
    experts = AgentNetwork("experts", sessions=InMemorySessionStore())
    BaseAgent("tax", model=ScriptedModel(responder=lambda r: text("Deductible.")), network=experts)
    async with (
        ServedApp(create_app(experts)) as server,
        AgentNetwork("front", sessions=InMemorySessionStore()) as front,
    ):
        front.register_remote("tax", f"{server.url}/agents/tax", protocol="a2a")
        desk = BaseAgent(
            "desk", model=ScriptedModel([transfer("tax")]), handoffs=["tax"], network=front
        )
        result = await desk.run("Can I deduct my desk?")

    assert result.content == "Deductible."
    found = exporter.get_finished_spans()
    desk = next(span for span in found if span.name == "invoke_agent desk")
    # Here, the handoff: the remote agent's activation as this side sees it (a client span).
    handed = next(s for s in found if s.name == "invoke_agent tax" and s.kind is SpanKind.CLIENT)
    # There, the A2A request's run, in the same trace.
    served = next(
        s for s in found if s.name == "invoke_agent tax" and s.kind is not SpanKind.CLIENT
    )
    assert desk.context is not None and handed.context is not None
    assert served.context is not None and served.parent is not None
    assert served.context.trace_id == handed.context.trace_id == desk.context.trace_id
    # Its ancestors (the a2a-sdk's server spans may stand between) lead to that span.
    parents = {span.context.span_id: span.parent for span in found if span.context is not None}
    ancestors = []
    parent = served.parent
    while parent is not None:
        ancestors.append(parent.span_id)
        parent = parents.get(parent.span_id)
    assert handed.context.span_id in ancestors
