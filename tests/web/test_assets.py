"""Serving node/web/static: content types, caching, traversal refused, security headers."""

from __future__ import annotations

import asyncio
import base64
import re
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest

from node.hashing.pdq import _dct_matrix
from node.web.assets import ASSETS_KEY, CONTENT_SECURITY_POLICY, STATIC_DIR, load_assets
from tests.nodes import ROOT, RunningNode, make_data


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[RunningNode]:
    running = await RunningNode.start(make_data(tmp_path / "node"))
    try:
        yield running
    finally:
        await running.stop()


def versioned(node: RunningNode, path: str) -> str:
    return node.app[ASSETS_KEY].url(path)


async def raw_get(node: RunningNode, target: str, headers: str = "") -> tuple[int, str, bytes]:
    """GET ``target`` byte for byte as written (no client-side path clean-up)."""
    host, port = node.url.removeprefix("http://").rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        request = f"GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n{headers}\r\n"
        writer.write(request.encode())
        await writer.drain()
        response = await reader.read()
    finally:
        writer.close()
        await writer.wait_closed()
    head, _, body = response.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, head.decode("latin-1"), body


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("pdq.js", "text/javascript; charset=utf-8"),
        ("hash-worker.js", "text/javascript; charset=utf-8"),
        ("vendor/hash-wasm/hash-wasm.esm.min.js", "text/javascript; charset=utf-8"),
        ("vendor/hash-wasm/LICENSE", "text/plain; charset=utf-8"),
        ("selftest.html", "text/html; charset=utf-8"),
    ],
)
async def test_static_files_are_served_with_their_type(
    node: RunningNode, path: str, content_type: str
) -> None:
    response = await node.get(versioned(node, path), token=None)
    assert response.status == 200
    assert response.headers["Content-Type"] == content_type
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    status, _, body = await raw_get(node, versioned(node, path))
    assert (status, body) == (200, (STATIC_DIR / path).read_bytes())


def test_content_types_for_wasm_and_modules() -> None:
    from node.web.assets import CONTENT_TYPES

    assert CONTENT_TYPES[".wasm"] == "application/wasm"
    assert CONTENT_TYPES[".mjs"] == "text/javascript; charset=utf-8"


async def test_unversioned_urls_revalidate_and_etags_give_304(node: RunningNode) -> None:
    response = await node.get("/static/pdq.js", token=None)
    assert response.status == 200
    assert response.headers["Cache-Control"] == "no-cache"
    etag = response.headers["Etag"]  # the test client's dict spells it so
    assert re.fullmatch(r'"[0-9a-f]{32}"', etag)
    for target in ("/static/pdq.js", versioned(node, "pdq.js")):
        status, head, body = await raw_get(node, target, f"If-None-Match: {etag}\r\n")
        assert (status, body) == (304, b"")
        assert f"ETag: {etag}" in head


async def test_the_version_changes_with_any_file(tmp_path: Path) -> None:
    (tmp_path / "a.js").write_text("export const a = 1;\n")
    before = load_assets(tmp_path)
    (tmp_path / "a.js").write_text("export const a = 2;\n")
    assert load_assets(tmp_path).version != before.version
    (tmp_path / ".hidden").write_text("x")
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / "x.pyc").write_text("x")
    assert set(load_assets(tmp_path).files) == {"a.js"}


@pytest.mark.parametrize(
    "target",
    [
        "/static/../assets.py",
        "/static/%2e%2e/assets.py",
        "/static/..%2fassets.py",
        "/static/vendor/../../assets.py",
        "/static/vendor/hash-wasm/../../../assets.py",
        "/static//etc/passwd",
        "/static/%2fetc%2fpasswd",
        "/static/",
        "/static/vendor",
        "/static/v-0000000000000000/pdq.js",
        "/static/__init__.py",
        "/static/pdq.js%00.txt",
    ],
)
async def test_anything_but_a_static_file_is_404(node: RunningNode, target: str) -> None:
    status, head, body = await raw_get(node, target)
    assert status in (400, 404), (target, status)
    assert b"import" not in body  # no Python source, whatever the path resolved to
    if status == 404:
        assert "Content-Security-Policy: " in head


async def test_security_headers_on_web_responses(node: RunningNode) -> None:
    response = await node.get(versioned(node, "selftest.html"), token=None)
    csp = response.headers["Content-Security-Policy"]
    assert csp == CONTENT_SECURITY_POLICY
    directives = dict(d.split(" ", 1) for d in csp.split("; "))
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self' 'wasm-unsafe-eval'"
    assert "unsafe-inline" not in csp
    assert directives["connect-src"] == "'self'"
    assert directives["img-src"] == "'self' blob:"
    assert directives["worker-src"] == "'self'"
    assert directives["object-src"] == "'none'"
    assert directives["base-uri"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["form-action"] == "'self'"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    # The JSON API keeps its own headers.
    api = await node.get("/v1/status")
    assert api.status == 200
    assert "Content-Security-Policy" not in api.headers


def test_no_inline_script_in_the_pages() -> None:
    for page in STATIC_DIR.rglob("*.html"):
        for tag in re.findall(r"<script\b[^>]*>", page.read_text()):
            assert "src=" in tag, (page, tag)
        assert not re.search(r"<script\b[^>]*>\s*[^<\s]", page.read_text()), page
        assert " on" not in re.sub(r"<script[^>]*>|<[^>]*\bcontent=", "", page.read_text())


def test_dct_table_in_the_browser_is_the_python_matrix() -> None:
    source = (STATIC_DIR / "pdq-dct.js").read_text()
    text = "".join(re.findall(r'"([A-Za-z0-9+/=]+)"', source))
    table = np.frombuffer(base64.b64decode(text), dtype="<f4").reshape(16, 64)
    assert np.array_equal(table, _dct_matrix()), (
        "regenerate node/web/static/pdq-dct.js: base64 of _dct_matrix().astype('<f4').tobytes()"
    )


def test_axe_is_not_served() -> None:
    assert not any("axe" in path for path in load_assets().files)
    vendor = ROOT / "tests" / "web" / "vendor" / "axe-core"
    assert "Mozilla Public License" in (vendor / "LICENSE").read_text()
    assert "axe v4.14.1" in (vendor / "axe.min.js").read_text()[:200]
    assert "tests/web/vendor/axe-core/LICENSE" in (ROOT / "NOTICE").read_text()


def test_vendored_library_keeps_its_licence() -> None:
    vendor = STATIC_DIR / "vendor" / "hash-wasm"
    assert "MIT License" in (vendor / "LICENSE").read_text()
    assert "4.13.0" in (vendor / "README.md").read_text()
