"""Planning a batch: the bulk path builds exactly the rows the item-by-item path does."""

from __future__ import annotations

from node.store import plan as batch
from protocol.bank import BankDigest
from protocol.body import AddBody, HashItem
from protocol.entry import Entry
from protocol.hazmat import digest_sum
from tests.builders import BASE_TS, Author, pdq_item

NOW = BASE_TS + 10**9


def mixed_add(author: Author) -> None:
    author.add(
        pdq_item(1),
        HashItem("md5", bytes(range(16)), ("ncii", "victim-request"), b"case-7"),
        HashItem("sha256", bytes(32), (), None),
        pdq_item(2, labels=()),
    )


def plan(
    entries: list[Entry], digest_sums: dict[bytes, int] | None = None
) -> tuple[batch.Plan, BankDigest]:
    ctx = batch.Context(next_cursor=5, next_item_id=100, digest=BankDigest())
    return batch.plan_batch(entries, ctx, NOW, digest_sums=digest_sums), ctx.digest


def item_by_item(entries: list[Entry]) -> tuple[batch.Plan, BankDigest]:
    """The same plan through the general path (every item checked for expiry and revocation)."""
    ctx = batch.Context(next_cursor=5, next_item_id=100, digest=BankDigest())
    out = batch.Plan()
    for n, entry in enumerate(entries):
        assert isinstance(entry.body, AddBody)
        batch._plan_add_some_active(
            entry, entry.body.items, set(), 5 + n, 100 + 4 * n, ctx, out, NOW
        )
    return out, ctx.digest


def test_the_bulk_path_plans_the_same_rows_and_digest_as_item_by_item() -> None:
    author = Author(3)
    mixed_add(author)
    mixed_add(author)
    fast, fast_digest = plan(author.entries)
    slow, slow_digest = item_by_item(author.entries)
    assert fast.items == slow.items
    assert (fast.pdq_ids, fast.pdq_values) == (slow.pdq_ids, slow.pdq_values)
    assert len(fast.pdq_ids) == 4
    assert fast.activated_types == slow.activated_types == {"pdq": 4, "md5": 2, "sha256": 2}
    assert fast_digest == slow_digest


def test_a_precomputed_digest_sum_is_used_as_is() -> None:
    author = Author(4)
    mixed_add(author)
    entry = author.entries[0]
    computed, digest = plan([entry])
    given, given_digest = plan([entry], {entry.id: digest_sum(entry)})
    assert given.items == computed.items
    assert given_digest == digest


def test_items_with_an_expiry_take_the_item_by_item_path() -> None:
    author = Author(5)
    author.add(HashItem("pdq", bytes(32), ("ncii",), None, NOW - 1), pdq_item(9))
    planned, digest = plan(author.entries)
    # The expired item is stored out of the bank (2), still standing in its feed digest.
    assert [row[-1] for row in planned.items] == [2, 1]
    assert digest.count == 1
    assert planned.activated_types == {"pdq": 1}
