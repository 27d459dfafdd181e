"""A node's refusal as the SDK raises it: TallyError, with the API's stable error code."""

from __future__ import annotations

from typing import Any

import httpx


class TallyError(Exception):
    """The node refused a request; `code` is the API's stable error code."""

    def __init__(
        self, status: int, code: str, message: str, details: list[dict[str, Any]], retry_after: str | None = None
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.retry_after = retry_after  # the node's Retry-After header, when it sent one


def error_from(response: httpx.Response) -> TallyError:
    """The TallyError an error answer carries (its code, message, details and Retry-After)."""
    try:
        error = response.json()["error"]
    except (ValueError, KeyError, TypeError):
        error = {"code": "http_error", "message": response.text[:200], "details": []}
    return TallyError(
        response.status_code,
        error["code"],
        error["message"],
        error.get("details", []),
        response.headers.get("retry-after"),
    )
