"""Withdrawals and restorations without an entry: recorded in the change feed, by cursor."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

from node.clock import now_ms
from node.replica.node import Node
from node.store import ChangeKinds, ChangeReason, ItemChange, ItemChangeKind, StoredEntry
from node.store.rebuild import rebuild
from node.store.transaction import ITEMS_PER_CHANGE
from protocol.body import HashItem, Kind
from protocol.charter import Charter, CharterBody, Member, MemberKey, Takedown, draft
from protocol.identity import OrgId, SigningKey
from tests.builders import Author, pdq_item
from tests.nodes import ShiftedClock, make_data

HOUR_MS = 3_600_000
EVERYTHING = ChangeKinds()


def md5(n: int) -> bytes:
    return hashlib.md5(b"%d" % n).digest()


async def feed(node: Node, kinds: ChangeKinds = EVERYTHING) -> list[StoredEntry | ItemChange]:
    return await node.store.change_feed(0, 10_000, kinds)


async def test_an_expiry_takes_the_next_cursor_and_survives_a_restart(tmp_path: Path) -> None:
    clock = ShiftedClock()
    data = make_data(tmp_path / "node")
    node = await Node.open(data, clock=clock)
    author = Author(1)
    expires = clock.now_ms() + HOUR_MS
    add = author.add(HashItem("md5", md5(1), ("ncii",), None, expires), pdq_item(2))
    await node.ingest([add.raw], source="test")
    clock.ahead_ms = 2 * HOUR_MS
    assert await node.expire() == 1
    later = author.add(pdq_item(3))
    await node.ingest([later.raw], source="test")

    changes = await feed(node)
    assert [c.cursor for c in changes] == [1, 2, 3]
    withdrawn = changes[1]
    assert isinstance(withdrawn, ItemChange)
    assert (withdrawn.kind, withdrawn.reason, withdrawn.charter_version) == (
        ItemChangeKind.WITHDRAWN,
        ChangeReason.EXPIRY,
        None,
    )
    [item] = withdrawn.items
    assert (item.entry_id, item.idx, item.author) == (add.id, 0, author.org)
    assert (item.signal_type, item.value) == ("md5", md5(1))
    assert isinstance(changes[2], StoredEntry)
    assert changes[2].id == later.id

    # A reader asking for entries only gets exactly the entries, as before.
    only_entries = await feed(node, ChangeKinds(items=()))
    assert [c.cursor for c in only_entries] == [1, 3]
    only_withdrawn = await feed(node, ChangeKinds((), (ItemChangeKind.WITHDRAWN,)))
    assert [c.cursor for c in only_withdrawn] == [2]
    assert [c.cursor for c in await node.store.change_feed(1, 1)] == [2]
    await node.close()

    # The sequence carries on after a restart, past the last item change.
    node = await Node.open(data, clock=clock)
    assert node.store.last_cursor == 3
    clock.ahead_ms = 0
    await node.ingest([author.add(HashItem("md5", md5(4), (), None, expires)).raw], source="t")
    clock.ahead_ms = 2 * HOUR_MS
    assert await node.expire() == 1
    assert [c.cursor for c in await feed(node)] == [1, 2, 3, 4, 5]
    assert node.store.last_cursor == 5
    await node.close()


async def test_many_items_make_several_bounded_changes(tmp_path: Path) -> None:
    clock = ShiftedClock()
    node = await Node.open(make_data(tmp_path / "node"), clock=clock)
    expires = clock.now_ms() + HOUR_MS
    items = [HashItem("md5", md5(n), (), None, expires) for n in range(2 * ITEMS_PER_CHANGE + 5)]
    author = Author(2)
    await node.ingest([author.add(*items).raw], source="test")
    clock.ahead_ms = 2 * HOUR_MS
    assert await node.expire() == len(items)
    changes = await feed(node, ChangeKinds(entries=()))
    assert [len(c.items) for c in changes if isinstance(c, ItemChange)] == [1000, 1000, 5]
    assert [c.cursor for c in changes] == [2, 3, 4]
    indexes = [it.idx for c in changes if isinstance(c, ItemChange) for it in c.items]
    assert indexes == list(range(len(items)))
    await node.close()


def charter(
    number: int,
    steward: tuple[OrgId, SigningKey],
    publisher: Member,
    prev: Charter | None,
    takedowns: tuple[Takedown, ...] = (),
) -> Charter:
    org, key = steward
    members = [
        Member(org, "Steward", ("publisher", "steward"), (MemberKey(key.public_key.raw, 1),))
    ]
    body = CharterBody(
        "unit-net",
        number,
        1_000 * number,
        1,
        tuple(sorted([*members, publisher], key=lambda m: m.org_id)),
        takedowns,
        prev.id if prev else None,
    )
    return draft(body).signed_by(key)


async def test_takedowns_purges_and_lifted_takedowns_are_recorded(tmp_path: Path) -> None:
    node = await Node.open(make_data(tmp_path / "node"))
    steward = (node.org, node.key)
    author = Author(3)
    member = Member(
        author.org, "Publisher", ("publisher",), (MemberKey(author.key.public_key.raw, 1),)
    )
    v1 = charter(1, steward, member, None)
    assert (await node.charters.adopt(v1.encode())).appended == [1]
    first, second = author.add(pdq_item(10), pdq_item(11)), author.add(pdq_item(12))
    await node.ingest([first.raw, second.raw], source="test")

    v2 = charter(2, steward, member, v1, (Takedown(author.org, 1, 1),))
    assert (await node.charters.adopt(v2.encode())).appended == [2]
    v3 = charter(3, steward, member, v2)  # the takedown is lifted
    assert (await node.charters.adopt(v3.encode())).appended == [3]
    # Version 4 says another key signs from seq 2: the entry at seq 2 is purged.
    other = SigningKey(b"\x07" * 32)
    rotated = Member(
        author.org,
        "Publisher",
        ("publisher",),
        (MemberKey(author.key.public_key.raw, 1), MemberKey(other.public_key.raw, 2)),
    )
    v4 = charter(4, steward, rotated, v3)
    assert (await node.charters.adopt(v4.encode())).appended == [4]

    changes = [c for c in await feed(node) if isinstance(c, ItemChange)]
    summary = [
        (c.kind, c.reason, c.charter_version, [(it.entry_id, it.idx) for it in c.items])
        for c in changes
    ]
    assert summary == [
        (ItemChangeKind.WITHDRAWN, ChangeReason.TAKEDOWN, 2, [(first.id, 0), (first.id, 1)]),
        (ItemChangeKind.RESTORED, ChangeReason.TAKEDOWN, 3, [(first.id, 0), (first.id, 1)]),
        (ItemChangeKind.WITHDRAWN, ChangeReason.PURGE, 4, [(second.id, 0)]),
    ]
    # Cursors interleave with the entries' (1 and 2).
    assert [c.cursor for c in changes] == [3, 4, 5]
    assert (await node.store.counts()).active_hashes == {"pdq": 2}
    await node.close()


async def test_entry_kinds_filter_as_before(tmp_path: Path) -> None:
    node = await Node.open(make_data(tmp_path / "node"))
    author = Author(4)
    add = author.add(pdq_item(20))
    await node.ingest([add.raw, author.revoke(add).raw], source="test")
    adds = await feed(node, ChangeKinds((Kind.ADD,), ()))
    assert [c.cursor for c in adds] == [1]
    await node.close()


async def test_rebuild_keeps_the_recorded_changes_and_the_cursor_sequence(tmp_path: Path) -> None:
    data = make_data(tmp_path / "node")
    # The node's clock a minute behind while it stores the item, so that the item is live
    # then however long a loaded machine takes; the rebuild judges it by the real clock.
    clock = ShiftedClock()
    clock.ahead_ms = -60_000
    node = await Node.open(data, clock=clock)
    author = Author(5)
    soon = now_ms() + 200
    await node.ingest([author.add(HashItem("md5", md5(7), (), None, soon)).raw], source="t")
    while now_ms() <= soon:
        await asyncio.sleep(0.05)
    clock.ahead_ms = 0
    assert await node.expire() == 1
    await node.close()

    before, after = await rebuild(data)
    assert before == after
    node = await Node.open(data)
    changes = await feed(node)
    # Rebuilding re-derives the expiry and records it again (harmless: drop it twice); the
    # recorded changes stay and no cursor is used twice.
    assert [(c.cursor, type(c).__name__) for c in changes] == [
        (1, "StoredEntry"),
        (2, "ItemChange"),
        (3, "ItemChange"),
    ]
    assert node.store.last_cursor == 3
    await node.close()
