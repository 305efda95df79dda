"""``ScriptedModel``: an in-process Model that answers from a script, for fast unit tests."""

from __future__ import annotations

import asyncio
import inspect
import itertools
from collections import deque
from collections.abc import AsyncIterator, Iterable
from typing import TYPE_CHECKING, Any

from webagents.errors import ModelError
from webagents.models.base import ModelRequest, ModelResponse, ToolCall, Usage
from webagents.testing.replies import Reply, ReplyLike, Responder, as_reply

__all__ = ["ScriptedModel", "scripted_agent"]

if TYPE_CHECKING:
    from webagents.agents.agent import BaseAgent
    from webagents.teams.team import Team

_ids = itertools.count(1)


class ScriptedModel:
    """A Model that replays ``replies`` in order, then asks ``responder(request)``.

    Replies are strings (text), ``Reply`` objects or mappings (see ``webagents.testing.replies``:
    ``text``, ``tool_call``, ``transfer``, ``error``). The responder receives the request in
    OpenAI format (``{"model", "messages", "tools"}``) and returns a reply, so one model can
    serve many concurrent runs. Every request is kept in ``requests``. Each call yields once to
    the event loop, as a network call would.
    """

    def __init__(
        self,
        replies: Iterable[ReplyLike] = (),
        *,
        responder: Responder | None = None,
        name: str = "scripted",
        stream_chunk: int = 8,
    ) -> None:
        self.name = name
        self._replies: deque[Reply] = deque(as_reply(r) for r in replies)
        self._responder = responder
        self._stream_chunk = stream_chunk
        self.requests: list[dict[str, Any]] = []

    def add_replies(self, *replies: ReplyLike) -> None:
        self._replies.extend(as_reply(r) for r in replies)

    @property
    def pending(self) -> int:
        """Scripted replies not used yet."""
        return len(self._replies)

    async def _next(self, request: ModelRequest) -> Reply:
        body = {"model": self.name, "messages": request.messages, "tools": request.tools}
        self.requests.append(body)
        await asyncio.sleep(0)
        if self._replies:
            return self._replies.popleft()
        if self._responder is None:
            raise ModelError(
                f"ScriptedModel {self.name!r} ran out of replies after {len(self.requests) - 1} "
                f"requests (agent {request.agent!r}); script more or pass responder="
            )
        reply = self._responder(body)
        if inspect.isawaitable(reply):
            reply = await reply
        return as_reply(reply)

    def _response(self, reply: Reply, request: ModelRequest) -> ModelResponse:
        if reply.status != 200:
            raise ModelError(
                f"model {self.name!r} failed: HTTP {reply.status}: {reply.error}",
                status_code=reply.status,
                model=self.name,
            )
        calls = [
            ToolCall(call.id or f"call_{next(_ids)}", call.name, call.arguments)
            for call in reply.tool_calls
        ]
        prompt_tokens = sum(len(str(m.get("content") or "").split()) for m in request.messages)
        completion_tokens = len((reply.content or "").split()) + len(calls)
        usage = Usage(prompt_tokens, completion_tokens, prompt_tokens + completion_tokens, 1)
        finish = "tool_calls" if calls else "stop"
        return ModelResponse(reply.content, calls, usage, finish)

    async def complete(self, request: ModelRequest) -> ModelResponse:
        return self._response(await self._next(request), request)

    async def stream(self, request: ModelRequest) -> AsyncIterator[str | ModelResponse]:
        response = self._response(await self._next(request), request)
        content = response.content or ""
        size = max(1, self._stream_chunk)
        for start in range(0, len(content), size):
            yield content[start : start + size]
        yield response


def scripted_agent(
    name: str,
    replies: Iterable[ReplyLike] = (),
    *,
    responder: Responder | None = None,
    **agent_options: Any,
) -> tuple[BaseAgent, ScriptedModel]:
    """An agent called ``name`` on its own ``ScriptedModel``, and that model (to script more
    replies and read its ``requests``). Options go to ``BaseAgent``; instructions default to
    ``"You are <name>."``."""
    from webagents.agents.agent import BaseAgent

    model = ScriptedModel(replies, responder=responder, name=f"model-of-{name}")
    agent_options.setdefault("instructions", f"You are {name}.")
    return BaseAgent(name, model=model, **agent_options), model


def script_member(team: Team, name: str, *replies: ReplyLike) -> ScriptedModel:
    """Give the team's local member ``name`` a ``ScriptedModel`` replaying ``replies`` (a team
    file's ``openai/...`` models, offline), and return that model to read its ``requests``."""
    from webagents.agents.agent import BaseAgent

    agent = team.get(name)
    if not isinstance(agent, BaseAgent):
        raise TypeError(f"team {team.name!r}: {name!r} is a remote agent, it has no model here")
    model = ScriptedModel(replies, name=f"model-of-{name}")
    agent.model = model
    return model
