"""examples/paid_expert.py runs offline: as a script in a real interpreter, and imported."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from types import ModuleType

import pytest

from webagents.agents.skills.payment import Ledger

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "examples" / "paid_expert.py"


@pytest.fixture
def paid_expert(load_example: Callable[[str], ModuleType]) -> ModuleType:
    """The example imported from its path, offline."""
    return load_example("paid_expert")


def test_the_script_runs_and_prints_the_turns_and_statements(
    tmp_path: Path, run_example: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    done = run_example("paid_expert", "--ledger", str(tmp_path / "ledger.db"))

    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    lines = done.stdout.splitlines()
    assert "  tax-expert: Yes, within limits: ...  [balance 2.50]" in lines
    assert "  tax-expert: Yes, within limits: ...  [balance 0.00]" in lines
    assert "  opening-hours: 9 to 5, Monday to Friday.  [balance 1.00]" in lines
    assert lines.count("Statement of ada:") == 1
    ledger = Ledger(tmp_path / "ledger.db")
    assert (ledger.balance("ada"), ledger.balance("bob")) == (0, 1)
    charges = [e for e in ledger.statement("ada") if e["kind"] == "charge"]
    assert [e["amount"] for e in charges] == [Decimal("2.5")] * 2  # the float price, exactly


def test_a_kept_ledger_is_not_topped_up_twice(
    tmp_path: Path, run_example: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    ledger_file = tmp_path / "ledger.db"
    for _ in range(2):
        done = run_example("paid_expert", "--ledger", str(ledger_file))
        assert done.returncode == 0, done.stderr

    ledger = Ledger(ledger_file)
    assert (ledger.balance("ada"), ledger.balance("bob")) == (0, 1)
    assert [e["kind"] for e in ledger.statement("ada")] == ["charge", "charge", "credit"]


def test_handoffs_are_paid_for_vetoed_or_free(
    paid_expert: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    turns = paid_expert.main(tmp_path / "ledger.db")

    summary = [(t.user, t.agent, t.handoff_succeeded, t.balance) for t in turns]
    assert summary == [
        ("ada", "tax-expert", True, Decimal("2.5")),
        ("ada", "tax-expert", True, Decimal(0)),
        ("ada", "front-desk", False, Decimal(0)),  # 2.5 more is not covered
        ("bob", "front-desk", False, Decimal(1)),
        (None, "front-desk", False, None),  # a visitor: declined, not a crash
        ("bob", "opening-hours", True, Decimal(1)),  # a free agent: nothing charged
    ]
    assert all(t.answer == paid_expert.FREE_OVERVIEW for t in turns if not t.handoff_succeeded)
    assert "(visitor): Quick tax question about my pension?" in capsys.readouterr().out


def test_without_a_ledger_path_nothing_is_left_behind(
    paid_expert: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEBAGENTS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr("tempfile.tempdir", None)  # read TMPDIR again

    assert len(paid_expert.main()) == len(paid_expert.CONVERSATIONS)

    assert list((tmp_path / "tmp").iterdir()) == []
    assert not (tmp_path / "home").exists()
