"""Tool schemas from Python callables, and validation of the model's arguments.

A tool is an ordinary function: its type hints become the JSON schema the model sees (OpenAI
function-calling format) and its Google-style docstring supplies the descriptions. The same
pydantic model that produced the schema validates the model's arguments before the call, so the
function receives real Python values (Enum members, model instances) and the model receives a
short, fixable error message when its arguments do not fit.
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model
from pydantic_core import ErrorDetails

from webagents.agents.skills.decorators import check_context_parameter
from webagents.context import Context
from webagents.errors import DefinitionError, ToolArgumentsError

__all__ = ["FunctionSchema", "ToolArgumentsError", "function_schema"]

_REJECTED_KINDS = {
    inspect.Parameter.POSITIONAL_ONLY: "positional-only parameter",
    inspect.Parameter.VAR_POSITIONAL: "*args parameter",
    inspect.Parameter.VAR_KEYWORD: "**kwargs parameter",
}


@dataclass(frozen=True, slots=True)
class FunctionSchema:
    """What the model is told about one tool, and how its arguments are checked."""

    name: str
    description: str
    parameters: dict[str, Any]
    context_param: str | None
    is_async: bool
    # The pydantic model built from the signature, and (parameter, model field) name pairs:
    # fields are aliased because parameter names such as ``json`` or ``_x`` are invalid or
    # shadow BaseModel attributes as pydantic field names.
    _model: type[BaseModel] = field(repr=False, compare=False)
    _fields: tuple[tuple[str, str], ...] = field(repr=False, compare=False)

    def validate(self, arguments: str | Mapping[str, Any] | None) -> dict[str, Any]:
        """Turn the model's arguments (JSON text or a mapping) into keyword arguments.

        Values are converted to the annotated types and defaults are filled in. Nested models
        stay model instances (the result is shallow). ``""`` and ``None`` mean no arguments.
        """
        try:
            if isinstance(arguments, str) and arguments.strip():
                instance = self._model.model_validate_json(arguments)
            else:
                instance = self._model.model_validate(arguments or {})
        except ValidationError as exc:
            problems = "; ".join(_describe(error) for error in exc.errors(include_url=False))
            raise ToolArgumentsError(
                f"invalid arguments for tool {self.name!r}: {problems}"
            ) from exc
        return {param: getattr(instance, name) for param, name in self._fields}

    def openai_tool(self) -> dict[str, Any]:
        """The tool entry of an OpenAI chat-completions request."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters,
            },
        }


def _describe(error: ErrorDetails) -> str:
    """One validation error as ``path: message``, worded for the model to fix its call."""
    if error["type"] == "json_invalid":
        return f"not valid JSON ({error.get('ctx', {}).get('error', error['msg'])})"
    if not error["loc"]:
        return "arguments must be a JSON object"
    path = ".".join(str(part) for part in error["loc"])
    if error["type"] == "extra_forbidden":
        return f"{path}: unexpected argument"
    return f"{path}: {error['msg']}"


def _is_context(hint: Any) -> bool:
    """Whether ``hint`` is ``Context`` (or a subclass), possibly as ``Context | None`` or
    ``Annotated[Context, ...]``."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_is_context(arg) for arg in typing.get_args(hint))
    if origin is typing.Annotated:
        return _is_context(typing.get_args(hint)[0])
    return isinstance(hint, type) and issubclass(hint, Context)


def function_schema(
    func: Callable[..., Any],
    *,
    name: str | None = None,
    description: str | None = None,
    skip_first: bool = False,
) -> FunctionSchema:
    """Build the schema and argument validator of ``func``; done once, when a tool is collected.

    ``skip_first`` drops ``self`` from functions taken from a class body (bound methods have
    already lost it). A parameter annotated ``Context`` (any name) is filled by the runner, not
    the model, so it is left out of the schema and reported as ``context_param``; the name
    alone decides nothing: ``context: str`` is the model's argument, and an unannotated
    ``context`` is a ``DefinitionError`` showing the fix. Raises ``NameError`` while a string
    annotation cannot be resolved yet, so callers can retry once the module is fully defined.
    """
    import docstring_parser  # Deferred: only needed when tools are collected.

    qualname = getattr(func, "__qualname__", repr(func))
    check_context_parameter(func)
    try:
        hints = typing.get_type_hints(func, include_extras=True)
    except NameError as exc:
        raise NameError(
            f"cannot resolve the type hints of tool {qualname}: {exc}; define the name before "
            f"the tool is collected",
            name=exc.name,
        ) from exc
    doc = docstring_parser.parse(inspect.getdoc(func) or "", docstring_parser.DocstringStyle.GOOGLE)
    param_docs = {param.arg_name: param.description for param in doc.params if param.description}

    params = list(inspect.signature(func).parameters.values())
    context_param: str | None = None
    definitions: dict[str, Any] = {}
    fields: list[tuple[str, str]] = []
    for param in params[1:] if skip_first else params:
        if param.kind in _REJECTED_KINDS:
            raise DefinitionError(
                f"tool {qualname} has a {_REJECTED_KINDS[param.kind]} {param.name!r}; the model "
                f"passes arguments by name, so declare each one as a named parameter "
                f"(e.g. `query: str, limit: int = 10`)"
            )
        hint = hints.get(param.name, Any)
        if _is_context(hint):
            if context_param is not None:
                raise DefinitionError(
                    f"tool {qualname} has two context parameters, {context_param!r} and "
                    f"{param.name!r}; keep one"
                )
            context_param = param.name
            continue
        field_name = f"arg{len(fields)}"
        default = ... if param.default is inspect.Parameter.empty else param.default
        # Pass ``description`` only when documented: an explicit None would erase one given
        # with ``Annotated[int, Field(description=...)]``.
        extra: dict[str, Any] = (
            {"description": param_docs[param.name]} if param.name in param_docs else {}
        )
        definitions[field_name] = (hint, Field(default, alias=param.name, **extra))
        fields.append((param.name, field_name))

    tool_name = name or str(getattr(func, "__name__", type(func).__name__))
    model = create_model(
        f"{tool_name}_arguments", __config__=ConfigDict(extra="forbid"), **definitions
    )
    parameters = model.model_json_schema()
    parameters.pop("title", None)
    parameters.setdefault("required", [])
    for prop in parameters["properties"].values():
        prop.pop("title", None)

    if description is None:
        parts = (doc.short_description, doc.long_description)
        description = "\n\n".join(part for part in parts if part)
    return FunctionSchema(
        name=tool_name,
        description=description,
        parameters=parameters,
        context_param=context_param,
        is_async=inspect.iscoroutinefunction(func),
        _model=model,
        _fields=tuple(fields),
    )
