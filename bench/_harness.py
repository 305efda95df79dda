"""Timing helpers shared by ``workloads_ours.py`` and ``workloads_peer.py`` (stdlib only).

Both workload files run in their own virtualenv, so this module must import nothing but the
standard library. Each workload file ends with ``cli(WORKLOADS)``: ``python FILE WORKLOAD
--size N --rounds R --round-ms MS [--url URL]`` prints one JSON line of results.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import inspect
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

__all__ = [
    "cli",
    "cold_import",
    "concurrent_runs",
    "measure",
    "measure_batches",
    "measure_paired",
    "median_difference_us",
    "median_us",
    "peak_rss_mb",
]

Op = Callable[[], Awaitable[object]]
TimedOp = Callable[[], Awaitable[float]]  # returns the seconds of its own measured part

# Run in a fresh interpreter: seconds to import the module, then peak RSS in MiB.
_IMPORT_PROBE = (
    "import time\n"
    "started = time.perf_counter()\n"
    "{statement}\n"
    "elapsed = time.perf_counter() - started\n"
    "import sys\n"
    "sys.path.insert(0, {here!r})\n"
    "from _harness import peak_rss_mb\n"
    "print(elapsed, peak_rss_mb())\n"
)


def peak_rss_mb() -> float:
    """This process's peak resident set size so far, in MiB.

    On Linux this is ``VmHWM`` from ``/proc/self/status``: ``getrusage``'s ``ru_maxrss``
    carries the parent's peak over ``fork``/``exec``, so a child started by a big parent
    would report at least the parent's size.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux, B on macOS


def median_us(samples: list[float]) -> float:
    return statistics.median(samples) * 1e6


async def measure(
    ops: Mapping[str, Op], *, rounds: int, round_s: float, min_warmup: int = 3
) -> dict[str, list[float]]:
    """Seconds per call of each op, one figure per round.

    Each op is first warmed up (``min_warmup`` calls, not timed), then timed for about
    ``round_s`` to size its batch so a round takes about ``round_s``: sized from the warm-up,
    an op whose first call is slow (one opening a connection) got a batch a third the size
    of its peer's, and the cold first call after each round's ``gc.collect()`` weighed three
    times as much in its figure. Then every round times one batch of each op in turn
    (interleaved, so drift hits all ops alike), after a ``gc.collect()``.
    """
    batch: dict[str, int] = {}
    for name, op in ops.items():
        for _ in range(min_warmup):
            await op()
        calls, started = 0, time.perf_counter()
        while True:
            await op()
            calls += 1
            elapsed = time.perf_counter() - started
            if elapsed >= round_s:
                break
        batch[name] = max(1, round(round_s * calls / elapsed))
    samples: dict[str, list[float]] = {name: [] for name in ops}
    for _ in range(rounds):
        for name, op in ops.items():
            size = batch[name]
            gc.collect()
            started = time.perf_counter()
            for _ in range(size):
                await op()
            samples[name].append((time.perf_counter() - started) / size)
    return samples


async def measure_paired(
    pairs: Mapping[str, tuple[TimedOp, TimedOp]], *, rounds: int, round_s: float
) -> dict[str, tuple[list[float], list[float]]]:
    """Seconds of every call of two ops that time themselves, called in turn: an op and its
    baseline, call after call, so that both calls of a pair meet the same state of the
    machine. Per pair: the two lists of seconds, in call order (``a[i]`` ran just before
    ``b[i]``); the median of their differences is robust to a call the scheduler or the
    collector stalled, which a batch's mean is not.

    Warm-up is one call of each (not counted), then the pair is timed for about ``round_s``
    to size its batch: a round holds about ``round_s`` of measured work, whatever the ops do
    around it that they do not count (such as preparing sessions of a given size).
    """
    batch: dict[str, int] = {}
    for name, (first, second) in pairs.items():
        await first()
        await second()
        calls, measured = 0, 0.0
        while measured < round_s:
            measured += await first() + await second()
            calls += 1
        batch[name] = max(1, round(round_s * calls / measured))
    samples: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in pairs}
    for _ in range(rounds):
        for name, (first, second) in pairs.items():
            firsts, seconds = samples[name]
            gc.collect()
            for _ in range(batch[name]):
                firsts.append(await first())
                seconds.append(await second())
    return samples


def median_difference_us(samples: tuple[list[float], list[float]]) -> float:
    """The median of ``a[i] - b[i]`` over the pairs of ``measure_paired``, in microseconds."""
    firsts, seconds = samples
    return median_us([a - b for a, b in zip(firsts, seconds, strict=True)])


class GcClock:
    """Time spent in CPython's cyclic garbage collector while entered (``gc.callbacks``)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._started = 0.0

    def _callback(self, phase: str, info: Mapping[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._started

    def __enter__(self) -> GcClock:
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *exc_info: object) -> None:
        gc.callbacks.remove(self._callback)


async def measure_batches(
    batch: Op, warmup: Op, *, rounds: int, round_s: float
) -> tuple[list[float], list[float]]:
    """Seconds per call of ``batch`` (a big, slow op), one figure per round, and of those
    the seconds spent in the cyclic garbage collector.

    Warms up with three calls of ``warmup`` (the same work at a smaller size, so a slow
    framework is not paying for a full-size warm-up), then each round, after a
    ``gc.collect()``, repeats ``batch`` until ``round_s`` has passed (at least once).
    """
    for _ in range(3):
        await warmup()
    samples: list[float] = []
    in_gc: list[float] = []
    for _ in range(rounds):
        gc.collect()
        calls, started = 0, time.perf_counter()
        with GcClock() as clock:
            while True:
                await batch()
                calls += 1
                elapsed = time.perf_counter() - started
                if elapsed >= round_s:
                    break
        samples.append(elapsed / calls)
        in_gc.append(clock.seconds / calls)
    return samples, in_gc


async def concurrent_runs(
    run_once: Op,
    went_through_chain: Callable[[Any], bool],
    *,
    size: int,
    rounds: int,
    round_s: float,
) -> dict[str, Any]:
    """(d) for either framework: ``size`` concurrent ``run_once()`` calls per batch; wall time
    and collector time per run, and this process's peak RSS. Each result must pass
    ``went_through_chain``."""
    rss_before = peak_rss_mb()

    def batch(count: int) -> Op:
        async def runs() -> None:
            results = await asyncio.gather(*(run_once() for _ in range(count)))
            if not all(went_through_chain(result) for result in results):
                raise AssertionError("a concurrent run did not go through the 3-agent chain")

        return runs

    samples, in_gc = await measure_batches(
        batch(size), batch(min(size, 100)), rounds=rounds, round_s=round_s
    )
    return {
        "workload": "concurrent",
        "size": size,
        "us_per_run": median_us(samples) / size,
        "batch_ms": median_us(samples) / 1000,
        "gc_us_per_run": median_us(in_gc) / size,
        "rss_before_mb": rss_before,
        "peak_rss_mb": peak_rss_mb(),
        "rounds": rounds,
    }


def cold_import(statement: str, rounds: int) -> dict[str, Any]:
    """Time ``statement`` (an import) in ``rounds`` fresh interpreters, after one discarded
    run (which also writes bytecode caches); the bare interpreter's RSS is the baseline."""

    def probe(code: str) -> tuple[float, float]:
        out = subprocess.run(
            [sys.executable, "-c", code], check=True, capture_output=True, text=True
        ).stdout.split()
        return float(out[0]), float(out[1])

    here = os.path.dirname(os.path.abspath(__file__))
    code = _IMPORT_PROBE.format(statement=statement, here=here)
    probe(code)
    runs = [probe(code) for _ in range(max(1, rounds))]
    baseline = probe(_IMPORT_PROBE.format(statement="pass", here=here))[1]
    rss = statistics.median(r[1] for r in runs)
    return {
        "import_s": statistics.median(r[0] for r in runs),
        "import_rss_mb": rss,
        "import_rss_delta_mb": rss - baseline,
        "baseline_rss_mb": baseline,
        "rounds": len(runs),
    }


def cli(workloads: Mapping[str, Callable[..., Any]]) -> None:
    """``python FILE WORKLOAD [--size N] [--rounds R] [--round-ms MS] [--url URL]``: run one
    workload and print its results as one JSON line (with this process's peak RSS)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("workload", choices=sorted(workloads))
    parser.add_argument("--size", type=int, help="chain length, or concurrent runs")
    parser.add_argument("--rounds", type=int, help="measured rounds (the median is reported)")
    parser.add_argument("--round-ms", type=float, help="target duration of one round")
    parser.add_argument("--url", help="http: an OpenAI-compatible base URL (default: own server)")
    args = parser.parse_args()
    func = workloads[args.workload]
    given = {
        "size": args.size,
        "rounds": args.rounds,
        "round_s": args.round_ms / 1000 if args.round_ms is not None else None,
        "url": args.url,
    }
    accepted = inspect.signature(func).parameters
    kwargs = {key: value for key, value in given.items() if value is not None and key in accepted}
    result = func(**kwargs)
    if inspect.isawaitable(result):
        result = asyncio.run(_await(result))
    result["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(result), flush=True)


async def _await(awaitable: Awaitable[Any]) -> Any:
    return await awaitable
