"""Processes and load for the server benchmark: bench scripts run as servers (``Served``) and
``wrk`` driving them (``wrk_load``, whose output ``parse_wrk`` reads).

Stdlib only, like ``_harness.py``: ``bench/run.py`` imports it to start the fake LLM before
anything of webagents is loaded.
"""

from __future__ import annotations

import json
import os
import selectors
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self

__all__ = [
    "WRK_MISSING",
    "Load",
    "LoadResult",
    "Served",
    "WrkMissingError",
    "cpus",
    "find_wrk",
    "parse_wrk",
    "wrk_load",
]

HERE = Path(__file__).resolve().parent
WRK_SCRIPT = HERE / "wrk_post.lua"
WRK_MARK = "BENCH_WRK_JSON "
WRK_MISSING = "wrk is not installed: run scripts/install-wrk.sh (Debian package wrk)"
READY_S = 60.0  # a server that has not said it is ready by then is broken


class WrkMissingError(RuntimeError):
    pass


@dataclass(frozen=True)
class LoadResult:
    """What one load run measured: completed requests over its duration, and latency."""

    requests: int
    seconds: float
    p99_ms: float
    mean_ms: float
    errors: dict[str, int] = field(default_factory=dict)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "seconds": self.seconds,
            "rps": self.rps,
            "p99_ms": self.p99_ms,
            "mean_ms": self.mean_ms,
            "errors": dict(self.errors),
        }


# (url, JSON body, connections, seconds, CPU to pin the load generator to or None)
Load = Callable[[str, str, int, float, "int | None"], LoadResult]


def parse_wrk(stdout: str) -> LoadResult:
    """The result line ``wrk_post.lua`` prints when wrk is done (latencies in µs)."""
    lines = [line for line in stdout.splitlines() if line.startswith(WRK_MARK)]
    if not lines:
        raise ValueError(f"no {WRK_MARK.strip()} line in wrk's output:\n{stdout}")
    found = json.loads(lines[-1][len(WRK_MARK) :])
    latency = found["latency_us"]
    return LoadResult(
        requests=int(found["requests"]),
        seconds=found["duration_us"] / 1e6,
        p99_ms=latency["p99"] / 1000,
        mean_ms=latency["mean"] / 1000,
        errors={kind: int(count) for kind, count in found["errors"].items()},
    )


def find_wrk() -> str:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise WrkMissingError(WRK_MISSING)
    return wrk


def cpus() -> tuple[int | None, int | None]:
    """(server's CPU, load generator's CPU): two distinct CPUs when ``taskset`` exists and
    this process may use two, else (None, None), nothing pinned."""
    allowed = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if shutil.which("taskset") is None or len(allowed) < 2:
        return None, None
    return allowed[0], allowed[1]


def pinned(command: list[str], cpu: int | None) -> list[str]:
    return command if cpu is None else ["taskset", "-c", str(cpu), *command]


def wrk_load(url: str, body: str, connections: int, seconds: float, cpu: int | None) -> LoadResult:
    """POST ``body`` to ``url`` over ``connections`` keep-alive connections from one wrk
    thread for ``seconds`` (whole seconds, at least 1: wrk's unit)."""
    command = [
        find_wrk(),
        "-t1",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "10s",
        "-s",
        str(WRK_SCRIPT),
        url,
    ]
    done = subprocess.run(
        pinned(command, cpu),
        capture_output=True,
        text=True,
        env={**os.environ, "BENCH_WRK_BODY": body},
    )
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed (exit {done.returncode}): {done.stderr}{done.stdout}")
    return parse_wrk(done.stdout)


class Served:
    """A bench script run as a server in its own process (pinned to ``cpu`` when given):
    entering waits for the JSON line it prints when ready (``ready``, with its ``url``);
    leaving sends SIGTERM and waits for the process to end."""

    def __init__(self, script: Path, *args: str, cpu: int | None = None) -> None:
        self.command = pinned([sys.executable, str(script), *args], cpu)
        self.process: subprocess.Popen[str] | None = None
        self.ready: dict[str, Any] = {}

    @property
    def url(self) -> str:
        return str(self.ready["url"])

    def __enter__(self) -> Self:
        self.process = subprocess.Popen(
            self.command, stdout=subprocess.PIPE, text=True, cwd=HERE.parent
        )
        try:
            self.ready = json.loads(self._ready_line())
        except BaseException:
            self._stop()
            raise
        return self

    def _ready_line(self) -> str:
        assert self.process is not None and self.process.stdout is not None
        deadline = time.monotonic() + READY_S
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            while (left := deadline - time.monotonic()) > 0:
                if selector.select(left):
                    line = self.process.stdout.readline()
                    if not line:
                        code = self.process.wait()
                        raise RuntimeError(f"{self.command} exited ({code}) before it was ready")
                    if line.startswith("{"):
                        return line
        raise RuntimeError(f"{self.command} did not say it was ready within {READY_S:g} s")

    def _stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stdout is not None:
            process.stdout.close()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop()
