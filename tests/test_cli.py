"""The ``webagents`` command: plugin listing and the new-skill scaffold."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest
from click.testing import CliRunner

from webagents import Skill, __version__, hookimpl
from webagents.cli import main
from webagents.plugins.manager import PluginRegistry
from webagents.scaffold import new_skill_package


class EchoSkill(Skill):
    pass


@pytest.fixture
def registry(webagents_plugins: PluginRegistry) -> PluginRegistry:
    """A fresh registry without entry points, installed as the process-wide one (the fixture
    webagents' pytest plugin gives plugin authors)."""
    return webagents_plugins


def test_plugins_table_and_json(registry: PluginRegistry) -> None:
    plugin = types.ModuleType("echo_plugin")
    plugin.register_skills = hookimpl(lambda register: register(EchoSkill))  # type: ignore[attr-defined]
    registry.register(plugin, name="echo-plugin", distribution="webagents-echo", version="1.2")

    table = CliRunner().invoke(main, ["plugins"])
    data = json.loads(CliRunner().invoke(main, ["plugins", "--json"]).output)

    assert table.exit_code == 0
    header, builtin, row = table.output.splitlines()[:3]
    assert header.split() == ["PLUGIN", "DISTRIBUTION", "VERSION", "SKILLS", "HOOKS"]
    assert builtin.split() == [
        "webagents",
        "(built-in)",
        "webagents-net",
        __version__,
        "nli,",
        "discovery,",
        "payment,",
        "mcp,",
        "round-robin,",
        "least-busy,",
        "capability,",
        "fallback",
        "register_skills",
    ]
    assert row.split() == ["echo-plugin", "webagents-echo", "1.2", "echo", "register_skills"]
    assert [plugin["builtin"] for plugin in data["plugins"]] == [True, False]
    assert data["plugins"][1:] == [
        {
            "name": "echo-plugin",
            "distribution": "webagents-echo",
            "version": "1.2",
            "builtin": False,
            "skills": ["echo"],
            "models": [],
            "tools": [],
            "hooks": ["register_skills"],
        }
    ]
    assert data["errors"] == []


def test_plugins_command_lists_installed_packages() -> None:
    """The console script sees the packages ``make test`` installed from plugins/."""
    script = Path(sys.executable).with_name("webagents")
    done = subprocess.run(
        [str(script), "plugins", "--json"], capture_output=True, text=True, check=True
    )
    names = {plugin["distribution"] for plugin in json.loads(done.stdout)["plugins"]}
    expected = {path.name for path in Path("plugins").glob("webagents-*/pyproject.toml")}
    expected = {Path(p).name for p in expected} if expected else set()
    installed = {
        p.name for p in Path("plugins").glob("webagents-*") if (p / "pyproject.toml").exists()
    }
    assert installed <= names


def test_new_skill_rejects_bad_names_and_existing_directories(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["new-skill", "Bad Name", "--directory", str(tmp_path)])
    assert result.exit_code == 2
    assert "lower-case words" in result.output
    new_skill_package("dup", tmp_path)
    with pytest.raises(FileExistsError, match="already exists"):
        new_skill_package("dup", tmp_path)


def test_scaffold_installs_and_passes_its_own_tests(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["new-skill", "order-lookup", "--directory", str(tmp_path)])
    assert result.exit_code == 0, result.output
    root = tmp_path / "webagents-order-lookup"
    assert (root / "webagents_order_lookup" / "__init__.py").exists()

    # A real pip install (into a private target, so the test venv is left as it was).
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(root),
        ],
        check=True,
    )
    assert list(target.glob("webagents_order_lookup-0.1.0.dist-info/entry_points.txt"))

    env = {**os.environ, "PYTHONPATH": str(target)}
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(root / "tests")],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
    )
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "2 passed" in tests.stdout

    # Installed, the package is found through its entry point by a fresh interpreter.
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "from webagents.plugins import get_skill; print(get_skill('order-lookup').__name__)",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert probe.stdout.strip() == "OrderLookupSkill"
