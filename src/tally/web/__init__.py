"""The web apps the node serves: the wallet (/wallet/), the merchant's point of sale (/pos/), the
explorer with the network monitor (/explorer/) and the member console (/console/: the council, its
proposals and votes, assets' supply, accounts' freezes, limits and key recovery).

Each app is a folder under `static/` with its `app.js`; `static/shared/` holds what they share (the
API client, canonical bytes and Web Crypto signatures, the receipt check, amounts, Korean and English
strings, components) and `static/vendor/` the third-party browser code at pinned versions
(`npm/refresh.sh` refreshes it from the npm registry). No build step: the pages load ES modules, and
an import map names Preact. Every page is served with a Content-Security-Policy that allows only this
origin's scripts (and the import map, by its hash).
"""

from __future__ import annotations

import base64
import hashlib
import mimetypes
from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

mimetypes.add_type("text/javascript", ".mjs")  # module scripts must be served as JavaScript
mimetypes.add_type("text/javascript", ".js")
STATIC = Path(__file__).parent / "static"
APPS = {"wallet": "Tally Wallet", "pos": "Tally POS", "explorer": "Tally Explorer", "console": "Tally Console"}
IMPORT_MAP = '{"imports": {"preact": "/web/vendor/preact.mjs", "preact/hooks": "/web/vendor/preact-hooks.mjs"}}'
_MAP_HASH = base64.b64encode(hashlib.sha256(IMPORT_MAP.encode()).digest()).decode()
CSP = (
    f"default-src 'self'; script-src 'self' 'sha256-{_MAP_HASH}'; style-src 'self' 'unsafe-inline';"
    " img-src 'self' data: blob:; media-src 'self' blob:; connect-src 'self'; object-src 'none';"
    " base-uri 'none'; frame-ancestors 'none'"
)

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="stylesheet" href="/web/shared/style.css">
<link rel="stylesheet" href="/web/vendor/uPlot.min.css">
<script type="importmap">{import_map}</script>
<script src="/web/vendor/jsQR.js"></script>
<script src="/web/vendor/JsBarcode.code128.min.js"></script>
</head>
<body>
<div id="app"></div>
<script type="module" src="/web/{app}/app.js"></script>
</body>
</html>
"""


def _page(app: str) -> Route:
    body = PAGE.format(title=APPS[app], import_map=IMPORT_MAP, app=app)

    async def serve(request: Request) -> Response:
        return HTMLResponse(body, headers={"Content-Security-Policy": CSP, "Cache-Control": "no-cache"})

    return Route(f"/{app}/", serve)


def _to_slash(app: str) -> Route:
    async def redirect(request: Request) -> Response:
        return RedirectResponse(f"/{app}/", status_code=308)

    return Route(f"/{app}", redirect)


def web_routes() -> list[BaseRoute]:
    """The apps' pages and their static files."""
    routes: list[BaseRoute] = [route for app in APPS for route in (_page(app), _to_slash(app))]
    routes.append(Mount("/web", StaticFiles(directory=STATIC)))
    return routes
