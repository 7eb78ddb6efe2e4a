"""The limits' counters are reported: ``GET /v1/status`` shows what they refused.

``RateLimiter.refused`` (the API's and the peer routes') and ``ConnectionGuard.closed_slow``
and ``.refused`` were once kept and never shown: an operator could not tell a flood from a
quiet day. Each test drives one limit over its bound against a real node process and reads
the counter back from the status endpoint.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from node.config import PeerConfig, load_config, write_config
from protocol.httpsig import sign_request
from protocol.identity import PublicKey, SigningKey
from tests.nodes import NodeProcess, make_data, wait_until

FLOODER = SigningKey(b"\x61" * 32)


@pytest.fixture
async def strict(tmp_path: Path) -> AsyncIterator[NodeProcess]:
    data = make_data(tmp_path / "node")
    peers = (PeerConfig("http://127.0.0.1:9", str(FLOODER.public_key)),)
    write_config(
        data,
        replace(
            load_config(data),
            peers=peers,
            confirm_own_head=False,
            peer_rate=1,
            peer_burst=3,
            api_rate=1,
            api_burst=3,
            request_timeout_s=1.0,
            max_connections=20,
        ),
    )
    node = await NodeProcess.start(data)
    yield node
    node.terminate()


async def limits(node: NodeProcess) -> dict[str, Any]:
    return dict((await node.status())["limits"])


async def test_status_reports_the_limits_from_the_start(strict: NodeProcess) -> None:
    found = await limits(strict)
    assert found["api"] == {"refused": 0}
    assert found["peer"] == {"refused": 0}
    assert found["connections"]["max"] == 20
    assert found["connections"]["refused"] == 0
    assert found["connections"]["open"] >= 1  # the status request's own connection


async def test_api_refusals_are_counted(strict: NodeProcess) -> None:
    headers = {"Authorization": f"Bearer {strict.token}"}
    statuses: list[int] = []
    async with aiohttp.ClientSession(headers=headers) as http:
        while statuses.count(429) < 5 and len(statuses) < 500:
            async with http.get(strict.url + "/v1/changes") as response:
                await response.read()
                statuses.append(response.status)
    assert statuses.count(429) == 5
    assert (await limits(strict))["api"]["refused"] == 5  # the status route is not limited


async def test_peer_refusals_are_counted(strict: NodeProcess) -> None:
    statuses: list[int] = []
    recipient = PublicKey.from_text(strict.node_id)
    async with aiohttp.ClientSession() as http:
        while statuses.count(429) < 4 and len(statuses) < 500:
            signed = sign_request(
                FLOODER,
                recipient=recipient,
                method="GET",
                path="/v1/peer/heads",
                body=b"",
                now=int(time.time()),
            )
            async with http.get(strict.url + "/v1/peer/heads", headers=signed) as response:
                await response.read()
                statuses.append(response.status)
    assert statuses.count(429) == 4
    found = await limits(strict)
    assert found["peer"]["refused"] == 4
    assert found["api"]["refused"] == 0


async def test_slow_and_surplus_connections_are_counted(strict: NodeProcess) -> None:
    host, port = strict.url.removeprefix("http://").split(":")
    # Connections that never begin a request: the guard closes each after request_timeout_s.
    slow = [await asyncio.open_connection(host, int(port)) for _ in range(5)]
    for reader, _ in slow:
        assert await asyncio.wait_for(reader.read(100), 30) == b""
    for _, writer in slow:
        writer.close()

    async def counted() -> bool:
        return (await limits(strict))["connections"]["closed_slow"] >= 5

    await wait_until(counted, what="closed_slow to count the slow connections")
    # More connections than max_connections: the surplus is closed at once.
    held = [await asyncio.open_connection(host, int(port)) for _ in range(40)]
    for _, writer in held:
        writer.close()

    async def refused() -> bool:
        return (await limits(strict))["connections"]["refused"] >= 1

    await wait_until(refused, what="the connection cap's refusals to be counted")
