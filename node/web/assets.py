"""The web app's static files (``node/web/static``), served under ``/static/``, and the security
headers every web response carries.

Files are read once when the app is made and served from memory, looked up by exact relative
path: a request can only ever name one of them, so no path from a URL reaches the filesystem
and traversal (``..``, encoded slashes, absolute paths) is a plain 404.

Two URL forms, for caching:

- ``/static/v-<version>/<path>``: ``<version>`` is a digest of every file, so the URL changes
  whenever any file does. Cached for a year, immutable. Pages should use these
  (``static_url``); an ES module's relative imports then stay within the same version.
- ``/static/<path>``: revalidated on every use (``no-cache`` with an ETag), for hand use.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from aiohttp import web

STATIC_DIR: Final = Path(__file__).resolve().parent / "static"
PREFIX: Final = "/static/"

CONTENT_SECURITY_POLICY: Final = "; ".join(
    [
        "default-src 'self'",
        # The vendored hash-wasm compiles its WebAssembly from bytes, which CSP gates behind
        # 'wasm-unsafe-eval' (it allows no JavaScript eval). No inline script anywhere.
        "script-src 'self' 'wasm-unsafe-eval'",
        "connect-src 'self'",
        "img-src 'self' blob:",  # thumbnails made from local files, in memory
        "worker-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
        "form-action 'self'",
    ]
)
SECURITY_HEADERS: Final = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}

CONTENT_TYPES: Final = {
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".wasm": "application/wasm",
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".woff2": "font/woff2",
    ".md": "text/markdown; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    "": "text/plain; charset=utf-8",  # LICENSE and the like
}
IMMUTABLE: Final = "public, max-age=31536000, immutable"
REVALIDATE: Final = "no-cache"
_VERSIONED: Final = re.compile(r"v-([0-9a-f]{16})/(.+)")


@dataclass(frozen=True, slots=True)
class Asset:
    """One static file, in memory."""

    body: bytes
    content_type: str
    etag: str  # quoted, as the header carries it


@dataclass(frozen=True, slots=True)
class Assets:
    """Every static file by relative path, and the version digest of them all."""

    files: Mapping[str, Asset]
    version: str

    def url(self, path: str) -> str:
        """The long-cached URL of ``path`` (relative to the static folder)."""
        if path not in self.files:
            raise KeyError(f"no static file {path!r} in {STATIC_DIR}")
        return f"{PREFIX}v-{self.version}/{path}"


ASSETS_KEY: Final = web.AppKey("web_assets", Assets)


def load_assets(root: Path = STATIC_DIR) -> Assets:
    """Read every file under ``root`` (hidden files and caches left out)."""
    files: dict[str, Asset] = {}
    tree = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if not path.is_file() or any(part.startswith((".", "__")) for part in relative.parts):
            continue
        body = path.read_bytes()
        digest = hashlib.sha256(body).hexdigest()
        tree.update(f"{relative.as_posix()}\0{digest}\0".encode())
        content_type = CONTENT_TYPES.get(path.suffix.lower(), "application/octet-stream")
        files[relative.as_posix()] = Asset(body, content_type, f'"{digest[:32]}"')
    return Assets(files, tree.hexdigest()[:16])


def static_url(app: web.Application, path: str) -> str:
    """The long-cached URL of a static file, for pages to link."""
    return app[ASSETS_KEY].url(path)


def add_static_routes(app: web.Application) -> None:
    """Serve the static files and put the security headers on every non-API response."""
    app[ASSETS_KEY] = load_assets()
    app.router.add_get(PREFIX + "{path:.*}", _serve_static)
    app.on_response_prepare.append(_add_security_headers)


async def _serve_static(request: web.Request) -> web.StreamResponse:
    assets = request.app[ASSETS_KEY]
    path = request.match_info["path"]
    cache = REVALIDATE
    if versioned := _VERSIONED.fullmatch(path):
        if versioned.group(1) != assets.version:
            raise web.HTTPNotFound(text="no such version of the web app's files")
        path, cache = versioned.group(2), IMMUTABLE
    asset = assets.files.get(path)
    if asset is None:
        raise web.HTTPNotFound(text=f"no static file {path!r}")
    headers = {"ETag": asset.etag, "Cache-Control": cache}
    tags = _etags(request.headers.get("If-None-Match", ""))
    if asset.etag in tags or "*" in tags:
        return web.Response(status=304, headers=headers)
    headers["Content-Type"] = asset.content_type
    return web.Response(body=asset.body, headers=headers)


def _etags(header: str) -> set[str]:
    tags = {tag.strip().removeprefix("W/") for tag in header.split(",")}
    return tags - {""}


async def _add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    # The JSON API under /v1/ is not a web page and keeps its own headers.
    if request.path.startswith("/v1/"):
        return
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
