"""A relay that withholds a member's newer entries is noticed by a node with another peer,
and one that announces heads it cannot show makes no report say "behind"."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest
from aiohttp import web

from node.config import PeerConfig, load_config, write_config
from node.datadir import load_key
from protocol import wire
from protocol.bank import BankDigest
from protocol.entry import Entry
from protocol.identity import SigningKey
from protocol.sync import (
    FeedDigest,
    Head,
    decode_ranges,
    encode_digests,
    encode_entries,
    encode_heads,
)
from tests.builders import Author
from tests.nodes import NodeProcess, make_data, start_nodes, wait_until

LIAR = SigningKey(b"\x61" * 32)


class FakeRelay:
    """A peer that announces whatever heads the test says, and serves only ``serves``."""

    def __init__(self) -> None:
        self.heads: list[Head] = []
        self.serves: list[Entry] = []
        self.url = ""

    async def start(self) -> web.AppRunner:
        app = web.Application()
        app.router.add_get("/v1/peer/heads", self._heads)
        app.router.add_get("/v1/peer/digests", self._digests)
        app.router.add_post("/v1/peer/entries", self._nothing_entries)
        app.router.add_get("/v1/peer/forks", self._empty)
        app.router.add_post("/v1/peer/push", self._empty)
        app.router.add_post("/v1/peer/notify", self._empty)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"
        return runner

    async def _heads(self, request: web.Request) -> web.Response:
        return web.Response(body=encode_heads(self.heads), content_type="application/x-msgpack")

    async def _digests(self, request: web.Request) -> web.Response:
        # Heads with feed digests (docs/protocol.md §9.1); it claims to hold no items.
        empty = BankDigest().value()
        rows = [FeedDigest(h.author, h.seq, h.entry_id, empty) for h in self.heads]
        return web.Response(body=encode_digests(rows), content_type="application/x-msgpack")

    async def _nothing_entries(self, request: web.Request) -> web.Response:
        asked = decode_ranges(await request.read())
        raws = [
            e.raw
            for e in self.serves
            if any(r.author == e.author and r.first <= e.seq <= r.last for r in asked)
        ]
        return web.Response(body=encode_entries(raws), content_type="application/x-msgpack")

    async def _empty(self, request: web.Request) -> web.Response:
        return web.Response(body=wire.encode([]), content_type="application/x-msgpack")


@pytest.fixture
async def relay() -> AsyncIterator[FakeRelay]:
    fake = FakeRelay()
    runner = await fake.start()
    yield fake
    await runner.cleanup()


async def test_a_withholding_relay_is_reported_and_an_unshown_head_is_not(
    tmp_path: Path, relay: FakeRelay
) -> None:
    [honest] = await start_nodes(tmp_path, 1, prefix="honest")
    data = make_data(tmp_path / "observer")
    author = Author(31)
    add, revoke = author.add(), author.revoke(author.entries[0])
    doc = {"entries": [base64.b64encode(e.raw).decode() for e in (add, revoke)]}
    await honest.call("POST", "/v1/entries", doc)
    # The liar shows only the add, hiding the revocation.
    relay.heads = [Head(author.org, 1, add.id)]
    config = load_config(data)
    peers = (PeerConfig(honest.url, honest.node_id), PeerConfig(relay.url, str(LIAR.public_key)))
    write_config(data, replace(config, peers=peers))
    # The honest node serves the observer (it needs to know its key, not its address).
    honest_config = load_config(honest.data)
    observer_key = str(load_key(data).public_key)
    write_config(
        honest.data, replace(honest_config, peers=(PeerConfig("http://127.0.0.1:9", observer_key),))
    )
    observer = await NodeProcess.start(data)
    try:

        async def liar_flagged() -> bool:
            status = await observer.status()
            liar = next(p for p in status["peers"] if p["url"] == relay.url)
            return status["entries"] == 2 and liar["behind_on"] == [author.org.hex()]

        await wait_until(liar_flagged, what="the relay to be flagged as behind")
        status = await observer.status()
        assert status["authors"] == 1
        [row] = status["feeds"]
        assert row["seq"] == 2
        assert row["advanced_ms"] is not None

        # Now it claims entries it cannot show (ids nobody signed): no report says "behind",
        # and the honest peer, which holds as much as anyone has shown, is not lagging.
        relay.heads = [Head(author.org, 5_000, b"\x00" * 32)]

        for _ in range(2):  # the first may have begun before the new claim
            await sync_once_more(observer, relay.url)
        status = await observer.status()
        assert status["behind"] == []
        assert [f["seen_seq"] for f in status["feeds"]] == [2]
        honest_peer = next(p for p in status["peers"] if p["url"] == honest.url)
        assert honest_peer["behind_on"] == []

        # Entries it does show, signed by the author and held behind the gap it leaves at 3,
        # are reported: the author is behind, as far as they verifiably reach.
        later = [author.add(), author.add(), author.add()]  # seqs 3, 4, 5
        relay.serves = later[1:]  # withholds seq 3
        relay.heads = [Head(author.org, 9, b"\x00" * 32)]  # still claiming more than it shows

        async def seen_ahead() -> bool:
            behind = (await observer.status())["behind"]
            return [(b["author"], b["seq"], b["seen_seq"], b["seen_at"]) for b in behind] == [
                (author.org.hex(), 2, 5, relay.url)
            ]

        await wait_until(seen_ahead, what="the author to be reported behind")
        honest_peer = next(p for p in (await observer.status())["peers"] if p["url"] == honest.url)
        assert honest_peer["behind_on"] == [author.org.hex()]
    finally:
        observer.terminate()
        honest.terminate()


async def sync_once_more(observer: NodeProcess, url: str) -> None:
    """Wait for one more completed sync with the peer at ``url`` than there is now."""
    before = next(p for p in (await observer.status())["peers"] if p["url"] == url)

    async def synced() -> bool:
        now = next(p for p in (await observer.status())["peers"] if p["url"] == url)
        return bool(now["last_ok_ms"] and now["last_ok_ms"] > (before["last_ok_ms"] or 0))

    await wait_until(synced, what=f"one more sync with {url}")
