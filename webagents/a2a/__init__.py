"""A2A (Agent2Agent protocol 1.0) both ways.

- **In**: ``register_remote(name, url, protocol="a2a")`` makes an A2A agent a handoff
  target, an NLI peer, a fallback and a session owner, called through the network's remote
  client (``webagents.a2a.calls``; needs only httpx).
- **Out**: ``create_app`` serves each agent as an A2A agent too (``webagents.a2a.serve``;
  needs the ``a2a`` extra, ``pip install 'webagents-net[a2a]'``).

Nothing here imports the ``a2a-sdk`` until an app is built with it.
"""

from __future__ import annotations

__all__: list[str] = []
