"""Request input: path and query parameters, checked whole against the schemas the OpenAPI
document publishes, and JSON bodies (bounded, declared, UTF-8, decoded strictly)."""

from __future__ import annotations

import re
from typing import Any

import msgspec
from starlette.requests import Request

from ..core.limits import Limits
from .errors import ApiError
from .openapi import CURSOR_PATTERN, MAX_CURSOR_HEIGHT, MAX_CURSOR_INDEX, PATH_PARAMS, query_params

_PATH_RES = {name: re.compile(schema["pattern"]) for name, schema in PATH_PARAMS.items() if "pattern" in schema}
_INT_RE = re.compile(r"-?[0-9]{1,16}")
_HEIGHT_RE = re.compile(r"[0-9]{1,16}")
_CURSOR_RE = re.compile(CURSOR_PATTERN)


def is_json_media_type(content_type: str | None) -> bool:
    """`application/json`, with parameters or without; a charset, where given, is UTF-8 (JSON is UTF-8)."""
    if content_type is None:
        return False
    media_type, _, parameters = content_type.partition(";")
    if media_type.strip().lower() != "application/json":
        return False
    for parameter in parameters.split(";"):
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() not in ("utf-8", "utf8"):
            return False
    return True


class Params:
    """Reads a request's parameters; a bad one raises ApiError 400 (`invalid_path`, `invalid_query`)."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.queries = query_params(limits)
        self._query_res = {
            k: re.compile(q["schema"]["pattern"]) for k, q in self.queries.items() if "pattern" in q["schema"]
        }

    def path(self, request: Request, name: str) -> str:
        """A string path parameter, whole, against its published pattern and length."""
        value = str(request.path_params[name])
        if len(value) > PATH_PARAMS[name]["maxLength"] or not _PATH_RES[name].fullmatch(value):
            raise ApiError(400, "invalid_path", f"{name} {value!r} is not well formed")
        return value

    def height(self, request: Request) -> int:
        raw = str(request.path_params["height"])
        low, high = PATH_PARAMS["height"]["minimum"], PATH_PARAMS["height"]["maximum"]
        if not _HEIGHT_RE.fullmatch(raw) or not low <= int(raw) <= high:
            raise ApiError(400, "invalid_path", f"height is an integer from {low} to {high}")
        return int(raw)

    def integer(self, request: Request, key: str, default: int = 0) -> int:
        """An integer query parameter within its published bounds; absent: its published default, or `default`."""
        name, schema = self.queries[key]["name"], self.queries[key]["schema"]
        raw = request.query_params.get(name)
        if raw is None:
            return int(schema.get("default", default))
        low, high = schema["minimum"], schema["maximum"]
        if not _INT_RE.fullmatch(raw) or not low <= int(raw) <= high:
            raise ApiError(400, "invalid_query", f"{name} must be an integer from {low} to {high}")
        return int(raw)

    def string(self, request: Request, key: str) -> str | None:
        """A string query parameter, whole, against its published pattern, choices and length (absent: None)."""
        name, schema = self.queries[key]["name"], self.queries[key]["schema"]
        raw = request.query_params.get(name)
        if raw is None:
            return None
        if "enum" in schema:
            if raw not in schema["enum"]:
                raise ApiError(400, "invalid_query", f"{name} is one of {', '.join(schema['enum'])}")
            return raw
        pattern = self._query_res.get(key)
        if not (schema["minLength"] <= len(raw) <= schema["maxLength"] and (pattern is None or pattern.fullmatch(raw))):
            raise ApiError(
                400, "invalid_query", f"{name} {raw[:80]!r} is not well formed: {self.queries[key]['description']}"
            )
        return raw

    def cursor(self, request: Request) -> tuple[int, int] | None:
        """A history cursor, HEIGHT:INDEX, within its published pattern and bounds."""
        raw = request.query_params.get("cursor")
        if raw is None:
            return None
        schema = self.queries["cursor"]["schema"]
        if len(raw) <= schema["maxLength"] and _CURSOR_RE.fullmatch(raw):
            height, index = (int(part) for part in raw.split(":"))
            if height <= MAX_CURSOR_HEIGHT and index <= MAX_CURSOR_INDEX:
                return height, index
        raise ApiError(
            400,
            "invalid_query",
            f"cursor is HEIGHT:INDEX as returned in next_cursor (HEIGHT at most {MAX_CURSOR_HEIGHT},"
            f" INDEX at most {MAX_CURSOR_INDEX})",
        )

    async def body(self, request: Request) -> bytes:
        """A JSON request body: bounded, declared `application/json`, UTF-8."""
        most = self.limits.max_body_bytes
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > most):
            raise ApiError(413, "body_too_large", f"request bodies are limited to {most} bytes")
        if not is_json_media_type(request.headers.get("content-type")):
            raise ApiError(
                415, "unsupported_media_type", "request bodies are JSON: send Content-Type: application/json"
            )
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > most:
                raise ApiError(413, "body_too_large", f"request bodies are limited to {most} bytes")
            chunks.append(chunk)
        body = b"".join(chunks)
        if not body.isascii():
            try:
                body.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise ApiError(
                    400, "malformed_json", f"the body is not UTF-8: {exc.reason} at byte {exc.start}"
                ) from None
        return body

    @staticmethod
    def decode(decoder: msgspec.json.Decoder[Any], body: bytes) -> Any:
        try:
            return decoder.decode(body)
        except msgspec.ValidationError as exc:
            raise ApiError(400, "invalid_field", str(exc)) from None
        except msgspec.DecodeError as exc:
            raise ApiError(400, "malformed_json", str(exc)) from None
