"""Request signing between webagents processes: HMAC-SHA256 over the method, the path (with
its query), a timestamp, a nonce and the body's SHA-256 digest.

The caller adds three headers (``sign_request``); the server recomputes the signature with
each key it accepts (``SignatureVerifier.verify``), refuses a timestamp outside its window
and a nonce it has already seen inside the window, so a captured request cannot be sent
again. Nonces are remembered per process: behind several workers, a replay within the window
that reaches another worker is caught only by the timestamp check, so keep the window short.

The string signed is, one field per line::

    v1
    POST
    /agents/billing/chat/completions
    1764750000
    3f1c...            (nonce, 32 hex characters)
    9b74...            (hex SHA-256 of the body)

The signature header is ``v1=<hex HMAC-SHA256 of that string>``.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping

__all__ = [
    "NONCE_HEADER",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "SignatureError",
    "SignatureVerifier",
    "sign_request",
]

SIGNATURE_HEADER = "X-Webagents-Signature"
TIMESTAMP_HEADER = "X-Webagents-Timestamp"
NONCE_HEADER = "X-Webagents-Nonce"
_VERSION = "v1"
_MAX_NONCE = 64


class SignatureError(Exception):
    """A request whose signature is missing, wrong, stale or replayed. The text says which,
    never what the signature should have been."""


def _key_bytes(key: str | bytes) -> bytes:
    raw = key.encode() if isinstance(key, str) else key
    if not isinstance(raw, bytes) or not raw:
        raise ValueError("a signing key must be a non-empty str or bytes")
    return raw


def _signature(key: bytes, method: str, path: str, timestamp: str, nonce: str, body: bytes) -> str:
    digest = hashlib.sha256(body).hexdigest()
    message = "\n".join((_VERSION, method.upper(), path, timestamp, nonce, digest))
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()


def sign_request(
    key: str | bytes,
    method: str,
    path: str,
    body: bytes,
    *,
    timestamp: float | None = None,
    nonce: str | None = None,
) -> dict[str, str]:
    """The headers that sign a request: ``path`` is the URL's path with its query string
    (``/agents/x/chat/completions``), as the server will see it."""
    stamp = str(int(time.time() if timestamp is None else timestamp))
    nonce = secrets.token_hex(16) if nonce is None else nonce
    signature = _signature(_key_bytes(key), method, path, stamp, nonce, body)
    return {
        TIMESTAMP_HEADER: stamp,
        NONCE_HEADER: nonce,
        SIGNATURE_HEADER: f"{_VERSION}={signature}",
    }


class SignatureVerifier:
    """Checks signed requests against one or more keys (several while a key is rotated).

    ``window`` is how far, in seconds, a request's timestamp may lie from this server's
    clock either way; nonces seen inside it are refused. ``clock`` is injectable for tests.
    """

    def __init__(
        self,
        keys: str | bytes | Iterable[str | bytes],
        *,
        window: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if isinstance(keys, str | bytes):
            keys = [keys]
        self._keys = [_key_bytes(key) for key in keys]
        if not self._keys:
            raise ValueError("SignatureVerifier needs at least one signing key")
        if not math.isfinite(window) or window <= 0:
            raise ValueError(f"window must be a number of seconds > 0, got {window!r}")
        self.window = window
        self._clock = clock
        self._seen: OrderedDict[str, float] = OrderedDict()  # nonce -> when it may be forgotten
        self._lock = threading.Lock()

    def verify(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> None:
        """Return if the request is signed with one of the keys, fresh and not seen before;
        else raise ``SignatureError``. ``headers`` must look names up case-insensitively
        (Starlette's and httpx's headers do)."""
        stamp = headers.get(TIMESTAMP_HEADER)
        nonce = headers.get(NONCE_HEADER)
        given = headers.get(SIGNATURE_HEADER)
        if not stamp or not nonce or not given:
            raise SignatureError(
                f"the request is not signed: it needs the {SIGNATURE_HEADER}, "
                f"{TIMESTAMP_HEADER} and {NONCE_HEADER} headers"
            )
        version, _, signature = given.partition("=")
        # compare_digest refuses non-ASCII text with a TypeError: such a value is malformed
        if version != _VERSION or not signature or not signature.isascii():
            raise SignatureError(f"unknown signature format; expected {_VERSION}=<hex>")
        if len(nonce) > _MAX_NONCE:
            raise SignatureError(f"the nonce is longer than {_MAX_NONCE} characters")
        try:
            sent_at = int(stamp)
        except ValueError:
            raise SignatureError("the timestamp is not a whole number of seconds") from None
        now = self._clock()
        if abs(now - sent_at) > self.window:
            raise SignatureError(
                f"the timestamp is outside the {self.window:g}s window "
                f"(check the clocks of both machines)"
            )
        if not any(
            hmac.compare_digest(signature, _signature(key, method, path, stamp, nonce, body))
            for key in self._keys
        ):
            raise SignatureError("the signature does not match the request")
        with self._lock:
            self._forget_expired(now)
            if nonce in self._seen:
                raise SignatureError("the request was already received (replayed nonce)")
            self._seen[nonce] = sent_at + 2 * self.window

    def _forget_expired(self, now: float) -> None:
        # Nonces arrive in about timestamp order, so the oldest sit at the front.
        seen = self._seen
        while seen:
            nonce, forget_at = next(iter(seen.items()))
            if forget_at > now:
                break
            del seen[nonce]
