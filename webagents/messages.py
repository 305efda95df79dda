"""Reading OpenAI-format chat messages."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["latest_user_text", "message_text"]


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
