"""Tools whose JSON schema is written elsewhere (an MCP server's), contributed to an agent at
start-up with ``BaseAgent.offer_tools``.

The model sees the source's own schema; webagents only checks that the arguments are a JSON
object and passes them on as they are: the source validates the rest and answers with an error
the model can read.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from pydantic import BaseModel

from webagents.agents.capabilities import ToolEntry
from webagents.agents.skills.decorators import SCOPES, Scope
from webagents.agents.skills.schema import FunctionSchema
from webagents.errors import AgentConfigError, ToolArgumentsError

__all__ = ["TOOL_NAME", "JsonSchemaTool", "external_tool"]

#: What providers accept as a tool name (OpenAI's function-name rule).
TOOL_NAME: Final = re.compile(r"[a-zA-Z0-9_-]{1,64}")


@dataclass(frozen=True, slots=True)
class JsonSchemaTool(FunctionSchema):
    """A tool schema taken as given: ``validate`` accepts any JSON object and returns it."""

    def validate(self, arguments: str | Mapping[str, Any] | None) -> dict[str, Any]:
        value: object = arguments
        if isinstance(arguments, str):
            if not arguments.strip():
                return {}
            try:
                value = json.loads(arguments)
            except ValueError as error:
                raise ToolArgumentsError(
                    f"invalid arguments for tool {self.name!r}: not valid JSON ({error})"
                ) from None
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise ToolArgumentsError(
                f"invalid arguments for tool {self.name!r}: arguments must be a JSON object"
            )
        return dict(value)


def external_tool(
    name: str,
    description: str,
    parameters: Mapping[str, Any],
    call: Callable[..., Any],
    *,
    where: str,
    scope: Scope = "all",
) -> ToolEntry:
    """A ``ToolEntry`` for ``BaseAgent.offer_tools``: ``call(**arguments)`` is awaited with
    the model's arguments (a JSON object, otherwise unchecked). It may raise ``ToolRetry``
    to send the model an error message. ``where`` names the source in errors and logs."""
    if not TOOL_NAME.fullmatch(name):
        raise AgentConfigError(
            f"{where}: tool name {name[:80]!r} must match ^[a-zA-Z0-9_-]{{1,64}}$ (what model "
            f"providers accept)"
        )
    if scope not in SCOPES:
        raise AgentConfigError(f"{where}: scope={scope!r} must be one of {SCOPES}")
    # Providers require an object schema at the top; MCP servers send one, possibly bare.
    schema = {**parameters, "type": "object"}
    schema.setdefault("properties", {})
    tool = JsonSchemaTool(
        name=name,
        description=description,
        parameters=schema,
        context_param=None,
        is_async=True,
        _model=BaseModel,
        _fields=(),
    )
    return ToolEntry(name, tool, call, scope, where, in_thread=False, show_errors=False)
