"""Request signing: what the server accepts and what it refuses."""

from __future__ import annotations

import pytest

from webagents.remote.signing import (
    NONCE_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    SignatureError,
    SignatureVerifier,
    sign_request,
)

PATH = "/agents/billing/chat/completions"
BODY = b'{"messages": [{"role": "user", "content": "hi"}]}'
NOW = 1_764_750_000.0


def verifier(keys: str | list[str] = "k1", window: float = 300.0) -> SignatureVerifier:
    return SignatureVerifier(keys, window=window, clock=lambda: NOW)


def test_a_signed_request_is_accepted_once() -> None:
    check = verifier()
    headers = sign_request("k1", "POST", PATH, BODY, timestamp=NOW)
    check.verify("POST", PATH, headers, BODY)
    with pytest.raises(SignatureError, match="replayed"):
        check.verify("POST", PATH, headers, BODY)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [("GET", PATH, BODY), ("POST", "/agents/other/chat/completions", BODY), ("POST", PATH, b"{}")],
)
def test_changing_the_method_path_or_body_breaks_the_signature(
    method: str, path: str, body: bytes
) -> None:
    headers = sign_request("k1", "POST", PATH, BODY, timestamp=NOW)
    with pytest.raises(SignatureError, match="does not match"):
        verifier().verify(method, path, headers, body)


def test_a_wrong_key_is_refused_and_any_listed_key_is_accepted() -> None:
    with pytest.raises(SignatureError, match="does not match"):
        verifier("k1").verify(
            "POST", PATH, sign_request("k2", "POST", PATH, BODY, timestamp=NOW), BODY
        )
    verifier(["old", "k2"]).verify(
        "POST", PATH, sign_request("k2", "POST", PATH, BODY, timestamp=NOW), BODY
    )


@pytest.mark.parametrize("skew", [-301, 301])
def test_a_timestamp_outside_the_window_is_refused(skew: float) -> None:
    headers = sign_request("k1", "POST", PATH, BODY, timestamp=NOW + skew)
    with pytest.raises(SignatureError, match="window"):
        verifier().verify("POST", PATH, headers, BODY)


def test_a_changed_timestamp_breaks_the_signature() -> None:
    headers = sign_request("k1", "POST", PATH, BODY, timestamp=NOW - 100)
    headers[TIMESTAMP_HEADER] = str(int(NOW))
    with pytest.raises(SignatureError, match="does not match"):
        verifier().verify("POST", PATH, headers, BODY)


@pytest.mark.parametrize("missing", [SIGNATURE_HEADER, TIMESTAMP_HEADER, NONCE_HEADER])
def test_an_unsigned_request_is_refused_naming_the_headers(missing: str) -> None:
    headers = sign_request("k1", "POST", PATH, BODY, timestamp=NOW)
    del headers[missing]
    with pytest.raises(SignatureError, match="not signed"):
        verifier().verify("POST", PATH, headers, BODY)


@pytest.mark.parametrize(
    ("header", "value", "problem"),
    [
        (SIGNATURE_HEADER, "v2=abc", "format"),
        (SIGNATURE_HEADER, "v1=", "format"),
        (SIGNATURE_HEADER, "v1=\xe9\xe9", "format"),
        (TIMESTAMP_HEADER, "yesterday", "whole number"),
        (NONCE_HEADER, "n" * 65, "longer"),
    ],
)
def test_malformed_headers_get_a_clear_refusal(header: str, value: str, problem: str) -> None:
    headers = sign_request("k1", "POST", PATH, BODY, timestamp=NOW)
    headers[header] = value
    with pytest.raises(SignatureError, match=problem):
        verifier().verify("POST", PATH, headers, BODY)


def test_nonces_are_forgotten_once_their_timestamp_is_stale() -> None:
    now = [NOW]
    check = SignatureVerifier("k1", window=10, clock=lambda: now[0])
    for second in range(100):
        now[0] = NOW + second
        check.verify("POST", PATH, sign_request("k1", "POST", PATH, BODY, timestamp=now[0]), BODY)
    assert len(check._seen) <= 21  # only those still inside twice the window


@pytest.mark.parametrize("keys", [[], "", [b""]])
def test_a_verifier_needs_a_real_key(keys: str | list[bytes]) -> None:
    with pytest.raises(ValueError, match="key"):
        SignatureVerifier(keys)
