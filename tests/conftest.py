"""Fixtures shared by the suite's test modules."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture(autouse=True)
def _fresh_agent_network(agent_network: object) -> None:
    """Every test builds its agents in a network of its own (the plugin's ``agent_network``
    fixture), so agents of one name in two tests never meet."""


@pytest.fixture
def load_example(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], ModuleType]:
    """``load_example("customer_service")`` imports ``examples/customer_service.py`` from its
    path, offline (no ``OPENAI_API_KEY``), as a module registered for the test's duration."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)

    def load(name: str) -> ModuleType:
        spec = importlib.util.spec_from_file_location(f"{name}_example", EXAMPLES / f"{name}.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses look their module up
        spec.loader.exec_module(module)
        return module

    return load


@pytest.fixture
def run_example() -> Callable[..., subprocess.CompletedProcess[str]]:
    """``run_example("customer_service", *args)`` runs ``examples/customer_service.py`` in a
    fresh interpreter with warnings as errors and no OpenAI settings (offline)."""

    def run(name: str, *args: str) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
        env["PYTHONIOENCODING"] = "utf-8"
        return subprocess.run(
            [sys.executable, "-W", "error", str(EXAMPLES / f"{name}.py"), *args],
            cwd=EXAMPLES.parent,
            env=env,
            capture_output=True,
            text=True,
            encoding="utf-8",
            timeout=120,
            check=False,
        )

    return run


@pytest.fixture
def exporter() -> Iterator[Any]:
    """The OpenTelemetry SDK's in-memory exporter, behind a global tracer provider set for
    the test (the tracing tests read their spans from it)."""
    from tests.tracing_support import recording_spans

    yield from recording_spans()
