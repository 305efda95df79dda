"""OpenTelemetry traces of runs, after the GenAI semantic conventions (semantic-conventions
0.66b): ``invoke_agent <agent>`` per agent activation, ``chat <model>`` per model call,
``execute_tool <tool>`` per tool call, and handoffs as ``webagents.handoff.*`` attributes.

Tracing is on for a run only when the application has imported opentelemetry and set a real
tracer provider; ``import webagents`` never imports it. The check is made once per run
(``run_trace``, called only when opentelemetry is in ``sys.modules``); with tracing off, a
run holds ``None``, and the run loop tests ``run.trace`` before calling anything here: the
untraced path makes no call, enters no context manager and allocates nothing for tracing
(only around a remote agent's turn, a network call, ``remote_agent_span`` returns ``QUIET``).
Spans carry names, ids, models, token counts and exception types: never message text, tool
arguments or results, nor exception messages (they may carry secrets).

How spans nest: a step of the run loop attaches its agent's span as the current one, so
model and tool spans (and any span user code starts) are its children. A handoff outlives
the step that began it (the target takes the next step), so the spans it holds open (its own
transfer span and its source's activation) are kept on the run's ``RunTrace`` until it is
finished, and the target's activation starts as a child of the newest handoff in flight.

For other HTTP clients of the project: ``inject_headers(headers)`` before sending,
``extract_context(headers)`` (or ``continue_trace(run, headers)``) on receiving.
"""

from webagents.tracing.attributes import (
    AGENT_DESCRIPTION,
    AGENT_NAME,
    API,
    CONVERSATION,
    ERROR_TYPE,
    FINISH_REASONS,
    HANDOFF_EVENT,
    HANDOFF_SOURCE,
    HANDOFF_SUCCESS,
    HANDOFF_TARGET,
    HANDOFF_TRIGGER,
    INPUT_TOKENS,
    OPERATION,
    OUTPUT_TOKENS,
    PROVIDER,
    REQUEST_MODEL,
    REQUEST_STREAM,
    RUN_ID,
    TOOL_CALL_ID,
    TOOL_NAME,
    TOOL_TYPE,
    error_type,
)
from webagents.tracing.propagation import continue_trace, extract_context, inject_headers
from webagents.tracing.spans import (
    QUIET,
    RunTrace,
    activation,
    handoff_ended,
    handoff_failed,
    handoff_started,
    model_span,
    remote_agent_span,
    run_ended,
    run_trace,
    tool_failed,
    tool_span,
    traced_model_call,
    traced_step,
    traced_tool_call,
)

__all__ = [
    "AGENT_DESCRIPTION",
    "AGENT_NAME",
    "API",
    "CONVERSATION",
    "ERROR_TYPE",
    "FINISH_REASONS",
    "HANDOFF_EVENT",
    "HANDOFF_SOURCE",
    "HANDOFF_SUCCESS",
    "HANDOFF_TARGET",
    "HANDOFF_TRIGGER",
    "INPUT_TOKENS",
    "OPERATION",
    "OUTPUT_TOKENS",
    "PROVIDER",
    "QUIET",
    "REQUEST_MODEL",
    "REQUEST_STREAM",
    "RUN_ID",
    "TOOL_CALL_ID",
    "TOOL_NAME",
    "TOOL_TYPE",
    "RunTrace",
    "activation",
    "continue_trace",
    "error_type",
    "extract_context",
    "handoff_ended",
    "handoff_failed",
    "handoff_started",
    "inject_headers",
    "model_span",
    "remote_agent_span",
    "run_ended",
    "run_trace",
    "tool_failed",
    "tool_span",
    "traced_model_call",
    "traced_step",
    "traced_tool_call",
]
