"""Dropbox's error answers: 400 plain text for malformed calls, 401 for tokens, 409 route errors (`.tag`s)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.responses import JSONResponse, PlainTextResponse, Response

from emulator.domain.errors import DomainError, TooLarge, Unauthenticated

RouteErrorShape = Callable[[list[str]], dict[str, Any]]


class ApiFailure(Exception):
    """A call Dropbox would refuse; `response()` is its answer on the wire."""

    def response(self, route: str) -> Response:
        raise NotImplementedError


class BadInput(ApiFailure):
    """A malformed call: Dropbox answers 400 in plain text, naming the API function."""

    def __init__(self, detail: str, status: int = 400) -> None:
        super().__init__(detail)
        self.detail = detail
        self.status = status

    def response(self, route: str) -> Response:
        return bad_input(route, self.detail, self.status)


class InvalidToken(ApiFailure):
    def response(self, route: str) -> Response:
        body = {"error_summary": "invalid_access_token/..", "error": {".tag": "invalid_access_token"}}
        return JSONResponse(body, status_code=401)


class RouteError(ApiFailure):
    """A route's own error (409): `summary` is the provider message, e.g. "path/not_found/"."""

    def __init__(self, summary: str) -> None:
        super().__init__(summary)
        self.summary = summary

    def response(self, route: str, shape: RouteErrorShape | None = None) -> Response:
        tags = [tag for tag in self.summary.split("/") if tag]
        error = (shape or nested_union)(tags)
        return JSONResponse({"error_summary": "/".join(tags) + "/..", "error": error}, status_code=409)


def bad_input(route: str, detail: str, status: int = 400) -> Response:
    return PlainTextResponse(f'Error in call to API function "{route}": {detail}', status_code=status)


def nested_union(tags: list[str]) -> dict[str, Any]:
    """["path", "conflict", "folder"] -> {".tag": "path", "path": {".tag": "conflict", "conflict": {...}}}."""
    error: dict[str, Any] = {".tag": tags[-1]}
    for tag in reversed(tags[:-1]):
        error = {".tag": tag, tag: error}
    return error


def upload_error(tags: list[str]) -> dict[str, Any]:
    """UploadError: its `path` member is a struct (UploadWriteFailed) holding the WriteError as `reason`."""
    if tags[0] != "path" or len(tags) < 2:
        return nested_union(tags)
    return {".tag": "path", "reason": nested_union(tags[1:]), "upload_session_id": ""}


def from_domain(error: DomainError) -> ApiFailure:
    """A refusal of the store (it names Dropbox's tags in `provider_message`) or a malformed argument."""
    if isinstance(error, Unauthenticated):
        return InvalidToken(error.message)
    if error.provider_message:
        return RouteError(error.provider_message)
    if isinstance(error, TooLarge):
        return RouteError("payload_too_large/")
    return BadInput(error.message)
