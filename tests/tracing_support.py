"""What the tracing tests share: a global tracer provider that can be set and unset, and the
in-memory exporter behind the ``exporter`` fixture (``tests/conftest.py``)."""

from __future__ import annotations

from collections.abc import Iterator

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.util._once import Once


def set_global_provider(provider: TracerProvider | None) -> None:
    """What ``trace.set_tracer_provider`` does, undoable: the API lets a process set its
    provider once, and each test starts from a fresh one (as OpenTelemetry's own tests
    reset it)."""
    trace._TRACER_PROVIDER_SET_ONCE = Once()
    trace._TRACER_PROVIDER = None
    if provider is not None:
        trace.set_tracer_provider(provider)


def recording_spans() -> Iterator[InMemorySpanExporter]:
    """An exporter recording every finished span, behind a fresh global provider while the
    generator runs."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    set_global_provider(provider)
    try:
        yield exporter
    finally:
        set_global_provider(None)
        provider.shutdown()
