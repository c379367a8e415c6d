"""One error type for every HTTP endpoint, rendered as JSON ``{"error": message}``."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An error a client caused or must know about: status code plus a clear message."""

    status_code = 400

    def __init__(self, message: str, status_code: int | None = None,
                 extra: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status_code is not None:
            self.status_code = status_code
        self.extra = extra or {}

    def to_dict(self) -> dict[str, Any]:
        """The JSON body."""
        return {"error": self.message, **self.extra}


class BadRequest(ApiError):
    """Malformed or invalid input (400)."""

    status_code = 400


class Unauthorized(ApiError):
    """Missing or wrong credentials or signature (401)."""

    status_code = 401


class NotFound(ApiError):
    """Unknown account, ticket, job or suggestion — or one of another account (404)."""

    status_code = 404


class Conflict(ApiError):
    """The request cannot be served in the account's current state (409)."""

    status_code = 409


def _api_error(error: ApiError) -> Any:
    return jsonify(error.to_dict()), error.status_code


def _http_error(error: HTTPException) -> Any:
    messages = {413: "request body too large", 404: "not found",
                405: "method not allowed", 400: "bad request"}
    message = messages.get(error.code or 500, error.description or error.name)
    return jsonify({"error": message}), error.code or 500


def _unexpected(error: Exception) -> Any:
    log.exception("unhandled error: %s", type(error).__name__)
    return jsonify({"error": "internal error"}), 500


def init_app(app: Flask) -> None:
    """Render every error as JSON (ApiError, Werkzeug's HTTP errors, anything unexpected)."""
    app.register_error_handler(ApiError, _api_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected)


def json_body(request: Any) -> dict[str, Any]:
    """The request's JSON object body, or BadRequest with the parser's reason."""
    import json

    raw = request.get_data(cache=True)
    if not raw:
        raise BadRequest("request body must be a JSON object")
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadRequest(f"malformed JSON: {exc}") from None
    if not isinstance(data, dict):
        raise BadRequest("request body must be a JSON object")
    return data
