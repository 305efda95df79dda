"""``webagents serve``: load the target, check it, and run uvicorn (one process, or
``workers`` processes that each build the app through ``webagents.server._factory``)."""

from __future__ import annotations

import gc
import ipaddress
import os
import sys
import traceback
from collections.abc import Sequence

import click

from webagents.server.auth import API_KEYS_ENV
from webagents.server.loading import TargetError, load_target

__all__ = ["freeze_startup_heap", "serve"]


def serve(
    target: str,
    *,
    host: str,
    port: int,
    workers: int,
    api_keys: Sequence[str],
    sessions: str | None,
) -> None:
    import uvicorn

    from webagents.server._factory import SESSIONS_ENV, TARGET_ENV
    from webagents.server.app import create_app
    from webagents.server.targets import served_agents

    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # `webagents serve mymodule:agents`, as python -m would
    try:
        loaded = load_target(target)
        names = sorted(served_agents(loaded).agents)
    except (TargetError, TypeError) as error:
        if error.__cause__ is not None:  # the target's own code failed: show where
            traceback.print_exception(error.__cause__)
        raise click.BadParameter(str(error), param_hint="TARGET") from None
    keys = _parse_keys(api_keys)
    if keys:
        os.environ[API_KEYS_ENV] = ",".join(
            key if user is None else f"{key}={user}" for key, user in keys.items()
        )
    if not keys and not os.environ.get(API_KEYS_ENV, "").strip() and not _loopback(host):
        click.secho(
            f"warning: serving on {host} without API keys: anyone who can reach it can run "
            f"the agents; pass --api-key or set {API_KEYS_ENV}",
            fg="yellow",
            err=True,
        )
    where = f"{host}:{port}" if port else f"{host}:<a free port, printed below>"
    click.echo(f"Serving {', '.join(names)} on http://{where}/agents/<name>", err=True)
    click.echo(f"Playground: http://{where}/playground (chat in a browser)", err=True)
    if workers == 1:
        app = create_app(loaded, sessions=sessions)
        freeze_startup_heap()
        uvicorn.run(app, host=host, port=port, log_level="info")
        return
    os.environ[TARGET_ENV] = target
    if sessions:
        os.environ[SESSIONS_ENV] = sessions
    uvicorn.run(
        "webagents.server._factory:app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
    )


def freeze_startup_heap() -> None:
    """Put everything alive once the app is built (modules, agents, the app) out of the
    cyclic garbage collector's reach. Its full passes would otherwise walk those tens of
    thousands of objects again and again, each a pause that every request in flight waits
    for: the p99 of the server benchmark was such pauses. Only for a process that exists to
    serve (``webagents serve``), not for an app built inside someone else's program."""
    gc.collect()
    gc.freeze()


def _parse_keys(values: Sequence[str]) -> dict[str, str | None]:
    keys: dict[str, str | None] = {}
    for index, value in enumerate(values, start=1):
        key, sep, user = value.partition("=")
        if not key or "," in value or (sep and not user) or value != value.strip():
            # never echo the value: it is a secret
            raise click.BadParameter(
                f"--api-key #{index} must be KEY or KEY=USER_ID, without commas or spaces",
                param_hint="--api-key",
            )
        keys[key] = user or None
    return keys


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
