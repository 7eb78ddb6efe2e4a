"""The node's matcher: a saved PDQ index is reused only while it matches the store."""

from __future__ import annotations

from pathlib import Path

from node.matching.matcher import Matcher, Query
from node.replica.node import Node
from protocol.signals import PDQ
from tests.builders import Author, pdq_item, pdq_value
from tests.nodes import make_data


async def test_a_saved_index_is_loaded_only_while_it_matches_the_store(tmp_path: Path) -> None:
    data = make_data(tmp_path / "node")
    node = await Node.open(data)
    author = Author(5)
    await node.ingest([author.add(*(pdq_item(i) for i in range(50))).raw], source="t")
    await node.close()  # saves the index

    node = await Node.open(data)
    fresh = Matcher()
    assert await fresh.load(node.store, data.root / "pdq-index") == "loaded"
    [hits] = await fresh.match(node.store, [Query(PDQ, pdq_value(7))], 0)
    assert [h.item.idx for h in hits] == [7]
    await node.ingest([author.revoke(author.entries[0], (7,)).raw], source="t")
    stale = Matcher()
    assert await stale.load(node.store, data.root / "pdq-index") == "built"
    [hits] = await stale.match(node.store, [Query(PDQ, pdq_value(7))], 0)
    assert hits == []
    await node.store.close()  # a crash: the index is not saved again

    node = await Node.open(data)
    [hits] = await node.match([Query(PDQ, pdq_value(7))], 0)
    assert hits == []
    [hits] = await node.match([Query(PDQ, pdq_value(8))], 0)
    assert len(hits) == 1
    await node.close()
