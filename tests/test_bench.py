"""The benchmark code (``bench/``), run once at a tiny size so it cannot rot.

Only our side runs (the peer's virtualenv is not needed) and no time is asserted: results
must have their keys, durations must be positive, and the orchestrator's report must hold
the figures the issue asks for.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from webagents.models.base import Model

BENCH = Path(__file__).resolve().parents[1] / "bench"
TINY = {"rounds": 1, "round_s": 0.001}
HEADLINE = (
    "handoff_us",
    "run_us",
    "tool_us",
    "concurrent_us_per_run",
    "import_s",
    "http_overhead_ratio",
    "session_turn_us",
    "session_growth_memory",
    "session_growth_sqlite",
)


@pytest.fixture
def ours(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(BENCH))  # workloads_ours imports the shared _harness
    return importlib.import_module("workloads_ours")


@pytest.fixture
def orchestrator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_run", BENCH / "run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


def positive(result: dict[str, Any], *keys: str) -> None:
    for key in keys:
        value = result[key]
        assert isinstance(value, float) and math.isfinite(value) and value > 0, (key, value)


def finite(result: dict[str, Any], *keys: str) -> None:
    """Differences of two timings (what a handoff or a tool round trip adds) may be noisy."""
    for key in keys:
        assert isinstance(result[key], float) and math.isfinite(result[key]), key


def test_the_fake_model_is_a_model(ours: ModuleType) -> None:
    assert isinstance(ours.FakeModel(), Model)


async def test_handoff_workload(ours: ModuleType) -> None:
    result = await ours.handoff(size=3, **TINY)
    assert result["workload"] == "handoff" and result["handoffs"] == 2
    positive(result, "chain_us", "single_run_us")
    finite(result, "handoff_us")


async def test_run_workload(ours: ModuleType) -> None:
    result = await ours.run(**TINY)
    positive(result, "run_us")


async def test_tool_workload(ours: ModuleType) -> None:
    result = await ours.tool(**TINY)
    positive(result, "tool_run_us", "single_run_us")
    finite(result, "tool_us")


async def test_concurrent_workload(ours: ModuleType) -> None:
    result = await ours.concurrent(size=5, **TINY)
    assert result["size"] == 5
    positive(result, "us_per_run", "batch_ms", "rss_before_mb", "peak_rss_mb")
    assert result["gc_us_per_run"] >= 0


def test_import_workload(ours: ModuleType) -> None:
    result = ours.import_time(rounds=1)
    positive(result, "import_s", "import_rss_mb", "baseline_rss_mb")


async def test_http_workload_against_its_own_fake_server(ours: ModuleType) -> None:
    result = await ours.http(**TINY)
    positive(result, "http_overhead_ratio", "agent_turn_us", "bare_client_us")


async def test_session_workload(ours: ModuleType) -> None:
    result = await ours.session(size=30, turns=4, **TINY)
    assert result["sizes"] == [10, 30]
    assert set(result["session_turn_us"]) == {"memory", "sqlite"}
    for store, by_size in result["session_turn_us"].items():
        assert set(by_size) == {"10", "30"}
        finite(by_size, "10", "30")
        positive(result["session_us"][store], "10", "30")
    positive(result["without_session_us"], "10", "30")
    positive(result["messages_us"], "10", "30")


async def test_session_turns_keep_their_sessions_at_size(ours: ModuleType) -> None:
    """A timed turn finds the session's size (+ 2 per earlier turn on it, up to quota - 1),
    and its model is sent all of it; the turn itself checks what the model was sent."""
    store = ours.InMemorySessionStore()
    agent = ours.BaseAgent("bench", ours.INSTRUCTIONS, model=ours.CountingModel(), sessions=store)
    turn = [{"role": "user", "content": "hello"}, {"role": "assistant", "content": "done"}]
    sessions = ours.SessionsAt(agent, turn, 300, turns=7)  # 3 sessions of 3 turns at a time
    for _ in range(2 * 9 + 1):
        assert await sessions.turn() > 0
    held = sorted(info.messages for info in await store.list_sessions())
    assert held == [300, 300, 302]  # the spent ones were deleted; one turn on the third set


def test_the_cli_prints_one_json_line() -> None:
    script = str(BENCH / "workloads_ours.py")
    done = subprocess.run(
        [sys.executable, script, "run", "--rounds", "1", "--round-ms", "1"],
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["workload"] == "run"
    positive(result, "run_us", "peak_rss_mb")


def test_every_job_of_the_orchestrator_exists_on_our_side(
    ours: ModuleType, orchestrator: ModuleType
) -> None:
    for mode in (orchestrator.QUICK, orchestrator.FULL):
        for group, processes in orchestrator.groups(mode, "http://127.0.0.1:9/v1"):
            assert set(processes) == {"ours", "peer"} and min(processes.values()) >= 1
            for _, name, options in group:
                assert name in ours.WORKLOADS
                assert set(options) <= {"size", "rounds", "round_ms", "url"}


def _raw(scale: float) -> dict[str, Any]:
    """Raw workload results of one side, shaped as the workload CLIs print them."""
    return {
        "handoff": {"handoff_us": 30 * scale},
        "run": {"run_us": 15 * scale},
        "tool": {"tool_us": 12 * scale},
        "concurrent": {
            str(n): {
                "us_per_run": 80 * scale * (1 + n / 1000),
                "gc_us_per_run": 10 * scale,
                "peak_rss_mb": 40.0 + n / 100,
            }
            for n in (10, 100, 1000)
        },
        "import": {"import_s": 0.2 * scale, "import_rss_mb": 35.0, "import_rss_delta_mb": 15.0},
        "http": {"http_overhead_ratio": 1.02, "agent_turn_us": 1900.0, "bare_client_us": 1860.0},
        "session": {
            "session_turn_us": {
                "memory": {"10": 20 * scale, "10000": 25 * scale},
                "sqlite": {"10": 900 * scale, "10000": 2000 * scale},
            }
        },
    }


def test_the_report_holds_both_sides_and_the_targets(orchestrator: ModuleType) -> None:
    report = orchestrator.report(_raw(1), _raw(50), mode="quick")
    for key in HEADLINE:
        assert key in report and key in report["peer"], key
    assert report["peer"]["run_us"] == 50 * report["run_us"]
    assert report["concurrent_us_per_run"] == report["concurrent"]["1000"]["us_per_run"]
    assert report["targets_met"]["run_us"] is True
    assert report["targets_met"]["concurrency_scaling"] is False  # 2x from 10 to 1000
    assert report["targets_met"]["import_s"] is True
    assert report["session_turn_us"]["sqlite"]["10000"] == 2000
    assert report["session_growth_memory"] == 1.25 and report["session_growth_sqlite"] > 2
    assert report["targets_met"]["session_growth_memory"] is True
    assert report["targets_met"]["session_growth_sqlite"] is False
    json.dumps(report)
    table, met = orchestrator.summarise(
        orchestrator.figures(_raw(1)), orchestrator.figures(_raw(50))
    )
    assert met == report["targets_met"]
    assert "handoff (us per handoff)" in table and "50.0x" in table


def test_a_side_without_a_store_shows_a_dash(orchestrator: ModuleType) -> None:
    """The peer has no memory store: its figures lack it, the table shows "-"."""
    peer = _raw(50)
    del peer["session"]["session_turn_us"]["memory"]
    figures = orchestrator.figures(peer)
    assert "session_growth_memory" not in figures and figures["session_growth_sqlite"] > 2
    table, met = orchestrator.summarise(orchestrator.figures(_raw(1)), figures)
    row = next(line for line in table.splitlines() if line.startswith("session turn, memory"))
    assert row.split()[-3:] == ["20.0", "-", "-"]
    assert met["session_growth_memory"] is True  # the target is on our side
    ours_alone = orchestrator.figures(peer)
    assert orchestrator.summarise(ours_alone, figures)[1]["session_growth_memory"] is False


def test_results_of_several_processes_merge_to_medians(orchestrator: ModuleType) -> None:
    runs = [{"workload": "concurrent", "size": 10, "us_per_run": float(v)} for v in (3, 1, 2)]
    merged = orchestrator.merge(runs)
    assert merged == {"workload": "concurrent", "size": 10, "us_per_run": 2.0, "processes": 3}
