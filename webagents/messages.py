"""Reading OpenAI-format chat messages."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from webagents.errors import InvalidRequestError

__all__ = ["latest_user_text", "message_text", "new_turn", "normalise_messages"]


def message_text(message: Mapping[str, Any]) -> str:
    """A message's text: its content string, or its text parts joined; "" for neither."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            str(part.get("text", ""))
            for part in content
            if isinstance(part, Mapping) and part.get("type") == "text"
        )
    return ""


def latest_user_text(messages: Sequence[Mapping[str, Any]]) -> str:
    """The text of the newest user message, or "" if there is none."""
    for message in reversed(messages):
        if message.get("role") == "user":
            return message_text(message)
    return ""


def normalise_messages(messages: str | Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """A run's input as a fresh list of message dicts (a string is one user message)."""
    if isinstance(messages, str):
        return [{"role": "user", "content": messages}]
    result = []
    for index, message in enumerate(messages):
        if not isinstance(message, Mapping) or "role" not in message:
            raise InvalidRequestError(
                f"message {index} must be a mapping with a 'role' (OpenAI chat format), "
                f"got {message!r}"
            )
        result.append(dict(message))
    if not result:
        raise InvalidRequestError("run() needs at least one message")
    return result


def new_turn(incoming: list[dict[str, Any]], has_history: bool) -> list[dict[str, Any]]:
    """With stored history, the request's messages after its last assistant message are new
    (clients that resend the whole conversation then add nothing twice)."""
    if not has_history:
        return incoming
    for index in range(len(incoming) - 1, -1, -1):
        if incoming[index].get("role") == "assistant":
            return incoming[index + 1 :]
    return incoming
