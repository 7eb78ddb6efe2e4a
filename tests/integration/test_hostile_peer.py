"""A peer that sends forged, tampered or replayed traffic gets nothing past the node."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest

from node.config import PeerConfig, load_config, write_config
from protocol.body import AddBody
from protocol.entry import sign_entry
from protocol.httpsig import sign_request
from protocol.identity import PublicKey, SigningKey
from protocol.sync import encode_entries
from tests.builders import BASE_TS, Author, pdq_item
from tests.nodes import NodeProcess, make_data, wait_until

HOSTILE = SigningKey(b"\x42" * 32)
STRANGER = SigningKey(b"\x43" * 32)


async def start_with_hostile_peer(root: Path) -> NodeProcess:
    data = make_data(root)
    config = load_config(data)
    # The hostile peer is configured (it is a member gone bad); its URL is dead, which also
    # shows a dead peer does not stop the node serving others.
    peer = PeerConfig("http://127.0.0.1:9", str(HOSTILE.public_key))
    write_config(data, replace(config, peers=(peer,)))
    return await NodeProcess.start(data)


@pytest.fixture
async def target(tmp_path: Path) -> AsyncIterator[NodeProcess]:
    node = await start_with_hostile_peer(tmp_path / "target")
    yield node
    node.terminate()


@pytest.fixture
async def bystander(tmp_path: Path) -> AsyncIterator[NodeProcess]:
    """A second node that also accepts the hostile peer."""
    node = await start_with_hostile_peer(tmp_path / "bystander")
    yield node
    node.terminate()


async def signed(
    node: NodeProcess,
    method: str,
    path: str,
    body: bytes,
    *,
    key: SigningKey = HOSTILE,
    now: int | None = None,
    headers: dict[str, str] | None = None,
    recipient: NodeProcess | None = None,
) -> tuple[int, dict[str, str]]:
    """Send a request signed by ``key`` for ``recipient`` (default: ``node``) to ``node``."""
    hdrs = headers or sign_request(
        key,
        recipient=PublicKey.from_text((recipient or node).node_id),
        method=method,
        path=path,
        body=body,
        now=now or int(time.time()),
    )
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, node.url + path, data=body, headers=hdrs) as response,
    ):
        await response.read()
        return response.status, hdrs


async def test_tampered_and_forged_entries_are_rejected_and_valid_ones_kept(
    target: NodeProcess,
) -> None:
    author = Author(21)
    first, second = author.add(pdq_item(1)), author.add(pdq_item(2))
    tampered = bytearray(author.add(pdq_item(3)).raw)
    tampered[-5] ^= 0x01  # inside the body: its digest no longer matches the signed header
    forged = sign_entry(
        HOSTILE,
        author=author.org,
        seq=3,
        prev=second.id,
        timestamp_ms=BASE_TS + 10**6,
        body=AddBody((pdq_item(4),)),
    )
    batch = encode_entries([first.raw, bytes(tampered), forged.raw, second.raw])
    status, _ = await signed(target, "POST", "/v1/peer/push", batch)
    assert status == 200
    doc = await target.status()
    assert doc["entries"] == 2
    assert doc["rejected"] == {"body_mismatch": 1, "unauthorized": 1}


async def test_requests_not_from_a_configured_peer_are_refused(target: NodeProcess) -> None:
    assert (await signed(target, "GET", "/v1/peer/heads", b""))[0] == 200
    assert (await signed(target, "GET", "/v1/peer/heads", b"", key=STRANGER))[0] == 401
    async with aiohttp.ClientSession() as http, http.get(target.url + "/v1/peer/heads") as r:
        assert r.status == 401
        assert (await r.json())["error"]["code"] == "auth_failed"


async def test_a_replayed_request_is_refused(target: NodeProcess) -> None:
    body = encode_entries([Author(22).add().raw])
    status, headers = await signed(target, "POST", "/v1/peer/push", body)
    assert status == 200
    again, _ = await signed(target, "POST", "/v1/peer/push", body, headers=headers)
    assert again == 401


async def test_a_request_signed_for_another_node_is_refused(
    target: NodeProcess, bystander: NodeProcess
) -> None:
    # Both nodes accept the hostile peer's key, but what it signs for one the other refuses:
    # a member cannot forward or replay a request meant for one node to a third.
    body = encode_entries([Author(24).add().raw])
    refused, headers = await signed(bystander, "POST", "/v1/peer/push", body, recipient=target)
    assert refused == 401
    async with (
        aiohttp.ClientSession() as http,
        http.post(bystander.url + "/v1/peer/push", data=body, headers=headers) as response,
    ):
        error = (await response.json())["error"]
    assert error["code"] == "auth_failed"
    assert f"addressed to node {target.node_id}" in error["message"]
    assert (await bystander.status())["entries"] == 0
    # The very same request is good where it was meant to go (its nonce was never spent).
    assert (await signed(target, "POST", "/v1/peer/push", body, headers=headers))[0] == 200
    assert (await target.status())["entries"] == 1


async def test_stale_and_body_swapped_requests_are_refused(target: NodeProcess) -> None:
    stale, _ = await signed(target, "GET", "/v1/peer/heads", b"", now=int(time.time()) - 600)
    assert stale == 401
    headers = sign_request(
        HOSTILE,
        recipient=PublicKey.from_text(target.node_id),
        method="POST",
        path="/v1/peer/push",
        body=encode_entries([]),
        now=int(time.time()),
    )
    swapped, _ = await signed(
        target, "POST", "/v1/peer/push", encode_entries([Author(23).add().raw]), headers=headers
    )
    assert swapped == 401


async def test_the_node_keeps_serving_while_its_only_peer_is_dead(target: NodeProcess) -> None:
    async def retrying() -> bool:
        peers = (await target.status())["peers"]
        return bool(peers and peers[0]["failures"] >= 1)

    await wait_until(retrying, what="the dead peer to be retried with backoff")
    doc = {"queries": [{"signal_type": "md5", "value": "00" * 16}]}
    assert (await target.call("POST", "/v1/match", doc)).status == 200
    # No peer can confirm this node's own head, so it will not risk forking its feed.
    response = await target.call(
        "POST", "/v1/hashes", {"items": [{"signal_type": "md5", "value": "00" * 16}]}
    )
    assert response.status == 503
    assert "restored from a backup" in response.body["error"]["message"]
