"""``Skill``: a plain class whose decorated methods give an agent tools, hooks and handoffs."""

from __future__ import annotations

import difflib
import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from webagents.agents.skills.decorators import (
    SCOPES,
    MemberOptions,
    Scope,
    ToolOptions,
    member_options,
)
from webagents.context import Context, current_context
from webagents.errors import AgentConfigError, DefinitionError

if TYPE_CHECKING:
    from webagents.agents.agent import BaseAgent
    from webagents.agents.skills.schema import FunctionSchema

__all__ = ["Skill", "SkillMember"]


@dataclass(frozen=True, slots=True)
class SkillMember:
    """A decorated method found in a skill class body, with its tool schema when it is a tool."""

    attr: str
    func: Callable[..., Any]
    options: MemberOptions
    schema: FunctionSchema | None = None  # None for non-tools, or a tool with unresolved hints


def tool_schema(
    func: Callable[..., Any], options: ToolOptions, *, skip_first: bool
) -> FunctionSchema:
    # Deferred: pydantic loads with the first tool, not with ``import webagents``.
    from webagents.agents.skills.schema import function_schema

    return function_schema(
        func, name=options.name, description=options.description, skip_first=skip_first
    )


def _collect(cls: type) -> tuple[SkillMember, ...]:
    members: dict[str, SkillMember] = {}
    for klass in reversed(cls.__mro__):
        for attr, value in vars(klass).items():
            options = member_options(value)
            if options is None:
                members.pop(attr, None)  # an undecorated override removes the member
                continue
            schema = None
            if isinstance(options, ToolOptions):
                try:
                    schema = tool_schema(value, options, skip_first=True)
                except NameError:
                    schema = None  # a forward reference; resolved when an agent is built
            members[attr] = SkillMember(attr, value, options, schema)
    tool_names: dict[str, str] = {}
    for member in members.values():
        if member.schema is not None:
            other = tool_names.setdefault(member.schema.name, member.attr)
            if other != member.attr:
                raise DefinitionError(
                    f"{cls.__qualname__} defines tool {member.schema.name!r} twice "
                    f"({other} and {member.attr}); give one of them @tool(name=...)"
                )
    return tuple(members.values())


def validate_config(skill: type, model: type[Any], config: dict[str, Any]) -> Any:
    """``config`` validated by the skill's ``config_model``; errors name skill and field.

    ``RouterSkill config is invalid: rules[1].keyword: unknown key; did you mean 'keywords'?``
    """
    from pydantic import ValidationError

    try:
        return model.model_validate(config)
    except ValidationError as error:
        problems = "; ".join(
            _config_problem(model, issue) for issue in error.errors(include_url=False)
        )
        raise AgentConfigError(f"{skill.__name__} config is invalid: {problems}") from None


def _config_problem(model: type[Any], issue: Any) -> str:
    """One validation error as ``path: message``, with the valid keys for an unknown one."""
    loc = tuple(issue["loc"])
    path = "".join(_path_part(part) for part in loc).lstrip(".") or "(config)"
    message = str(issue["msg"])
    if issue["type"] == "missing":
        message = "required, but missing"
    if issue["type"] == "extra_forbidden" and loc:
        keys = _keys_at(model, loc[:-1])
        close = difflib.get_close_matches(str(loc[-1]), keys, n=1)
        message = "unknown key" + (f"; did you mean {close[0]!r}?" if close else "")
        if keys:
            message += f" Keys: {', '.join(keys)}"
    return f"{path}: {message}"


def _path_part(part: object) -> str:
    """``rules[1].keyword``, ``experts['tax law']``; pydantic marks a bad dict key ``[key]``."""
    if isinstance(part, int):
        return f"[{part}]"
    if part == "[key]":
        return " (the key)"
    text = str(part)
    return f".{text}" if text.isidentifier() else f"[{text!r}]"


def _keys_at(model: Any, path: tuple[Any, ...]) -> list[str]:
    """The field names of the pydantic model reached by ``path`` from ``model`` (list
    indexes skipped), or [] when the path leads elsewhere."""
    current: Any = model
    for part in path:
        if isinstance(part, int):
            continue
        fields = getattr(current, "model_fields", None)
        if not isinstance(fields, dict) or part not in fields:
            return []
        current = _model_in(fields[part].annotation)
    fields = getattr(current, "model_fields", None)
    return list(fields) if isinstance(fields, dict) else []


def _model_in(annotation: Any) -> type[Any] | None:
    """The pydantic model in ``annotation`` (``Rule``, ``list[Rule]``, ``Rule | None``)."""
    if isinstance(annotation, type) and hasattr(annotation, "model_fields"):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


#: What ``Skill.__init__`` sets; a subclass whose ``__init__`` skips it lacks them.
_INITIALISED = frozenset({"config", "settings", "scope", "dependencies", "agent", "skill_key"})

#: The lifecycle methods the agent awaits, with the arguments it passes (after ``self``).
_LIFECYCLE = {"initialize": ("agent",), "cleanup": ()}


def _check_lifecycle_methods(cls: type) -> None:
    """``initialize`` and ``cleanup`` are awaited: a plain ``def`` (or a wrong signature) is a
    mistake that would otherwise surface in the middle of a run."""
    for attr, args in _LIFECYCLE.items():
        method = vars(cls).get(attr)
        if method is None or not inspect.isfunction(method):
            continue
        shown = f"async def {attr}(self{''.join(', ' + a for a in args)})"
        if not inspect.iscoroutinefunction(method):
            raise DefinitionError(
                f"{cls.__qualname__}.{attr} must be a coroutine: write `{shown}`; the agent "
                f"awaits it once"
            )
        try:
            inspect.signature(method).bind(None, *args)
        except TypeError:
            raise DefinitionError(
                f"{cls.__qualname__}.{attr}{inspect.signature(method)} must take the arguments "
                f"the agent passes: `{shown}`"
            ) from None


class Skill:
    """Base class of skills. Subclass it and decorate methods with @tool, @hook, @handoff, @prompt.

    ``config`` is kept as ``self.config``; ``scope`` is the default scope of this skill's tools;
    ``dependencies`` names other skills (their keys in the agent's ``skills`` mapping) that
    must be present in the same agent.
    """

    __webagents_members__: ClassVar[tuple[SkillMember, ...]] = ()
    #: A pydantic model of this skill's config. When set, ``config`` is validated against it
    #: at construction (errors name the skill and the field) and the validated model is
    #: ``self.settings``; ``self.config`` stays the plain dict the caller gave.
    config_model: ClassVar[type[Any] | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _check_lifecycle_methods(cls)
        cls.__webagents_members__ = _collect(cls)

    def __init__(
        self,
        config: dict[str, Any] | None = None,
        *,
        scope: Scope = "all",
        dependencies: list[str] | None = None,
    ) -> None:
        if scope not in SCOPES:
            raise AgentConfigError(
                f"{type(self).__name__}(scope={scope!r}): scope must be one of {SCOPES}"
            )
        self.config: dict[str, Any] = dict(config or {})
        model = type(self).config_model
        self.settings: Any = validate_config(type(self), model, self.config) if model else None
        self.scope: Scope = scope
        self.dependencies: list[str] = list(dependencies or [])
        self.agent: BaseAgent | None = None
        self.skill_key: str | None = None

    def get_context(self) -> Context:
        """The Context of the run this call belongs to."""
        context = current_context.get()
        if context is None:
            raise RuntimeError(
                f"{type(self).__name__}.get_context() was called outside a run; call it from a "
                f"tool, hook, condition or prompt while the agent is running"
            )
        return context

    async def initialize(self, agent: BaseAgent) -> None:
        """Called once per agent, before its first run. Override to open resources."""

    async def cleanup(self) -> None:
        """Called once when the agent is closed. Override to release resources."""

    def _attach(self, agent: BaseAgent, key: str) -> None:
        if not _INITIALISED.issubset(vars(self)):
            name = type(self).__name__
            raise AgentConfigError(
                f"skill {name} (skills[{key!r}] of agent {agent.name!r}) was not initialised: "
                f"{name}.__init__ must call super().__init__(config) (passing scope= and "
                f"dependencies= if it takes them) before it uses self.config"
            )
        if self.agent is not None and self.agent is not agent:
            raise AgentConfigError(
                f"skill {type(self).__name__} is already attached to agent "
                f"{self.agent.name!r}; give agent {agent.name!r} its own instance"
            )
        self.agent = agent
        self.skill_key = key

    def __repr__(self) -> str:
        return f"{type(self).__name__}(key={self.skill_key!r})"
