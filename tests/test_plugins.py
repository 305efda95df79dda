"""Plugins: registering skills, models and tools, and loading installed distributions.

Installed plugins are simulated without pip: a temporary directory holding a
``<name>-<version>.dist-info`` (METADATA and entry_points.txt) next to the plugin module is
put on ``sys.path``, which is exactly what ``importlib.metadata`` scans.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from webagents import AgentConfigError, BaseAgent, Skill, hookimpl, tool
from webagents.errors import PluginLoadError
from webagents.models import resolve_model
from webagents.plugins import (
    PluginRegistry,
    get_skill,
    get_tool,
    plugin_registry,
    reset_plugin_registry,
)
from webagents.plugins.manager import normalise_name
from webagents.testing import ScriptedModel

FAKE_PREFIX = "wa_fake_plugin_"
STOCK_NAMES = "capability, discovery, fallback, least-busy, mcp, nli, payment, round-robin"
STOCK_SKILLS = {
    "nli",
    "discovery",
    "payment",
    "mcp",
    "round-robin",
    "least-busy",
    "capability",
    "fallback",
}  # registered by the built-in plugin


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(autouse=True)
def _plugin_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WEBAGENTS_LOAD_PLUGINS", raising=False)
    monkeypatch.delenv("WEBAGENTS_TRACE_PLUGINS", raising=False)


@pytest.fixture
def registry(webagents_plugins: PluginRegistry) -> PluginRegistry:
    """A fresh registry without entry points, installed as the process-wide one (the fixture
    webagents' pytest plugin gives plugin authors)."""
    return webagents_plugins


# --- skills and plugin objects used in the in-process tests -------------------------------------


class WeatherSkill(Skill):
    @tool
    def forecast(self, city: str) -> str:
        """Tomorrow's weather."""
        return f"sunny in {city}"


class OtherSkill(Skill):
    pass


class WeatherPlugin:
    @hookimpl
    def register_skills(self, register: Any) -> None:
        register(WeatherSkill, name="weather")


class NamelessSkillPlugin:
    @hookimpl
    def register_skills(self, register: Any) -> None:
        register(WeatherSkill)  # name derived from the class: "weather"


class RivalPlugin:
    @hookimpl
    def register_skills(self, register: Any) -> None:
        register(OtherSkill, name="other")
        register(OtherSkill, name="weather")


class MisspelledPlugin:
    @hookimpl
    def register_skill(self, register: Any) -> None:  # should be register_skills
        register(WeatherSkill, name="weather")

    @hookimpl
    def register_tools(self, register: Any) -> None:
        register(len, name="length")


def shout(text: str) -> str:
    """Upper-case the text."""
    return text.upper()


class ToolPlugin:
    @hookimpl
    def register_tools(self, register: Any) -> None:
        register(shout)
        register(len, name="length")


# --- registering plugin objects -----------------------------------------------------------------


def test_registered_skill_is_found_by_name(registry: PluginRegistry) -> None:
    info = registry.register(WeatherPlugin(), name="weather-plugin", version="1.2")
    assert registry.get_skill("weather") is WeatherSkill
    assert get_skill("weather") is WeatherSkill  # through the process-wide registry
    assert info.to_dict() == {
        "name": "weather-plugin",
        "distribution": "weather-plugin",
        "version": "1.2",
        "builtin": False,
        "skills": ["weather"],
        "models": [],
        "tools": [],
        "hooks": ["register_skills"],
    }
    assert registry.plugins == {"weather-plugin": info}


def test_skill_name_defaults_to_kebab_case_without_skill_suffix(registry: PluginRegistry) -> None:
    registry.register(NamelessSkillPlugin(), name="nameless")
    assert registry.get_skill("weather") is WeatherSkill


def test_a_module_like_object_can_be_a_plugin(registry: PluginRegistry) -> None:
    class Namespace:
        """Module-like: hook implementations are plain functions in its namespace."""

        @staticmethod
        @hookimpl
        def register_skills(register: Any) -> None:
            register(OtherSkill, name="other")

    registry.register(Namespace, name="namespace")
    assert registry.get_skill("other") is OtherSkill


def test_unhashable_plugin_object_is_a_clear_error(registry: PluginRegistry) -> None:
    import types

    plugin = types.SimpleNamespace(register_skills=hookimpl(lambda register: None))
    with pytest.raises(TypeError, match="unhashable; register a module"):
        registry.register(plugin, name="namespace")
    assert registry.plugins == {}


def test_unknown_skill_lists_the_registered_ones(registry: PluginRegistry) -> None:
    registry.register(WeatherPlugin(), name="a")
    registry.register(ToolPlugin(), name="b")
    with pytest.raises(AgentConfigError) as info:
        registry.get_skill("wether")
    message = str(info.value)
    assert "'wether'" in message
    assert "weather" in message
    with pytest.raises(AgentConfigError, match="registered tools: length, shout"):
        registry.get_tool("nope")


def test_unknown_skill_in_a_registry_without_plugins_lists_the_stock_skills(
    registry: PluginRegistry,
) -> None:
    with pytest.raises(
        AgentConfigError,
        match=rf"registered skills: {STOCK_NAMES}$",
    ):
        get_skill("anything")


def test_duplicate_skill_name_names_both_plugins_and_keeps_the_first(
    registry: PluginRegistry,
) -> None:
    registry.register(WeatherPlugin(), name="first-plugin")
    with pytest.raises(ValueError) as info:
        registry.register(RivalPlugin(), name="second-plugin")
    message = str(info.value)
    assert "'weather'" in message
    assert "'first-plugin'" in message
    assert "'second-plugin'" in message
    assert registry.get_skill("weather") is WeatherSkill
    # the failed plugin left nothing behind, not even its non-clashing skill
    assert "other" not in registry.skills
    assert list(registry.plugins) == ["first-plugin"]


def test_duplicate_name_within_one_plugin_fails(registry: PluginRegistry) -> None:
    class Twice:
        @hookimpl
        def register_skills(self, register: Any) -> None:
            register(WeatherSkill, name="same")
            register(OtherSkill, name="same")

    with pytest.raises(ValueError, match="'same'"):
        registry.register(Twice(), name="twice")
    assert set(registry.skills) == STOCK_SKILLS  # nothing of the failed plugin
    assert registry.plugins == {}


def test_misspelled_hook_fails_loudly_and_registers_nothing(registry: PluginRegistry) -> None:
    with pytest.raises(ValueError) as info:
        registry.register(MisspelledPlugin(), name="typo")
    message = str(info.value)
    assert "'register_skill'" in message
    assert "did you mean 'register_skills'" in message
    assert "'typo'" in message
    assert set(registry.skills) == STOCK_SKILLS  # nothing of the failed plugin
    assert registry.tools == {}  # its correctly spelled hook did not run either
    assert registry.plugins == {}
    # the name is free again once the plugin is fixed
    registry.register(WeatherPlugin(), name="typo")
    assert registry.get_skill("weather") is WeatherSkill


def test_hookimpl_with_wrong_argument_name_is_rejected(registry: PluginRegistry) -> None:
    class WrongArgs:
        @hookimpl
        def register_skills(self, reg: Any) -> None:
            reg(WeatherSkill, name="weather")

    with pytest.raises(Exception, match="reg"):
        registry.register(WrongArgs(), name="wrong-args")
    assert set(registry.skills) == STOCK_SKILLS  # nothing of the failed plugin
    registry.register(WeatherPlugin(), name="wrong-args")  # nothing half-registered


def test_plugin_whose_hook_raises_registers_nothing(registry: PluginRegistry) -> None:
    class HalfWay:
        @hookimpl
        def register_skills(self, register: Any) -> None:
            register(WeatherSkill, name="weather")
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        registry.register(HalfWay(), name="halfway")
    assert set(registry.skills) == STOCK_SKILLS  # nothing of the failed plugin
    assert registry.plugins == {}


def test_registering_a_non_skill_fails(registry: PluginRegistry) -> None:
    class NotASkill:
        pass

    class Bad:
        @hookimpl
        def register_skills(self, register: Any) -> None:
            register(NotASkill, name="bad")

    with pytest.raises(TypeError, match="not a Skill subclass"):
        registry.register(Bad(), name="bad")
    assert set(registry.skills) == STOCK_SKILLS  # nothing of the failed plugin


def test_same_plugin_name_twice_fails(registry: PluginRegistry) -> None:
    registry.register(WeatherPlugin(), name="dup")
    with pytest.raises(ValueError, match="'dup'"):
        registry.register(ToolPlugin(), name="dup")
    assert registry.tools == {}


def test_tools_registered_by_a_plugin(registry: PluginRegistry) -> None:
    registry.register(ToolPlugin(), name="tools")
    assert get_tool("shout") is shout
    assert registry.get_tool("length") is len
    agent = BaseAgent(unique("plugin-tools"), tools=[get_tool("shout")])
    assert agent.capabilities.tools["shout"].call(text="hi") == "HI"


# --- models -------------------------------------------------------------------------------------


class ModelPlugin:
    def __init__(self) -> None:
        self.requested: list[str] = []

    @hookimpl
    def register_models(self, register: Any) -> None:
        def factory(name: str) -> ScriptedModel:
            self.requested.append(name)
            return ScriptedModel([f"hello from {name}"], name=name)

        register(factory, prefix="fakeprov")


async def test_model_provider_from_a_plugin_resolves_by_prefix(registry: PluginRegistry) -> None:
    plugin = ModelPlugin()
    registry.register(plugin, name="models")
    model = resolve_model("fakeprov/tiny-1")
    assert isinstance(model, ScriptedModel)
    assert model.name == "tiny-1"
    assert plugin.requested == ["tiny-1"]

    agent = BaseAgent(unique("plugin-model"), model="fakeprov/tiny-2")
    result = await agent.run("hi")
    assert result.content == "hello from tiny-2"


def test_unknown_model_provider_is_still_an_error(registry: PluginRegistry) -> None:
    registry.register(ModelPlugin(), name="models")
    with pytest.raises(AgentConfigError, match="'nosuchprov'"):
        resolve_model("nosuchprov/x")


# --- agents built from registered names ---------------------------------------------------------


def test_agent_builds_a_skill_from_its_registered_name(registry: PluginRegistry) -> None:
    registry.register(WeatherPlugin(), name="weather-plugin")
    agent = BaseAgent(unique("plugin-skill"), skills={"x": "weather"})
    skill = agent.skills["x"]
    assert type(skill) is WeatherSkill
    assert skill.agent is agent
    assert skill.skill_key == "x"
    assert set(agent.capabilities.tools) == {"forecast"}
    # each agent gets its own instance
    other = BaseAgent(unique("plugin-skill"), skills={"x": "weather"})
    assert other.skills["x"] is not skill


def test_agent_with_unknown_skill_name_fails_at_construction(registry: PluginRegistry) -> None:
    registry.register(WeatherPlugin(), name="weather-plugin")
    with pytest.raises(
        AgentConfigError,
        match=f"registered skills: {STOCK_NAMES}, weather",
    ):
        BaseAgent(unique("plugin-skill"), skills={"x": "wether"})


def test_reset_plugin_registry_returns_the_previous(registry: PluginRegistry) -> None:
    other = PluginRegistry(entry_points=False)
    assert reset_plugin_registry(other) is registry
    try:
        assert plugin_registry() is other
    finally:
        assert reset_plugin_registry(registry) is other
    assert plugin_registry() is registry


# --- installed distributions (entry points) -----------------------------------------------------

GOOD_PLUGIN = """
from webagents import Skill, hookimpl, tool

IMPORTS = []


class {cls}(Skill):
    @tool
    def greet(self, who: str) -> str:
        return "hello " + who


class Plugin:
    @hookimpl
    def register_skills(self, register):
        register({cls}, name="{skill}")


plugin = Plugin()
"""

IMPORT_FAILS = """
raise RuntimeError("cannot import this plugin")
"""

HOOK_FAILS = """
from webagents import Skill, hookimpl


class Partial(Skill):
    pass


@hookimpl
def register_skills(register):
    register(Partial, name="{skill}")
    raise RuntimeError("the hook failed")
"""


class FakeSite:
    """A directory on sys.path where fake distributions are "installed"."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.modules: list[str] = []

    def install(
        self,
        dist: str,
        source: str,
        *,
        version: str = "1.0",
        entry_name: str | None = None,
        attr: str | None = None,
        named: bool = True,
    ) -> str:
        """Create ``<dist>-<version>.dist-info`` and the plugin module; returns the module.

        ``named=False`` leaves ``Name`` out of METADATA (broken metadata seen in the field).
        """
        module = FAKE_PREFIX + normalise_name(dist).replace("-", "_")
        info = self.root / f"{normalise_name(dist).replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        name_line = f"Name: {dist}\n" if named else ""
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\n{name_line}Version: {version}\n", encoding="utf-8"
        )
        value = f"{module}:{attr}" if attr else module
        (info / "entry_points.txt").write_text(
            f"[webagents]\n{entry_name or dist} = {value}\n", encoding="utf-8"
        )
        (self.root / f"{module}.py").write_text(textwrap.dedent(source), encoding="utf-8")
        self.modules.append(module)
        return module

    def good(self, dist: str, skill: str, **kwargs: Any) -> str:
        source = GOOD_PLUGIN.format(cls="GreeterSkill", skill=skill)
        return self.install(dist, source, attr="plugin", **kwargs)


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSite]:
    fake = FakeSite(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    try:
        yield fake
    finally:
        for name in [m for m in sys.modules if m.startswith(FAKE_PREFIX)]:
            del sys.modules[name]
        importlib.invalidate_caches()


def loaded(site: FakeSite) -> set[str]:
    """Which of this test's fake plugin modules have been imported."""
    return {m for m in site.modules if m in sys.modules}


def our_errors(registry: PluginRegistry, *dists: str) -> dict[str, PluginLoadError]:
    return {e.distribution: e for e in registry.errors if e.distribution in dists}


def test_installed_plugin_is_discovered_and_loaded(site: FakeSite) -> None:
    module = site.good("webagents-fake-alpha", "fake-alpha-skill", version="2.5")
    registry = PluginRegistry()
    assert loaded(site) == set()  # nothing is imported before the first lookup
    skill_class = registry.get_skill("fake-alpha-skill")
    assert skill_class.__module__ == module
    assert loaded(site) == {module}
    info = registry.plugins["webagents-fake-alpha"]
    assert (info.distribution, info.version, info.skills) == (
        "webagents-fake-alpha",
        "2.5",
        ["fake-alpha-skill"],
    )
    assert our_errors(registry, "webagents-fake-alpha") == {}


def test_installed_plugin_skill_usable_by_name_in_an_agent(site: FakeSite) -> None:
    site.good("webagents-fake-alpha", "fake-alpha-skill")
    previous = reset_plugin_registry(PluginRegistry())
    try:
        agent = BaseAgent(unique("installed"), skills={"greeter": "fake-alpha-skill"})
    finally:
        reset_plugin_registry(previous)
    assert type(agent.skills["greeter"]).__name__ == "GreeterSkill"
    assert agent.capabilities.tools["greet"].call(who="bob") == "hello bob"


def test_plugins_load_once(site: FakeSite) -> None:
    module = site.good("webagents-fake-alpha", "fake-alpha-skill")
    registry = PluginRegistry()
    registry.load()
    assert loaded(site) == {module}
    first = registry.plugins["webagents-fake-alpha"]
    del sys.modules[module]  # a second import would put it back
    registry.load()
    registry.get_skill("fake-alpha-skill")
    assert module not in sys.modules
    assert registry.plugins["webagents-fake-alpha"] is first


def install_three(site: FakeSite) -> dict[str, str]:
    return {
        "webagents-fake-alpha": site.good("webagents-fake-alpha", "fake-alpha-skill"),
        "webagents-fake-beta": site.good(
            "webagents-fake-beta", "fake-beta-skill", entry_name="beta_entry"
        ),
        "webagents-fake-gamma": site.good("webagents-fake-gamma", "fake-gamma-skill"),
    }


def test_load_plugins_unset_loads_all(site: FakeSite) -> None:
    modules = install_three(site)
    registry = PluginRegistry()
    registry.load()
    assert loaded(site) == set(modules.values())
    assert {"fake-alpha-skill", "fake-beta-skill", "fake-gamma-skill"} <= set(registry.skills)
    assert registry.plugins["beta_entry"].distribution == "webagents-fake-beta"


def test_load_plugins_empty_loads_none(site: FakeSite, monkeypatch: pytest.MonkeyPatch) -> None:
    install_three(site)
    monkeypatch.setenv("WEBAGENTS_LOAD_PLUGINS", "")
    registry = PluginRegistry()
    with pytest.raises(
        AgentConfigError,
        match=rf"registered skills: {STOCK_NAMES}$",
    ):
        registry.get_skill("fake-alpha-skill")
    assert loaded(site) == set()
    assert registry.plugins == {}
    assert list(registry.builtins) == ["webagents"]  # the stock skills load all the same
    assert registry.errors == []


@pytest.mark.parametrize(
    "wanted",
    [
        "webagents-fake-alpha,webagents-fake-beta",
        " Webagents_Fake_Alpha , WEBAGENTS.fake.beta ",  # normalised like pip names
        "webagents-fake-alpha,beta_entry",  # an entry point name works too
        "webagents-fake-alpha,Beta-Entry",
    ],
)
def test_load_plugins_list_loads_only_those(
    site: FakeSite, monkeypatch: pytest.MonkeyPatch, wanted: str
) -> None:
    modules = install_three(site)
    monkeypatch.setenv("WEBAGENTS_LOAD_PLUGINS", wanted)
    registry = PluginRegistry()
    registry.load()
    assert loaded(site) == {modules["webagents-fake-alpha"], modules["webagents-fake-beta"]}
    assert set(registry.plugins) == {"webagents-fake-alpha", "beta_entry"}
    with pytest.raises(AgentConfigError, match="'fake-gamma-skill'"):
        registry.get_skill("fake-gamma-skill")


def test_normalise_name() -> None:
    assert normalise_name("Webagents_Foo") == normalise_name("webagents-foo") == "webagents-foo"
    assert normalise_name("webagents.._foo") == "webagents-foo"


def test_broken_plugins_are_reported_and_the_good_one_still_works(site: FakeSite) -> None:
    good = site.good("webagents-fake-good", "fake-good-skill")
    site.install("webagents-fake-noimport", IMPORT_FAILS, version="0.3")
    hook_module = site.install(
        "webagents-fake-badhook",
        HOOK_FAILS.format(skill="fake-partial-skill"),
        version="4.1",
        entry_name="badhook",
    )
    registry = PluginRegistry()
    assert registry.get_skill("fake-good-skill").__module__ == good

    errors = our_errors(
        registry, "webagents-fake-good", "webagents-fake-noimport", "webagents-fake-badhook"
    )
    assert set(errors) == {"webagents-fake-noimport", "webagents-fake-badhook"}

    no_import = errors["webagents-fake-noimport"]
    assert isinstance(no_import, PluginLoadError)
    assert no_import.version == "0.3"
    assert no_import.entry_point == FAKE_PREFIX + "webagents_fake_noimport"
    assert isinstance(no_import.__cause__, RuntimeError)
    assert "cannot import this plugin" in str(no_import)
    assert "webagents-fake-noimport" in str(no_import)
    assert "0.3" in str(no_import)

    bad_hook = errors["webagents-fake-badhook"]
    assert bad_hook.version == "4.1"
    assert bad_hook.entry_point == hook_module
    assert isinstance(bad_hook.__cause__, RuntimeError)
    assert "the hook failed" in str(bad_hook)

    # the failing hook kept nothing; the failures are named when a lookup misses
    assert "fake-partial-skill" not in registry.skills
    assert "badhook" not in registry.plugins
    with pytest.raises(AgentConfigError) as info:
        registry.get_skill("fake-partial-skill")
    assert "failed to load" in str(info.value)
    assert "webagents-fake-badhook" in str(info.value)


def test_misspelled_hook_in_an_installed_plugin_is_a_load_error(site: FakeSite) -> None:
    source = """
    from webagents import hookimpl

    @hookimpl
    def register_skill(register):
        pass
    """
    site.install("webagents-fake-typo", source, version="1.1")
    registry = PluginRegistry()
    registry.load()
    error = our_errors(registry, "webagents-fake-typo")["webagents-fake-typo"]
    assert "did you mean 'register_skills'" in str(error)
    assert isinstance(error.__cause__, ValueError)


def test_trace_plugins_prints_hook_calls(
    site: FakeSite, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    site.good("webagents-fake-alpha", "fake-alpha-skill")
    monkeypatch.setenv("WEBAGENTS_TRACE_PLUGINS", "1")
    registry = PluginRegistry()
    registry.load()
    captured = capsys.readouterr()
    assert "register_skills" in captured.err
    assert captured.out == ""


def test_no_trace_by_default(site: FakeSite, capsys: pytest.CaptureFixture[str]) -> None:
    site.good("webagents-fake-alpha", "fake-alpha-skill")
    PluginRegistry().load()
    assert "register_skills" not in capsys.readouterr().err


# --- broken distributions and plugins that try to end the process ------------------------------

EXITS_AT_IMPORT = """
import sys

sys.exit("this plugin calls sys.exit at import")
"""

BASE_EXCEPTION_AT_IMPORT = """
class Stop(BaseException):
    pass


raise Stop("a BaseException at import")
"""

EXITS_IN_HOOK = """
import sys

from webagents import hookimpl


@hookimpl
def register_skills(register):
    sys.exit("this plugin calls sys.exit in its hook")
"""


def test_distribution_without_a_name_is_a_load_error_and_the_rest_load(site: FakeSite) -> None:
    good = site.good("webagents-fake-good", "fake-good-skill")
    nameless = site.good(
        "webagents-fake-nameless", "fake-nameless-skill", version="0.7", named=False
    )
    registry = PluginRegistry()
    registry.load()

    assert registry.get_skill("fake-good-skill").__module__ == good
    [error] = [e for e in registry.errors if e.entry_point == f"{nameless}:plugin"]
    assert error.distribution.startswith("<unnamed distribution at ")
    assert error.distribution.endswith("webagents_fake_nameless-0.7.dist-info>")
    assert error.version == "0.7"
    assert "no Name field" in str(error)
    assert isinstance(error.__cause__, ValueError)
    assert nameless not in sys.modules  # not imported
    assert "fake-nameless-skill" not in registry.skills


def test_distribution_without_a_name_is_skipped_when_not_selected(
    site: FakeSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    site.good("webagents-fake-good", "fake-good-skill")
    site.good("webagents-fake-nameless", "fake-nameless-skill", named=False)
    monkeypatch.setenv("WEBAGENTS_LOAD_PLUGINS", "webagents-fake-good")
    registry = PluginRegistry()
    registry.load()
    assert set(registry.plugins) == {"webagents-fake-good"}
    assert registry.errors == []


@pytest.mark.parametrize(
    ("source", "cause", "text"),
    [
        (EXITS_AT_IMPORT, SystemExit, "this plugin calls sys.exit at import"),
        (BASE_EXCEPTION_AT_IMPORT, BaseException, "a BaseException at import"),
        (EXITS_IN_HOOK, SystemExit, "this plugin calls sys.exit in its hook"),
    ],
    ids=["sys-exit-at-import", "base-exception-at-import", "sys-exit-in-hook"],
)
def test_plugin_raising_a_base_exception_is_a_load_error_and_the_rest_load(
    site: FakeSite, source: str, cause: type[BaseException], text: str
) -> None:
    before = site.good("webagents-fake-alpha", "fake-alpha-skill")
    site.install("webagents-fake-exits", source, version="2.0")
    after = site.good("webagents-fake-omega", "fake-omega-skill")
    registry = PluginRegistry()
    registry.load()  # returns: the process goes on

    error = our_errors(registry, "webagents-fake-exits")["webagents-fake-exits"]
    assert isinstance(error, PluginLoadError)
    assert type(error.__cause__) is not KeyboardInterrupt
    assert isinstance(error.__cause__, cause)
    assert error.version == "2.0"
    assert text in str(error)
    assert "webagents-fake-exits" not in registry.plugins
    assert registry.get_skill("fake-alpha-skill").__module__ == before
    assert registry.get_skill("fake-omega-skill").__module__ == after


def test_keyboard_interrupt_in_a_plugin_is_not_swallowed(site: FakeSite) -> None:
    site.install("webagents-fake-interrupt", "raise KeyboardInterrupt\n")
    with pytest.raises(KeyboardInterrupt):
        PluginRegistry().load()


def test_malformed_entry_points_file_is_a_load_error_and_the_rest_load(site: FakeSite) -> None:
    # pydantic scans entry points once, for its first model; a malformed file would break that
    # scan too (outside webagents), so let it happen before the file exists.
    PluginRegistry(entry_points=False).load()
    good = site.good("webagents-fake-good", "fake-good-skill")
    info = site.root / "webagents_fake_mangled-3.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: webagents-fake-mangled\n")
    (info / "entry_points.txt").write_text("[webagents]\nthis line has no equals sign\n")
    registry = PluginRegistry()
    registry.load()

    error = our_errors(registry, "webagents-fake-mangled")["webagents-fake-mangled"]
    assert error.entry_point == "entry_points.txt"
    assert registry.get_skill("fake-good-skill").__module__ == good


# --- the built-in plugin: stock skills by name ---------------------------------------------------


def test_stock_skills_are_registered_by_the_builtin_plugin(registry: PluginRegistry) -> None:
    import webagents
    from webagents.agents.skills.discovery import DiscoverySkill
    from webagents.agents.skills.nli import NLISkill
    from webagents.agents.skills.payment import PaymentSkill

    assert get_skill("nli") is NLISkill
    assert get_skill("discovery") is DiscoverySkill
    assert get_skill("payment") is PaymentSkill
    assert registry.plugins == {}  # built-ins are listed apart from installed plugins
    assert registry.builtins["webagents"].to_dict() == {
        "name": "webagents",
        "distribution": "webagents-net",
        "version": webagents.__version__,
        "builtin": True,
        "skills": [
            "nli",
            "discovery",
            "payment",
            "mcp",
            "round-robin",
            "least-busy",
            "capability",
            "fallback",
        ],
        "models": [],
        "tools": [],
        "hooks": ["register_skills"],
    }


def test_builtin_plugin_is_a_plain_hookimpl_module() -> None:
    from webagents.plugins import builtin

    registry = PluginRegistry(entry_points=False)
    registry.load()
    assert registry._manager.get_plugin("webagents") is builtin
    assert registry._manager.parse_hookimpl_opts(builtin, "register_skills") is not None


def test_agents_take_stock_skills_by_name_and_with_config(
    registry: PluginRegistry, tmp_path: Path
) -> None:
    from webagents.agents.skills.discovery import DiscoverySkill
    from webagents.agents.skills.nli import NLISkill
    from webagents.agents.skills.payment import PaymentSkill

    ledger = str(tmp_path / "ledger.db")
    agent = BaseAgent(
        unique("stock"),
        skills={
            "pay": {"name": "payment", "config": {"db": ledger}},
            "ask": {"name": "nli", "config": {"timeout": 5}},
            "find": "discovery",
        },
    )
    assert isinstance(agent.skills["pay"], PaymentSkill)
    assert agent.skills["pay"].config == {"db": ledger}
    assert isinstance(agent.skills["ask"], NLISkill)
    assert agent.skills["ask"].timeout == 5.0
    assert isinstance(agent.skills["find"], DiscoverySkill)
    assert isinstance(
        BaseAgent(unique("stock"), skills={"pay": "payment"}).skills["pay"], PaymentSkill
    )


def test_a_plugin_registering_a_stock_name_is_the_duplicate_name_error(
    registry: PluginRegistry,
) -> None:
    from webagents.agents.skills.payment import PaymentSkill

    class Impostor:
        @hookimpl
        def register_skills(self, register: Any) -> None:
            register(WeatherSkill, name="payment")

    with pytest.raises(ValueError) as info:
        registry.register(Impostor(), name="impostor")
    message = str(info.value)
    assert (
        "skill name 'payment' is registered by both plugin 'webagents' (webagents-net)" in message
    )
    assert "'impostor'" in message
    assert get_skill("payment") is PaymentSkill
    assert registry.plugins == {}


def test_installed_plugin_registering_a_stock_name_is_a_load_error(site: FakeSite) -> None:
    from webagents.agents.skills.nli import NLISkill

    site.good("webagents-fake-nli", "nli")
    registry = PluginRegistry()
    registry.load()
    error = our_errors(registry, "webagents-fake-nli")["webagents-fake-nli"]
    assert "plugin 'webagents' (webagents-net)" in str(error)
    assert registry.get_skill("nli") is NLISkill


# --- `webagents plugins` with installed distributions ------------------------------------------


def run_plugins_command(site: FakeSite, *args: str) -> subprocess.CompletedProcess[str]:
    """The console script in a fresh interpreter that sees the fake site's distributions."""
    script = Path(sys.executable).with_name("webagents")
    env = {**os.environ, "PYTHONPATH": str(site.root)}
    return subprocess.run(
        [str(script), "plugins", *args], env=env, capture_output=True, text=True, check=False
    )


def test_plugins_command_fails_and_reports_plugins_that_did_not_load(site: FakeSite) -> None:
    site.good("webagents-fake-good", "fake-good-skill", version="1.5")
    site.install("webagents-fake-exits", EXITS_AT_IMPORT, version="2.0")
    site.good("webagents-fake-nameless", "fake-nameless-skill", named=False)

    table = run_plugins_command(site)
    assert table.returncode == 1, table.stderr
    assert "webagents (built-in)  webagents-net" in table.stdout
    assert "webagents-fake-good" in table.stdout and "fake-good-skill" in table.stdout
    assert "from webagents-fake-exits 2.0 failed to load: SystemExit" in table.stderr
    assert "<unnamed distribution at " in table.stderr
    assert "webagents-fake-exits" not in table.stdout

    as_json = run_plugins_command(site, "--json")
    assert as_json.returncode == 1
    data = json.loads(as_json.stdout)
    failed = {error["distribution"] for error in data["errors"]}
    assert "webagents-fake-exits" in failed
    assert any(name.startswith("<unnamed distribution at ") for name in failed)
    assert "webagents-fake-good" in {plugin["distribution"] for plugin in data["plugins"]}
    assert "failed to load" in as_json.stderr


def test_plugins_command_succeeds_when_everything_loads(site: FakeSite) -> None:
    site.good("webagents-fake-good", "fake-good-skill")
    done = run_plugins_command(site)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
