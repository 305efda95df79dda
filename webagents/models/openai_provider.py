"""The ``openai/<name>`` provider, over ``openai.AsyncOpenAI``.

``OPENAI_API_KEY`` and ``OPENAI_BASE_URL`` (read when the first request is made, never at
import) point it at OpenAI or any compatible server: Azure, vLLM, Ollama, llama.cpp, LiteLLM.
"""

from __future__ import annotations

import asyncio
import os
import weakref
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any

from webagents.errors import MissingAPIKeyError, ModelError
from webagents.models.base import ModelRequest, ModelResponse, ToolCall, Usage

if TYPE_CHECKING:
    from openai import AsyncOpenAI

__all__ = ["OpenAIModel", "close_loop_clients"]

# Models that made clients, so a finished event loop's clients can be closed (run_sync).
_LIVE: weakref.WeakSet[OpenAIModel] = weakref.WeakSet()


class OpenAIModel:
    """A model served by an OpenAI-compatible Chat Completions endpoint.

    ``settings`` (temperature, max_tokens, ...) are passed through on every request.
    A client given explicitly is used as is; otherwise one pooled client is made per event loop.
    """

    def __init__(
        self,
        name: str,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        client: AsyncOpenAI | None = None,
        settings: Mapping[str, Any] | None = None,
    ) -> None:
        self.name = name
        self._api_key = api_key
        self._base_url = base_url
        self._client = client
        self._settings = dict(settings or {})
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncOpenAI] = (
            weakref.WeakKeyDictionary()
        )

    def __repr__(self) -> str:
        return f"OpenAIModel({self.name!r})"

    def client(self) -> AsyncOpenAI:
        """The client for the running event loop (an httpx pool is bound to its loop)."""
        if self._client is not None:
            return self._client
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            api_key = self._api_key or os.environ.get("OPENAI_API_KEY")
            if not api_key:
                raise MissingAPIKeyError("OPENAI_API_KEY", "openai")
            from openai import AsyncOpenAI  # deferred: the SDK is slow to import

            base_url = self._base_url or os.environ.get("OPENAI_BASE_URL") or None
            client = AsyncOpenAI(api_key=api_key, base_url=base_url)
            self._clients[loop] = client
            _LIVE.add(self)
        return client

    async def aclose(self) -> None:
        """Close the connection pool this model opened on the running event loop."""
        client = self._clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.close()

    def _arguments(self, request: ModelRequest) -> dict[str, Any]:
        arguments: dict[str, Any] = {
            **self._settings,
            **request.settings,
            "model": self.name,
            "messages": request.messages,
        }
        if request.tools:
            arguments["tools"] = request.tools
        return arguments

    async def complete(self, request: ModelRequest) -> ModelResponse:
        from openai import OpenAIError

        try:
            completion = await self.client().chat.completions.create(**self._arguments(request))
        except OpenAIError as error:
            raise ModelError(f"model {self.name!r} failed: {error}") from error
        if not completion.choices:
            raise ModelError(f"model {self.name!r} returned no choices")
        choice = completion.choices[0]
        message = choice.message
        calls = [
            ToolCall(call.id, call.function.name, call.function.arguments or "{}")
            for call in message.tool_calls or ()
            if call.type == "function"
        ]
        usage = Usage(requests=1)
        if completion.usage is not None:
            usage.prompt_tokens = completion.usage.prompt_tokens
            usage.completion_tokens = completion.usage.completion_tokens
            usage.total_tokens = completion.usage.total_tokens
        return ModelResponse(message.content, calls, usage, choice.finish_reason)

    async def stream(self, request: ModelRequest) -> AsyncIterator[str | ModelResponse]:
        from openai import OpenAIError

        arguments = self._arguments(request)
        arguments["stream"] = True
        arguments["stream_options"] = {"include_usage": True}
        text: list[str] = []
        calls: dict[int, list[str]] = {}  # index -> [id, name, arguments]
        usage = Usage(requests=1)
        finish_reason: str | None = None
        try:
            chunks = await self.client().chat.completions.create(**arguments)
            async for chunk in chunks:
                if chunk.usage is not None:
                    usage.prompt_tokens = chunk.usage.prompt_tokens
                    usage.completion_tokens = chunk.usage.completion_tokens
                    usage.total_tokens = chunk.usage.total_tokens
                if not chunk.choices:
                    continue
                choice = chunk.choices[0]
                finish_reason = choice.finish_reason or finish_reason
                delta = choice.delta
                if delta.content:
                    text.append(delta.content)
                    yield delta.content
                for part in delta.tool_calls or ():
                    slot = calls.setdefault(part.index, ["", "", ""])
                    if part.id:
                        slot[0] = part.id
                    if part.function is not None:
                        slot[1] += part.function.name or ""
                        slot[2] += part.function.arguments or ""
        except OpenAIError as error:
            raise ModelError(f"model {self.name!r} failed: {error}") from error
        tool_calls = [
            ToolCall(slot[0] or f"call_{index}", slot[1], slot[2] or "{}")
            for index, slot in sorted(calls.items())
        ]
        yield ModelResponse("".join(text) or None, tool_calls, usage, finish_reason)


async def close_loop_clients() -> None:
    """Close every client opened on the running loop (before the loop itself closes)."""
    for model in list(_LIVE):
        await model.aclose()
