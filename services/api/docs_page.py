"""/docs: the OpenAPI document as one plain HTML page, rendered on the server from the document
itself (no script, no external CDN): each route with its parameters and answers, then the schemas."""
from __future__ import annotations

import json
from html import escape
from typing import Any

STYLE = """
body{font:15px/1.45 system-ui,sans-serif;margin:0 auto;max-width:60em;padding:0 1em;color:#222}
h2{border-bottom:1px solid #ccc;margin-top:2em}h3{margin:1.4em 0 .3em;font-family:monospace}
table{border-collapse:collapse;width:100%;font-size:14px}td,th{border:1px solid #ddd;padding:.2em .4em;
text-align:left;vertical-align:top}code,pre{font-size:13px}pre{background:#f6f6f6;padding:.5em;overflow:auto}
.key{background:#fde68a;border-radius:3px;padding:0 .3em;font-size:13px}
"""


def _type_of(schema: dict[str, Any]) -> str:
    """A parameter's schema in a few words: type, pattern, bounds, choices."""
    if "anyOf" in schema:
        return " or ".join(_type_of(option) for option in schema["anyOf"] if option.get("maxLength") != 0)
    if "enum" in schema:
        return "one of " + ", ".join(map(str, schema["enum"]))
    words = [str(schema.get("type", "any"))]
    for key in ("format", "pattern", "minimum", "maximum", "default"):
        if key in schema:
            words.append(f"{key} {schema[key]}")
    return ", ".join(words)


def _key(op: dict[str, Any]) -> str:
    """The key a route needs, and its scope where the security requirement names one."""
    if not op.get("security"):
        return ""
    scopes = sorted({scope for requirement in op["security"] for names in requirement.values()
                     for scope in names})
    return f' <span class="key">API key: {escape(", ".join(scopes) or "account:read")}</span>'


def _operation(method: str, path: str, op: dict[str, Any]) -> str:
    key = _key(op)
    rows = "".join(
        f"<tr><td><code>{escape(p['name'])}</code></td><td>{p['in']}</td>"
        f"<td>{'yes' if p['required'] else ''}</td><td>{escape(_type_of(p['schema']))}</td>"
        f"<td>{escape(p.get('description', ''))}</td></tr>"
        for p in op["parameters"])
    table = ("<table><tr><th>parameter</th><th>in</th><th>required</th><th>schema</th><th>what</th></tr>"
             f"{rows}</table>") if rows else ""
    answers = "; ".join(f"<b>{status}</b> {escape(answer['description'])}"
                        for status, answer in op["responses"].items())
    ok: dict[str, Any] = next((a for status, a in op["responses"].items() if status.startswith("2")), {})
    sent = op.get("requestBody", {}).get("content", {})
    body = "".join(f"<details><summary>{what}: {escape(media)} schema</summary><pre>"
                   f"{escape(json.dumps(c['schema'], indent=1))}</pre></details>"
                   for what, content in (("request body", sent), ("answer", ok.get("content", {})))
                   for media, c in content.items())
    return (f'<h3 id="{escape(op["operationId"])}">{method.upper()} {escape(path)}</h3>{key}'
            f'<p>{escape(op["summary"])}</p>{table}<p>{answers}</p>{body}')


def render_page(document: dict[str, Any]) -> str:
    """The whole page, grouped by tag in the order the routes were added."""
    by_tag: dict[str, list[str]] = {}
    for path, item in document["paths"].items():
        for method, op in item.items():
            by_tag.setdefault(op["tags"][0], []).append(_operation(method, path, op))
    sections = "".join(f"<h2>{escape(tag)}</h2>{''.join(ops)}" for tag, ops in by_tag.items())
    schemas = "".join(f"<h3>{escape(name)}</h3><pre>{escape(json.dumps(schema, indent=1))}</pre>"
                      for name, schema in document["components"]["schemas"].items())
    info = document["info"]
    return (f"<!doctype html><html lang=en><head><meta charset=utf-8>"
            f'<meta name=viewport content="width=device-width,initial-scale=1">'
            f"<title>{escape(info['title'])}</title><style>{STYLE}</style></head><body>"
            f"<h1>{escape(info['title'])}</h1><p>{escape(info['description'])} OpenAPI {document['openapi']} "
            f'document: <a href="/api/v1/openapi.json">/api/v1/openapi.json</a>. Keys: '
            f"<code>Authorization: Bearer &lt;key&gt;</code> or <code>X-API-Key</code>.</p>"
            f"{sections}<h2>schemas</h2>{schemas}</body></html>")
