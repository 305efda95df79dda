"""The agent server: ``create_app(agents)`` is a FastAPI app speaking the OpenAI Chat
Completions API at ``/agents/{name}/chat/completions`` (``webagents serve`` runs one under
uvicorn). Needs the ``server`` extra (FastAPI, uvicorn); ``import webagents`` never loads it."""

from webagents.server.app import create_app

__all__ = ["create_app"]
