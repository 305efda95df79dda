"""Plugins: hook specifications and the process-wide plugin registry."""

from __future__ import annotations

from webagents.plugins.hookspecs import hookimpl, hookspec
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
