"""JSON errors with stable codes. Bad input is a 4xx, never a 500."""

from __future__ import annotations

import msgspec
from starlette.responses import Response

from ..client.models import ErrorBody, ErrorDetail, ErrorResponse
from .observe import current_request_id


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: list[ErrorDetail] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or []
        self.headers = headers or {}


def error_response(err: ApiError) -> Response:
    """The error body, with the request's id (api/observe.py) so a report can be found in the node's log."""
    error = ErrorBody(code=err.code, message=err.message, details=err.details, request_id=current_request_id.get())
    body = ErrorResponse(error=error)
    return Response(
        msgspec.json.encode(body), status_code=err.status, media_type="application/json", headers=err.headers
    )
