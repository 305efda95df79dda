"""A loaded team served by create_app over real HTTP: the specialist keeps the session."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from webagents import BaseAgent
from webagents.server import create_app
from webagents.sessions.memory import InMemorySessionStore
from webagents.teams import load_team
from webagents.testing import ScriptedModel, transfer
from webagents.testing.served import ServedApp

TUTORS = Path(__file__).resolve().parent.parent / "examples" / "teams" / "homework_tutors.yaml"


def test_a_served_team_continues_a_session_with_its_specialist(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("WEBAGENTS_API_KEYS", raising=False)  # an open server
    team = load_team(TUTORS)
    models = {
        "triage_agent": ScriptedModel([transfer("math_tutor")]),
        "math_tutor": ScriptedModel(["2x.", "x^3/3."]),
        "history_tutor": ScriptedModel(),
    }
    for name, model in models.items():
        agent = team.agents[name]
        assert isinstance(agent, BaseAgent)
        agent.model = model
    app = create_app(team, sessions=InMemorySessionStore())
    with ServedApp(app) as served, httpx.Client(base_url=served.url) as client:
        assert {a["name"] for a in client.get("/agents").json()} >= set(models)

        def ask(text: str) -> str:
            response = client.post(
                "/agents/triage_agent/chat/completions",
                json={"model": "team", "messages": [{"role": "user", "content": text}]},
                headers={"X-Session-Id": "hw-1"},
            )
            assert response.status_code == 200, response.text
            content: str = response.json()["choices"][0]["message"]["content"]
            return content

        assert ask("Derivative of x^2?") == "2x."
        assert ask("And its integral?") == "x^3/3."  # math_tutor kept the conversation
    assert len(models["triage_agent"].requests) == 1
