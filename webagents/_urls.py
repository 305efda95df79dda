"""URLs as they may be shown: without credentials or query strings."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

__all__ = ["is_url", "redact_url", "shown_name"]

_NAME_LIMIT = 64


def redact_url(url: str) -> str:
    """``url`` with its userinfo (``user:pass@``), query and fragment removed, for errors,
    events, records and anything a model reads."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<invalid url>"
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = f"{host}:{port}" if port is not None else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def is_url(name: str) -> bool:
    return name.startswith(("http://", "https://"))


def shown_name(name: str) -> str:
    """An agent name or address as errors show it: a URL redacted, anything long shortened
    (a hostile name must not flood a model's context)."""
    shown = redact_url(name) if is_url(name) else name
    return shown if len(shown) <= _NAME_LIMIT else shown[: _NAME_LIMIT - 3] + "..."
