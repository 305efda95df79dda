"""``import webagents`` stays light: heavy dependencies load when first needed."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("openai", "pydantic", "httpx", "click", "importlib.metadata", "sqlite3")


def test_import_loads_no_heavy_dependency() -> None:
    probe = (
        "import json, sys; import webagents; "
        f"print(json.dumps([m for m in {list(HEAVY)!r} if m in sys.modules]))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert json.loads(done.stdout) == []


def test_stock_skills_and_plugin_registry_load_on_first_use() -> None:
    from webagents.agents.skills import DiscoverySkill, NLISkill, PaymentSkill
    from webagents.plugins import PluginRegistry, get_skill

    assert [cls.__name__ for cls in (DiscoverySkill, NLISkill, PaymentSkill)] == [
        "DiscoverySkill",
        "NLISkill",
        "PaymentSkill",
    ]
    assert PluginRegistry.__module__ == "webagents.plugins.manager" and callable(get_skill)
