"""What ``webagents serve TARGET`` names, loaded: ``module:attribute``, a Python file
(``path/to/agents.py`` or ``path/to/agents.py:attribute``) or a team file (``team.yaml``, a
``Team`` from ``webagents.teams.load_team``).

The attribute may be an agent, a list or mapping of agents, an ``AgentNetwork``, or a
zero-argument callable returning one. A file without an attribute gives its top-level
``AgentNetwork`` named ``network`` when it has one, else every ``BaseAgent`` it defines at top
level.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from webagents.agents.agent import BaseAgent
from webagents.agents.network import AgentNetwork

__all__ = ["TargetError", "load_target"]

_FORMS = (
    "a module and attribute (myapp.agents:network), a Python file (agents.py) "
    "or a file and attribute (agents.py:desk)"
)


class TargetError(ValueError):
    """A TARGET that cannot be served; the message names it and the fix."""


def load_target(spec: str) -> object:
    """The object ``spec`` names (see the module docstring); ``TargetError`` otherwise."""
    spec = spec.strip()
    if not spec:
        raise TargetError(f"TARGET is empty; give {_FORMS}")
    where, _, attribute = spec.rpartition(":") if ":" in spec else (spec, "", "")
    if spec.lower().endswith((".yaml", ".yml")):
        return _load_team_file(spec)
    if where.endswith(".py") or "/" in where or "\\" in where:
        module = _load_file(spec, Path(where))
        if not attribute:
            return _file_default(spec, module)
    else:
        if not attribute:
            raise TargetError(
                f"TARGET {spec!r} names no attribute; write {spec}:<attribute> "
                f"(e.g. {spec}:network), or give a path to a .py file"
            )
        module = _import(spec, where)
    return _resolve(spec, module, attribute)


def _load_team_file(spec: str) -> object:
    """A team file: the ``Team`` (``create_app`` serves its network)."""
    from webagents.teams import load_team

    try:
        return load_team(spec)
    except ValueError as error:  # TeamFileError: file, line, agent, field and the fix
        raise TargetError(
            f"TARGET {spec!r} is a team file that cannot be loaded: {error}"
        ) from None


def _import(spec: str, name: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as error:
        missing = error.name
        if missing is not None and (name == missing or name.startswith(missing + ".")):
            raise TargetError(
                f"TARGET {spec!r}: no module named {missing!r}; check the name, run from "
                f"the directory that holds it, or give a path to the .py file"
            ) from None
        raise _failed(spec, "importing it", error) from error
    except Exception as error:
        raise _failed(spec, "importing it", error) from error


def _load_file(spec: str, path: Path) -> ModuleType:
    if not path.is_file():
        raise TargetError(f"TARGET {spec!r}: no file {str(path)!r}; check the path")
    path = path.resolve()
    name = f"webagents_serve_{path.stem}"
    loader_spec = importlib.util.spec_from_file_location(name, path)
    if loader_spec is None or loader_spec.loader is None:
        raise TargetError(f"TARGET {spec!r}: {str(path)!r} cannot be loaded as Python")
    module = importlib.util.module_from_spec(loader_spec)
    # Registered before it runs (dataclasses and pickling look modules up), with its folder
    # importable, as `python path/to/agents.py` would have it.
    sys.modules[name] = module
    if str(path.parent) not in sys.path:
        sys.path.insert(0, str(path.parent))
    try:
        loader_spec.loader.exec_module(module)
    except Exception as error:
        raise _failed(spec, "running the file", error) from error
    return module


def _resolve(spec: str, module: ModuleType, attribute: str) -> object:
    value: Any = module
    for part in attribute.split("."):
        if not hasattr(value, part):
            raise TargetError(
                f"TARGET {spec!r}: {module.__name__!r} has no attribute {attribute!r}; "
                f"name an agent, a list or mapping of agents, or an AgentNetwork"
            )
        value = getattr(value, part)
    if callable(value) and not isinstance(value, BaseAgent | AgentNetwork | type):
        try:
            value = value()
        except Exception as error:
            raise _failed(spec, f"calling {attribute}()", error) from error
    return value


def _failed(spec: str, doing: str, error: Exception) -> TargetError:
    """The target's own code raised: the message says where; the cause keeps the traceback
    (``webagents serve`` prints it)."""
    return TargetError(
        f"TARGET {spec!r}: {doing} raised {type(error).__name__}: {error} "
        f"(traceback above); fix the code it names"
    )


def _file_default(spec: str, module: ModuleType) -> object:
    network = getattr(module, "network", None)
    if isinstance(network, AgentNetwork):
        return network
    agents: list[BaseAgent] = []
    for value in vars(module).values():
        if isinstance(value, BaseAgent) and all(value is not seen for seen in agents):
            agents.append(value)
    if not agents:
        raise TargetError(
            f"TARGET {spec!r} defines no agents at top level and no AgentNetwork named "
            f"'network'; define them, or name one with {spec}:<attribute>"
        )
    return agents
