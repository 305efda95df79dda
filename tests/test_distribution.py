"""The distribution names: the core is ``webagents-net`` and everything else depends on it.

The PyPI name ``webagents`` belongs to an unrelated project; a plugin depending on it would pull
that project into a fresh environment. The metadata is built for real, by the build backend
through its PEP 517 hook, as pip does before it resolves dependencies.
"""

from __future__ import annotations

import subprocess
import sys
from email.parser import Parser
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

import webagents
from webagents.scaffold import new_skill_package

ROOT = Path(__file__).resolve().parent.parent
PLUGINS = sorted(path.parent for path in ROOT.glob("plugins/*/pyproject.toml"))
CORE = "webagents-net"

_BUILD_METADATA = """
import sys

import hatchling.build

print(hatchling.build.prepare_metadata_for_build_wheel(sys.argv[1]))
"""


def build_metadata(project: Path, out: Path) -> dict[str, list[str]]:
    """The core metadata fields of ``project``, as its build backend writes them."""
    out.mkdir()
    done = subprocess.run(
        [sys.executable, "-c", _BUILD_METADATA, str(out)],
        cwd=project,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    dist_info = out / done.stdout.strip().splitlines()[-1]
    message = Parser().parsestr((dist_info / "METADATA").read_text(encoding="utf-8"))
    return {key: message.get_all(key) or [] for key in set(message.keys())}


def core_requirements(metadata: dict[str, list[str]]) -> list[Requirement]:
    requirements = [Requirement(text) for text in metadata.get("Requires-Dist", [])]
    return [r for r in requirements if canonicalize_name(r.name) == CORE]


def assert_depends_on_core(metadata: dict[str, list[str]], where: str) -> None:
    names = [Requirement(text).name for text in metadata.get("Requires-Dist", [])]
    assert "webagents" not in {canonicalize_name(n) for n in names}, (
        f"{where} depends on the unrelated PyPI project 'webagents': {names}"
    )
    [requirement] = core_requirements(metadata)
    floors = [spec for spec in requirement.specifier if spec.operator == ">="]
    assert floors, f"{where}: {requirement} has no version floor"
    assert Version(floors[0].version) >= Version("0.2")
    # the checkout's own core satisfies it, so one pip call installs both
    assert requirement.specifier.contains(webagents.__version__), (
        requirement,
        webagents.__version__,
    )


def test_core_distribution_is_webagents_net(tmp_path: Path) -> None:
    metadata = build_metadata(ROOT, tmp_path / "core")
    assert metadata["Name"] == [CORE]
    assert metadata["Version"] == [webagents.__version__]
    assert Version(webagents.__version__) >= Version("0.2.0")
    extras = metadata.get("Provides-Extra", [])
    assert "server" in extras


@pytest.mark.parametrize("plugin", PLUGINS, ids=lambda path: path.name)
def test_plugin_depends_on_the_core_distribution_with_a_floor(plugin: Path, tmp_path: Path) -> None:
    metadata = build_metadata(plugin, tmp_path / "meta")
    assert metadata["Name"] == [plugin.name]
    assert_depends_on_core(metadata, plugin.name)


def test_there_are_plugins_to_check() -> None:
    assert {path.name for path in PLUGINS} >= {
        "webagents-consult",
        "webagents-escalation",
        "webagents-router",
    }


def test_new_skill_package_depends_on_the_core_distribution(tmp_path: Path) -> None:
    root = new_skill_package("order-lookup", tmp_path / "plugins")
    metadata = build_metadata(root, tmp_path / "meta")
    assert metadata["Name"] == ["webagents-order-lookup"]
    assert_depends_on_core(metadata, "the new-skill template")
    assert "webagents-net" in (root / "README.md").read_text(encoding="utf-8")
