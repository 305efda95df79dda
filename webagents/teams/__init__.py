"""Teams: agents that hand a conversation to one another, run like one agent.

``TeamBuilder`` declares a team in Python, ``load_team`` reads a YAML team file; both give a
``Team`` with its own agent network. Names load on first use, so ``import webagents.teams``
brings in neither YAML nor pydantic.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from webagents.teams.builder import TeamBuilder
    from webagents.teams.files import TeamFileError, load_team, team_schema
    from webagents.teams.team import Team

__all__ = [
    "Team",
    "TeamBuilder",
    "TeamFileError",
    "load_team",
    "team_schema",
]

_HOMES = {
    "Team": "webagents.teams.team",
    "TeamBuilder": "webagents.teams.builder",
    "TeamFileError": "webagents.teams.files",
    "load_team": "webagents.teams.files",
    "team_schema": "webagents.teams.files",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'webagents.teams' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value
