"""``CharterKeeper`` on a real store: rival versions, concurrent offers, key rotation."""

from __future__ import annotations

import asyncio
from pathlib import Path

from node.replica.events import CharterAdopted
from node.replica.keys import start_rotation
from protocol.charter import Charter, Takedown
from protocol.identity import SigningKey
from tests.builders import Author, pdq_item
from tests.charters import genesis, member, successor
from tests.node.replica.rig import Rig, rig

STEWARD = SigningKey(b"\x41" * 32)


async def adopt_genesis(r: Rig) -> Charter:
    ours = r.keys.current
    v1 = genesis(
        [member(ours, "Us", "publisher", "steward"), member(STEWARD, "S", "steward")], ours
    )
    report = await r.charters.adopt(v1.encode())
    assert report.appended == [1]
    return v1


async def test_a_rival_version_records_a_charter_fork(tmp_path: Path) -> None:
    async with rig(tmp_path) as r:
        v1 = await adopt_genesis(r)
        v2 = successor(v1, r.keys.current)
        rival = successor(v1, STEWARD, effective_ms=v1.body.effective_ms + 1)
        assert (await r.charters.offer([v2.encode()], source="peer a")).appended == [2]
        report = await r.charters.offer([rival.encode()], source="peer b")
        assert (report.appended, report.forks) == ([], [2])
        forks = await r.store.charter_forks()
        assert [f.number for f in forks] == [2]
        assert r.charters.latest == v2  # the first version seen stays
        assert await r.store.charters() == [v1.encode(), v2.encode()]
        again = await r.charters.offer([rival.encode()], source="peer c")
        assert again.forks == [2]
        assert len(await r.store.charter_forks()) == 1


async def test_a_version_offered_twice_at_once_is_stored_once(tmp_path: Path) -> None:
    async with rig(tmp_path) as r:
        v1 = await adopt_genesis(r)
        author = Author(71)
        await r.ingester.ingest([author.add(pdq_item(n)).raw for n in range(3)], source="peer")
        v2 = successor(v1, STEWARD)
        reports = await asyncio.gather(
            r.charters.offer([v2.encode()], source="peer a"),
            r.charters.offer([v2.encode()], source="peer b"),
        )
        assert sorted(rep.appended for rep in reports) == [[], [2]]
        assert sorted(rep.known for rep in reports) == [0, 1]
        assert await r.store.charters() == [v1.encode(), v2.encode()]
        adopted = [e.charter.number for e in r.seen if isinstance(e, CharterAdopted)]
        assert adopted == [1, 2]


async def test_a_version_is_conformed_into_the_feeds_it_affects(tmp_path: Path) -> None:
    async with rig(tmp_path) as r:
        author = Author(72)
        v1 = genesis(
            [member(r.keys.current, "Us", "publisher", "steward"), member(author.key, "A")],
            r.keys.current,
        )
        await r.charters.adopt(v1.encode())
        await r.ingester.ingest([author.add(pdq_item(n)).raw for n in range(1, 6)], source="p")
        assert (await r.store.counts()).active_hashes == {"pdq": 5}
        v2 = successor(v1, r.keys.current, takedowns=[Takedown(author.org, 2, 3)])
        assert (await r.charters.offer([v2.encode()], source="p")).appended == [2]
        assert (await r.store.counts()).active_hashes == {"pdq": 3}
        await r.matcher.drain()
        assert len(r.matcher.pdq) == 3


async def test_a_rotation_for_our_org_promotes_the_pending_key(tmp_path: Path) -> None:
    async with rig(tmp_path) as r:
        v1 = await adopt_genesis(r)
        old = r.keys.current
        pending = start_rotation(r.data)
        assert r.keys.pending() is not None
        unrelated = successor(v1, STEWARD)  # a version that does not list the new key
        await r.charters.offer([unrelated.encode()], source="peer")
        assert r.keys.current == old
        rotated = successor(
            unrelated,
            STEWARD,
            members=[
                member(old, "Us", "publisher", "steward", later=[(pending, 2)]),
                member(STEWARD, "S", "steward"),
            ],
        )
        assert (await r.charters.offer([rotated.encode()], source="peer")).appended == [3]
        assert r.keys.current.public_key == pending.public_key
        assert r.keys.pending() is None
        assert (r.data.root / "identity.retired-1.key").exists()
        assert r.charters.latest == rotated
