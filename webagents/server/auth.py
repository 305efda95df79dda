"""Who is calling: bearer API keys (each may name a user, who becomes the run's
``peer_user_id``) checked in constant time by an ASGI middleware, and request signatures
checked against the exact body (``webagents.remote.signing``)."""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from webagents.errors import AgentConfigError
from webagents.remote.signing import SignatureError, SignatureVerifier
from webagents.server.errors import ApiError, error_body

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = [
    "API_KEYS_ENV",
    "SIGNING_KEYS_ENV",
    "USER_SCOPE_KEY",
    "BearerAuth",
    "KeyRing",
    "load_api_keys",
    "load_signing",
    "verify_signature",
]

API_KEYS_ENV = "WEBAGENTS_API_KEYS"
SIGNING_KEYS_ENV = "WEBAGENTS_SIGNING_KEYS"
USER_SCOPE_KEY = "webagents.user_id"  # where the middleware leaves the caller's user id
_OPEN_PATHS = frozenset({"/health"})


class KeyRing:
    """The accepted API keys and the user each one names (None: an anonymous caller). Only
    SHA-256 digests are kept, and a presented key is compared with every one of them, so the
    time a check takes says nothing about the keys."""

    def __init__(self, keys: Mapping[str, str | None]) -> None:
        self._entries = [(_digest(key), user) for key, user in keys.items()]

    def __len__(self) -> int:
        return len(self._entries)

    def user_for(self, key: str) -> tuple[bool, str | None]:
        """(accepted, user id) for a presented key."""
        presented = _digest(key)
        found, user = False, None
        for digest, owner in self._entries:
            if hmac.compare_digest(presented, digest):
                found, user = True, owner
        return found, user


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def load_api_keys(api_keys: Sequence[str] | Mapping[str, str | None] | None) -> KeyRing | None:
    """``api_keys`` (a list of keys, or a mapping key -> user id), else ``WEBAGENTS_API_KEYS``
    (``key1,key2`` or ``key1=ada,key2=bob``); None when neither gives a key."""
    source = "api_keys"
    if api_keys is None:
        spec = os.environ.get(API_KEYS_ENV, "").strip()
        if not spec:
            return None
        api_keys, source = _parse_env_keys(spec), API_KEYS_ENV
    if isinstance(api_keys, str):
        raise AgentConfigError(
            "create_app(api_keys=...) takes a list of keys or a mapping key -> user id, "
            "not a string; write api_keys=[key]"
        )
    pairs: Mapping[str, Any] = (
        api_keys if isinstance(api_keys, Mapping) else dict.fromkeys(api_keys)
    )
    for index, (key, user) in enumerate(pairs.items()):
        # Never echo a key: a misplaced value may be a secret.
        if not isinstance(key, str) or not key.strip() or key != key.strip():
            raise AgentConfigError(
                f"{source}: key #{index + 1} must be a non-empty string without surrounding "
                f"whitespace"
            )
        if user is not None and (not isinstance(user, str) or not user):
            raise AgentConfigError(
                f"{source}: the user id of key #{index + 1} must be a non-empty string or None"
            )
    if not pairs:
        raise AgentConfigError(
            f"{source} is empty: give at least one key, or leave it out for an open server"
        )
    return KeyRing(pairs)


def _parse_env_keys(spec: str) -> dict[str, str | None]:
    keys: dict[str, str | None] = {}
    for item in spec.split(","):
        key, sep, user = item.strip().partition("=")
        key, user = key.strip(), user.strip()
        if not key:
            continue
        if sep and not user:
            raise AgentConfigError(
                f"{API_KEYS_ENV}: an entry 'key=' names no user; write key=<user id> or key"
            )
        keys[key] = user or None
    return keys


def load_signing(
    signing_keys: str | bytes | Sequence[str | bytes] | SignatureVerifier | None,
) -> SignatureVerifier | None:
    """A verifier for ``signing_keys`` (one key, several while rotating, or a ready verifier),
    else for ``WEBAGENTS_SIGNING_KEYS`` (comma separated); None when neither gives one."""
    if isinstance(signing_keys, SignatureVerifier):
        return signing_keys
    keys: Iterable[str | bytes]
    if signing_keys is None:
        spec = os.environ.get(SIGNING_KEYS_ENV, "").strip()
        if not spec:
            return None
        keys = [key.strip() for key in spec.split(",") if key.strip()]
    elif isinstance(signing_keys, str | bytes):
        keys = [signing_keys]
    else:
        keys = list(signing_keys)
    try:
        return SignatureVerifier(keys)
    except ValueError as error:
        raise AgentConfigError(f"signing_keys: {error}") from None


def verify_signature(verifier: SignatureVerifier, scope: Scope, headers: Any, body: bytes) -> None:
    """401 unless the request is signed over its method, path with query (as sent) and
    ``body``; the message says what is wrong, never the expected signature."""
    raw = scope.get("raw_path")
    path = raw.decode("latin-1") if raw else scope["path"]
    query = scope.get("query_string", b"")
    if query:
        path = f"{path}?{query.decode('latin-1')}"
    try:
        verifier.verify(scope["method"], path, headers, body)
    except SignatureError as error:
        raise ApiError(
            401, f"request signature refused: {error}", code="invalid_signature"
        ) from None


class BearerAuth:
    """ASGI middleware: with API keys, every route but ``/health`` (and ``open_paths``: exact
    paths, or prefixes written ``/prefix/*``) needs ``Authorization: Bearer <key>``; the
    key's user id goes in the scope for the routes."""

    def __init__(self, app: ASGIApp, keys: KeyRing, open_paths: Iterable[str] = ()) -> None:
        self.app = app
        self.keys = keys
        self.open_paths = _OPEN_PATHS | {path for path in open_paths if not path.endswith("*")}
        self.open_prefixes = tuple(path[:-1] for path in open_paths if path.endswith("*"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (
            scope["path"] in self.open_paths
            or (self.open_prefixes and scope["path"].startswith(self.open_prefixes))
        ):
            await self.app(scope, receive, send)
            return
        header = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                header = value.decode("latin-1")
                break
        if header is None:
            await _refuse(send, "missing API key: send the header 'Authorization: Bearer <key>'")
            return
        scheme, _, key = header.partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            await _refuse(send, "the Authorization header must be 'Bearer <key>'")
            return
        accepted, user = self.keys.user_for(key.strip())
        if not accepted:
            await _refuse(send, "invalid API key")
            return
        scope[USER_SCOPE_KEY] = user
        await self.app(scope, receive, send)


async def _refuse(send: Send, message: str) -> None:
    body = error_body(401, message, code="invalid_api_key")
    await send(
        {
            "type": "http.response.start",
            "status": 401,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"www-authenticate", b"Bearer"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
