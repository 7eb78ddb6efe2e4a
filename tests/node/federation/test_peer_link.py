"""``PeerLink`` with a fake transport and a fake replica: pushes, overflow, pulls."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

import pytest

from node.federation.backoff import Backoff
from node.federation.peer_link import MAX_QUEUE, PeerLink
from node.federation.staleness import HeadWatch
from protocol.identity import SigningKey
from tests.builders import Author, pdq_item
from tests.node.federation.fakes import FakeClock, FakeReplica, FakeTransport
from tests.nodes import wait_until

PEER = SigningKey(b"\x21" * 32)
OURS = SigningKey(b"\x22" * 32)


def make_link(transport: FakeTransport, replica: FakeReplica | None = None) -> PeerLink:
    link = PeerLink(
        url="http://peer.invalid",
        node_id=PEER.public_key,
        replica=replica or FakeReplica(OURS),
        transport=transport,
        watch=HeadWatch(),
        clock=FakeClock(),
        interval_s=3600,  # pulls only when asked: these tests drive them
    )
    link.backoff = Backoff(base=0.01, cap=0.02)  # retry at once: nothing here is slow
    return link


@pytest.fixture
async def started() -> AsyncIterator[list[PeerLink]]:
    links: list[PeerLink] = []
    yield links
    for link in links:
        await link.stop()


def raws(*names: str) -> list[bytes]:
    return [name.encode() for name in names]


async def pushed(transport: FakeTransport, expected: Sequence[bytes]) -> None:
    async def done() -> bool:
        return len(transport.pushed) >= len(expected)

    await wait_until(done, what=f"{len(expected)} entries pushed")


async def test_a_failed_push_is_retried_in_order(started: list[PeerLink]) -> None:
    transport = FakeTransport(fail_pushes=1)
    link = make_link(transport)
    # More entries arrive while the first push is failing: they go behind the retried batch.
    transport.on_push = lambda batch: link.enqueue(raws("d", "e"))
    link.enqueue(raws("a", "b", "c"))
    link.start()
    started.append(link)
    await pushed(transport, raws("a", "b", "c", "d", "e"))
    assert transport.failed_pushes == [raws("a", "b", "c")]
    assert transport.pushed == raws("a", "b", "c", "d", "e")
    assert link.stats["push_failures"] == 1
    assert link.stats["pushed"] == 5
    assert link.last_error.endswith("cannot connect")
    assert link.backoff.failures == 0  # reset by the successful retry


async def test_pushes_are_batched_and_keep_their_order(started: list[PeerLink]) -> None:
    transport = FakeTransport()
    link = make_link(transport)
    everything = [b"%d" % i for i in range(450)]
    link.enqueue(everything)
    link.start()
    started.append(link)
    await pushed(transport, everything)
    assert transport.pushed == everything
    assert max(map(len, transport.pushes)) <= 200


async def test_queue_overflow_falls_back_to_notify(started: list[PeerLink]) -> None:
    transport = FakeTransport()
    link = make_link(transport)
    link.enqueue(raws("first"))
    link.enqueue([b"x"] * MAX_QUEUE)  # over the bound: everything queued is dropped
    assert link.overflowed
    assert len(link.queue) == 0
    assert link.stats["queue_overflows"] == 1
    link.start()
    started.append(link)

    async def notified() -> bool:
        return transport.notifies == 1

    await wait_until(notified, what="the peer to be asked to pull instead")
    assert transport.pushes == []
    assert not link.overflowed
    link.enqueue(raws("later"))  # once the queue is clear, pushing resumes
    await pushed(transport, raws("later"))
    assert transport.pushed == raws("later")
    assert transport.notifies == 1


async def test_a_pull_that_stores_nothing_ends_instead_of_looping() -> None:
    author = Author(41)
    feed = [author.add(pdq_item(n)) for n in range(1, 2501)]
    transport = FakeTransport(entries=feed)
    replica = FakeReplica(OURS, stores=False)
    link = make_link(transport, replica)
    await asyncio.wait_for(link.sync(), 60)
    assert len(replica.ingested) == 1  # one batch, stored nothing: this feed is dropped
    assert len(transport.fetches) <= 2  # that batch, and at most one prefetch of the next
    assert replica.feeds.seq(author.org) == 0
    assert link.stats["rejected_bad_signature"] == len(replica.ingested[0])
    assert replica.own_head_confirmed.is_set()


async def test_a_pull_that_stores_fetches_until_caught_up() -> None:
    author = Author(42)
    feed = [author.add(pdq_item(n)) for n in range(1, 2501)]
    transport = FakeTransport(entries=feed)
    replica = FakeReplica(OURS)
    link = make_link(transport, replica)
    await asyncio.wait_for(link.sync(), 60)
    assert replica.feeds.seq(author.org) == 2500
    stored = [raw for batch in replica.ingested for raw in batch]
    assert stored == [e.raw for e in feed]  # each entry fetched and stored once, in order
    assert link.watch.best[author.org].seq == 2500
