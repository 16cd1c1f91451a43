"""The /docs page: the OpenAPI document rendered to one self-contained HTML page.

No scripts, fonts or CDN links, so it works for users who are offline; all text is escaped.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from typing import Any

Json = dict[str, Any]

_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

_CSS = """
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d1f21;
max-width:60rem;margin:0 auto;padding:1rem 1.5rem 4rem}
h1{margin-bottom:.2rem}h2{margin-top:2.5rem;border-bottom:2px solid #ddd}
section{border:1px solid #ddd;border-radius:6px;padding:.2rem 1rem 1rem;margin:1.2rem 0}
h3{font-size:1.05rem}code{background:#f3f3f3;padding:0 .25rem;border-radius:3px}
.method{display:inline-block;min-width:4.5rem;text-align:center;color:#fff;border-radius:4px;
padding:0 .4rem;margin-right:.5rem;font-family:monospace;background:#555}
.get{background:#2b6cb0}.post{background:#2f855a}.delete{background:#c53030}
table{border-collapse:collapse;width:100%;margin:.4rem 0}
th,td{border:1px solid #ddd;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f7f7f7}.note{color:#555}nav a{margin-right:.6rem}
"""


def _text(value: object) -> str:
    """Escape first, then mark `code` spans, so no text from the document becomes markup."""
    escaped = html.escape(str(value), quote=True)
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped)


def _anchor(*parts: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", "-".join(parts)).strip("-")


def _schema_text(schema: Json) -> str:
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return f'<a href="#{_anchor("schema", name)}">{_text(name)}</a>'
    if "anyOf" in schema:
        return " or ".join(_schema_text(option) for option in schema["anyOf"])
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = " or ".join(kind)
    if kind == "array":
        return f"array of {_schema_text(schema.get('items', {}))}"
    words = [_text(kind)] if kind else []
    if "contentMediaType" in schema:
        words.append(_text(f"({schema['contentMediaType']})"))
    if "format" in schema:
        words.append(_text(f"({schema['format']})"))
    if "const" in schema:
        words.append(_text(f"= {schema['const']}"))
    if "enum" in schema:
        values = ", ".join("null" if v is None else str(v) for v in schema["enum"])
        words.append(_text(f"one of: {values}"))
    if "minimum" in schema or "maximum" in schema:
        low, high = schema.get("minimum", ""), schema.get("maximum", "")
        words.append(_text(f"range {low} .. {high}".rstrip(" .")))
    if "maxLength" in schema:
        words.append(_text(f"at most {schema['maxLength']} characters"))
    if "pattern" in schema:
        words.append(f"matching <code>{_text(schema['pattern'])}</code>")
    if "default" in schema:
        words.append(_text(f"default {schema['default']}"))
    return ", ".join(words) or "any"


def _table(headers: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> str:
    head = "".join(f"<th>{_text(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _parameters_html(parameters: list[Json]) -> str:
    if not parameters:
        return ""
    rows = [
        (
            f"<code>{_text(p['name'])}</code>",
            _text(p["in"]),
            "yes" if p.get("required") else "no",
            _schema_text(p.get("schema", {})),
            _text(p.get("description", "")),
        )
        for p in parameters
    ]
    return "<h4>Parameters</h4>" + _table(("Name", "In", "Required", "Type", "Rule"), rows)


def _part_kind(schema: Json) -> str:
    if schema.get("type") == "array" and "contentMediaType" in schema.get("items", {}):
        return "file, repeatable"
    if schema.get("type") == "string" and schema.get("contentMediaType", "").endswith("stream"):
        return "file"
    return "text: " + _schema_text(schema)


def _request_body_html(body: Json | None) -> str:
    if not body:
        return ""
    out = ["<h4>Request body</h4>"]
    for media_type, content in body.get("content", {}).items():
        schema = content.get("schema", {})
        out.append(
            f"<p><code>{_text(media_type)}</code> {_text(schema.get('description', ''))}</p>"
        )
        properties = schema.get("properties")
        if media_type.startswith("multipart/") and properties:
            required = set(schema.get("required", []))
            rows = [
                (
                    f"<code>{_text(name)}</code>",
                    _part_kind(part),
                    "yes" if name in required else "no",
                    _text(part.get("description", "")),
                )
                for name, part in properties.items()
            ]
            out.append(_table(("Part", "Kind", "Required", "Rule"), rows))
        else:
            out.append(f"<p>Schema: {_schema_text(schema)}</p>")
    return "".join(out)


def _responses_html(responses: Json) -> str:
    rows = []
    for status, response in responses.items():
        bodies = [
            f"<code>{_text(media)}</code> {_schema_text(content.get('schema', {}))}"
            for media, content in response.get("content", {}).items()
        ]
        headers = [
            f"<code>{_text(name)}</code>: {_text(header.get('description', ''))}"
            for name, header in response.get("headers", {}).items()
        ]
        rows.append(
            (
                f"<strong>{_text(status)}</strong>",
                _text(response.get("description", "")),
                "<br>".join(bodies),
                "<br>".join(headers),
            )
        )
    return "<h4>Responses</h4>" + _table(("Status", "Meaning", "Body", "Headers"), rows)


def _operation_html(
    document: Json, path: str, method: str, operation: Json, shared: list[Json]
) -> str:
    security = operation.get("security", document.get("security", []))
    auth = "bearer token (when tokens are configured)" if security else "no token needed"
    return (
        f'<section id="{_anchor(method, path)}">'
        f'<h3><span class="method {_text(method)}">{_text(method.upper())}</span>'
        f"<code>{_text(path)}</code> — {_text(operation.get('summary', ''))}</h3>"
        f"<p>{_text(operation.get('description', ''))}</p>"
        f'<p class="note">Auth: {_text(auth)}</p>'
        + _parameters_html([*shared, *operation.get("parameters", [])])
        + _request_body_html(operation.get("requestBody"))
        + _responses_html(operation.get("responses", {}))
        + "</section>"
    )


def _operations_html(document: Json, items: Json, heading: str) -> tuple[str, list[str]]:
    sections, links = [], []
    for path, item in items.items():
        shared = item.get("parameters", [])
        for method in _METHODS:
            if method in item:
                sections.append(_operation_html(document, path, method, item[method], shared))
                links.append(
                    f'<a href="#{_anchor(method, path)}">{_text(method.upper())} {_text(path)}</a>'
                )
    return f"<h2>{_text(heading)}</h2>" + "".join(sections), links


def _schemas_html(schemas: Json) -> str:
    out = ["<h2>Schemas</h2>"]
    for name, schema in schemas.items():
        required = set(schema.get("required", []))
        rows = [
            (
                f"<code>{_text(prop)}</code>",
                _schema_text(sub),
                "yes" if prop in required else "no",
                _text(sub.get("description", "")),
            )
            for prop, sub in schema.get("properties", {}).items()
        ]
        shape = (
            _table(("Key", "Type", "Required", "Description"), rows)
            if rows
            else f"<p>{_schema_text(schema)}</p>"
        )
        out.append(
            f'<section id="{_anchor("schema", name)}"><h3>{_text(name)}</h3>'
            f"<p>{_text(schema.get('description', ''))}</p>{shape}</section>"
        )
    return "".join(out)


def render_html(document: Json) -> str:
    """The page of /docs: no scripts, fonts or styles from elsewhere, so it works offline."""
    info = document.get("info", {})
    title = f"{info.get('title', 'API')} {info.get('version', '')}".strip()
    paths_html, path_links = _operations_html(document, document.get("paths", {}), "Endpoints")
    hooks_html, hook_links = _operations_html(document, document.get("webhooks", {}), "Webhooks")
    schemes = document.get("components", {}).get("securitySchemes", {})
    auth = " ".join(_text(s.get("description", "")) for s in schemes.values())
    paragraphs = "".join(
        f"<p>{_text(p)}</p>" for p in str(info.get("description", "")).split("\n\n")
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_text(title)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{_text(title)}</h1><p>{_text(info.get('summary', ''))}</p>{paragraphs}"
        f'<p class="note"><strong>Auth:</strong> {auth}</p>'
        "<p>Machine-readable: <code>GET /openapi.json</code> (OpenAPI 3.1).</p>"
        f"<nav>{' '.join(path_links + hook_links)}</nav>"
        f"{paths_html}{hooks_html}"
        f"{_schemas_html(document.get('components', {}).get('schemas', {}))}"
        "</body></html>"
    )
