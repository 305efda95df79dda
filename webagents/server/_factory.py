"""The app of each worker of ``webagents serve --workers N``: uvicorn imports
``webagents.server._factory:app`` in every worker process and calls it; the target and the
session store come from the environment the command set."""

from __future__ import annotations

import os

from fastapi import FastAPI

from webagents.server.app import create_app
from webagents.server.loading import load_target
from webagents.server.serve import freeze_startup_heap

__all__ = ["SESSIONS_ENV", "TARGET_ENV", "app"]

TARGET_ENV = "WEBAGENTS_SERVE_TARGET"
SESSIONS_ENV = "WEBAGENTS_SERVE_SESSIONS"


def app() -> FastAPI:
    spec = os.environ.get(TARGET_ENV)
    if not spec:
        raise RuntimeError(
            f"{TARGET_ENV} is not set: this factory serves what `webagents serve TARGET` "
            f"names; start the server with that command"
        )
    served = create_app(load_target(spec), sessions=os.environ.get(SESSIONS_ENV) or None)
    freeze_startup_heap()
    return served
