"""The process-wide plugin registry: packages exposing entry points in the ``webagents`` group.

Plugins load lazily, once per registry, when something first asks for a registered name.
``WEBAGENTS_LOAD_PLUGINS`` is read then: unset loads all, ``""`` none, ``"a,b"`` only those
distributions (or entry point names). ``WEBAGENTS_TRACE_PLUGINS=1`` prints hook calls.
The built-in plugin (``webagents.plugins.builtin``: the stock skills ``nli``, ``discovery`` and
``payment``) is registered first in every registry, whatever the variable says.
A plugin that fails (an import raising anything but ``KeyboardInterrupt``, ``SystemExit``
included; a hook raising; broken distribution metadata) is kept in ``errors`` as
``PluginLoadError``; the others still load.
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
    "BUILTIN_PLUGIN",
    "DISTRIBUTION",
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
#: This project's distribution name on PyPI; the import package is ``webagents`` (the PyPI
#: name ``webagents`` belongs to an unrelated project).
DISTRIBUTION = "webagents-net"
#: The name the built-in plugin is registered under.
BUILTIN_PLUGIN = "webagents"
_HOOKS = ("register_skills", "register_models", "register_tools")


def normalise_name(name: str) -> str:
    """Distribution names compare like pip compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(slots=True)
class PluginInfo:
    """What one plugin provides, for ``webagents plugins``. ``builtin``: shipped with webagents."""

    name: str
    distribution: str
    version: str
    skills: list[str] = field(default_factory=list)
    models: list[str] = field(default_factory=list)
    tools: list[str] = field(default_factory=list)
    hooks: list[str] = field(default_factory=list)
    builtin: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "distribution": self.distribution,
            "version": self.version,
            "builtin": self.builtin,
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
    """Skills, model providers and tools registered by plugins, by name.

    ``plugins`` holds the plugins registered from installed distributions or by ``register``;
    ``builtins`` the built-in plugin. ``entry_points=False`` skips installed distributions
    (the pytest fixture ``webagents_plugins`` makes such a registry); the built-in plugin is
    registered either way.
    """

    def __init__(self, *, entry_points: bool = True) -> None:
        self._manager = pluggy.PluginManager(PROJECT)
        self._manager.add_hookspecs(PluginSpecs)
        self._load_entry_points = entry_points
        self._loaded = False
        self._builtins_registered = False
        self.skills: dict[str, _Entry] = {}
        self.models: dict[str, _Entry] = {}
        self.tools: dict[str, _Entry] = {}
        self.plugins: dict[str, PluginInfo] = {}
        self.builtins: dict[str, PluginInfo] = {}
        self.errors: list[PluginLoadError] = []

    # loading -------------------------------------------------------------------------------

    def load(self) -> None:
        """Load the built-in and installed plugins once; later calls do nothing."""
        if self._loaded:
            return
        self._loaded = True
        if os.environ.get("WEBAGENTS_TRACE_PLUGINS") == "1":
            self._manager.trace.root.setwriter(lambda text: print(text, end="", file=sys.stderr))
            self._manager.enable_tracing()
        self._register_builtins()
        if self._load_entry_points:
            self._load_installed(_wanted_plugins())

    def _register_builtins(self) -> None:
        """Register the built-in plugin, before any other (so it keeps its names)."""
        if self._builtins_registered:
            return
        self._builtins_registered = True
        from webagents import __version__
        from webagents.plugins import builtin

        try:
            info = self._register(builtin, BUILTIN_PLUGIN, DISTRIBUTION, __version__, builtin=True)
        except Exception as error:
            self._failed(builtin.__name__, DISTRIBUTION, __version__, error)
        else:
            self.builtins[info.name] = info

    def _load_installed(self, wanted: set[str] | None) -> None:
        seen: set[str] = set()
        for dist in importlib.metadata.distributions():
            try:
                entry_points = [ep for ep in dist.entry_points if ep.group == ENTRY_POINT_GROUP]
            except Exception as error:  # a malformed entry_points.txt
                if _declares_group(dist):
                    version = _metadata_field(dist, "Version") or "?"
                    self._failed("entry_points.txt", _describe(dist), version, error)
                continue
            if not entry_points:
                continue
            dist_name = _metadata_field(dist, "Name")
            version = _metadata_field(dist, "Version") or "?"
            if dist_name is not None:
                if normalise_name(dist_name) in seen:
                    continue  # installed twice on sys.path: the first one wins, as for imports
                seen.add(normalise_name(dist_name))
            for entry_point in entry_points:
                names = {normalise_name(entry_point.name), normalise_name(dist_name or "")}
                if wanted is not None and not names & wanted:
                    continue
                if dist_name is None:
                    problem = ValueError("its metadata has no Name field; reinstall it")
                    self._failed(entry_point.value, _describe(dist), version, problem)
                    continue
                self._load_entry_point(entry_point, dist_name, version)

    def _load_entry_point(
        self, entry_point: importlib.metadata.EntryPoint, distribution: str, version: str
    ) -> None:
        try:
            plugin = entry_point.load()
            self.register(plugin, name=entry_point.name, distribution=distribution, version=version)
        except KeyboardInterrupt:
            raise
        except BaseException as error:  # SystemExit at import too: one plugin never ends us
            self._failed(entry_point.value, distribution, version, error)

    def _failed(
        self, entry_point: str, distribution: str, version: str, error: BaseException
    ) -> None:
        load_error = PluginLoadError(entry_point, distribution, version, error)
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
        self._register_builtins()  # first, so a plugin reusing a built-in name is the one refused
        plugin_name = name or getattr(plugin, "__name__", None) or type(plugin).__name__
        info = self._register(plugin, plugin_name, distribution or plugin_name, version)
        self.plugins[plugin_name] = info
        return info

    def _register(
        self,
        plugin: object,
        plugin_name: str,
        distribution: str,
        version: str,
        *,
        builtin: bool = False,
    ) -> PluginInfo:
        if plugin_name in self.plugins or plugin_name in self.builtins:
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
            info = PluginInfo(plugin_name, distribution, version, builtin=builtin)
            staged = self._call_hooks(plugin, info)
        except BaseException:
            self._manager.unregister(plugin)
            raise
        for table, key, entry in staged:
            table[key] = entry
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


def _metadata_field(dist: importlib.metadata.Distribution, name: str) -> str | None:
    """A field of the distribution's metadata, or None when it is missing or unreadable."""
    try:
        values = dist.metadata.get_all(name) or []
    except Exception:  # no METADATA file at all, or one that cannot be parsed
        return None
    return next((v.strip() for v in values if isinstance(v, str) and v.strip()), None)


def _describe(dist: importlib.metadata.Distribution) -> str:
    """The distribution's name or, without one, where its metadata is."""
    name = _metadata_field(dist, "Name")
    if name is not None:
        return name
    where = getattr(dist, "_path", None)  # PathDistribution's metadata directory
    return f"<unnamed distribution at {where}>" if where else "<unnamed distribution>"


def _declares_group(dist: importlib.metadata.Distribution) -> bool:
    try:
        text = dist.read_text("entry_points.txt") or ""
    except Exception:
        return False
    return f"[{ENTRY_POINT_GROUP}]" in text


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
