"""pytest fixtures for plugin and skill authors (loaded through the ``pytest11`` entry point).

- ``webagents_plugins``: an isolated plugin registry (no installed plugins), swapped in for
  the test and restored after;
- ``register_plugin``: ``register_plugin(module_or_object, name=None)`` into that registry;
- ``fake_openai_server``: a started ``FakeOpenAIServer``;
- ``fake_openai_model``: an ``OpenAIModel`` talking to that server, closed after the test;
- ``agent_network``: a fresh ``AgentNetwork``, the default network for the test's duration
  (agents built without ``network=`` join it), so tests never see each other's agents.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator

import pytest

from webagents.agents.network import AgentNetwork, use_default_network
from webagents.models.openai_provider import OpenAIModel
from webagents.plugins.manager import PluginInfo, PluginRegistry, reset_plugin_registry
from webagents.testing.fake_server import FakeOpenAIServer


@pytest.fixture
def webagents_plugins() -> Iterator[PluginRegistry]:
    registry = PluginRegistry(entry_points=False)
    previous = reset_plugin_registry(registry)
    try:
        yield registry
    finally:
        reset_plugin_registry(previous)


@pytest.fixture
def register_plugin(webagents_plugins: PluginRegistry) -> Callable[..., PluginInfo]:
    def register(plugin: object, name: str | None = None) -> PluginInfo:
        return webagents_plugins.register(plugin, name=name)

    return register


@pytest.fixture
def agent_network() -> Iterator[AgentNetwork]:
    with use_default_network(AgentNetwork("test")) as network:
        yield network


@pytest.fixture
def fake_openai_server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as server:
        yield server


@pytest.fixture
async def fake_openai_model(fake_openai_server: FakeOpenAIServer) -> AsyncIterator[OpenAIModel]:
    model = OpenAIModel("fake-model", api_key="test", base_url=fake_openai_server.url)
    try:
        yield model
    finally:
        await model.aclose()
