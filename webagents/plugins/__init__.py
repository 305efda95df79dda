"""Plugins: hook specifications and the process-wide plugin registry.

The registry (and ``importlib.metadata``) load when first used, not with ``import webagents``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from webagents.plugins.hookspecs import hookimpl, hookspec

if TYPE_CHECKING:
    from webagents.plugins.manager import (
        PluginInfo,
        PluginRegistry,
        get_skill,
        get_tool,
        plugin_registry,
        reset_plugin_registry,
    )

__all__ = [
    "PluginInfo",
    "PluginRegistry",
    "get_skill",
    "get_tool",
    "hookimpl",
    "hookspec",
    "plugin_registry",
    "reset_plugin_registry",
]

_FROM_MANAGER = frozenset(__all__) - {"hookimpl", "hookspec"}


def __getattr__(name: str) -> Any:
    if name not in _FROM_MANAGER:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from webagents.plugins import manager

    return getattr(manager, name)
