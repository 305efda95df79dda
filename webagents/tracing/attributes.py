"""The names tracing writes: GenAI semantic-convention attributes, our own
``webagents.*`` ones, and how a run's agents, handoffs, models and errors become them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from opentelemetry.trace import Span, SpanKind

    from webagents.agents.runner import Run
    from webagents.agents.steps import Pending

# The module an application that traces has imported; until it is, tracing is off.
API: Final = "opentelemetry.trace"

# Attribute names, as opentelemetry-semantic-conventions 0.66b spells them.
OPERATION: Final = "gen_ai.operation.name"
PROVIDER: Final = "gen_ai.provider.name"
AGENT_NAME: Final = "gen_ai.agent.name"
AGENT_DESCRIPTION: Final = "gen_ai.agent.description"
CONVERSATION: Final = "gen_ai.conversation.id"
REQUEST_MODEL: Final = "gen_ai.request.model"
REQUEST_STREAM: Final = "gen_ai.request.stream"
FINISH_REASONS: Final = "gen_ai.response.finish_reasons"
INPUT_TOKENS: Final = "gen_ai.usage.input_tokens"
OUTPUT_TOKENS: Final = "gen_ai.usage.output_tokens"
TOOL_NAME: Final = "gen_ai.tool.name"
TOOL_CALL_ID: Final = "gen_ai.tool.call.id"
TOOL_TYPE: Final = "gen_ai.tool.type"
ERROR_TYPE: Final = "error.type"
# No standard for these yet: our own namespace.
RUN_ID: Final = "webagents.run.id"
HANDOFF_SOURCE: Final = "webagents.handoff.source"
HANDOFF_TARGET: Final = "webagents.handoff.target"
HANDOFF_TRIGGER: Final = "webagents.handoff.trigger"
HANDOFF_SUCCESS: Final = "webagents.handoff.success"
HANDOFF_EVENT: Final = "webagents.handoff"

# model_settings keys and the request attributes they become
SETTINGS: Final = {
    "temperature": "gen_ai.request.temperature",
    "top_p": "gen_ai.request.top_p",
    "max_tokens": "gen_ai.request.max_tokens",
    "max_completion_tokens": "gen_ai.request.max_tokens",
    "frequency_penalty": "gen_ai.request.frequency_penalty",
    "presence_penalty": "gen_ai.request.presence_penalty",
    "seed": "gen_ai.request.seed",
}

TOOL_FAILED: Final = "tool_error"  # a tool result marked as an error, without an exception
REFUSED: Final = "refused"  # a handoff refused before it began (bounds, veto, unknown target)


def error_type(error: BaseException) -> str:
    """An exception's type as ``error.type`` wants it: its fully qualified class name."""
    cls = type(error)
    module = cls.__module__
    return cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"


def failed(span: Span, kind: str) -> None:
    from opentelemetry.trace import Status, StatusCode

    span.set_attribute(ERROR_TYPE, kind)
    span.set_status(Status(StatusCode.ERROR))  # no description: messages may carry secrets


def span_kind(name: str) -> SpanKind:
    from opentelemetry.trace import SpanKind

    return SpanKind[name]


def agent_attributes(run: Run, name: str) -> dict[str, Any]:
    attributes: dict[str, Any] = {OPERATION: "invoke_agent", AGENT_NAME: name, RUN_ID: run.run_id}
    if run.session_id is not None:
        attributes[CONVERSATION] = run.session_id
    return attributes


def handoff_attributes(pending: Pending) -> dict[str, Any]:
    from webagents._urls import shown_name

    return {
        HANDOFF_SOURCE: pending.source.name,
        HANDOFF_TARGET: shown_name(pending.name),
        HANDOFF_TRIGGER: pending.trigger,
    }


def provider_of(model: object) -> str | None:
    """The ``gen_ai.provider.name`` of a model: its ``provider`` attribute, or ``openai``
    for the OpenAI provider; unknown for others."""
    provider = getattr(model, "provider", None)
    if isinstance(provider, str):
        return provider
    if type(model).__module__ == "webagents.models.openai_provider":
        return "openai"
    return None
