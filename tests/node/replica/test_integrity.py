"""Replica integrity on one real node: body-less copies, erasure, forks, feed digests.

Each test drives a node opened on a real data directory (real SQLite, real signatures) through
its ingest and publishing doors, and compares its bank and feed digests with the reference
merge (``protocol.bank.BankState``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from node.clock import now_ms
from node.matching.matcher import Query
from node.replica.errors import ConflictError
from node.replica.node import Node
from node.store.rebuild import rebuild
from node.store.schema import MIGRATIONS, statements
from node.store.store import Store
from protocol import wire
from protocol.bank import BankState
from protocol.body import AddBody, HashItem, RevokeBody, RevokeReason, RevokeTarget, Verdict
from protocol.entry import Entry
from protocol.feed import ForkProof
from protocol.signals import PDQ
from tests.builders import Author, pdq_item, pdq_value
from tests.nodes import make_data


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[Node]:
    opened = await Node.open(make_data(tmp_path / "node"))
    yield opened
    await opened.close()


def reference(*entries: Entry, forks: dict[bytes, int] | None = None) -> BankState:
    bank = BankState(fork_seqs=dict(forks or {}))
    for entry in entries:
        bank.apply(entry)
    return bank


async def matches(node: Node, n: int) -> int:
    found = await node.lookup.match([Query(PDQ, pdq_value(n))], 0)
    return len(found[0])


async def test_a_stripped_copy_is_incomplete_until_the_real_one_completes_it(node: Node) -> None:
    author = Author(1)
    add, later = author.add(pdq_item(1)), author.add(pdq_item(2))
    report = await node.ingest([add.without_body().raw, later.raw], source="hostile")
    assert len(report.stored) == 2  # the feed goes on through the incomplete copy
    assert await matches(node, 1) == 0
    status = await node.status()
    assert status.incomplete == 1
    assert [(i.seq, i.entry_id) for i in status.incomplete_entries] == [(1, add.id)]
    stored = await node.entry(add.id)
    assert stored is not None
    assert stored.incomplete
    assert stored.erased
    # Another stripped copy changes nothing; the real one takes the incomplete one's place,
    # at the end of the change feed, so that followers see its body.
    assert (await node.ingest([add.without_body().raw], source="x")).duplicates == 1
    report = await node.ingest([add.raw], source="honest")
    assert [e.id for e in report.stored] == [add.id]
    assert await matches(node, 1) == 1
    completed = await node.entry(add.id)
    assert completed is not None
    assert not completed.erased
    assert not completed.incomplete
    assert completed.cursor > stored.cursor
    assert (await node.status()).incomplete == 0
    bank = reference(add, later)
    assert node.store.digest.value() == bank.digest(now_ms())
    assert node.store.feed_digest(author.org) == bank.feed_digest(author.org)


async def test_a_body_less_copy_never_shadows_a_full_one(node: Node) -> None:
    author = Author(2)
    add = author.add(pdq_item(3))
    await node.ingest([add.raw], source="honest")
    report = await node.ingest([add.without_body().raw], source="hostile")
    assert report.duplicates == 1
    assert await matches(node, 3) == 1
    assert (await node.status()).incomplete == 0


async def test_an_erasing_revoke_drops_the_body_whichever_arrives_first(node: Node) -> None:
    author = Author(3)
    add, feedback = author.add(pdq_item(4)), author.feedback(pdq_value(4), Verdict.TRUE_POSITIVE)
    erase = author.append(
        RevokeBody(
            (RevokeTarget(add.id, None), RevokeTarget(feedback.id, None)),
            RevokeReason.VICTIM_REQUEST,
            erase=True,
        )
    )
    await node.ingest([add.raw, feedback.raw], source="a")
    assert await matches(node, 4) == 1
    await node.ingest([erase.raw], source="a")
    for target in (add, feedback):
        stored = await node.entry(target.id)
        assert stored is not None
        assert stored.erased
        assert not stored.incomplete
        assert stored.raw == target.without_body().raw  # the body is gone from the store
    assert await node.store.items_of_entry(add.id) == []
    assert await matches(node, 4) == 0
    # A node that got body-less copies first holds them erased, not incomplete, once the
    # erasing revoke is in; a full copy arriving later does not bring the body back.
    fresh = await Node.open(make_data(node.data.root.parent / "fresh"))
    try:
        await fresh.ingest([add.without_body().raw, feedback.without_body().raw], source="x")
        assert (await fresh.status()).incomplete == 2
        await fresh.ingest([erase.raw], source="x")
        assert (await fresh.status()).incomplete == 0
        assert (await fresh.ingest([add.raw], source="y")).duplicates == 1
        assert fresh.store.digest.value() == node.store.digest.value()
        assert fresh.store.feed_digest(author.org) == node.store.feed_digest(author.org)
    finally:
        await fresh.close()


async def test_an_erasing_revoke_by_another_author_erases_nothing(
    node: Node, tmp_path: Path
) -> None:
    victim, hostile = Author(10), Author(11)
    add, later = victim.add(pdq_item(50)), victim.add(pdq_item(51))
    # A member signs, in its own feed, an erasing revoke naming the victim's two adds.
    erase = hostile.append(
        RevokeBody(
            (RevokeTarget(add.id, None), RevokeTarget(later.id, None)),
            RevokeReason.VICTIM_REQUEST,
            erase=True,
        )
    )
    await node.ingest([add.raw, later.without_body().raw], source="victim")
    assert len((await node.ingest([erase.raw], source="hostile")).stored) == 1
    kept = await node.entry(add.id)
    assert kept is not None
    assert not kept.erased
    assert await matches(node, 50) == 1
    stripped = await node.entry(later.id)
    assert stripped is not None
    assert stripped.incomplete  # still wanted, not erased: the revoke had no authority
    assert len((await node.ingest([later.raw], source="honest")).stored) == 1
    assert await matches(node, 51) == 1
    bank = reference(add, later, erase)
    assert node.store.digest.value() == bank.digest(now_ms())
    # The same whichever arrives first: the erasing revoke, then the body-less copies.
    other = await Node.open(make_data(tmp_path / "other"))
    try:
        await other.ingest([erase.raw], source="hostile")
        await other.ingest([add.without_body().raw, later.without_body().raw], source="x")
        assert (await other.status()).incomplete == 2
        await other.ingest([add.raw, later.raw], source="honest")
        assert (await other.status()).incomplete == 0
        assert other.store.digest.value() == node.store.digest.value()
    finally:
        await other.close()


async def test_a_body_that_does_not_match_its_digest_completes_nothing(node: Node) -> None:
    author = Author(12)
    add = author.add(pdq_item(52))
    await node.ingest([add.without_body().raw], source="hostile")
    # The real header and signature, with another body: its SHA-256 is not body_digest.
    forged = wire.encode(
        [add.header_bytes, add.signature, wire.encode(AddBody((pdq_item(53),)).to_wire())]
    )
    report = await node.ingest([forged], source="hostile")
    assert report.rejected == {"body_mismatch": 1}
    stored = await node.entry(add.id)
    assert stored is not None
    assert stored.incomplete
    assert await matches(node, 53) == 0
    assert len((await node.ingest([add.raw], source="honest")).stored) == 1
    assert await matches(node, 52) == 1


async def test_our_own_erasing_revoke_is_published_whole(node: Node) -> None:
    published = await node.publisher.publish(AddBody((pdq_item(5),)))
    entry = await node.publisher.revoke(
        published.entry.id, None, RevokeReason.COURT_ORDER, erase=True
    )
    assert isinstance(entry.body, RevokeBody)
    assert entry.body.erase
    stored = await node.entry(published.entry.id)
    assert stored is not None
    assert stored.erased
    with pytest.raises(ConflictError, match="erased already"):
        await node.publisher.revoke(published.entry.id, None, RevokeReason.COURT_ORDER, erase=True)


def forked(author: Author) -> tuple[Entry, Entry, Entry, Entry]:
    """An add, then a fork at seq 2: a revoke of the add on one branch, an add on the other."""
    add = author.add(pdq_item(10))
    base = list(author.entries)
    revoke = author.revoke(add)
    author.entries = list(base)
    rival = author.add(pdq_item(11))
    after_rival = author.add(pdq_item(12))
    return add, revoke, rival, after_rival


async def test_a_fork_suspends_the_feed_from_its_seq_whichever_branch_is_held(
    node: Node, tmp_path: Path
) -> None:
    author = Author(4)
    add, revoke, rival, after_rival = forked(author)
    await node.ingest([add.raw, revoke.raw], source="a")
    assert await matches(node, 10) == 0  # revoked, on this branch
    report = await node.ingest([rival.raw, after_rival.raw], source="b")
    assert len(report.forks) == 1
    assert node.feeds.forked == {author.org: 2}
    assert report.rejected == {"forked_author": 1}  # after_rival: seq 3, above the fork
    # The revoke at seq 2 is suspended: the add is back, and the digest is the reference's.
    assert await matches(node, 10) == 1
    bank = reference(add, revoke, forks={author.org: 2})
    assert node.store.digest.value() == bank.digest(now_ms())
    # A node holding the other branch, with the same proof, has the same bank.
    other = await Node.open(make_data(tmp_path / "other"))
    try:
        await other.ingest([add.raw, rival.raw, after_rival.raw], source="b")
        assert await other.record_fork(report.forks[0], source="a")
        assert other.store.digest.value() == node.store.digest.value()
        assert other.store.feed_digest(author.org) == node.store.feed_digest(author.org)
        assert not await other.record_fork(report.forks[0], source="a")  # known: not relayed
    finally:
        await other.close()


async def test_a_node_behind_a_fork_still_fetches_what_is_below_it(tmp_path: Path) -> None:
    author = Author(5)
    add, revoke, rival, _ = forked(author)
    node = await Node.open(make_data(tmp_path / "behind"))
    try:
        assert await node.record_fork(ForkProof.of(revoke, rival), source="peer")
        report = await node.ingest([add.raw, revoke.raw], source="peer")
        assert [e.id for e in report.stored] == [add.id]
        assert report.rejected == {"forked_author": 1}
        assert await matches(node, 10) == 1
        # The suspension survives a restart, and a rebuild keeps the digests.
        digest = node.store.digest.value()
        await node.close()
        node = await Node.open(node.data)
        assert node.feeds.forked == {author.org: 2}
        assert node.store.digest.value() == digest
        await node.close()
        before, after = await rebuild(node.data)
        assert before == after == digest.hex()
        node = await Node.open(node.data)
    finally:
        await node.close()


async def test_feed_digests_follow_the_reference_and_survive_expiry_and_rebuild(
    tmp_path: Path,
) -> None:
    node = await Node.open(make_data(tmp_path / "node"))
    a, b = Author(6), Author(7)
    soon = now_ms() + 1
    add = a.add(pdq_item(20), HashItem("md5", b"\x01" * 16, (), None, soon), pdq_item(21))
    entries = [add, b.add(pdq_item(22)), a.revoke(add, (0,)), b.revoke(add)]
    await node.ingest([e.raw for e in entries if e.author == b.org], source="t")
    await node.ingest([e.raw for e in entries if e.author == a.org], source="t")
    bank = reference(*entries)
    for author in (a, b):
        assert node.store.feed_digest(author.org) == bank.feed_digest(author.org)
    before = node.store.feed_digest(a.org)
    await node.expire()  # the md5 item has expired: out of the bank, still in the feed digest
    assert node.store.feed_digest(a.org) == before
    assert node.store.digest.value() == bank.digest(now_ms())
    await node.close()
    await rebuild(node.data)
    reopened = await Node.open(node.data)
    try:
        assert reopened.store.feed_digest(a.org) == before
        assert reopened.store.digest.value() == bank.digest(now_ms())
    finally:
        await reopened.close()


async def test_a_store_from_before_marks_body_less_copies_incomplete(tmp_path: Path) -> None:
    author = Author(8)
    add = author.add(pdq_item(30))
    path = tmp_path / "old.sqlite"
    # Every migration before the one that brought incomplete copies and feed digests.
    before = next(i for i, script in enumerate(MIGRATIONS) if "feed_digests" in script)
    with sqlite3.connect(path) as db:
        for script in MIGRATIONS[:before]:
            for statement in statements(script):
                db.execute(statement)
        db.execute(f"PRAGMA user_version = {before}")
        db.execute(
            "INSERT INTO entries (cursor, id, author, seq, kind, timestamp_ms, received_ms, raw, "
            "erased) VALUES (1, ?, ?, 1, 1, 0, 0, ?, 1)",
            (add.id, author.org, add.without_body().raw),
        )
        db.execute("INSERT INTO heads VALUES (?, 1, ?, 0, 0)", (author.org, add.id))
    store = await Store.open(path)
    try:
        assert await store.incomplete_count() == 1
        assert store.feed_digest(author.org) == BankState().feed_digest(author.org)
        assert (await store.heads())[author.org].seq == 1  # re-derived on opening
    finally:
        await store.close()


async def test_held_entries_wait_as_bytes_within_a_window(node: Node) -> None:
    author = Author(9)
    entries = [author.add(pdq_item(40 + i)) for i in range(4)]
    report = await node.ingest([e.raw for e in entries[2:]], source="t")
    assert report.held == 2
    status = await node.status()
    assert status.held == 2
    assert status.held_bytes == sum(len(e.raw) for e in entries[2:])
    report = await node.ingest([e.raw for e in entries[:2]], source="t")
    assert len(report.stored) == 4
    assert (await node.status()).held == 0
