"""The error answers each route can give, written once for the OpenAPI schema: every one has the JSON body
`ErrorBody` ({"error": "..."}), and the "retry later" ones carry Retry-After."""

from __future__ import annotations

from typing import Any

from .schemas import ErrorBody

_RETRY_AFTER = {
    "Retry-After": {
        "description": "seconds to wait before retrying",
        "required": True,
        "schema": {"type": "integer", "minimum": 1},
    }
}

_WHY = {
    400: "the upload is empty or its form could not be parsed",
    401: "missing or wrong API token (`Authorization: Bearer <token>`); only when the server runs with --token",
    404: "no such scan",
    413: "the file is over the server's upload limit",
    415: "the content is not a video or image this service reads (checked by content, not by name)",
    422: "a parameter or form field is missing, malformed or out of range",
    500: "internal server error (a bug; the server log has the details)",
    503: "the scan queue is full; retry after Retry-After seconds",
    507: "the server is out of disk space; retry after Retry-After seconds",
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: the listed codes plus 500, which any route can answer."""
    out: dict[int | str, dict[str, Any]] = {}
    for code in sorted({*codes, 500}):
        out[code] = {"model": ErrorBody, "description": _WHY[code]}
        if code in (503, 507):
            out[code]["headers"] = _RETRY_AFTER
    return out
