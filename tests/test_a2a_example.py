"""``examples/a2a_peer.py`` runs offline: a webagents desk hands off to an A2A agent built
with the ``a2a-sdk`` alone, both on 127.0.0.1."""

from __future__ import annotations

import subprocess
from collections.abc import Callable


def test_the_desk_hands_the_parcel_question_to_the_a2a_peer(
    run_example: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    done = run_example("a2a_peer")

    assert done.returncode == 0, done.stderr
    assert done.stdout == (
        "desk -> shipping: Parcel 'A-17' left the depot this morning "
        "(you asked: Where is my parcel?)\n"
    )
    assert "Traceback" not in done.stderr
