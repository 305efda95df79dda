"""``webagents run TARGET --message ...`` through the real entry point, in subprocesses: the
answer, ``--debug`` lines, ``--json``, sessions continued in the SQLite store, and one-line
errors (never a traceback) for bad input."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from webagents.testing import FakeOpenAIServer, transfer
from webagents.testing.replies import ReplyLike

WEBAGENTS = str(Path(sys.executable).parent / "webagents")

# A front desk that hands invoice questions to billing, whose tool looks the invoice up.
AGENTS = '''
from webagents import BaseAgent
from webagents.testing import ScriptedModel, text, tool_call, transfer


def last_user(request):
    return next(m["content"] for m in reversed(request["messages"]) if m["role"] == "user")


def desk_model(request):
    said = last_user(request)
    if "invoice" in said:
        return transfer("billing", "an invoice question")
    return text(f"desk heard: {said}")


def billing_model(request):
    last = request["messages"][-1]
    if last["role"] == "tool" and "charged" in last["content"]:
        return text(f"billing says: {last['content']}")
    return tool_call("lookup", {"invoice": "INV-7"})


def lookup(invoice: str) -> str:
    """Look an invoice up.

    Args:
        invoice: The invoice number.
    """
    return f"{invoice} was charged twice"


billing = BaseAgent("billing", model=ScriptedModel(responder=billing_model), tools=[lookup])
desk = BaseAgent("desk", model=ScriptedModel(responder=desk_model), handoffs=[billing])
agents = {"start": desk, "billing": billing}
'''


@pytest.fixture
def agents_file(tmp_path: Path) -> Path:
    path = tmp_path / "agents.py"
    path.write_text(AGENTS)
    return path


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """No OpenAI settings, no session store named: conversations go to sessions.db in a
    WEBAGENTS_HOME of the test's own."""
    drop = ("OPENAI_", "WEBAGENTS_SESSIONS", "WEBAGENTS_HOME")
    clean = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    return {**clean, "WEBAGENTS_HOME": str(tmp_path / "home"), "PYTHONIOENCODING": "utf-8"}


def webagents(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [WEBAGENTS, *args],
        env=env,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
        check=False,
    )


def test_the_answer_of_the_agent_the_desk_handed_off_to(
    agents_file: Path, env: dict[str, str]
) -> None:
    done = webagents(env, "run", str(agents_file), "--message", "my invoice is wrong")
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == "billing says: INV-7 was charged twice\n"


def test_debug_prints_a_line_per_handoff_and_tool_call(
    agents_file: Path, env: dict[str, str]
) -> None:
    done = webagents(env, "run", f"{agents_file}:agents", "-m", "my invoice", "--debug")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "billing says: INV-7 was charged twice\n"
    assert done.stderr.splitlines() == [
        "handoff desk -> billing (trigger: llm, reason: an invoice question)",
        'tool billing: lookup({"invoice": "INV-7"})',
        "answered by billing",
    ]


def test_json_prints_the_run_result(agents_file: Path, env: dict[str, str]) -> None:
    done = webagents(env, "run", str(agents_file), "-m", "my invoice", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["content"] == "billing says: INV-7 was charged twice"
    assert result["agent"] == "billing"
    assert result["handoff_chain"] == ["desk", "billing"]
    [handoff] = result["handoffs"]
    assert (handoff["from_agent"], handoff["to_agent"], handoff["success"]) == (
        "desk",
        "billing",
        True,
    )
    assert result["session_id"] is None
    assert set(result["usage"]) >= {"prompt_tokens", "completion_tokens"}


def test_a_session_continues_with_the_specialist_in_the_sqlite_store(
    agents_file: Path, env: dict[str, str], tmp_path: Path
) -> None:
    first = webagents(env, "run", str(agents_file), "-m", "my invoice", "--session", "s1")
    assert first.returncode == 0, first.stderr
    assert (tmp_path / "home" / "sessions.db").is_file()

    # no invoice word: the desk would answer itself, but billing owns the conversation
    again = webagents(env, "run", str(agents_file), "-m", "and now?", "--session", "s1", "--json")
    assert again.returncode == 0, again.stderr
    result = json.loads(again.stdout)
    assert (result["agent"], result["handoff_chain"], result["session_id"]) == (
        "billing",
        ["billing"],
        "s1",
    )

    other = webagents(env, "run", str(agents_file), "-m", "and now?", "--session", "s2")
    assert other.stdout == "desk heard: and now?\n"


def test_webagents_sessions_names_the_store(
    agents_file: Path, env: dict[str, str], tmp_path: Path
) -> None:
    env["WEBAGENTS_SESSIONS"] = f"sqlite:///{tmp_path / 'chosen.db'}"
    for message, answer in [("my invoice", "billing says"), ("and now?", "billing says")]:
        done = webagents(env, "run", str(agents_file), "-m", message, "--session", "s")
        assert done.stdout.startswith(answer), done.stderr
    assert (tmp_path / "chosen.db").is_file()
    assert not (tmp_path / "home" / "sessions.db").exists()


def test_an_openai_model_behind_openai_base_url(tmp_path: Path, env: dict[str, str]) -> None:
    target = tmp_path / "remote_model.py"
    target.write_text(
        "from webagents import BaseAgent\nhelper = BaseAgent('helper', model='openai/fake-model')\n"
    )
    with FakeOpenAIServer(["served over HTTP"]) as server:
        env.update(OPENAI_BASE_URL=server.url, OPENAI_API_KEY="test-key")
        done = webagents(env, "run", str(target), "-m", "hello")
        [request] = server.requests
    assert (done.returncode, done.stdout, done.stderr) == (0, "served over HTTP\n", "")
    assert request["messages"][-1] == {"role": "user", "content": "hello"}


def one_line_error(done: subprocess.CompletedProcess[str], code: int) -> str:
    assert done.returncode == code, (done.stdout, done.stderr)
    assert done.stdout == ""
    assert "Traceback" not in done.stderr
    [line] = done.stderr.splitlines()
    assert line.startswith("Error: ")
    return line


def test_a_missing_file(env: dict[str, str], tmp_path: Path) -> None:
    line = one_line_error(webagents(env, "run", str(tmp_path / "nope.py"), "-m", "hi"), 2)
    assert "nope.py" in line and "check the path" in line


def test_a_file_whose_code_raises(env: dict[str, str], tmp_path: Path) -> None:
    broken = tmp_path / "broken.py"
    broken.write_text("raise RuntimeError('the database is gone')\n")
    line = one_line_error(webagents(env, "run", str(broken), "-m", "hi"), 2)
    assert "RuntimeError: the database is gone" in line and "--debug" in line


def test_an_unknown_agent(agents_file: Path, env: dict[str, str]) -> None:
    done = webagents(env, "run", str(agents_file), "-m", "hi", "--agent", "biling")
    line = one_line_error(done, 2)
    assert "unknown agent 'biling'" in line and "did you mean 'billing'" in line


def test_an_openai_model_without_a_key(env: dict[str, str], tmp_path: Path) -> None:
    target = tmp_path / "keyless.py"
    target.write_text(
        textwrap.dedent(
            """
            from webagents import BaseAgent
            helper = BaseAgent('helper', model='openai/gpt-4o-mini')
            """
        )
    )
    line = one_line_error(webagents(env, "run", str(target), "-m", "hi"), 1)
    assert "OPENAI_API_KEY" in line


def test_python_dash_m_runs_the_same_command(agents_file: Path, env: dict[str, str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "webagents", "run", str(agents_file), "-m", "hello"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert (done.returncode, done.stdout) == (0, "desk heard: hello\n"), done.stderr


# team files ---------------------------------------------------------------------------------

TEAM = """\
name: Support
start: desk
agents:
  - name: desk
    description: Routes customers
    instructions: You are desk.
    model: openai/fake-model
    can_transfer_to: [billing]
  - name: billing
    description: Invoices and refunds
    instructions: You are billing.
    model: openai/fake-model
"""


def team_model(request: dict[str, Any]) -> ReplyLike:
    """desk hands invoice questions to billing; each agent says who it is."""
    messages = request["messages"]
    me = messages[0]["content"].removeprefix("You are ").rstrip(".")
    offered = {tool["function"]["name"] for tool in request.get("tools") or ()}
    said = next(m["content"] for m in reversed(messages) if m["role"] == "user")
    if "transfer_to_billing" in offered and "invoice" in said:
        return transfer("billing", "an invoice")
    return f"{me} answers: {said}"


@pytest.fixture
def team_file(tmp_path: Path) -> Path:
    path = tmp_path / "team.yaml"
    path.write_text(TEAM)
    return path


def test_a_team_file_runs_from_its_start_agent(team_file: Path, env: dict[str, str]) -> None:
    with FakeOpenAIServer(responder=team_model) as server:
        env.update(OPENAI_BASE_URL=server.url, OPENAI_API_KEY="test-key")
        done = webagents(env, "run", str(team_file), "-m", "my invoice", "--json", "--debug")
        again = webagents(env, "run", str(team_file), "-m", "hello", "--agent", "billing")
        in_code = team_file.with_name("team_in_code.py")
        in_code.write_text(
            f"from webagents.teams import load_team\nteam = load_team({str(team_file)!r})\n"
        )
        from_code = webagents(env, "run", f"{in_code}:team", "-m", "an invoice", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert (result["content"], result["handoff_chain"]) == (
        "billing answers: my invoice",
        ["desk", "billing"],
    )
    assert "handoff desk -> billing (trigger: llm, reason: an invoice)" in done.stderr
    assert again.stdout == "billing answers: hello\n", again.stderr
    # a Team object in code runs from its start agent too
    assert json.loads(from_code.stdout)["handoff_chain"] == ["desk", "billing"], from_code.stderr


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda team: team.replace("agents:", "agents: [", 1), "team.yaml:4: invalid YAML"),
        (lambda team: team.replace("    model: openai/fake-model\n", "", 1), "model"),
        (lambda team: team.replace("[billing]", "[biling]"), "biling"),
    ],
    ids=["invalid-yaml", "no-model", "unknown-target"],
)
def test_a_bad_team_file_is_one_line(
    change: Callable[[str], str], named: str, team_file: Path, env: dict[str, str]
) -> None:
    team_file.write_text(change(TEAM))
    line = one_line_error(webagents(env, "run", str(team_file), "-m", "hi"), 2)
    assert "team.yaml" in line and named in line


def test_a_team_of_openai_agents_without_a_key(team_file: Path, env: dict[str, str]) -> None:
    line = one_line_error(webagents(env, "run", str(team_file), "-m", "hi"), 1)
    assert "OPENAI_API_KEY" in line


def test_serve_loads_a_team_file(team_file: Path) -> None:
    from webagents.server.loading import load_target
    from webagents.server.targets import served_agents

    team = load_target(str(team_file))
    assert sorted(served_agents(team).agents) == ["billing", "desk"]


def test_docs_cli_md_documents_every_command_and_option() -> None:
    """docs/cli.md has a section per command, naming each of its options."""
    from webagents.cli import main

    page = (Path(__file__).resolve().parents[1] / "docs" / "cli.md").read_text()
    sections = dict(re.findall(r"^## `webagents ([\w-]+)`\n(.*?)(?=^## |\Z)", page, re.M | re.S))
    missing = []
    for name, command in main.commands.items():
        if name not in sections:
            missing.append(name)
            continue
        for param in command.params:
            flags = [f for f in getattr(param, "opts", ()) if f.startswith("--")]
            if flags and not any(flag in sections[name] for flag in flags):
                missing.append(f"{name} {flags[0]}")
    assert not missing, f"docs/cli.md does not document: {missing}"


def test_debug_lines_show_while_the_run_goes_on(team_file: Path, env: dict[str, str]) -> None:
    """The handoff line is printed before the target has answered: billing's model call
    waits until the test has read that line from the running command."""
    seen_handoff = threading.Event()

    def model(request: dict[str, Any]) -> ReplyLike:
        if request["messages"][0]["content"] == "You are billing.":
            assert seen_handoff.wait(60), "the handoff line never showed while billing waited"
        return team_model(request)

    with FakeOpenAIServer(responder=model) as server:
        env.update(OPENAI_BASE_URL=server.url, OPENAI_API_KEY="test-key")
        command = subprocess.Popen(
            [WEBAGENTS, "run", str(team_file), "-m", "my invoice", "--debug"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )
        try:
            assert command.stderr is not None
            first = command.stderr.readline()  # blocks until the command prints it
            seen_handoff.set()
            out, rest = command.communicate(timeout=120)
        finally:
            seen_handoff.set()
            if command.poll() is None:
                command.kill()
    assert first == "handoff desk -> billing (trigger: llm, reason: an invoice)\n"
    assert out == "billing answers: my invoice\n"
    assert rest.splitlines() == ["answered by billing"]
    assert command.returncode == 0
