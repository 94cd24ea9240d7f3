"""The dashboard's three files as the api serves them: their media types, a Content-Security-Policy of
this origin only, a 304 for a copy the browser holds; nothing in them loads from another origin, and
the script never parses data as HTML."""
from __future__ import annotations

import re
from collections.abc import Callable

import asyncpg
from pytest_aiohttp import AiohttpClient

from services.api.app import create_app
from services.api.dashboard import FILES, STATIC
from shared.config import Settings


async def test_files_are_served_with_their_type_a_policy_and_an_etag(
    make_settings: Callable[..., Settings], pool: asyncpg.Pool, aiohttp_client: AiohttpClient
) -> None:
    client = await aiohttp_client(create_app(make_settings()))
    for path, (name, media) in FILES.items():
        response = await client.get(path)
        assert response.status == 200 and response.content_type == media, path
        assert await response.read() == (STATIC / name).read_bytes()
        assert "default-src 'none'" in response.headers["Content-Security-Policy"]
        again = await client.get(path, headers={"If-None-Match": response.headers["ETag"]})
        assert again.status == 304 and await again.read() == b""
    page = await (await client.get("/")).text()
    for path in FILES:
        assert path == "/" or f'"{path}"' in page, f"the page does not load {path}"


def test_nothing_comes_from_another_origin_and_no_data_is_parsed_as_html() -> None:
    for name, _ in FILES.values():
        text = (STATIC / name).read_text()
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text, re.I), name  # no CDN, no font host
    script = (STATIC / "dashboard.js").read_text()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in script, sink
