"""The API's errors: each one an HTTP status with a clear ``detail`` message."""

from __future__ import annotations

from fastapi import HTTPException


class ApiError(HTTPException):
    """Base class: a refused request (``status`` and a one-line ``detail``)."""

    status = 400

    def __init__(self, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(self.status, detail, headers)


class BadRequest(ApiError):
    """A parameter that cannot be used (a bad time, week, limit, cursor or department)."""

    status = 400


class Unauthorized(ApiError):
    """No token, or one that is malformed, unknown or revoked."""

    status = 401


class Forbidden(ApiError):
    """A valid token whose role or departments do not cover the request."""

    status = 403


class NotFound(ApiError):
    """No such call (or no open callback for a number)."""

    status = 404


class Unprocessable(ApiError):
    """A well-formed request whose values are out of bounds (a time too far from the call)."""

    status = 422


class Unavailable(ApiError):
    """The store is not configured or cannot be reached."""

    status = 503
