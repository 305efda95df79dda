"""Framework overhead of webagents beside the OpenAI Agents SDK (``make bench``/``bench-quick``).

Runs with the project's Python; the peer (``openai-agents==0.24.0``) lives in its own
virtualenv, ``bench/.peer-venv``, created here if missing. Every workload runs in a fresh
subprocess per framework (``workloads_ours.py`` / ``workloads_peer.py``), both with an
equivalent in-process fake model that yields to the event loop once per call, so what is
measured is the framework. Figures are medians over rounds:

- ``handoff_us``: a chain of 10 agents, each transferring to the next by the model's choice
  (transfer tool), the last answering; (chain run - one-agent run) / 9 handoffs.
- ``run_us``: one agent answering in one turn.
- ``run_traced_us`` (ours only, no target): the same run traced, with OpenTelemetry's SDK
  tracer provider and an exporter that drops the spans (``run_traced``, which times the
  untraced run first in the same process); ``tracing_overhead_us`` = traced - untraced.
  ``run_us`` above is tracing off: no process of the benchmark imports opentelemetry before
  it is timed.
- ``tool_us``: one tool call then an answer; what the tool round trip adds to a one-turn run.
- ``concurrent``: N = 10, 100, 1000 concurrent runs of one 3-agent chain over shared agent
  objects, each N in fresh processes (3 in a full run, the median taken): wall time per run,
  the part of it spent in CPython's cyclic garbage collector, and peak RSS.
  ``concurrent_us_per_run`` is the figure at 1000; ``concurrency_scaling`` = at 1000 / at 10.
- ``import_s``: cold ``import webagents`` / ``import agents`` in fresh interpreters (RSS too).
- ``http_overhead_ratio``: one agent turn over real HTTP against ``FakeOpenAIServer`` divided
  by the bare ``openai`` client sending the same request to the same server (each framework
  against the ``openai`` client of its own environment). The fake LLM runs in a process of
  its own (``fake_llm.py``), shared by both sides.
- ``session_turn_us``: what a session costs a one-turn answer, on a session of 10 and of
  10,000 messages, per store (ours: memory and SQLite; the peer: ``SQLiteSession``): the turn
  with the session minus the same agent answering the same history without one, so what the
  model is sent is left out. ``session_growth_<store>`` = at 10,000 / at 10.
- ours only (``workloads_server.py``; the peer has no server, its column reads "-"):
  ``server_rps``, ``server_p99_ms``, ``server_stream_rps`` of our server under ``wrk`` (16
  connections, one core, an instant model) and the floor under the same uvicorn
  (``server_floor_rps``, ``server_floor_p99_ms``, ``server_stream_floor_rps``), all in one
  run; ``remote_turn_ratio``, a turn through a remote handoff over the bare ``openai``
  client calling the same served agent.

Prints a table (figure, ours, peer, peer/ours, target, met?), then, as the last line, one
JSON object: our figures, and the peer's under ``"peer"``. Nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from load import Served, find_wrk

HERE = Path(__file__).resolve().parent
OURS = HERE / "workloads_ours.py"
PEER = HERE / "workloads_peer.py"
SERVER = HERE / "workloads_server.py"
FAKE_LLM = HERE / "fake_llm.py"
CONNECTIONS = 16
PEER_VENV = HERE / ".peer-venv"
PEER_DIST, PEER_VERSION = "openai-agents", "0.24.0"
CHAIN = 10
SIZES = (10, 100, 1000)
SESSION_SIZES = (10, 10_000)  # messages in the short and the long session

Figures = dict[str, Any]


@dataclass(frozen=True)
class Mode:
    name: str
    rounds: int  # handoff, run, tool
    round_ms: float
    processes: int  # fresh processes per side for handoff, run, tool, http and session
    concurrent_rounds: int
    concurrent_round_ms: float
    concurrent_processes: int  # fresh processes per N and side; figures are their medians
    concurrent_processes_ours: int  # ours is quick to run: more processes, steadier medians
    import_rounds: int
    http_rounds: int
    http_round_ms: float
    session_rounds: int
    session_round_ms: float  # of measured turns; preparing sessions comes on top
    server_rounds: int
    server_round_ms: float  # one wrk run (whole seconds); four of them a round


# The http figure is a ratio of two few-millisecond timings over a real socket: with five
# rounds its median swung from 0.9 to 1.23 on the same code; eleven cost a second more.
# One process's figures move with its heap layout and the machine's spell while it ran (the
# peer's tool round trip read 1.8 ms in one run and 3.5 ms in the next): every figure is
# the median of several fresh processes, the two sides' processes taking turns.
QUICK = Mode("quick", 5, 20, 3, 1, 50, 1, 3, 1, 11, 20, 5, 40, 1, 3000)
FULL = Mode("full", 11, 100, 5, 3, 300, 3, 9, 9, 15, 60, 7, 150, 3, 5000)


# running the two sides ---------------------------------------------------------------------


def peer_python() -> Path:
    """The peer's interpreter, creating its virtualenv or fixing its pin first if needed."""
    python = PEER_VENV / "bin" / "python"
    if not python.exists():
        _log(f"creating {PEER_VENV} with {PEER_DIST}=={PEER_VERSION} ...")
        subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], check=True)
    probe = f"import importlib.metadata as m; print(m.version({PEER_DIST!r}))"
    found = subprocess.run([python, "-c", probe], capture_output=True, text=True)
    if found.returncode != 0 or found.stdout.strip() != PEER_VERSION:
        pin = f"{PEER_DIST}=={PEER_VERSION}"
        subprocess.run([python, "-m", "pip", "install", "--quiet", pin], check=True)
    return python


def workload(python: Path | str, script: Path, name: str, **options: Any) -> Figures:
    """Run one workload in a fresh process; its last stdout line is a JSON object."""
    command = [str(python), str(script), name]
    for key, value in options.items():
        if value is not None:
            command += [f"--{key.replace('_', '-')}", str(value)]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=HERE.parent)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit(f"bench: {' '.join(command)} failed (exit {done.returncode})")
    result: Figures = json.loads(lines[-1])
    side = "peer" if script == PEER else "ours"
    _log(f"  {name:<10} {side:<4} {time.perf_counter() - started:6.1f} s")
    return result


Job = tuple[tuple[str, ...], str, dict[str, Any]]
# Jobs of one group run round by round, interleaved, so that a slow spell of the machine falls
# on all of them alike; each side runs the group's jobs in that many fresh processes.
Group = tuple[list[Job], dict[str, int]]


def groups(mode: Mode, url: str) -> list[Group]:
    """The workloads in the order they run."""
    micro = {"rounds": mode.rounds, "round_ms": mode.round_ms}
    concurrent = {"rounds": mode.concurrent_rounds, "round_ms": mode.concurrent_round_ms}
    http = {"url": url, "rounds": mode.http_rounds, "round_ms": mode.http_round_ms}
    session = {
        "size": max(SESSION_SIZES),
        "rounds": mode.session_rounds,
        "round_ms": mode.session_round_ms,
    }
    once = {"ours": 1, "peer": 1}
    several = {"ours": mode.processes, "peer": mode.processes}
    ours_only = {"ours": mode.processes, "peer": 0}  # the peer's tracing is another product
    return [
        ([(("handoff",), "handoff", {"size": CHAIN, **micro})], several),
        ([(("run",), "run", micro)], several),
        ([(("run_traced",), "run_traced", micro)], ours_only),
        ([(("tool",), "tool", micro)], several),
        (
            [(("concurrent", str(n)), "concurrent", {"size": n, **concurrent}) for n in SIZES],
            {"ours": mode.concurrent_processes_ours, "peer": mode.concurrent_processes},
        ),
        ([(("import",), "import", {"rounds": mode.import_rounds})], once),
        ([(("http",), "http", http)], several),
        ([(("session",), "session", session)], several),
    ]


def measure(
    sides: Mapping[str, tuple[Path | str, Path]], mode: Mode, url: str
) -> dict[str, dict[str, Any]]:
    """Raw results of every workload for each side; the sides alternate workload by workload
    (and process by process), so load from other processes falls on both alike."""
    raw: dict[str, dict[str, Any]] = {side: {} for side in sides}
    for group, processes in groups(mode, url):
        results: dict[tuple[str, tuple[str, ...]], list[Figures]] = {}
        for round_ in range(max(processes.values())):
            for path, name, options in group:
                for side, (python, script) in sides.items():
                    if round_ < processes[side]:
                        figures = workload(python, script, name, **options)
                        results.setdefault((side, path), []).append(figures)
        for (side, path), figures_list in results.items():
            slot = raw[side]
            for key in path[:-1]:
                slot = slot.setdefault(key, {})
            slot[path[-1]] = merge(figures_list)
    return raw


def server_jobs(mode: Mode) -> list[tuple[str, dict[str, Any]]]:
    """Our server's workloads (``workloads_server.py``), run once each after the others."""
    return [
        (
            "server",
            {"size": CONNECTIONS, "rounds": mode.server_rounds, "round_ms": mode.server_round_ms},
        ),
        ("remote_turn", {"rounds": mode.http_rounds, "round_ms": mode.http_round_ms}),
    ]


def measure_server(mode: Mode) -> dict[str, Any]:
    return {
        name: workload(sys.executable, SERVER, name, **options)
        for name, options in server_jobs(mode)
    }


def merge(results: list[Figures]) -> Figures:
    """One workload's results from several fresh processes: the median of each figure, at
    any depth (a process's heap layout and collector timing vary more than its rounds do)."""
    merged = _medians(results)
    merged["processes"] = len(results)
    return merged


def _medians(results: list[Figures]) -> Figures:
    merged = dict(results[0])
    for key, value in results[0].items():
        if isinstance(value, float):
            merged[key] = statistics.median(result[key] for result in results)
        elif isinstance(value, dict):
            merged[key] = _medians([result[key] for result in results])
    return merged


# summarising ---------------------------------------------------------------------------------


def figures(raw: Mapping[str, Any]) -> Figures:
    """The headline figures of one side from its raw workload results."""
    concurrent = raw["concurrent"]
    smallest, largest = concurrent[str(min(SIZES))], concurrent[str(max(SIZES))]
    return {
        "handoff_us": raw["handoff"]["handoff_us"],
        "run_us": raw["run"]["run_us"],
        "tool_us": raw["tool"]["tool_us"],
        "concurrent_us_per_run": largest["us_per_run"],
        "concurrency_scaling": largest["us_per_run"] / smallest["us_per_run"],
        "concurrent": {
            n: {
                "us_per_run": r["us_per_run"],
                "gc_us_per_run": r["gc_us_per_run"],
                "peak_rss_mb": r["peak_rss_mb"],
            }
            for n, r in concurrent.items()
        },
        "import_s": raw["import"]["import_s"],
        "import_rss_mb": raw["import"]["import_rss_mb"],
        "import_rss_delta_mb": raw["import"]["import_rss_delta_mb"],
        "http_overhead_ratio": raw["http"]["http_overhead_ratio"],
        "http_agent_turn_us": raw["http"]["agent_turn_us"],
        "http_bare_client_us": raw["http"]["bare_client_us"],
        **session_figures(raw["session"]),
        **traced_figures(raw),
        **server_figures(raw),
    }


def traced_figures(raw: Mapping[str, Any]) -> Figures:
    """The one-turn run traced and what tracing adds to it, when measured (ours only)."""
    if "run_traced" not in raw:
        return {}
    traced = raw["run_traced"]
    return {
        "run_traced_us": traced["run_traced_us"],
        "tracing_overhead_us": traced["tracing_overhead_us"],
    }


SERVER_KEYS = (
    "server_rps",
    "server_p99_ms",
    "server_stream_rps",
    "server_stream_p99_ms",
    "server_floor_rps",
    "server_floor_p99_ms",
    "server_stream_floor_rps",
    "server_stream_floor_p99_ms",
)


def server_figures(raw: Mapping[str, Any]) -> Figures:
    """Our server's figures, when measured (the peer has none)."""
    found: Figures = {}
    if "server" in raw:
        found.update({key: raw["server"][key] for key in SERVER_KEYS})
        found["server_loop"] = f"{raw['server']['loop']}/{raw['server']['http']}"
    if "remote_turn" in raw:
        remote = raw["remote_turn"]
        found["remote_turn_ratio"] = remote["remote_turn_ratio"]
        found["remote_turn_httpx_ratio"] = remote["remote_turn_httpx_ratio"]
        found["remote_turn_us"] = remote["remote_turn_us"]
        found["remote_bare_client_us"] = remote["bare_client_us"]
        found["remote_bare_httpx_us"] = remote["bare_httpx_us"]
    return found


def session_figures(raw: Mapping[str, Any]) -> Figures:
    """``session_turn_us`` per store and size, and each store's growth (long / short)."""
    short, long = (str(n) for n in SESSION_SIZES)
    turn_us = raw["session_turn_us"]
    return {
        "session_turn_us": turn_us,
        **{f"session_growth_{store}": us[long] / us[short] for store, us in turn_us.items()},
    }


@dataclass(frozen=True)
class Target:
    key: str
    text: str
    met: Callable[[Figures, Figures], bool]


def _times_less(key: str) -> Callable[[Figures, Figures], bool]:
    return lambda ours, peer: peer[key] >= 10 * ours[key] and ours[key] > 0


def _of_floor(key: str, floor: str, share: float) -> Callable[[Figures, Figures], bool]:
    """Ours serves at least ``share`` of the floor's requests per second."""
    return lambda ours, _: key in ours and ours[key] >= share * ours[floor] > 0


def _at_most(key: str, limit: float) -> Callable[[Figures, Figures], bool]:
    """Ours is at most ``limit`` (a growth: a store that was not measured is not met)."""
    return lambda ours, _: key in ours and 0 < ours[key] <= limit


TARGETS = (
    Target("handoff_us", "peer/ours >= 10", _times_less("handoff_us")),
    Target("run_us", "peer/ours >= 10", _times_less("run_us")),
    Target("tool_us", "peer/ours >= 10", _times_less("tool_us")),
    Target(
        "concurrency_scaling", "ours <= 1.5", lambda ours, _: ours["concurrency_scaling"] <= 1.5
    ),
    Target("import_s", "ours < 0.3 s", lambda ours, _: ours["import_s"] < 0.3),
    Target(
        "http_overhead_ratio", "ours <= 1.15", lambda ours, _: ours["http_overhead_ratio"] <= 1.15
    ),
    Target("session_growth_memory", "ours <= 1.5", _at_most("session_growth_memory", 1.5)),
    Target("session_growth_sqlite", "ours <= 1.5", _at_most("session_growth_sqlite", 1.5)),
    Target("server_rps", ">= 0.4 x floor", _of_floor("server_rps", "server_floor_rps", 0.4)),
    Target(
        "server_p99_ms",
        "<= 3 x floor's p99",
        lambda ours, _: (
            "server_p99_ms" in ours and 0 < ours["server_p99_ms"] <= 3 * ours["server_floor_p99_ms"]
        ),
    ),
    Target(
        "server_stream_rps",
        ">= 0.5 x floor",
        _of_floor("server_stream_rps", "server_stream_floor_rps", 0.5),
    ),
    Target("remote_turn_ratio", "ours <= 1.2", _at_most("remote_turn_ratio", 1.2)),
)


STORES = ("memory", "sqlite")


def _session_us(store: str, n: int) -> Callable[[Figures], float | None]:
    return lambda f: f["session_turn_us"].get(store, {}).get(str(n))


def _growth_label(store: str) -> str:
    return f"session growth, {store} ({max(SESSION_SIZES)} / {min(SESSION_SIZES)})"


# (label, how to read the figure, format); a figure a side does not have reads None ("-")
ROWS: tuple[tuple[str, Callable[[Figures], float | None], str], ...] = (
    ("handoff (us per handoff)", lambda f: f["handoff_us"], "{:.1f}"),
    ("run (us per one-turn run)", lambda f: f["run_us"], "{:.1f}"),
    ("run, traced (us per one-turn run)", lambda f: f.get("run_traced_us"), "{:.1f}"),
    ("  of which tracing (us)", lambda f: f.get("tracing_overhead_us"), "{:.1f}"),
    ("tool round trip (us)", lambda f: f["tool_us"], "{:.1f}"),
    *(
        (
            f"concurrent N={n} (us per run)",
            lambda f, n=n: f["concurrent"][str(n)]["us_per_run"],
            "{:.1f}",
        )
        for n in SIZES
    ),
    *(
        (
            f"  of which in GC, N={n} (us)",
            lambda f, n=n: f["concurrent"][str(n)]["gc_us_per_run"],
            "{:.1f}",
        )
        for n in SIZES
    ),
    *(
        (
            f"concurrent N={n} peak RSS (MB)",
            lambda f, n=n: f["concurrent"][str(n)]["peak_rss_mb"],
            "{:.1f}",
        )
        for n in SIZES
    ),
    ("concurrency scaling (1000 / 10)", lambda f: f["concurrency_scaling"], "{:.2f}"),
    ("cold import (s)", lambda f: f["import_s"], "{:.3f}"),
    ("cold import RSS (MB)", lambda f: f["import_rss_mb"], "{:.1f}"),
    ("http agent turn (us)", lambda f: f["http_agent_turn_us"], "{:.0f}"),
    ("http bare client (us)", lambda f: f["http_bare_client_us"], "{:.0f}"),
    ("http overhead (turn / bare)", lambda f: f["http_overhead_ratio"], "{:.3f}"),
    *(
        (f"session turn, {store}, N={n} (us)", _session_us(store, n), "{:.1f}")
        for store in STORES
        for n in SESSION_SIZES
    ),
    *(
        (_growth_label(store), lambda f, store=store: f.get(f"session_growth_{store}"), "{:.2f}")
        for store in STORES
    ),
    *(
        (label, lambda f, key=key: f.get(key), fmt)
        for label, key, fmt in (
            ("server floor (req/s)", "server_floor_rps", "{:.0f}"),
            ("server (req/s)", "server_rps", "{:.0f}"),
            ("server floor p99 (ms)", "server_floor_p99_ms", "{:.2f}"),
            ("server p99 (ms)", "server_p99_ms", "{:.2f}"),
            ("server stream floor (req/s)", "server_stream_floor_rps", "{:.0f}"),
            ("server stream (req/s)", "server_stream_rps", "{:.0f}"),
            ("remote handoff turn (us)", "remote_turn_us", "{:.0f}"),
            ("bare client, served agent (us)", "remote_bare_client_us", "{:.0f}"),
            ("remote turn / bare client", "remote_turn_ratio", "{:.3f}"),
            ("bare httpx POST, served agent (us)", "remote_bare_httpx_us", "{:.0f}"),
            ("remote turn / bare httpx POST", "remote_turn_httpx_ratio", "{:.3f}"),
        )
    ),
)
_ROW_TARGET = {
    "handoff (us per handoff)": "handoff_us",
    "run (us per one-turn run)": "run_us",
    "tool round trip (us)": "tool_us",
    "concurrency scaling (1000 / 10)": "concurrency_scaling",
    "cold import (s)": "import_s",
    "http overhead (turn / bare)": "http_overhead_ratio",
    **{_growth_label(store): f"session_growth_{store}" for store in STORES},
    "server (req/s)": "server_rps",
    "server p99 (ms)": "server_p99_ms",
    "server stream (req/s)": "server_stream_rps",
    "remote turn / bare client": "remote_turn_ratio",
}


def summarise(ours: Figures, peer: Figures) -> tuple[str, dict[str, bool]]:
    """The table (as text) and which targets are met."""
    met = {target.key: bool(target.met(ours, peer)) for target in TARGETS}
    texts = {target.key: target.text for target in TARGETS}
    header = ("figure", "ours", "peer", "peer/ours", "target", "met?")
    table = [header]
    for label, read, fmt in ROWS:
        mine, theirs = read(ours), read(peer)
        ratio = f"{theirs / mine:.1f}x" if mine and theirs is not None and mine > 0 else "-"
        key = _ROW_TARGET.get(label)
        table.append(
            (
                label,
                fmt.format(mine) if mine is not None else "-",
                fmt.format(theirs) if theirs is not None else "-",
                ratio,
                texts[key] if key else "",
                ("yes" if met[key] else "NO") if key else "",
            )
        )
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    lines = [
        "  ".join(
            cell.ljust(width) if i in (0, 4, 5) else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in table
    ]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines), met


def report(ours_raw: Mapping[str, Any], peer_raw: Mapping[str, Any], **extra: Any) -> Figures:
    """The final JSON object: our figures, the peer's under ``peer``, targets met."""
    ours, peer = figures(ours_raw), figures(peer_raw)
    _, met = summarise(ours, peer)
    return {**ours, "peer": peer, "targets_met": met, **extra}


# main ----------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer, shorter rounds (< 90 s)")
    args = parser.parse_args(argv)
    mode = QUICK if args.quick else FULL
    started = time.perf_counter()
    peer = peer_python()

    find_wrk()  # before anything runs: say how to install it (make bench does)
    _log(f"bench ({mode.name}): webagents vs {PEER_DIST} {PEER_VERSION}")
    sides = {"ours": (sys.executable, OURS), "peer": (peer, PEER)}
    with Served(FAKE_LLM) as fake_llm:
        raw = measure(sides, mode, fake_llm.url)
    raw["ours"].update(measure_server(mode))
    ours_raw, peer_raw = raw["ours"], raw["peer"]
    ours, peer_figures = figures(ours_raw), figures(peer_raw)
    table, met = summarise(ours, peer_figures)
    elapsed = time.perf_counter() - started
    print(f"webagents vs {PEER_DIST} {PEER_VERSION} ({mode.name} run, {elapsed:.0f} s)")
    print(table)
    print(f"targets met: {sum(met.values())}/{len(met)}")
    final = report(
        ours_raw,
        peer_raw,
        mode=mode.name,
        peer_framework=f"{PEER_DIST}=={PEER_VERSION}",
        elapsed_s=round(elapsed, 1),
    )
    print(json.dumps(final), flush=True)
    return 0


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
