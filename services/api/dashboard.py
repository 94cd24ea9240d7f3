"""The live dashboard at /: three static files (the page, its stylesheet, its ES module) served by
the api itself, with no build step and nothing from another origin. The page reads the same routes
as any client (/ready, /api/v1/*, /ws) from the browser: services/api/static/dashboard.js."""
from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

from aiohttp import web

STATIC = Path(__file__).resolve().parent / "static"
# path -> (file under static/, its media type); the OpenAPI document lists these paths as pages
FILES = {"/": ("index.html", "text/html"), "/static/dashboard.css": ("dashboard.css", "text/css"),
         "/static/dashboard.js": ("dashboard.js", "text/javascript")}
# Only this origin: no CDN, no inline script, nothing sent elsewhere ('self' covers /ws: CSP level 3)
POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
          "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


@cache
def _file(name: str) -> tuple[bytes, str]:
    """A static file's bytes and ETag, read once per process."""
    body = (STATIC / name).read_bytes()
    return body, f'"{hashlib.sha256(body).hexdigest()[:16]}"'


def _serve(request: web.Request, path: str) -> web.Response:
    name, content_type = FILES[path]
    body, etag = _file(name)
    headers = {"ETag": etag, "Cache-Control": "no-cache", "Content-Security-Policy": POLICY,
               "X-Content-Type-Options": "nosniff"}
    if request.headers.get("If-None-Match") == etag:
        return web.Response(status=304, headers=headers)
    return web.Response(body=body, content_type=content_type, charset="utf-8", headers=headers)


async def page(request: web.Request) -> web.Response:
    """GET /: the live dashboard (health, feeds, funding spreads, liquidations, leaderboard, accounts)."""
    return _serve(request, "/")


async def stylesheet(request: web.Request) -> web.Response:
    """GET /static/dashboard.css: the dashboard's stylesheet."""
    return _serve(request, "/static/dashboard.css")


async def script(request: web.Request) -> web.Response:
    """GET /static/dashboard.js: the dashboard's ES module."""
    return _serve(request, "/static/dashboard.js")


def add_routes(app: web.Application) -> None:
    for path, handler in zip(FILES, (page, stylesheet, script), strict=True):
        app.router.add_get(path, handler)
