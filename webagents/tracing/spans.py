"""A run's spans: whether tracing is on for it (``run_trace``), its ``RunTrace``, and the
helpers the run loop calls around activations, model calls, tool calls and handoffs."""

from __future__ import annotations

import sys
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, Final

from webagents.tracing.attributes import (
    AGENT_DESCRIPTION,
    API,
    CONVERSATION,
    ERROR_TYPE,
    FINISH_REASONS,
    HANDOFF_EVENT,
    HANDOFF_SUCCESS,
    INPUT_TOKENS,
    OPERATION,
    OUTPUT_TOKENS,
    PROVIDER,
    REFUSED,
    REQUEST_MODEL,
    REQUEST_STREAM,
    RUN_ID,
    SETTINGS,
    TOOL_CALL_ID,
    TOOL_FAILED,
    TOOL_NAME,
    TOOL_TYPE,
    agent_attributes,
    error_type,
    failed,
    handoff_attributes,
    provider_of,
    span_kind,
)

if TYPE_CHECKING:
    from types import TracebackType

    from opentelemetry.context import Context as OtelContext
    from opentelemetry.trace import Span, SpanKind, Tracer

    from webagents.agents.agent import BaseAgent
    from webagents.agents.network import RemoteAgent
    from webagents.agents.runner import Run
    from webagents.agents.steps import Outcome, Pending, Step
    from webagents.models.base import ModelRequest, ModelResponse, ToolCall

# (provider, tracer): the tracer is looked up again only when the global provider changes.
_cache: tuple[object, Tracer | None] = (None, None)


# turning it on ---------------------------------------------------------------------------


def run_trace() -> RunTrace | None:
    """The tracing state of a run that starts now, or None when tracing is off: the
    application has not imported opentelemetry, or set no real tracer provider. The run loop
    calls it only when ``API in sys.modules``, so a process without opentelemetry pays one
    dictionary test per run."""
    api = sys.modules.get(API)
    if api is None:
        return None
    if getattr(api, "_TRACER_PROVIDER", api) is None and _cache[0] is not None:
        # Still no provider set (FastAPI and mcp import opentelemetry without setting one):
        # off, without ``get_tracer_provider()``, which tests ``os.environ`` on every call
        # (about 1 us) for an OTEL_PYTHON_TRACER_PROVIDER to load; it was asked once already.
        return None
    provider = api.get_tracer_provider()
    tracer = _cache[1] if provider is _cache[0] else _tracer_of(api, provider)
    return None if tracer is None else RunTrace(tracer)


def _tracer_of(api: Any, provider: object) -> Tracer | None:
    global _cache
    tracer = None
    if not isinstance(provider, api.ProxyTracerProvider | api.NoOpTracerProvider):
        from webagents import __version__

        found = provider.get_tracer("webagents", __version__)  # type: ignore[attr-defined]
        if not isinstance(found, api.NoOpTracer | api.ProxyTracer):
            tracer = found
    _cache = (provider, tracer)
    return tracer


class _Handoff:
    """A handoff in flight: its span (the transfer tool's; None for a condition's handoff),
    the source's activation, and whether the source's step has ended meanwhile (then this
    handoff's end also ends the source's activation, if the source answered)."""

    __slots__ = ("error_type", "source", "source_left", "span")

    def __init__(self, span: Span | None, source: Span) -> None:
        self.span = span
        self.source = source
        self.source_left = False
        self.error_type: str | None = None


class RunTrace:
    """One run's tracing state: its tracer, the remote parent it continues (a served run),
    the handoffs in flight, and the error type of the tool call in progress."""

    __slots__ = ("handoffs", "parent", "tool_error", "tracer")

    def __init__(self, tracer: Tracer) -> None:
        self.tracer = tracer
        self.parent: OtelContext | None = None
        self.handoffs: list[_Handoff] = []
        self.tool_error: str | None = None

    def start(self, name: str, kind: SpanKind, attributes: dict[str, Any]) -> Span:
        """A span that is a child of the current span."""
        return self.tracer.start_span(name, None, kind, attributes)

    def arrive(self, name: str, kind: SpanKind, attributes: dict[str, Any]) -> Span:
        """An agent's span: a child of the newest handoff in flight (the agent is its
        target), else of the remote caller's span (a served run), else of the current span."""
        from opentelemetry import trace

        parent = self.parent
        if self.handoffs:
            newest = self.handoffs[-1]
            parent = trace.set_span_in_context(newest.span or newest.source)
        return self.tracer.start_span(name, parent, kind, attributes)


# the helpers the run loop calls ------------------------------------------------------------
#
# Called only when ``run.trace`` is not None: ``traced_step``, ``traced_model_call`` and
# ``traced_tool_call`` await, inside its span, what the untraced loop awaits directly. The
# context managers they use return ``QUIET`` for an untraced run (``remote_agent_span`` is
# entered whether traced or not).


class _Quiet:
    """What the helpers return when tracing is off: a context manager doing nothing."""

    __slots__ = ()

    def __enter__(self) -> _Quiet:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    def record(self, response: ModelResponse) -> None:
        """The model's response arrived (a model span's usage and finish reason)."""

    def done(self, is_error: bool) -> None:
        """The tool call's result is in (an error or not)."""


QUIET: Final = _Quiet()


class _Current(_Quiet):
    """Makes ``span`` the current span inside the block; ends it on leaving, with the error
    type of an exception that leaves the block."""

    __slots__ = ("span", "token")

    def __init__(self, span: Span) -> None:
        self.span = span
        self.token: object = None

    def __enter__(self) -> _Quiet:
        from opentelemetry import context, trace

        self.token = context.attach(trace.set_span_in_context(self.span))
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        from opentelemetry import context

        context.detach(self.token)  # type: ignore[arg-type]
        if error is not None:
            failed(self.span, error_type(error))
        self.end()

    def end(self) -> None:
        self.span.end()


def activation(run: Run, step: Step) -> _Quiet:
    """``with activation(run, step):`` around a step: ``invoke_agent <agent>``, started when
    the agent arrives and current while it works. It stays open while a handoff it began is
    in flight, and a step resuming after a failed handoff continues it."""
    trace = run.trace
    if trace is None:
        return QUIET
    span = step.trace
    if span is None:
        agent = step.agent
        attributes = agent_attributes(run, agent.name)
        if agent.description:
            attributes[AGENT_DESCRIPTION] = agent.description
        if agent.model is not None:
            attributes[REQUEST_MODEL] = agent.model.name
            provider = provider_of(agent.model)
            if provider:
                attributes[PROVIDER] = provider
        span = trace.arrive(f"invoke_agent {agent.name}", span_kind("INTERNAL"), attributes)
        step.trace = span
    return _Activation(span, trace)


async def traced_step(run: Run, step: Step, taking: Awaitable[Outcome]) -> Outcome:
    """``await taking`` (``step`` being taken) inside its agent's activation."""
    with activation(run, step):
        return await taking


class _Activation(_Current):
    __slots__ = ("trace",)

    def __init__(self, span: Span, trace: RunTrace) -> None:
        super().__init__(span)
        self.trace = trace

    def end(self) -> None:
        for handoff in self.trace.handoffs:
            if handoff.source is self.span:  # handed off: ends with the handoff
                handoff.source_left = True
                return
        self.span.end()


def model_span(run: Run, agent: BaseAgent, request: ModelRequest) -> _Quiet:
    """``with model_span(...) as span:`` around a model call; ``span.record(response)``."""
    trace = run.trace
    if trace is None:
        return QUIET
    assert agent.model is not None
    name = agent.model.name
    attributes: dict[str, Any] = {OPERATION: "chat", REQUEST_MODEL: name, RUN_ID: run.run_id}
    provider = provider_of(agent.model)
    if provider:
        attributes[PROVIDER] = provider
    if run.session_id is not None:
        attributes[CONVERSATION] = run.session_id
    if run.streaming:
        attributes[REQUEST_STREAM] = True
    for key, value in request.settings.items():
        attribute = SETTINGS.get(key)
        if attribute is not None and isinstance(value, int | float):
            attributes[attribute] = value
    return _ModelSpan(trace.start(f"chat {name}", span_kind("CLIENT"), attributes))


async def traced_model_call(
    run: Run, agent: BaseAgent, request: ModelRequest, reply: Awaitable[ModelResponse]
) -> ModelResponse:
    """``await reply`` (the model's response to ``request``) inside its ``chat`` span."""
    with model_span(run, agent, request) as span:
        response = await reply
        span.record(response)
    return response


class _ModelSpan(_Current):
    __slots__ = ()

    def record(self, response: ModelResponse) -> None:
        usage = response.usage
        if usage.prompt_tokens or usage.completion_tokens:
            self.span.set_attribute(INPUT_TOKENS, usage.prompt_tokens)
            self.span.set_attribute(OUTPUT_TOKENS, usage.completion_tokens)
        if response.finish_reason:
            self.span.set_attribute(FINISH_REASONS, (response.finish_reason,))


def tool_span(run: Run, call: ToolCall) -> _Quiet:
    """``with tool_span(run, call) as span:`` around a tool call; ``span.done(is_error)``."""
    trace = run.trace
    if trace is None:
        return QUIET
    trace.tool_error = None
    attributes = {
        OPERATION: "execute_tool",
        TOOL_NAME: call.name,
        TOOL_CALL_ID: call.id,
        TOOL_TYPE: "function",
        RUN_ID: run.run_id,
    }
    span = trace.start(f"execute_tool {call.name}", span_kind("INTERNAL"), attributes)
    return _ToolSpan(span, trace)


async def traced_tool_call(
    run: Run, call: ToolCall, running: Awaitable[tuple[str, bool]]
) -> tuple[str, bool]:
    """``await running`` (the tool's output and whether it is an error) inside the call's
    ``execute_tool`` span."""
    with tool_span(run, call) as span:
        output, is_error = await running
        span.done(is_error)
    return output, is_error


class _ToolSpan(_Current):
    __slots__ = ("trace",)

    def __init__(self, span: Span, trace: RunTrace) -> None:
        super().__init__(span)
        self.trace = trace

    def done(self, is_error: bool) -> None:
        if is_error:
            failed(self.span, self.trace.tool_error or TOOL_FAILED)


def tool_failed(run: Run, error: BaseException) -> None:
    """The tool call in progress raised ``error`` (the model is told; the span keeps the
    exception's type)."""
    if run.trace is not None:
        run.trace.tool_error = error_type(error)


def remote_agent_span(run: Run, remote: RemoteAgent) -> _Quiet:
    """``with remote_agent_span(run, remote):`` around a remote agent's turn: a client-side
    ``invoke_agent <remote>``, current while the request goes out (so its trace context is
    what the request carries)."""
    trace = run.trace
    if trace is None:
        return QUIET
    from webagents._urls import shown_name

    name = shown_name(remote.name)
    span = trace.arrive(f"invoke_agent {name}", span_kind("CLIENT"), agent_attributes(run, name))
    return _Current(span)


def handoff_started(run: Run, step: Step, pending: Pending, call: ToolCall | None) -> None:
    """A handoff begins from ``step``'s agent: the model's transfer call gets its
    ``execute_tool`` span (a condition's handoff has none), and the target will arrive as
    its child."""
    trace = run.trace
    source = step.trace  # the source's activation (a handoff begins inside one)
    if trace is None or source is None:
        return
    pending.resume.trace = source  # the source resumes in it if the handoff fails
    span = None
    if call is not None:
        attributes = {
            OPERATION: "execute_tool",
            TOOL_NAME: call.name,
            TOOL_CALL_ID: call.id,
            TOOL_TYPE: "function",
            RUN_ID: run.run_id,
            **handoff_attributes(pending),
        }
        span = trace.start(f"execute_tool {call.name}", span_kind("INTERNAL"), attributes)
    handoff = _Handoff(span, source)
    pending.trace = handoff
    trace.handoffs.append(handoff)


def handoff_failed(pending: Pending, failure: BaseException) -> None:
    """The handoff's target raised ``failure``: its type becomes the handoff's error type."""
    handoff = pending.trace
    if handoff is not None:
        handoff.error_type = error_type(failure)


def handoff_ended(run: Run, pending: Pending, error: str | None, outcome: Outcome) -> None:
    """The handoff is over: its span and an event on the source's activation say whether it
    succeeded; a source that handed off ends too once the answer is its."""
    handoff = pending.trace
    trace = run.trace
    if handoff is None or trace is None:
        return
    from webagents.agents.steps import Answered

    pending.trace = None
    trace.handoffs.remove(handoff)
    attributes = handoff_attributes(pending)
    attributes[HANDOFF_SUCCESS] = error is None
    if error is not None:
        attributes[ERROR_TYPE] = handoff.error_type or REFUSED
    handoff.source.add_event(HANDOFF_EVENT, attributes)
    if handoff.span is not None:
        handoff.span.set_attribute(HANDOFF_SUCCESS, error is None)
        if error is not None:
            failed(handoff.span, handoff.error_type or REFUSED)
        handoff.span.end()
    if handoff.source_left and isinstance(outcome, Answered):
        handoff.source.end()


def run_ended(run: Run) -> None:
    """The run is over: spans still open (handoffs in flight when it raised or was
    cancelled, and their sources) end with the error that stopped it."""
    trace = run.trace
    if trace is None or not trace.handoffs:
        return
    error = sys.exc_info()[1]
    kind = error_type(error) if error is not None else "_OTHER"
    while trace.handoffs:
        handoff = trace.handoffs.pop()
        for span in (handoff.span, handoff.source if handoff.source_left else None):
            if span is not None:
                failed(span, kind)
                span.end()
