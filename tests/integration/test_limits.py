"""Slow, flooding and greedy clients are cut off while everyone else keeps being served."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest

from node.config import PeerConfig, load_config, write_config
from protocol.httpsig import sign_request
from protocol.identity import PublicKey, SigningKey
from tests.nodes import NodeProcess, make_data

FLOODER = SigningKey(b"\x51" * 32)
NEIGHBOUR = SigningKey(b"\x52" * 32)


@pytest.fixture
async def strict(tmp_path: Path) -> AsyncIterator[NodeProcess]:
    data = make_data(tmp_path / "node")
    config = load_config(data)
    peers = tuple(
        PeerConfig(f"http://127.0.0.1:{9 + i}", str(k.public_key))
        for i, k in enumerate((FLOODER, NEIGHBOUR))
    )
    write_config(
        data,
        replace(
            config,
            peers=peers,
            confirm_own_head=False,
            peer_rate=5,
            peer_burst=10,
            api_rate=20,
            api_burst=40,
            request_timeout_s=1.0,
            max_connections=40,
        ),
    )
    node = await NodeProcess.start(data)
    yield node
    node.terminate()


async def peer_get(http: aiohttp.ClientSession, node: NodeProcess, key: SigningKey) -> int:
    headers = sign_request(
        key,
        recipient=PublicKey.from_text(node.node_id),
        method="GET",
        path="/v1/peer/heads",
        body=b"",
        now=int(time.time()),
    )
    async with http.get(node.url + "/v1/peer/heads", headers=headers) as response:
        await response.read()
        return response.status


async def test_a_flooding_peer_is_throttled_while_others_are_served(strict: NodeProcess) -> None:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=10)) as http:
        flood = await asyncio.gather(*(peer_get(http, strict, FLOODER) for _ in range(60)))
        assert flood.count(429) >= 40
        assert flood.count(200) <= 20
        assert await peer_get(http, strict, NEIGHBOUR) == 200
        async with http.get(strict.url + "/healthz") as response:
            assert response.status == 200


async def test_an_api_caller_over_its_budget_gets_429_with_retry_after(
    strict: NodeProcess,
) -> None:
    headers = {"Authorization": f"Bearer {strict.token}"}
    connector = aiohttp.TCPConnector(limit=10)
    async with aiohttp.ClientSession(headers=headers, connector=connector) as http:

        async def one() -> tuple[int, str | None]:
            async with http.get(strict.url + "/v1/changes") as response:
                await response.read()
                return response.status, response.headers.get("Retry-After")

        answers = await asyncio.gather(*(one() for _ in range(80)))
    refused = [retry for status, retry in answers if status == 429]
    assert len(refused) >= 20
    assert all(retry and int(retry) >= 1 for retry in refused)


async def test_slowloris_connections_are_closed_and_others_served(strict: NodeProcess) -> None:
    host, port = strict.url.removeprefix("http://").split(":")
    slow = [await asyncio.open_connection(host, int(port)) for _ in range(20)]
    for _, writer in slow:
        writer.write(b"GET /v1/status HTTP/1.1\r\nHost: x\r\n")  # never finishes the headers
        await writer.drain()
    await asyncio.sleep(0.5)
    for _, writer in slow:
        writer.write(b"X-Slow: 1\r\n")  # still trickling
        await writer.drain()
    async with aiohttp.ClientSession() as http, http.get(strict.url + "/healthz") as r:
        assert r.status == 200
    # request_timeout_s is 1: by now the node has hung up on every one of them.
    closed = 0
    for reader, writer in slow:
        if await asyncio.wait_for(reader.read(100), 5) == b"":
            closed += 1
        writer.close()
    assert closed == 20


async def test_connections_beyond_the_cap_are_closed(strict: NodeProcess) -> None:
    host, port = strict.url.removeprefix("http://").split(":")
    held = [await asyncio.open_connection(host, int(port)) for _ in range(60)]
    dropped = 0
    for reader, _ in held:
        try:
            if await asyncio.wait_for(reader.read(1), 0.05) == b"":
                dropped += 1
        except TimeoutError:
            pass
    assert dropped >= 20
    for _, writer in held:
        writer.close()
    await asyncio.sleep(0.2)
    async with aiohttp.ClientSession() as http, http.get(strict.url + "/healthz") as r:
        assert r.status == 200


async def test_a_trickled_body_times_out_with_408(strict: NodeProcess) -> None:
    host, port = strict.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        b"POST /v1/hashes HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + f"Authorization: Bearer {strict.token}\r\nContent-Length: 1000\r\n\r\n".encode()
    )
    await writer.drain()
    started = time.monotonic()
    status = b""
    while time.monotonic() - started < 10:
        writer.write(b" ")
        await writer.drain()
        try:
            status = await asyncio.wait_for(reader.readline(), 0.3)
        except TimeoutError:
            continue
        break
    writer.close()
    assert status.startswith(b"HTTP/1.1 408")
