"""docs/plugins.md documents every hook specification with its exact signature."""

from __future__ import annotations

import inspect
from pathlib import Path

from webagents.plugins.hookspecs import PluginSpecs

DOC = Path(__file__).parent.parent / "docs" / "plugins.md"


def test_every_hookspec_is_documented_with_its_signature() -> None:
    text = DOC.read_text(encoding="utf-8")
    specs = [
        (name, member)
        for name, member in vars(PluginSpecs).items()
        if callable(member) and not name.startswith("_")
    ]
    assert {name for name, _ in specs} == {"register_skills", "register_models", "register_tools"}
    for name, member in specs:
        parameters = [p for p in inspect.signature(member).parameters if p != "self"]
        heading = f"### `{name}({', '.join(parameters)})`"
        assert heading in text, f"docs/plugins.md lacks the heading {heading}"
