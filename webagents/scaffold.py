"""``webagents new-skill NAME``: a skill package that installs and passes its own tests."""

from __future__ import annotations

import re
from pathlib import Path

from webagents import __version__
from webagents.plugins.manager import DISTRIBUTION

__all__ = ["core_requirement", "new_skill_package"]

_NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")

_PYPROJECT = """\
[build-system]
requires = ["hatchling>=1.25"]
build-backend = "hatchling.build"

[project]
name = "webagents-{name}"
version = "0.1.0"
description = "{title} skill for webagents"
readme = "README.md"
requires-python = ">=3.11"
dependencies = ["{requirement}"]

[project.optional-dependencies]
test = ["pytest>=8.2", "pytest-asyncio>=0.24"]

[project.entry-points.webagents]
{name} = "{package}"

[tool.hatch.build.targets.wheel]
packages = ["{package}"]

[tool.pytest.ini_options]
asyncio_mode = "auto"
asyncio_default_fixture_loop_scope = "function"
filterwarnings = ["error"]
"""

_MODULE = '''\
"""{title}: a webagents skill."""

from __future__ import annotations

from typing import Any

from webagents import Skill, hookimpl, tool

__all__ = ["{cls}", "register_skills"]


class {cls}(Skill):
    """Greets people by name. Replace this tool with your own."""

    @tool
    def greet(self, name: str, excited: bool = False) -> str:
        """Greet someone.

        Args:
            name: Who to greet.
            excited: End with an exclamation mark.
        """
        return f"Hello, {{name}}{{'!' if excited else '.'}}"


@hookimpl
def register_skills(register: Any) -> None:
    register({cls}, name="{name}")
'''

_TESTS = '''\
"""Tests of the {name} skill, using the webagents pytest plugin's fixtures."""

from __future__ import annotations

import {package}
from {package} import {cls}
from webagents import BaseAgent
from webagents.plugins import get_skill
from webagents.testing import ScriptedModel, text, tool_call


def test_registers_under_its_name(register_plugin) -> None:
    register_plugin({package})
    assert get_skill("{name}") is {cls}


async def test_the_model_can_call_greet() -> None:
    model = ScriptedModel([tool_call("greet", {{"name": "Ada", "excited": True}}), text("Done.")])
    agent = BaseAgent("{name}-test", model=model, skills={{"{name}": {cls}()}})

    result = await agent.run("Say hello to Ada")

    assert result.content == "Done."
    assert model.requests[1]["messages"][-1]["content"] == "Hello, Ada!"
'''

_README = """\
# webagents-{name}

{title} skill for [webagents](https://pypi.org/project/webagents-net/) (the distribution
`webagents-net`, imported as `webagents`).

## Install

```
pip install -e .
```

This also installs its dependency, `{requirement}`.

The package registers the skill `{name}` through the `webagents` entry point group, so an
agent can name it: `BaseAgent("x", skills={{"{name}": "{name}"}})`, or use the class:
`from {package} import {cls}`.

## Test

```
pip install -e ".[test]"
pytest
```
"""


def core_requirement() -> str:
    """What a skill package depends on: this distribution from the running minor version on."""
    major, minor = __version__.split(".")[:2]
    return f"{DISTRIBUTION}>={major}.{minor}"


def new_skill_package(name: str, directory: Path) -> Path:
    """Write ``<directory>/webagents-<name>/`` and return its path."""
    if not _NAME.match(name):
        raise ValueError(
            f"skill name {name!r} must be lower-case words joined by '-', e.g. 'order-lookup'"
        )
    root = directory / f"webagents-{name}"
    if root.exists():
        raise FileExistsError(f"{root} already exists; choose another name or remove it")
    package = "webagents_" + name.replace("-", "_")
    cls = "".join(part.capitalize() for part in name.split("-")) + "Skill"
    title = name.replace("-", " ").capitalize()
    values = {
        "name": name,
        "package": package,
        "cls": cls,
        "title": title,
        "requirement": core_requirement(),
    }
    files = {
        root / "pyproject.toml": _PYPROJECT,
        root / "README.md": _README,
        root / package / "__init__.py": _MODULE,
        root / "tests" / f"test_{package}.py": _TESTS,
    }
    for path, template in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(template.format(**values), encoding="utf-8")
    return root
