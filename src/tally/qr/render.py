"""A payload drawn as a QR code (segno): SVG for pages, PNG for files and printing."""

from __future__ import annotations

import io

import segno

ERROR_LEVEL = "m"  # 15% of the symbol may be damaged and it still reads
BORDER_MODULES = 4  # the quiet zone the QR standard asks for


def svg(payload: str, scale: int = 4) -> str:
    """The code as an SVG document (black on white, with its quiet zone)."""
    out = io.BytesIO()
    segno.make_qr(payload, error=ERROR_LEVEL).save(
        out, kind="svg", scale=scale, border=BORDER_MODULES, xmldecl=False, svgns=True
    )
    return out.getvalue().decode("utf-8")


def png(payload: str, scale: int = 8) -> bytes:
    out = io.BytesIO()
    segno.make_qr(payload, error=ERROR_LEVEL).save(out, kind="png", scale=scale, border=BORDER_MODULES)
    return out.getvalue()
