"""What an agent can do, collected once from its skills through pluggy into lookup tables.

The run loop never walks skills: it reads these tables (tools by name, hooks by event,
conditions and prompts already sorted by (priority, declaration order)).
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import pluggy

from webagents.agents.skills.base import Skill, SkillMember, tool_schema
from webagents.agents.skills.decorators import (
    SCOPES,
    HandoffOptions,
    HookOptions,
    PromptOptions,
    Scope,
    ToolOptions,
    member_options,
)
from webagents.errors import AgentConfigError, DefinitionError
from webagents.plugins.hookspecs import PROJECT, AgentSpecs, hookimpl

if TYPE_CHECKING:
    from webagents.agents.skills.schema import FunctionSchema

__all__ = [
    "AgentMember",
    "Capabilities",
    "ConditionEntry",
    "HookEntry",
    "PromptEntry",
    "ToolEntry",
    "scope_allows",
]

_SCOPE_LEVEL: Final = {scope: level for level, scope in enumerate(SCOPES)}


def scope_allows(caller: str, required: str) -> bool:
    """``admin`` may use everything, ``owner`` owner and all tools, ``all`` only ``all`` tools."""
    return _SCOPE_LEVEL.get(caller, 0) >= _SCOPE_LEVEL[required]


@dataclass(frozen=True, slots=True)
class AgentMember:
    """One decorated callable bound to its owner, as a skill adapter hands it to the agent."""

    call: Callable[..., Any]
    options: ToolOptions | HookOptions | HandoffOptions | PromptOptions
    where: str  # "Skill.method", for error messages
    scope: Scope
    schema: FunctionSchema | None = None


@dataclass(frozen=True, slots=True)
class ToolEntry:
    name: str
    schema: FunctionSchema
    call: Callable[..., Any]
    scope: Scope
    where: str
    in_thread: bool  # a sync tool that may block: run it in a worker thread
    show_errors: bool
    source: str | None = None  # who contributed it at start-up (BaseAgent.offer_tools)


@dataclass(frozen=True, slots=True)
class HookEntry:
    call: Callable[..., Any]
    event: str
    where: str


@dataclass(frozen=True, slots=True)
class ConditionEntry:
    call: Callable[..., Any]
    target: str | None
    metadata: Mapping[str, Any]
    takes_context: bool
    where: str
    reason: str


@dataclass(frozen=True, slots=True)
class PromptEntry:
    call: Callable[..., Any]
    takes_context: bool
    where: str


class _SkillPlugin:
    """What pluggy registers for a skill: only this adapter's attributes are inspected, so
    registering never evaluates the skill's own properties."""

    def __init__(self, skill: Skill) -> None:
        self._skill = skill

    @hookimpl
    def webagents_agent_members(self) -> list[AgentMember]:
        skill = self._skill
        owner = type(skill).__name__
        return [_bind(skill, owner, member) for member in type(skill).__webagents_members__]


class _FunctionsPlugin:
    """What pluggy registers for the plain functions given as ``BaseAgent(tools=[...])``."""

    def __init__(self, functions: Iterable[Callable[..., Any]]) -> None:
        self._functions = list(functions)

    @hookimpl
    def webagents_agent_members(self) -> list[AgentMember]:
        members = []
        for func in self._functions:
            if not callable(func):
                raise AgentConfigError(f"tools=[...] takes functions, got {func!r}")
            options = member_options(func)
            if options is None:
                options = ToolOptions()
            elif not isinstance(options, ToolOptions):
                raise AgentConfigError(
                    f"{getattr(func, '__qualname__', func)!r} in tools=[...] is not a tool; "
                    f"hooks, handoffs and prompts belong in a Skill"
                )
            schema = tool_schema(func, options, skip_first=False)
            where = getattr(func, "__qualname__", schema.name)
            members.append(AgentMember(func, options, where, options.scope or "all", schema))
        return members


def _bind(skill: Skill, owner: str, member: SkillMember) -> AgentMember:
    call = member.func.__get__(skill, type(skill))
    where = f"{owner}.{member.attr}"
    options = member.options
    schema = member.schema
    if isinstance(options, ToolOptions) and schema is None:
        try:
            schema = tool_schema(member.func, options, skip_first=True)
        except NameError as error:
            raise DefinitionError(
                f"tool {where} has a type hint that cannot be resolved: {error}"
            ) from error
    scope = options.scope if isinstance(options, ToolOptions) and options.scope else skill.scope
    return AgentMember(call, options, where, scope, schema)


def _is_async(func: Callable[..., Any]) -> bool:
    return inspect.iscoroutinefunction(func) or inspect.iscoroutinefunction(
        getattr(func, "__call__", None)  # noqa: B004 - an async callable object
    )


def _first_line(text: str | None) -> str:
    return (text or "").strip().split("\n", 1)[0].strip()


@dataclass(frozen=True, slots=True)
class Capabilities:
    tools: Mapping[str, ToolEntry]
    hooks: Mapping[str, tuple[HookEntry, ...]]
    conditions: tuple[ConditionEntry, ...]
    prompts: tuple[PromptEntry, ...]
    tool_schemas: Mapping[str, list[dict[str, Any]]]  # caller scope -> OpenAI tools (shared)

    @classmethod
    def collect(
        cls, agent_name: str, skills: Mapping[str, Skill], functions: Iterable[Callable[..., Any]]
    ) -> Capabilities:
        manager = pluggy.PluginManager(PROJECT)
        manager.add_hookspecs(AgentSpecs)
        for key, skill in skills.items():
            manager.register(_SkillPlugin(skill), name=f"skill:{key}")
        manager.register(_FunctionsPlugin(functions), name="functions")
        # pluggy calls implementations last-registered first; restore declaration order.
        batches: list[list[AgentMember]] = manager.hook.webagents_agent_members()
        members = [member for batch in reversed(batches) for member in batch]
        return cls._tables(agent_name, members)

    @classmethod
    def _tables(cls, agent_name: str, members: list[AgentMember]) -> Capabilities:
        tools: dict[str, ToolEntry] = {}
        hooks: dict[str, list[tuple[int, int, HookEntry]]] = {}
        conditions: list[tuple[int, int, ConditionEntry]] = []
        prompts: list[tuple[int, int, PromptEntry]] = []
        for order, member in enumerate(members):
            options = member.options
            if isinstance(options, ToolOptions):
                assert member.schema is not None
                name = member.schema.name
                if name in tools:
                    raise AgentConfigError(
                        f"agent {agent_name!r} has two tools named {name!r} "
                        f"({tools[name].where} and {member.where}); rename one with "
                        f"@tool(name=...)"
                    )
                tools[name] = ToolEntry(
                    name,
                    member.schema,
                    member.call,
                    member.scope,
                    member.where,
                    in_thread=options.in_thread and not _is_async(member.call),
                    show_errors=options.show_errors,
                )
            elif isinstance(options, HookOptions):
                entry = HookEntry(member.call, options.event, member.where)
                hooks.setdefault(options.event, []).append((options.priority, order, entry))
            elif isinstance(options, HandoffOptions):
                doc = _first_line(inspect.getdoc(member.call))
                reason = doc or f"condition {member.where}"
                condition = ConditionEntry(
                    member.call,
                    options.target,
                    options.metadata,
                    options.takes_context,
                    member.where,
                    reason,
                )
                conditions.append((options.priority, order, condition))
            elif isinstance(options, PromptOptions):
                entry_p = PromptEntry(member.call, options.takes_context, member.where)
                prompts.append((options.priority, order, entry_p))
        return cls(
            tools=tools,
            hooks={
                event: tuple(e for _, _, e in sorted(entries, key=lambda t: t[:2]))
                for event, entries in hooks.items()
            },
            conditions=tuple(c for _, _, c in sorted(conditions, key=lambda t: t[:2])),
            prompts=tuple(p for _, _, p in sorted(prompts, key=lambda t: t[:2])),
            tool_schemas=_schemas(tools),
        )

    def with_tools(
        self, agent_name: str, source: str, entries: Iterable[ToolEntry], *, fix: str = ""
    ) -> Capabilities:
        """New tables in which ``source`` offers exactly ``entries`` (replacing what it
        offered before); these tables are never modified, since running runs read them. A
        name another source already offers is an ``AgentConfigError`` naming both, and
        ``fix`` (how the contributor renames its tools) ends the message."""
        tools = {name: e for name, e in self.tools.items() if e.source != source}
        for entry in entries:
            other = tools.get(entry.name)
            if other is not None:
                raise AgentConfigError(
                    f"agent {agent_name!r} has two tools named {entry.name!r} ({other.where} "
                    f"and {entry.where}); {fix or 'rename one'}"
                )
            tools[entry.name] = dataclasses.replace(entry, source=source)
        return dataclasses.replace(self, tools=tools, tool_schemas=_schemas(tools))


def _schemas(tools: Mapping[str, ToolEntry]) -> dict[str, list[dict[str, Any]]]:
    """Caller scope -> the OpenAI tool entries that scope is offered."""
    return {
        scope: [
            entry.schema.openai_tool()
            for entry in tools.values()
            if scope_allows(scope, entry.scope)
        ]
        for scope in SCOPES
    }
