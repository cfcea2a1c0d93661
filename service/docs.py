"""What the service says about itself over HTTP: ``GET /openapi.json`` and the reference page ``GET /docs``.

Envoy answers these itself (``direct_response`` routes, rendered into ``envoy.yaml`` by
``service.envoy.render``), so they cost the gRPC server nothing and need no route in ``proto/``:

- ``/openapi.json``: ``generated/openapi.json`` (``make generate``, build/openapi.py);
- ``/docs``: ``service/docs.html``, which loads Redoc from ``/docs/redoc.standalone.js``, the bundle
  of the npm package ``redoc`` that ``make install`` puts in ``node_modules/`` (pinned in package.json).
  Nothing is fetched from outside: no CDN, no web fonts.

Envoy reads the files when it starts; a direct response body is capped by the route table's
``max_direct_response_body_size_bytes`` (4 KiB by default), which ``MAX_BODY`` raises. The JSON
transcoder is disabled on these routes (with ``reject_unknown_method`` it would answer 404 for a
path that no ``google.api.http`` rule names).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCUMENT = ROOT / "generated" / "openapi.json"
PAGE = Path(__file__).resolve().parent / "docs.html"
REDOC = ROOT / "node_modules" / "redoc" / "bundles" / "redoc.standalone.js"
#: Envoy's cap on a direct response body: the Redoc bundle is about 0.9 MiB.
MAX_BODY = 4 * 1024 * 1024


#: The page may load only from this origin. Redoc's bundle renders an <img> of a logo on cdn.redoc.ly
#: (no option turns it off); this policy keeps the browser from fetching it. Redoc styles inline.
PAGE_POLICY = ("default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
               "worker-src 'self' blob:; frame-ancestors 'none'")


@dataclass(frozen=True)
class Asset:
    path: str
    file: Path
    content_type: str
    headers: tuple[tuple[str, str], ...] = ()


ASSETS = (
    Asset("/openapi.json", DOCUMENT, "application/json"),
    Asset("/docs", PAGE, "text/html; charset=utf-8", (("content-security-policy", PAGE_POLICY),)),
    Asset("/docs/redoc.standalone.js", REDOC, "text/javascript; charset=utf-8"),
)


def _route(asset: Asset, indent: str) -> str:
    if asset.file.is_file():
        if asset.file.stat().st_size > MAX_BODY:
            raise RuntimeError(f"{asset.file} is larger than MAX_BODY ({MAX_BODY} bytes)")
        status, body = 200, {"filename": str(asset.file)}
        content_type = asset.content_type
    else:  # e.g. node_modules/ not installed: say so instead of refusing to start
        status, body = 404, {"inline_string": f"{asset.file.relative_to(ROOT)} is missing: run `make install`"}
        content_type = "text/plain"
    lines = [
        f"- match: {{path: {json.dumps(asset.path)}}}",
        f"  direct_response: {{status: {status}, body: {json.dumps(body)}}}",
        "  response_headers_to_add:",
        f"  - header: {{key: content-type, value: {json.dumps(content_type)}}}",
        "    append_action: OVERWRITE_IF_EXISTS_OR_ADD",
        "  - header: {key: x-content-type-options, value: nosniff}",
        *(f"  - header: {{key: {k}, value: {json.dumps(v)}}}" for k, v in asset.headers),
        "  typed_per_filter_config:",
        "    envoy.filters.http.grpc_json_transcoder:",
        '      "@type": type.googleapis.com/envoy.config.route.v3.FilterConfig',
        "      disabled: true",
    ]
    return "\n".join(indent + line for line in lines)


def envoy_routes(indent: str = "              ") -> str:
    """The Envoy routes serving the document and the reference page (YAML, at ``indent``)."""
    return "\n".join(_route(a, indent) for a in ASSETS)
