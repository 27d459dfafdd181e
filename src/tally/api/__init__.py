"""HTTP API under /v1 (Starlette), OpenAPI description and docs page."""

from .app import create_app

__all__ = ["create_app"]
