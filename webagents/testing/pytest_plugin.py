"""pytest fixtures for plugin and skill authors (loaded through the ``pytest11`` entry point).

- ``webagents_plugins``: an isolated plugin registry (no installed plugins), swapped in for
  the test and restored after;
- ``register_plugin``: ``register_plugin(module_or_object, name=None)`` into that registry;
- ``fake_openai_server``: a started ``FakeOpenAIServer``;
- ``fake_openai_model``: an ``OpenAIModel`` talking to that server, closed after the test;
- ``agent_network``: a fresh ``AgentNetwork``, the default network for the test's duration
  (agents built without ``network=`` join it), so tests never see each other's agents;
- ``redis_server``: a real ``redis-server`` on a free 127.0.0.1 port, one per test session
  (skipped when it is not installed, failing under ``CI=true``: run ``make services``);
- ``redis_url``: ``redis://127.0.0.1:<port>/0`` of that server, emptied before each test;
- ``postgres_server``: a throwaway PostgreSQL cluster on a free 127.0.0.1 port, one per test
  session (skipped when PostgreSQL is not installed, failing under ``CI=true``: run
  ``make services``); ``postgres_server.create_database()`` gives a fresh database's URL;
- ``postgres_url``: ``postgresql://postgres:<password>@127.0.0.1:<port>/webagents``, a
  database of that server shared by the session.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Callable, Iterator
from typing import NoReturn

import pytest

from webagents.agents.network import AgentNetwork, use_default_network
from webagents.models.openai_provider import OpenAIModel
from webagents.plugins.manager import PluginInfo, PluginRegistry, reset_plugin_registry
from webagents.sessions.memory import InMemorySessionStore
from webagents.testing.fake_server import FakeOpenAIServer
from webagents.testing.postgres_server import PostgresServer, find_postgres_bin
from webagents.testing.redis_server import RedisServer


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
    # Its own session store too: tests may reuse session ids as they reuse agent names.
    with use_default_network(AgentNetwork("test", sessions=InMemorySessionStore())) as network:
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


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        _missing_service("redis-server")
    with RedisServer() as server:
        yield server


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    redis_server.flushdb()
    return redis_server.url


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    if find_postgres_bin() is None:
        _missing_service("PostgreSQL (initdb, postgres under /usr/lib/postgresql/*/bin)")
    with PostgresServer() as server:
        yield server


@pytest.fixture(scope="session")
def postgres_url(postgres_server: PostgresServer) -> str:
    return postgres_server.url


def _missing_service(executable: str) -> NoReturn:
    message = f"{executable} is not installed; run `make services` to install it"
    if os.environ.get("CI", "").strip().lower() in ("true", "1", "yes"):
        pytest.fail(f"{message} (CI must provide it; the tests that need it cannot be skipped)")
    pytest.skip(message)
