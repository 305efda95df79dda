"""The process-wide plugin registry: packages exposing entry points in the ``webagents`` group.

Plugins load lazily, once per registry, when something first asks for a registered name.
``WEBAGENTS_LOAD_PLUGINS`` is read then: unset loads all, ``""`` none, ``"a,b"`` only those
distributions (or entry point names). ``WEBAGENTS_TRACE_PLUGINS=1`` prints hook calls.
A plugin that fails is kept in ``errors`` as ``PluginLoadError``; the others still load.
"""

from __future__ import annotations

import difflib
import importlib.metadata
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pluggy

from webagents.errors import AgentConfigError, PluginLoadError
from webagents.plugins.hookspecs import PROJECT, PluginSpecs

__all__ = [
    "ENTRY_POINT_GROUP",
    "PluginInfo",
    "PluginRegistry",
    "get_skill",
    "get_tool",
    "normalise_name",
    "plugin_registry",
    "reset_plugin_registry",
]

ENTRY_POINT_GROUP = "webagents"
_HOOKS = ("register_skills", "register_models", "register_tools")


def normalise_name(name: str) -> str:
    """Distribution names compare like pip compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(slots=True)
class PluginInfo:
    """What one plugin provides, for ``webagents plugins``."""

    name: str
    distribution: str
    version: str
    skills: list[str] = field(default_factory=list)
    models: list[str] = field(default_factory=list)
    tools: list[str] = field(default_factory=list)
    hooks: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "distribution": self.distribution,
            "version": self.version,
            "skills": self.skills,
            "models": self.models,
            "tools": self.tools,
            "hooks": self.hooks,
        }


@dataclass(frozen=True, slots=True)
class _Entry:
    value: Any
    plugin: str
    distribution: str


class PluginRegistry:
    """Skills, model providers and tools registered by plugins, by name."""

    def __init__(self, *, entry_points: bool = True) -> None:
        self._manager = pluggy.PluginManager(PROJECT)
        self._manager.add_hookspecs(PluginSpecs)
        self._load_entry_points = entry_points
        self._loaded = False
        self.skills: dict[str, _Entry] = {}
        self.models: dict[str, _Entry] = {}
        self.tools: dict[str, _Entry] = {}
        self.plugins: dict[str, PluginInfo] = {}
        self.errors: list[PluginLoadError] = []

    # loading -------------------------------------------------------------------------------

    def load(self) -> None:
        """Load the installed plugins once; later calls do nothing."""
        if self._loaded:
            return
        self._loaded = True
        if os.environ.get("WEBAGENTS_TRACE_PLUGINS") == "1":
            self._manager.trace.root.setwriter(lambda text: print(text, end="", file=sys.stderr))
            self._manager.enable_tracing()
        if not self._load_entry_points:
            return
        wanted = _wanted_plugins()
        for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            dist = entry_point.dist
            dist_name = dist.metadata["Name"] if dist is not None else "<unknown>"
            version = dist.version if dist is not None else "?"
            if (
                wanted is not None
                and not {
                    normalise_name(dist_name),
                    normalise_name(entry_point.name),
                }
                & wanted
            ):
                continue
            try:
                plugin = entry_point.load()
                self.register(
                    plugin, name=entry_point.name, distribution=dist_name, version=version
                )
            except Exception as error:
                load_error = PluginLoadError(entry_point.value, dist_name, version, error)
                load_error.__cause__ = error
                self.errors.append(load_error)

    def register(
        self,
        plugin: object,
        *,
        name: str | None = None,
        distribution: str | None = None,
        version: str = "0",
    ) -> PluginInfo:
        """Register a plugin object (a module or instance with ``@hookimpl`` functions) and run
        its hooks. Nothing is kept if it fails: misspelled hooks, duplicate names."""
        plugin_name = name or getattr(plugin, "__name__", None) or type(plugin).__name__
        if plugin_name in self.plugins:
            raise ValueError(f"a plugin named {plugin_name!r} is already registered")
        try:
            hash(plugin)  # pluggy keeps plugins in sets
        except TypeError:
            raise TypeError(
                f"plugin {plugin_name!r} is a {type(plugin).__name__}, which is unhashable; "
                f"register a module, a class or an instance of an ordinary class"
            ) from None
        self._manager.register(plugin, name=plugin_name)
        try:
            _check_hook_names(self._manager, plugin, plugin_name)
            info = PluginInfo(plugin_name, distribution or plugin_name, version)
            staged = self._call_hooks(plugin, info)
        except BaseException:
            self._manager.unregister(plugin)
            raise
        for table, key, entry in staged:
            table[key] = entry
        self.plugins[plugin_name] = info
        return info

    def _call_hooks(
        self, plugin: object, info: PluginInfo
    ) -> list[tuple[dict[str, _Entry], str, _Entry]]:
        staged: list[tuple[dict[str, _Entry], str, _Entry]] = []
        others = [p for p in self._manager.get_plugins() if p is not plugin]

        def stage(table: dict[str, _Entry], kind: str, key: str, value: Any) -> None:
            taken = table.get(key) or next(
                (e for t, k, e in staged if t is table and k == key), None
            )
            if taken is not None:
                raise ValueError(
                    f"{kind} name {key!r} is registered by both plugin {taken.plugin!r} "
                    f"({taken.distribution}) and plugin {info.name!r} ({info.distribution}); "
                    f"names reach prompts, so one of them must choose another"
                )
            staged.append((table, key, _Entry(value, info.name, info.distribution)))

        def register_skill(skill_class: type, name: str | None = None) -> None:
            from webagents.agents.skills.base import Skill

            if not (isinstance(skill_class, type) and issubclass(skill_class, Skill)):
                raise TypeError(f"register_skills: {skill_class!r} is not a Skill subclass")
            key = name or _kebab(skill_class.__name__)
            stage(self.skills, "skill", key, skill_class)
            info.skills.append(key)

        def register_model(factory: Callable[[str], Any], prefix: str) -> None:
            stage(self.models, "model provider", prefix, factory)
            info.models.append(prefix)

        def register_tool(func: Callable[..., Any], name: str | None = None) -> None:
            key = name or func.__name__
            stage(self.tools, "tool", key, func)
            info.tools.append(key)

        callbacks = {
            "register_skills": register_skill,
            "register_models": register_model,
            "register_tools": register_tool,
        }
        for hook_name in _HOOKS:
            if self._manager.parse_hookimpl_opts(plugin, hook_name) is None:
                continue
            info.hooks.append(hook_name)
            caller = self._manager.subset_hook_caller(hook_name, remove_plugins=others)
            caller(register=callbacks[hook_name])
        return staged

    # lookup --------------------------------------------------------------------------------

    def get_skill(self, name: str) -> type:
        self.load()
        entry = self.skills.get(name)
        if entry is None:
            raise AgentConfigError(_unknown("skill", name, self.skills, self.errors))
        skill_class: type = entry.value
        return skill_class

    def get_tool(self, name: str) -> Callable[..., Any]:
        self.load()
        entry = self.tools.get(name)
        if entry is None:
            raise AgentConfigError(_unknown("tool", name, self.tools, self.errors))
        func: Callable[..., Any] = entry.value
        return func

    def get_model_factory(self, prefix: str) -> Callable[[str], Any] | None:
        self.load()
        entry = self.models.get(prefix)
        return None if entry is None else entry.value


def _wanted_plugins() -> set[str] | None:
    value = os.environ.get("WEBAGENTS_LOAD_PLUGINS")
    if value is None:
        return None
    return {normalise_name(part.strip()) for part in value.split(",") if part.strip()}


def _check_hook_names(manager: pluggy.PluginManager, plugin: object, plugin_name: str) -> None:
    for attr in dir(plugin):
        if attr.startswith("_") or manager.parse_hookimpl_opts(plugin, attr) is None:
            continue
        if attr not in _HOOKS:
            close = difflib.get_close_matches(attr, _HOOKS, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ValueError(
                f"plugin {plugin_name!r} implements unknown hook {attr!r}{hint} "
                f"Hooks: {', '.join(_HOOKS)}"
            )


def _kebab(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower().removesuffix("-skill")


def _unknown(kind: str, name: str, table: dict[str, _Entry], errors: list[PluginLoadError]) -> str:
    known = ", ".join(sorted(table)) or "none"
    message = f"unknown {kind} {name!r}; registered {kind}s: {known}"
    if errors:
        message += f". Plugins that failed to load: {'; '.join(str(e) for e in errors)}"
    return message


_REGISTRY: PluginRegistry | None = None


def plugin_registry() -> PluginRegistry:
    """The process-wide registry (plugins load on first lookup)."""
    global _REGISTRY
    if _REGISTRY is None:
        _REGISTRY = PluginRegistry()
    return _REGISTRY


def reset_plugin_registry(registry: PluginRegistry | None = None) -> PluginRegistry | None:
    """Swap the process-wide registry (tests isolate plugins this way); returns the old one."""
    global _REGISTRY
    previous, _REGISTRY = _REGISTRY, registry
    return previous


def get_skill(name: str) -> type:
    """The skill class registered under ``name``."""
    return plugin_registry().get_skill(name)


def get_tool(name: str) -> Callable[..., Any]:
    """The tool function registered under ``name``."""
    return plugin_registry().get_tool(name)
