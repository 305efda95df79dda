"""The trace context over HTTP: what an outgoing request carries and what an incoming one
continues (W3C ``traceparent``, or the propagators the application configured)."""

from __future__ import annotations

import sys
from collections.abc import Mapping, MutableMapping
from typing import TYPE_CHECKING

from webagents.tracing.attributes import API

if TYPE_CHECKING:
    from opentelemetry.context import Context as OtelContext

    from webagents.agents.runner import Run


def inject_headers(headers: MutableMapping[str, str]) -> MutableMapping[str, str]:
    """Add the current trace context (W3C ``traceparent``/``tracestate``, or whatever
    propagators the application configured) to an outgoing request's ``headers``; returns
    them. Nothing is added when opentelemetry is not imported or no span is current."""
    if API not in sys.modules:
        return headers
    from opentelemetry import propagate

    propagate.inject(headers)
    return headers


def extract_context(headers: Mapping[str, str]) -> OtelContext | None:
    """The trace context an incoming request carries (``headers`` keyed in lower case), to
    parent the spans it causes; None when opentelemetry is not imported."""
    if API not in sys.modules:
        return None
    from opentelemetry import propagate

    return propagate.extract(headers)


def continue_trace(run: Run, headers: Mapping[str, str]) -> None:
    """``run`` (not started yet) continues the trace of the request that carries
    ``headers``: its first span is a child of the caller's. When a span is current already,
    the server is instrumented (FastAPI's own telemetry, an ASGI middleware) and that span,
    which continues the caller's trace, is the run's parent."""
    if run.trace is None:
        return
    from opentelemetry import trace

    if not trace.get_current_span().get_span_context().is_valid:
        run.trace.parent = extract_context(headers)
