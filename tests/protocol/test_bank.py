from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.bank import BankDigest, BankState, item_digest
from protocol.body import HashItem, RevokeBody, RevokeTarget
from protocol.entry import Entry
from protocol.hazmat import digest_sum
from tests.builders import BASE_TS, Author, pdq_item, pdq_value

NOW = BASE_TS + 10**9


@st.composite
def histories(draw: st.DrawFn) -> list[Entry]:
    """Feeds of three authors with adds and revokes, some aimed at other authors' adds."""
    authors = [Author(i) for i in range(3)]
    adds: list[Entry] = []
    for step in range(draw(st.integers(1, 25))):
        author = draw(st.sampled_from(authors))
        if adds and draw(st.booleans()):
            target = draw(st.sampled_from(adds))
            items = draw(st.none() | st.just((0,)) | st.just((1, 5)))
            author.revoke(target, items)
        else:
            n = draw(st.integers(1, 3))
            adds.append(author.add(*(pdq_item(step * 10 + i) for i in range(n))))
    return [e for a in authors for e in a.entries]


def fold(entries: list[Entry]) -> BankState:
    bank = BankState()
    for entry in entries:
        bank.apply(entry)
    return bank


def active_keys(bank: BankState) -> set[tuple[bytes, int]]:
    return {(a.entry_id, a.index) for a in bank.active(NOW)}


@given(histories(), st.data())
@settings(max_examples=60, deadline=None)
def test_merge_is_order_independent_and_idempotent(
    entries: list[Entry], data: st.DataObject
) -> None:
    reference = fold(entries)
    shuffled = data.draw(st.permutations(entries))
    duplicates = data.draw(st.lists(st.sampled_from(entries), max_size=10))
    replayed = fold(list(shuffled) + duplicates + list(entries))
    assert active_keys(replayed) == active_keys(reference)
    assert replayed.digest(NOW) == reference.digest(NOW)


def test_revoke_withdraws_the_whole_entry_or_single_items() -> None:
    author = Author(1)
    add = author.add(pdq_item(1), pdq_item(2), pdq_item(3))
    bank = fold([add])
    assert len(active_keys(bank)) == 3
    bank.apply(author.revoke(add, (1,)))
    assert active_keys(bank) == {(add.id, 0), (add.id, 2)}
    bank.apply(author.revoke(add))
    assert active_keys(bank) == set()


def test_a_revoke_arriving_before_its_add_still_applies() -> None:
    author = Author(1)
    add = author.add()
    revoke = author.revoke(add)
    assert active_keys(fold([revoke, add])) == set()


def test_a_revoke_by_another_author_has_no_effect() -> None:
    owner, other = Author(1), Author(2)
    add = owner.add()
    assert active_keys(fold([add, other.revoke(add)])) == {(add.id, 0)}


def test_expired_items_are_inactive() -> None:
    author = Author(1)
    add = author.add(HashItem("pdq", pdq_value(1), (), None, NOW), pdq_item(2))
    bank = fold([add])
    assert {k.index for k in bank.active(NOW - 1)} == {0, 1}
    assert {k.index for k in bank.active(NOW)} == {1}


def test_erased_adds_contribute_nothing() -> None:
    author = Author(1)
    add = author.add()
    assert active_keys(fold([add.without_body()])) == set()


def test_bank_digest_is_a_set_digest() -> None:
    a = item_digest("pdq", pdq_value(1), b"a" * 32, b"e" * 32, 0)
    b = item_digest("pdq", pdq_value(2), b"a" * 32, b"e" * 32, 1)
    one, two = BankDigest(), BankDigest()
    one.add(a)
    one.add(b)
    two.add(b)
    two.add(a)
    assert one.value() == two.value()
    one.remove(a)
    solo = BankDigest()
    solo.add(b)
    assert one.value() == solo.value()
    assert BankDigest().value() != solo.value()


def test_identical_hashes_from_two_entries_are_two_items() -> None:
    author = Author(1)
    first, second = author.add(pdq_item(1)), author.add(pdq_item(1))
    bank = fold([first, second])
    assert active_keys(bank) == {(first.id, 0), (second.id, 0)}


@given(histories())
@settings(max_examples=30, deadline=None)
def test_digest_sum_is_what_an_add_contributes_when_all_its_items_are_live(
    entries: list[Entry],
) -> None:
    for entry in entries:
        alone = BankState()
        alone.apply(entry)
        digest = BankDigest()
        digest.add_many(sum(1 for _ in alone.active(NOW)), digest_sum(entry))
        assert digest.value() == alone.digest(NOW)


def test_a_suspended_feed_counts_only_below_its_fork_seq() -> None:
    author = Author(1)
    first, second = author.add(pdq_item(1)), author.add(pdq_item(2))
    revoke = author.revoke(first)
    bank = fold([first, second, revoke])
    assert active_keys(bank) == {(second.id, 0)}
    bank.fork_seqs[author.org] = 2  # seq 2 on is void, the revoke at 3 included
    assert active_keys(bank) == {(first.id, 0)}


def test_an_erasing_revoke_withdraws_its_targets_whole() -> None:
    author = Author(1)
    add = author.add(pdq_item(1), pdq_item(2))
    erase = author.append(RevokeBody((RevokeTarget(add.id, None),), erase=True))
    assert active_keys(fold([add, erase])) == set()
    assert active_keys(fold([add.without_body(), erase])) == set()  # erased or not: the same


def test_the_feed_digest_leaves_out_the_time_and_other_authors() -> None:
    author, other = Author(1), Author(2)
    add = author.add(HashItem("pdq", pdq_value(1), (), None, NOW), pdq_item(2))
    bank = fold([add, other.add()])
    before = bank.feed_digest(author.org)
    assert bank.digest(NOW - 1) != bank.digest(NOW)  # an item expired
    assert bank.feed_digest(author.org) == before
    alone = fold([add])
    assert alone.feed_digest(author.org) == alone.digest(NOW - 1)
    assert fold([]).feed_digest(author.org) == BankDigest().value()
