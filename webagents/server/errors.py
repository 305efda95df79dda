"""Errors as the server sends them: OpenAI's shape ``{"error": {"message", "type", "param",
"code"}}`` with an honest status, for our own refusals and for FastAPI's (unknown routes,
wrong methods, validation)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from starlette.responses import Response

if TYPE_CHECKING:
    from fastapi import FastAPI
    from starlette.requests import Request

__all__ = [
    "ApiError",
    "error_body",
    "error_response",
    "error_type",
    "install_error_handlers",
]

# The "type" OpenAI's API gives each status; clients (the openai SDK) key on the status.
_TYPES: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    404: "invalid_request_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
    500: "server_error",
    503: "service_unavailable",
}


class ApiError(Exception):
    """A request refused with ``status``; ``message`` reaches the caller, so it names what is
    wrong and the fix, and never a secret, a stack trace or another user's data."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str,
        param: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.param = param
        self.headers = dict(headers or {})

    def response(self) -> Response:
        return error_response(
            self.status, self.message, code=self.code, param=self.param, headers=self.headers
        )


def error_type(status: int) -> str:
    """OpenAI's ``type`` for an error of ``status``."""
    return _TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")


def error_body(status: int, message: str, *, code: str, param: str | None = None) -> bytes:
    error = {"message": message, "type": error_type(status), "param": param, "code": code}
    return json.dumps({"error": error}, ensure_ascii=False).encode()


def error_response(
    status: int,
    message: str,
    *,
    code: str,
    param: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    return Response(
        error_body(status, message, code=code, param=param),
        status_code=status,
        headers=dict(headers) if headers else None,
        media_type="application/json",
    )


def install_error_handlers(app: FastAPI) -> None:
    """FastAPI's own errors (unknown route, wrong method, a request it validated) in the same
    shape as ours."""
    from fastapi.exceptions import RequestValidationError
    from starlette.exceptions import HTTPException

    async def api_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, ApiError)
        return error.response()

    async def http_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, HTTPException)
        status = error.status_code
        if status == 404:
            message, code = f"no route {request.url.path!r}; see GET /agents", "route_not_found"
        elif status == 405:
            message = f"{request.method} is not allowed on {request.url.path!r}"
            code = "method_not_allowed"
        else:
            message, code = str(error.detail), f"http_{status}"
        headers = dict(error.headers) if error.headers else None
        return error_response(status, message, code=code, headers=headers)

    async def validation_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, RequestValidationError)
        return validation_response(list(error.errors()))

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)


def validation_response(errors: list[Any]) -> Response:
    """422 naming the first bad field (as ``param``) and what is wrong with it."""
    first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
    param = ".".join(str(part) for part in first.get("loc", ()) if part != "body") or None
    message = f"{param}: {first.get('msg')}" if param else str(first.get("msg"))
    return error_response(422, message, code="invalid_value", param=param)
