"""Agreement with one peer (``node.federation.agreement``), between two real in-process nodes.

The peer is reached through ``Direct``, a transport that calls the other node's replica
instead of going over HTTP (the peer endpoints and their signatures are tested on real
nodes in tests/integration).
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from node.clock import SYSTEM
from node.federation.agreement import MAX_AUTHORS_PER_PULL, Agreement
from node.replica.node import Node
from node.store.rebuild import rebuild
from protocol.bank import BankDigest
from protocol.sync import FeedDigest, FeedRow, Range
from tests.builders import Author, pdq_item
from tests.nodes import make_data


class Direct:
    """The parts of ``PeerTransport`` agreement uses, answered by another node directly."""

    def __init__(self, node: Node) -> None:
        self.node = node

    async def digests(self) -> dict[bytes, FeedDigest]:
        return {d.author: d for d in self.node.feed_digests()}

    async def feed(self, request: Range) -> list[FeedRow]:
        return await self.node.feed_rows(request.author, request.first, request.last)

    async def fetch(self, ranges: list[Range]) -> list[bytes]:
        out: list[bytes] = []
        for r in ranges:
            out += await self.node.entry_range(r.author, r.first, r.last)
        return out


@pytest.fixture
async def pair(tmp_path: Path) -> AsyncIterator[tuple[Node, Node]]:
    ours = await Node.open(make_data(tmp_path / "ours"))
    theirs = await Node.open(make_data(tmp_path / "theirs"))
    yield ours, theirs
    await ours.close()
    await theirs.close()


def agreement(ours: Node, theirs: Node) -> Agreement:
    return Agreement(replica=ours, client=Direct(theirs), clock=SYSTEM, peer="theirs")  # type: ignore[arg-type]


async def test_equal_heads_with_a_body_one_side_lacks_are_repaired(pair: tuple[Node, Node]) -> None:
    ours, theirs = pair
    author = Author(61)
    add, more = author.add(pdq_item(1)), author.add(pdq_item(2))
    await ours.ingest([add.without_body().raw, more.raw], source="x")
    await theirs.ingest([add.raw, more.raw], source="y")
    digests = await Direct(theirs).digests()
    assert ours.feed_digests() != list(digests.values())  # same heads, different feeds
    check = agreement(ours, theirs)
    await check.check(digests, "theirs")
    assert check.divergent == {}
    assert check.repaired == 1
    assert ours.store.feed_digest(author.org) == theirs.store.feed_digest(author.org)
    # The other way round the peer lacks the body: that is its repair to make, not ours.
    lacking = await Node.open(make_data(ours.data.root.parent / "lacking"))
    try:
        await lacking.ingest([add.without_body().raw, more.raw], source="x")
        back = agreement(theirs, lacking)
        await back.check(await Direct(lacking).digests(), "lacking")
        assert back.divergent == {}
        assert back.repaired == 0
    finally:
        await lacking.close()


async def test_a_feed_held_alike_but_judged_differently_is_reported_then_withdrawn(
    tmp_path: Path,
) -> None:
    ours = await Node.open(make_data(tmp_path / "ours"))
    data = make_data(tmp_path / "theirs")
    theirs = await Node.open(data)
    try:
        author = Author(62)
        entries = [author.add(pdq_item(10 + i)) for i in range(3)]
        for node in (ours, theirs):
            await node.ingest([e.raw for e in entries], source="x")
        # The peer's derived state goes wrong for seq 2 (as a bug, or a damaged store, would).
        with sqlite3.connect(data.store) as db:
            db.execute(
                "UPDATE items SET active = 0 WHERE entry_cursor = "
                "(SELECT cursor FROM entries WHERE id = ?)",
                (entries[1].id,),
            )
        theirs.store.feeds[author.org] = BankDigest(2, 12345)
        check = agreement(ours, theirs)
        await check.check(await Direct(theirs).digests(), "theirs")
        divergence = check.divergent[author.org]
        assert (divergence.first_seq, divergence.last_seq) == (2, 2)
        assert "differently" in divergence.reason
        # Once the peer is sound again (``hashbank rebuild`` re-derives it), the report goes.
        await theirs.close()
        await rebuild(data)
        theirs = await Node.open(data)
        check.client = Direct(theirs)  # type: ignore[assignment]
        await check.check(await Direct(theirs).digests(), "theirs")
        assert check.divergent == {}
    finally:
        await ours.close()
        await theirs.close()


class Liar(Direct):
    """A peer that claims a different digest for every feed it holds as we do, and records
    which feeds it was asked to show."""

    def __init__(self, node: Node) -> None:
        super().__init__(node)
        self.asked: list[bytes] = []

    async def digests(self) -> dict[bytes, FeedDigest]:
        true = await super().digests()
        return {a: replace(d, digest=bytes(32)) for a, d in true.items()}

    async def feed(self, request: Range) -> list[FeedRow]:
        self.asked.append(request.author)
        return await super().feed(request)


async def test_a_peer_lying_about_many_feeds_cannot_keep_any_from_being_compared(
    pair: tuple[Node, Node],
) -> None:
    ours, _ = pair
    authors = [Author(700 + i) for i in range(MAX_AUTHORS_PER_PULL + 5)]
    await ours.ingest([a.add(pdq_item(i)).raw for i, a in enumerate(authors)], source="x")
    liar = Liar(ours)
    check = Agreement(replica=ours, client=liar, clock=SYSTEM, peer="liar")  # type: ignore[arg-type]
    await check.check(await liar.digests(), "liar")
    first = set(liar.asked)
    assert len(first) == MAX_AUTHORS_PER_PULL
    liar.asked.clear()
    await check.check(await liar.digests(), "liar")
    # The five left out the first time come first now, whatever their ids.
    assert {a.org for a in authors} - first <= set(liar.asked)
    assert len(check.divergent) == len(authors)
