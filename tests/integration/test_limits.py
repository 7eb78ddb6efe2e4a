"""Slow, flooding and greedy clients are cut off while everyone else keeps being served."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from node.config import PeerConfig, load_config, write_config
from protocol.httpsig import sign_request
from protocol.identity import PublicKey, SigningKey
from tests.nodes import NodeProcess, make_data, wait_until

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
        started = time.monotonic()
        flood = await asyncio.gather(*(peer_get(http, strict, FLOODER) for _ in range(60)))
        # The bucket holds 10 and refills 5 a second: however slowly a loaded machine served
        # the flood, no more got through than that.
        allowed = 10 + 5 * (time.monotonic() - started) + 1
        assert flood.count(200) <= allowed
        assert flood.count(429) >= 60 - allowed
        assert set(flood) <= {200, 429}
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

        # Until the budget (40, refilled 20 a second) runs out often enough, however slowly a
        # loaded machine answers.
        answers: list[tuple[int, str | None]] = []
        while sum(status == 429 for status, _ in answers) < 20 and len(answers) < 4000:
            answers += await asyncio.gather(*(one() for _ in range(80)))
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
        # Still trickling (on a loaded machine the node may have hung up already).
        with contextlib.suppress(ConnectionError):
            writer.write(b"X-Slow: 1\r\n")
            await writer.drain()
    async with aiohttp.ClientSession() as http, http.get(strict.url + "/healthz") as r:
        assert r.status == 200
    # request_timeout_s is 1: the node hangs up on every one of them, trickling or not.
    closed = 0
    for reader, writer in slow:
        with contextlib.suppress(ConnectionError):
            if await asyncio.wait_for(reader.read(100), 30) == b"":
                closed += 1
        writer.close()
    assert closed == 20


async def test_connections_beyond_the_cap_are_closed(strict: NodeProcess) -> None:
    host, port = strict.url.removeprefix("http://").split(":")
    held = [await asyncio.open_connection(host, int(port)) for _ in range(60)]
    # The cap is 40: the node closes the surplus at once, and counts it. (It closes the rest
    # after request_timeout_s, so only its count tells the two apart, however busy it is.)
    assert await wait_for_answer(strict, lambda doc: doc["limits"]["connections"]["refused"] >= 20)
    for _, writer in held:
        writer.close()
    await wait_for_answer(strict, lambda doc: doc["entries"] == 0)  # served again


async def wait_for_answer(node: NodeProcess, read: Callable[[dict[str, Any]], Any]) -> Any:
    """``read`` of the node's status once a status request gets through (a node at its
    connection cap closes new connections)."""
    found: list[Any] = []

    async def answered() -> bool:
        try:
            doc = await node.status()
        except aiohttp.ClientError:
            return False
        found.append(read(doc))
        return bool(found[-1])

    await wait_until(answered, what="a status answer")
    return found[-1]


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
    # A byte a second never completes the body; the node gives up after 3 × request_timeout_s.
    while time.monotonic() - started < 60:
        writer.write(b" ")
        await writer.drain()
        try:
            status = await asyncio.wait_for(reader.readline(), 1.0)
        except TimeoutError:
            continue
        break
    writer.close()
    assert status.startswith(b"HTTP/1.1 408")
