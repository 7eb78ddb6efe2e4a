"""Cases: sealed case values, the local case mapping, withdrawal by case, PIN guessing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from node.limits import RateLimiter
from node.replica.cases import (
    FREE_ATTEMPTS,
    MAX_LOCK_MS,
    CaseAccessError,
    CaseSeal,
    PinGuard,
    TooManyAttemptsError,
    _lock_ms,
    _pin_hash,
)
from node.replica.node import Node
from protocol.body import AddBody, HashItem
from protocol.entry import decode_entry
from tests.builders import pdq_value
from tests.node.federation.fakes import FakeClock
from tests.nodes import make_data

NOW_MS = 1_800_000_000_000


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[Node]:
    opened = await Node.open(make_data(tmp_path / "node"))
    yield opened
    await opened.close()


def item(n: int) -> HashItem:
    return HashItem("pdq", pdq_value(n), ("ncii",))


def test_sealed_values_differ_every_time_and_open_only_with_the_secret() -> None:
    seal, other = CaseSeal(b"s" * 32), CaseSeal(b"t" * 32)
    values = {seal.seal(7) for _ in range(20)}
    assert len(values) == 20
    assert {seal.open(v) for v in values} == {7}
    assert {other.open(v) for v in values} == {None}
    assert seal.open(b"\x00" * 16) is None  # a pre-sealing (HMAC) value is not ours to open


async def test_a_case_finds_its_entries_and_no_others(node: Node) -> None:
    case = (await node.cases.open("caseworker")).case
    other = (await node.cases.open("caseworker")).case
    mine = await node.cases.publish([(item(1), case), (item(2), case)])
    theirs = await node.cases.publish([(item(3), other)])
    more = await node.cases.publish([(item(4), case)])
    assert [e.id for e in await node.cases.entries(case)] == [mine.entry.id, more.entry.id]
    assert [e.id for e in await node.cases.entries(other)] == [theirs.entry.id]
    body = decode_entry(mine.entry.raw).body
    assert isinstance(body, AddBody)
    refs = [it.case_ref for it in body.items]
    assert refs[0] != refs[1]  # two items of one case: nothing in common on the wire


async def test_withdrawing_a_case_revokes_every_active_item_of_it(node: Node) -> None:
    case = (await node.cases.open("operator", reference="HL-1")).case
    await node.cases.publish([(item(1), case), (item(2), case)])
    await node.cases.publish([(item(3), case)])
    await node.cases.withdraw(case, [((await node.cases.items(case))[0].entry_id, 0)])
    assert [i.active for i in await node.cases.items(case)] == [False, True, True]
    revokes = await node.cases.withdraw(case, None)
    assert len(revokes) == 2
    assert not any(i.active for i in await node.cases.items(case))


async def test_the_mapping_is_recovered_from_our_own_feed(node: Node) -> None:
    case = (await node.cases.open("caseworker")).case
    published = await node.cases.publish([(item(1), case)])

    async def forget(txn):  # type: ignore[no-untyped-def]
        await txn._db.execute("DELETE FROM case_entries")

    await node.store.transaction(forget)
    assert await node.cases.entries(case) == []
    assert await node.cases.recover() == 1
    assert [e.id for e in await node.cases.entries(case)] == [published.entry.id]


async def test_a_resubmission_under_one_idempotency_key_is_the_same_content(node: Node) -> None:
    case = (await node.cases.open("caseworker")).case
    first = await node.cases.publish([(item(1), case)], "k-1")
    again = await node.cases.publish([(item(1), case)], "k-1")
    assert (first.fresh, again.fresh) == (True, False)
    assert again.entry.id == first.entry.id


async def test_wrong_pin_and_unknown_case_answer_alike_and_both_lock(node: Node) -> None:
    opened = await node.cases.open("self_service", with_pin=True)
    assert opened.pin is not None
    assert len(opened.pin) == 8
    clock = FakeClock(NOW_MS)
    guard = PinGuard(node.store, clock, RateLimiter(1000, 1000))
    reference = opened.case.reference
    assert (await guard.unlock(reference, opened.pin, "c1")).case_id == opened.case.case_id
    answers = []
    for ref in (reference, "ZZZZ-ZZZZ"):
        for _ in range(FREE_ATTEMPTS):
            with pytest.raises(CaseAccessError) as caught:
                await guard.unlock(ref, "00000000", "c1")
            answers.append((caught.value.message, caught.value.locked_until_ms > 0))
        # Locked now: even the right PIN is refused until the lock runs out.
        with pytest.raises(CaseAccessError) as locked:
            await guard.unlock(ref, opened.pin if ref == reference else "1", "c1")
        answers.append((locked.value.message, locked.value.locked_until_ms > 0))
    real, phantom = answers[: len(answers) // 2], answers[len(answers) // 2 :]
    assert real == phantom  # nothing tells a real case number from an invented one
    assert real[-1][1] is True
    clock.ms += 24 * 3600 * 1000 + 1
    assert (await guard.unlock(reference, opened.pin, "c1")).case_id == opened.case.case_id


async def test_one_client_cannot_try_pins_without_end(node: Node) -> None:
    guard = PinGuard(node.store, FakeClock(NOW_MS), RateLimiter(0.001, 3))
    for _ in range(3):
        with pytest.raises(CaseAccessError):
            await guard.unlock("AAAA-AAAA", "12345678", "client")
    with pytest.raises(TooManyAttemptsError):
        await guard.unlock("BBBB-BBBB", "12345678", "client")


async def test_guesses_sent_all_at_once_still_meet_the_lockout(node: Node) -> None:
    # Each attempt reads the failure count, spends scrypt's time on a thread, then writes the
    # count back: without one turn at a time per case number, 30 guesses sent together all
    # read "no failures yet" and all get their PIN checked.
    opened = await node.cases.open("self_service", with_pin=True)
    guard = PinGuard(node.store, FakeClock(NOW_MS), RateLimiter(1000, 1000))
    for reference in (opened.case.reference, "ZZZZ-ZZZZ"):
        tries = [guard.unlock(reference, f"{n:08d}", f"client-{n}") for n in range(1, 31)]
        answers = await asyncio.gather(*tries, return_exceptions=True)
        assert all(isinstance(a, CaseAccessError) for a in answers), answers
        checked = [a for a in answers if isinstance(a, CaseAccessError) and not a.locked_until_ms]
        assert len(checked) == FREE_ATTEMPTS - 1  # the fifth failure already answers "locked"
    row = await node.store.case_by_reference(opened.case.reference)
    assert row is not None
    assert row.failed_attempts == FREE_ATTEMPTS
    assert guard._turns == {}  # nothing kept once the attempts are answered


async def test_each_failure_past_the_free_ones_doubles_the_lockout(node: Node) -> None:
    opened = await node.cases.open("self_service", with_pin=True)
    assert opened.pin is not None
    clock = FakeClock(NOW_MS)
    guard = PinGuard(node.store, clock, RateLimiter(1000, 1000))
    reference = opened.case.reference
    locks = []
    for _ in range(FREE_ATTEMPTS + 3):
        with pytest.raises(CaseAccessError) as caught:
            await guard.unlock(reference, "00000000", "c1")
        if caught.value.locked_until_ms:
            locks.append(caught.value.locked_until_ms - clock.ms)
            clock.ms = caught.value.locked_until_ms  # wait the lock out, then fail again
    assert locks == [60_000, 120_000, 240_000, 480_000]
    assert _lock_ms(100) == MAX_LOCK_MS  # never more than a day
    # The right PIN (after the lock) opens the case and forgives the failures.
    assert (await guard.unlock(reference, opened.pin, "c1")).case_id == opened.case.case_id
    row = await node.store.case_by_reference(reference)
    assert row is not None
    assert (row.failed_attempts, row.locked_until_ms) == (0, 0)


async def test_the_pin_is_kept_only_as_a_salted_scrypt_hash(node: Node) -> None:
    first = await node.cases.open("self_service", with_pin=True)
    second = await node.cases.open("self_service", with_pin=True)
    rows = [await node.store.case_by_reference(o.case.reference) for o in (first, second)]
    for opened, row in zip((first, second), rows, strict=True):
        assert opened.pin is not None
        assert row is not None
        assert row.pin_hash is not None
        assert row.pin_salt is not None
        assert len(row.pin_salt) == 16
        assert row.pin_hash == _pin_hash(opened.pin, row.pin_salt)
        assert opened.pin.encode() not in row.pin_hash
    assert rows[0] is not None
    assert rows[1] is not None
    assert rows[0].pin_salt != rows[1].pin_salt
    # Nor do the database files on disk (the store and its write-ahead log) hold it in clear.
    stored = b"".join(
        p.read_bytes() for p in node.store.path.parent.glob(node.store.path.name + "*")
    )
    assert stored
    assert first.pin.encode() not in stored
