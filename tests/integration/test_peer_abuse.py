"""Hostile peers against real nodes: redirects, echoed bodies, a flooded replay cache, and
bodies sent ahead of their signature (issue 14, items 2, 4 and 8)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from node.config import PeerConfig, load_config, write_config
from node.federation import routes
from protocol.httpsig import sign_request
from protocol.identity import PublicKey, SigningKey
from tests.nodes import RunningNode, make_data, wait_until

HOSTILE = SigningKey(b"\x71" * 32)
FLOODER = SigningKey(b"\x72" * 32)
NEIGHBOUR = SigningKey(b"\x73" * 32)
STRANGER = SigningKey(b"\x74" * 32)
SECRET = "INTERNAL-ADMIN-ANSWER"


@dataclass
class Server:
    """A plain HTTP server on loopback answering every path with ``answer``."""

    answer: tuple[int, str, dict[str, str]] = (404, "", {})
    hits: list[str] = field(default_factory=list)
    url: str = ""
    runner: web.AppRunner | None = None

    async def start(self) -> Server:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        host, port = self.runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"
        return self

    async def _handle(self, request: web.Request) -> web.Response:
        self.hits.append(request.path_qs)
        status, text, headers = self.answer
        return web.Response(status=status, text=text, headers=headers)

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


@pytest.fixture
async def internal() -> AsyncIterator[Server]:
    """Stands for an internal service only the node's host can reach."""
    server = await Server((200, f"{SECRET}: database password hunter2", {})).start()
    yield server
    await server.stop()


@pytest.fixture
async def hostile() -> AsyncIterator[Server]:
    server = await Server().start()
    yield server
    await server.stop()


async def start_node(root: Path, peers: tuple[PeerConfig, ...], **limits: float) -> RunningNode:
    data = make_data(root, sync_interval=1.0)
    config = replace(load_config(data), peers=peers, confirm_own_head=False)
    write_config(data, replace(config, **limits))
    return await RunningNode.start(data)


async def last_error(node: RunningNode) -> str:
    status = (await node.get("/v1/status")).body
    [peer] = status["peers"]
    return str(peer["last_error"] or "")


async def test_a_peer_cannot_redirect_signed_requests_nor_have_its_answers_shown(
    tmp_path: Path, hostile: Server, internal: Server
) -> None:
    node = await start_node(tmp_path / "n", (PeerConfig(hostile.url, str(HOSTILE.public_key)),))
    try:
        # A configured peer answers every request with a redirect to an internal URL.
        hostile.answer = (307, "", {"Location": internal.url + "/admin"})

        async def redirected() -> bool:
            return bool(internal.hits) or "HTTP 307" in await last_error(node)

        await wait_until(redirected, what="the redirect to be recorded")
        assert internal.hits == []  # never followed
        assert "refused to follow" in await last_error(node)

        # Its error answers carry what it wants read back; only our own words are kept.
        hostile.answer = (500, f"{SECRET}\nERROR forged line", {})

        async def failed() -> bool:
            return "HTTP 500" in await last_error(node)

        await wait_until(failed, what="the error answer to be recorded")
        status = (await node.get("/v1/status")).body
        assert SECRET not in json.dumps(status)
        assert "forged" not in json.dumps(status)
        assert internal.hits == []
    finally:
        await node.stop()


def signed_headers(key: SigningKey, node: RunningNode, path: str, body: bytes) -> dict[str, str]:
    return sign_request(
        key,
        recipient=PublicKey.from_text(node.node_id),
        method="POST" if body else "GET",
        path=path,
        body=body,
        now=int(time.time()),
    )


async def peer_get(http: aiohttp.ClientSession, node: RunningNode, key: SigningKey) -> int:
    headers = signed_headers(key, node, "/v1/peer/heads", b"")
    async with http.get(node.url + "/v1/peer/heads", headers=headers) as response:
        await response.read()
        return response.status


async def test_a_flooding_member_cannot_fill_the_replay_cache_for_another(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A small cache, so that the flood fits in a test: 300 requests against room for 100.
    monkeypatch.setattr(routes, "REPLAY_ENTRIES", 100)
    peers = tuple(
        PeerConfig(f"http://127.0.0.1:{9 + i}", str(k.public_key))
        for i, k in enumerate((FLOODER, NEIGHBOUR))
    )
    node = await start_node(tmp_path / "n", peers, peer_rate=1, peer_burst=3)
    try:
        connector = aiohttp.TCPConnector(limit=10)
        async with aiohttp.ClientSession(connector=connector) as http:
            started = time.monotonic()
            flood = await asyncio.gather(*(peer_get(http, node, FLOODER) for _ in range(300)))
            # Burst 3, 1 a second: all the rest were rate-limited, so never recorded (before,
            # their nonces filled the cache and everyone got 401).
            allowed = 3 + (time.monotonic() - started) + 1
            assert flood.count(200) <= allowed
            assert set(flood) <= {200, 401, 429}  # 401: past its share of the cache, if ever
            assert await peer_get(http, node, NEIGHBOUR) == 200
    finally:
        await node.stop()


async def test_a_body_from_an_unaccepted_key_is_never_waited_for(tmp_path: Path) -> None:
    peers = (PeerConfig("http://127.0.0.1:9", str(HOSTILE.public_key)),)
    # Bodies get 3 × request_timeout_s: 6 s here, so a regression shows as a 408 soon.
    node = await start_node(tmp_path / "n", peers, request_timeout_s=2.0)
    try:
        host, port = node.url.removeprefix("http://").split(":")
        for key, signed in ((STRANGER, True), (HOSTILE, False)):
            body = b"x" * 1_000_000
            headers = signed_headers(key, node, "/v1/peer/push", body) if signed else {}
            reader, writer = await asyncio.open_connection(host, int(port))
            head = ["POST /v1/peer/push HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}"]
            head += [f"{name}: {value}" for name, value in headers.items()]
            # The headers and a trickle of the body: the rest never comes.
            writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body[:100])
            await writer.drain()
            status_line = await asyncio.wait_for(reader.readline(), 60)
            writer.close()
            assert status_line.startswith(b"HTTP/1.1 401"), (key, status_line)
    finally:
        await node.stop()
