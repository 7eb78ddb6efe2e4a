"""``Ingester`` on a real store: duplicates, held-ahead entries, forks inside one chunk."""

from __future__ import annotations

from pathlib import Path

from node.replica.events import EntriesStored, ForkRecorded
from tests.builders import Author, pdq_item
from tests.node.replica.rig import rig


async def test_entries_stored_once_then_counted_as_duplicates(tmp_path: Path) -> None:
    async with rig(tmp_path) as r:
        author = Author(61)
        raws = [author.add(pdq_item(n)).raw for n in range(3)]
        first = await r.ingester.ingest(raws, source="peer")
        assert [e.raw for e in first.stored] == raws
        again = await r.ingester.ingest(raws, source="peer")
        assert (again.stored, again.duplicates, again.rejected) == ([], 3, {})
        assert (await r.store.counts()).entries == 3
        assert [type(e) for e in r.seen] == [EntriesStored]  # nothing new, nothing announced
        assert r.feeds.seq(author.org) == 3


async def test_held_entries_are_released_when_the_gap_fills(tmp_path: Path) -> None:
    async with rig(tmp_path) as r:
        author = Author(62)
        entries = [author.add(pdq_item(n)) for n in range(1, 6)]
        ahead = await r.ingester.ingest([e.raw for e in entries[2:]], source="peer")
        assert (ahead.stored, ahead.held) == ([], 3)
        assert len(r.feeds.holdback) == 3
        assert r.feeds.gaps()[0].first == 1
        assert await r.store.heads() == {}
        filled = await r.ingester.ingest([e.raw for e in entries[:2]], source="peer")
        assert [e.seq for e in filled.stored] == [1, 2, 3, 4, 5]  # in feed order
        assert len(r.feeds.holdback) == 0
        assert (await r.store.heads())[author.org].seq == 5
        assert r.feeds.seq(author.org) == 5
        assert (await r.store.counts()).active_hashes == {"pdq": 5}
        assert len(r.matcher.pdq) == 5  # matchable once ingest returns (wait_index)


async def test_a_fork_in_one_chunk_rejects_the_authors_later_entries(tmp_path: Path) -> None:
    async with rig(tmp_path) as r:
        author, other = Author(63), Author(64)
        first, second, third = (author.add(pdq_item(n)) for n in (1, 2, 3))
        rival = Author(63)  # the same key, signing another entry at seq 2
        rival.entries = [first]
        conflicting = rival.add(pdq_item(99))
        bystander = other.add(pdq_item(4))
        chunk = [first, second, conflicting, third, bystander]
        report = await r.ingester.ingest([e.raw for e in chunk], source="peer")
        assert [e.id for e in report.stored] == [first.id, second.id, bystander.id]
        assert [(f.author, f.seq) for f in report.forks] == [(author.org, 2)]
        assert report.rejected == {"forked_author": 1}  # `third`, after the fork
        assert [(f.author, f.seq) for f in await r.store.forks()] == [(author.org, 2)]
        assert r.feeds.forked == {author.org: 2}
        assert [type(e) for e in r.seen] == [ForkRecorded, EntriesStored]
        # Later, from anyone: refused, and the proof is not recorded twice.
        later = await r.ingester.ingest([third.raw, conflicting.raw], source="other peer")
        assert (later.stored, later.rejected) == ([], {"forked_author": 2})
        assert len(await r.store.forks()) == 1
        assert r.ingester.rejections["forked_author"] == 3
        # The entry held at the fork seq, sent again, is a duplicate (a re-run import).
        again = await r.ingester.ingest([second.raw], source="import")
        assert (again.duplicates, again.rejected) == (1, {})


async def test_a_fork_against_a_stored_entry_is_recorded(tmp_path: Path) -> None:
    async with rig(tmp_path) as r:
        author = Author(65)
        first, second = author.add(pdq_item(1)), author.add(pdq_item(2))
        await r.ingester.ingest([first.raw, second.raw], source="peer")
        rival = Author(65)
        rival.entries = [first]
        report = await r.ingester.ingest([rival.add(pdq_item(98)).raw], source="peer")
        assert report.stored == []
        assert [f.seq for f in report.forks] == [2]
        assert (await r.store.forks())[0].author == author.org
        assert await r.ingester.record_fork(report.forks[0]) is False  # already known
