"""Fixtures shared by the suite's test modules."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


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
