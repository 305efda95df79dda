"""``examples/mcp_clock.py`` runs offline against the real ``mcp-server-time``."""

from __future__ import annotations

import subprocess
from collections.abc import Callable


def test_mcp_clock_converts_with_the_time_server(
    run_example: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    done = run_example("mcp_clock")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "12:00 in UTC is 21:00 in Asia/Tokyo (+9.0h).\n"


def test_mcp_clock_reports_the_servers_error(
    run_example: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    done = run_example("mcp_clock", "--time", "09:30", "--source", "Mars/Olympus_Mons")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("The clock server could not convert that: Error: ")
    assert "Invalid timezone" in done.stdout and "Mars/Olympus_Mons" in done.stdout
