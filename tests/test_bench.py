"""The benchmark code (``bench/``), run once at a tiny size so it cannot rot.

Only our side runs (the peer's virtualenv is not needed) and no time is asserted: results
must have their keys, durations must be positive, and the orchestrator's report must hold
the figures the issue asks for.

The server workload runs its real uvicorn processes here, but ``make test`` does not need
``wrk``: the load comes from ``python_load`` below (a few asyncio connections, tests only),
and wrk's output is parsed from a recorded run. The one test that drives the real wrk needs
it installed (``make test`` installs it; under CI a missing wrk fails that test).
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
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
SERVER_HEADLINE = (
    "server_rps",
    "server_p99_ms",
    "server_stream_rps",
    "server_floor_rps",
    "server_floor_p99_ms",
    "server_stream_floor_rps",
    "remote_turn_ratio",
)


@pytest.fixture
def ours(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(BENCH))  # workloads_ours imports the shared _harness
    return importlib.import_module("workloads_ours")


@pytest.fixture
def servers(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(BENCH))  # bench modules import each other by name
    return importlib.import_module("workloads_server")


@pytest.fixture
def load(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(BENCH))
    return importlib.import_module("load")


@pytest.fixture
def orchestrator(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(BENCH))
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


@pytest.fixture
def harness(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(BENCH))
    return importlib.import_module("_harness")


async def test_a_slow_first_call_does_not_shrink_an_ops_batch(harness: ModuleType) -> None:
    """An op whose first call is slow (one opening a connection) is batched as its later
    calls are: sized from its warm-up it got a batch of 1, so every round's figure held
    the cold call after the round's ``gc.collect()``."""
    calls = 0

    async def opens_then_fast() -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            await asyncio.sleep(0.05)

    samples = await harness.measure({"op": opens_then_fast}, rounds=1, round_s=0.005)
    assert len(samples["op"]) == 1
    assert calls > 50  # warm-up, sizing and one round of a batch sized by the fast calls


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


def run_workload(name: str) -> dict[str, Any]:
    """One of our workloads at the smallest size, in a process of its own: its JSON line."""
    script = str(BENCH / "workloads_ours.py")
    done = subprocess.run(
        [sys.executable, script, name, "--rounds", "1", "--round-ms", "1"],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["workload"] == name
    return result


def test_the_cli_prints_one_json_line() -> None:
    result = run_workload("run")
    positive(result, "run_us", "peak_rss_mb")


def test_the_traced_run_workload_in_its_own_process() -> None:
    """In a process of its own: it sets the global tracer provider, which stays set."""
    result = run_workload("run_traced")
    positive(result, "run_us", "run_traced_us")
    assert result["tracing_overhead_us"] == result["run_traced_us"] - result["run_us"]


def test_every_job_of_the_orchestrator_exists_on_our_side(
    ours: ModuleType, servers: ModuleType, orchestrator: ModuleType
) -> None:
    for mode in (orchestrator.QUICK, orchestrator.FULL):
        for group, processes in orchestrator.groups(mode, "http://127.0.0.1:9/v1"):
            assert set(processes) == {"ours", "peer"} and processes["ours"] >= 1
            for _, name, options in group:
                assert name in ours.WORKLOADS
                assert set(options) <= {"size", "rounds", "round_ms", "url"}
                assert (processes["peer"] == 0) == (name == "run_traced"), name
        for name, options in orchestrator.server_jobs(mode):
            assert name in servers.WORKLOADS
            assert set(options) <= {"size", "rounds", "round_ms"}


SERVER_RAW = {
    "server": {
        "server_rps": 1900.0,
        "server_p99_ms": 12.0,
        "server_stream_rps": 900.0,
        "server_stream_p99_ms": 30.0,
        "server_floor_rps": 6000.0,
        "server_floor_p99_ms": 5.0,
        "server_stream_floor_rps": 2000.0,
        "server_stream_floor_p99_ms": 20.0,
        "loop": "asyncio",
        "http": "h11",
    },
    "remote_turn": {
        "remote_turn_ratio": 1.1,
        "remote_turn_httpx_ratio": 1.3,
        "remote_turn_us": 2200.0,
        "bare_client_us": 2000.0,
        "bare_httpx_us": 1700.0,
    },
}


def _raw(scale: float, server: bool = False) -> dict[str, Any]:
    """Raw workload results of one side, shaped as the workload CLIs print them (with our
    server's when ``server``)."""
    return {
        **(SERVER_RAW if server else {}),
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
    report = orchestrator.report(_raw(1, server=True), _raw(50), mode="quick")
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
        orchestrator.figures(_raw(1, server=True)), orchestrator.figures(_raw(50))
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


def test_a_job_with_no_process_for_a_side_runs_only_on_the_other(
    orchestrator: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    ran: list[tuple[str, str]] = []

    def workload(python: str, script: str, name: str, **options: Any) -> dict[str, Any]:
        ran.append((python, name))
        return {"workload": name, "us": 1.0}

    monkeypatch.setattr(orchestrator, "workload", workload)
    sides = {"ours": ("ours-python", "ours.py"), "peer": ("peer-python", "peer.py")}
    raw = orchestrator.measure(sides, orchestrator.QUICK, "http://127.0.0.1:9/v1")
    processes = orchestrator.QUICK.processes
    assert ran.count(("ours-python", "run_traced")) == processes
    assert ("peer-python", "run_traced") not in ran
    assert ran.count(("peer-python", "run")) == processes
    assert "run_traced" in raw["ours"] and "run_traced" not in raw["peer"]
    assert raw["ours"]["run_traced"]["processes"] == processes


def test_the_traced_run_is_reported_ours_only_without_a_target(orchestrator: ModuleType) -> None:
    ours = {**_raw(1), "run_traced": {"run_traced_us": 95.0, "tracing_overhead_us": 80.0}}
    report = orchestrator.report(ours, _raw(50), mode="quick")
    assert (report["run_traced_us"], report["tracing_overhead_us"]) == (95.0, 80.0)
    assert "run_traced_us" not in report["peer"] and "tracing_overhead_us" not in report["peer"]
    assert "run_traced_us" not in report["targets_met"]
    table, _ = orchestrator.summarise(orchestrator.figures(ours), orchestrator.figures(_raw(50)))

    def row(label: str) -> list[str]:
        line = next(line for line in table.splitlines() if line.startswith(label + "  "))
        return line[len(label) :].split()

    assert row("run, traced (us per one-turn run)") == ["95.0", "-", "-"]
    assert row("  of which tracing (us)") == ["80.0", "-", "-"]


def test_results_of_several_processes_merge_to_medians(orchestrator: ModuleType) -> None:
    runs = [{"workload": "concurrent", "size": 10, "us_per_run": float(v)} for v in (3, 1, 2)]
    merged = orchestrator.merge(runs)
    assert merged == {"workload": "concurrent", "size": 10, "us_per_run": 2.0, "processes": 3}


def test_nested_figures_merge_to_medians_too(orchestrator: ModuleType) -> None:
    runs = [
        {"workload": "session", "session_turn_us": {"memory": {"10": float(v), "10000": 9.0 * v}}}
        for v in (30, 10, 20)
    ]
    merged = orchestrator.merge(runs)
    assert merged["session_turn_us"] == {"memory": {"10": 20.0, "10000": 180.0}}
    assert merged["processes"] == 3


def test_the_report_holds_the_server_figures_ours_only(orchestrator: ModuleType) -> None:
    report = orchestrator.report(_raw(1, server=True), _raw(50), mode="quick")
    for key in SERVER_HEADLINE:
        assert key in report and key not in report["peer"], key
    met = report["targets_met"]
    assert met["server_rps"] is False  # 1900 < 0.4 x 6000
    assert met["server_p99_ms"] is True  # 12 <= 3 x 5
    assert met["server_stream_rps"] is False  # 900 < 0.5 x 2000
    assert met["remote_turn_ratio"] is True
    table, _ = orchestrator.summarise(
        orchestrator.figures(_raw(1, server=True)), orchestrator.figures(_raw(50))
    )

    def row(label: str) -> list[str]:
        line = next(line for line in table.splitlines() if line.startswith(label + "  "))
        return line[len(label) :].split()

    assert row("server (req/s)") == ["1900", "-", "-", ">=", "0.4", "x", "floor", "NO"]
    assert row("server floor (req/s)") == ["6000", "-", "-"]
    assert row("server p99 (ms)") == ["12.00", "-", "-", "<=", "3", "x", "floor's", "p99", "yes"]
    assert row("remote turn / bare client") == ["1.100", "-", "-", "ours", "<=", "1.2", "yes"]


def test_without_server_figures_their_targets_are_not_met(orchestrator: ModuleType) -> None:
    _, met = orchestrator.summarise(orchestrator.figures(_raw(1)), orchestrator.figures(_raw(1)))
    for key in ("server_rps", "server_p99_ms", "server_stream_rps", "remote_turn_ratio"):
        assert met[key] is False, key


# the server benchmark ------------------------------------------------------------------------

# What ``wrk -s bench/wrk_post.lua`` printed in a run against the floor (Debian's wrk 4.1.0).
RECORDED_WRK = """\
Running 2s test @ http://127.0.0.1:33165/agents/bench/chat/completions
  1 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     2.55ms    1.21ms  21.60ms   86.37%
    Req/Sec     6.50k     1.02k    7.44k    85.71%
  13651 requests in 2.10s, 3.27MB read
Requests/sec:   6497.42
Transfer/sec:      1.56MB
BENCH_WRK_JSON {"requests": 13651, "duration_us": 2100987, "bytes": 3430000, \
"errors": {"connect": 0, "read": 0, "write": 0, "status": 2, "timeout": 0}, \
"latency_us": {"mean": 2546.6, "stdev": 1210.3, "p50": 2301, "p90": 3507, "p99": 7922, \
"max": 21600}}
"""


def test_wrk_output_is_read_from_its_result_line(load: ModuleType) -> None:
    result = load.parse_wrk(RECORDED_WRK)
    assert (result.requests, result.seconds) == (13651, 2.100987)
    assert (result.p99_ms, result.mean_ms) == pytest.approx((7.922, 2.5466))
    assert result.rps == pytest.approx(6497.4, abs=0.1)
    assert result.errors == {"connect": 0, "read": 0, "write": 0, "status": 2, "timeout": 0}
    with pytest.raises(ValueError, match="no BENCH_WRK_JSON line"):
        load.parse_wrk(RECORDED_WRK.split("BENCH_WRK_JSON")[0])


def test_without_wrk_the_server_workload_says_how_to_install_it(
    servers: ModuleType, load: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(load.WrkMissingError, match=r"scripts/install-wrk\.sh"):
        servers.server()


def test_streamed_answers_split_into_their_events(servers: ModuleType) -> None:
    apps = importlib.import_module("server_apps")
    sent = b'data: {"a": 1}\n\ndata: {"b": 2}\r\n\r\ndata: [DONE]\n\n'
    assert apps.split_events(sent) == [
        b'data: {"a": 1}\n\n',
        b'data: {"b": 2}\r\n\r\n',
        b"data: [DONE]\n\n",
    ]
    assert apps.split_events(b"data: x\n\ndata: cut") == [b"data: x\n\n", b"data: cut"]


def python_load(url: str, body: str, connections: int, seconds: float, cpu: int | None) -> Any:
    """A small load generator for tests (``wrk`` is for the benchmark): ``connections``
    asyncio workers POST ``body`` back to back for ``seconds``; nothing is pinned."""
    load = sys.modules["load"]

    async def generate() -> tuple[list[float], int, float]:
        latencies: list[float] = []
        failed = 0
        limits = httpx.Limits(max_connections=connections)
        async with httpx.AsyncClient(limits=limits) as client:
            started = time.perf_counter()
            deadline = started + seconds

            async def worker() -> None:
                nonlocal failed
                while time.perf_counter() < deadline:
                    sent = time.perf_counter()
                    response = await client.post(
                        url, content=body, headers={"content-type": "application/json"}
                    )
                    latencies.append(time.perf_counter() - sent)
                    failed += response.status_code != 200

            await asyncio.gather(*(worker() for _ in range(connections)))
            return latencies, failed, time.perf_counter() - started

    latencies, failed, elapsed = asyncio.run(generate())
    p99 = statistics.quantiles(latencies, n=100)[98] if len(latencies) > 1 else latencies[0]
    return load.LoadResult(
        requests=len(latencies),
        seconds=elapsed,
        p99_ms=p99 * 1000,
        mean_ms=statistics.mean(latencies) * 1000,
        errors={"status": failed},
    )


def test_server_workload_measures_ours_and_the_floor(servers: ModuleType) -> None:
    result = servers.server(size=2, rounds=1, round_s=0.2, load=python_load)
    assert result["workload"] == "server" and result["load"] == "python_load"
    for prefix in ("server", "server_floor", "server_stream", "server_stream_floor"):
        positive(result, f"{prefix}_rps", f"{prefix}_p99_ms")
        [run] = result["runs"][prefix]
        assert run["requests"] > 0 and run["errors"] == {"status": 0}
    assert result["response_bytes"] > 0 and result["stream_events"] >= 2
    assert result["connections"] == 2 and result["loop"] in ("asyncio", "uvloop")
    json.dumps(result)


async def test_remote_turn_workload(servers: ModuleType) -> None:
    result = await servers.remote_turn(**TINY)
    assert result["workload"] == "remote_turn" and result["messages_sent"] >= 2
    positive(result, "remote_turn_ratio", "remote_turn_us", "bare_client_us")
    positive(result, "remote_turn_httpx_ratio", "bare_httpx_us")


async def test_the_http_workload_runs_against_the_fake_llm_process(
    ours: ModuleType, load: ModuleType
) -> None:
    with load.Served(BENCH / "fake_llm.py") as fake_llm:
        result = await ours.http(url=fake_llm.url, **TINY)
        request = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
        async with httpx.AsyncClient() as client:
            answer = (await client.post(f"{fake_llm.url}/chat/completions", json=request)).json()
        assert fake_llm.process is not None and fake_llm.process.poll() is None
    positive(result, "http_overhead_ratio", "agent_turn_us", "bare_client_us")
    assert answer["choices"][0]["message"]["content"] == "echo: hi"
    assert fake_llm.process is None  # stopped on leaving


def test_wrk_drives_the_floor_through_the_lua_script(load: ModuleType, tmp_path: Path) -> None:
    """The real wrk, for one second: the script's result line parses. ``make test`` installs
    wrk; under CI its absence is a failure, elsewhere a skip that says how to install it."""
    if shutil.which("wrk") is None:
        if os.environ.get("CI"):
            pytest.fail("wrk is missing: run scripts/install-wrk.sh (make test does)")
        pytest.skip("wrk is missing: run scripts/install-wrk.sh (make test does)")
    (tmp_path / "body.json").write_bytes(b'{"ok": true}')
    (tmp_path / "events.txt").write_bytes(b"data: {}\n\ndata: [DONE]\n\n")
    args = ("server_apps:floor", str(tmp_path / "body.json"), str(tmp_path / "events.txt"))
    with load.Served(BENCH / "serve.py", *args) as floor:
        result = load.wrk_load(f"{floor.url}/agents/bench/chat/completions", "{}", 2, 1, None)
    assert result.requests > 0 and result.errors["status"] == 0
    assert result.p99_ms > 0 and result.seconds > 0
