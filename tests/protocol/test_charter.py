from __future__ import annotations

import hashlib
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import wire
from protocol.body import AddBody, FeedbackBody, FeedbackNote, Verdict
from protocol.charter import (
    MAX_EFFECTIVE_LEAD_MS,
    Charter,
    CharterBody,
    Member,
    MemberKey,
    Takedown,
    check_genesis,
    decode_charter,
    draft,
)
from protocol.entry import sign_entry
from protocol.errors import CharterError, CharterForkError, InvalidValueError, UnauthorizedError
from protocol.feed import ForkProof, Standing, fork_seq, preferred
from protocol.identity import SigningKey, org_id_for
from protocol.membership import CharterChain, CharterPolicy, Offer
from tests.builders import BASE_TS, pdq_item, pdq_value


def key(n: int) -> SigningKey:
    return SigningKey(hashlib.sha256(b"charter key %d" % n).digest())


def member(n: int, *roles: str, keys: tuple[SigningKey, ...] = ()) -> Member:
    first = key(n)
    chain = (
        MemberKey(first.public_key.raw, 1),
        *tuple(MemberKey(k.public_key.raw, 10 * (i + 1)) for i, k in enumerate(keys)),
    )
    return Member(org_id_for(first.public_key), f"org {n}", tuple(sorted(roles)), chain)


def body(
    number: int, members: list[Member], k: int, prev: Charter | None = None, **extra: object
) -> CharterBody:
    return CharterBody(
        "test-net",
        number,
        BASE_TS + number * 1000,
        k,
        tuple(sorted(members, key=lambda m: m.org_id)),
        prev=prev.id if prev else None,
        **extra,  # type: ignore[arg-type]
    )


def signed(b: CharterBody, *signers: int) -> Charter:
    charter = draft(b)
    for n in signers:
        charter = charter.signed_by(key(n))
    return charter


STEWARDS = [member(n, "publisher", "steward") for n in range(3)]
GENESIS = signed(body(1, [*STEWARDS, member(9, "subscriber")], 2), 0, 1)


def test_charters_round_trip_through_their_encoding() -> None:
    assert decode_charter(GENESIS.encode()) == GENESIS
    check_genesis(decode_charter(GENESIS.encode()))


def test_k_minus_one_signatures_are_insufficient() -> None:
    with pytest.raises(CharterError, match="1 valid signature"):
        check_genesis(signed(body(1, STEWARDS, 2), 0))
    v2 = signed(body(2, STEWARDS, 2, GENESIS), 0)
    chain = CharterChain.start(GENESIS)
    with pytest.raises(CharterError, match="2 needed"):
        chain.offer(v2)


def test_one_steward_signing_twice_counts_once() -> None:
    charter = signed(body(1, STEWARDS, 2), 0)
    doubled = replace(charter, signatures=charter.signatures * 2)
    assert len(doubled.valid_signers(charter.body.steward_keys())) == 1
    with pytest.raises(InvalidValueError, match="one per key"):
        decode_charter(wire.encode([doubled.body_bytes, [list(s) for s in doubled.signatures]]))


def test_signatures_that_cannot_count_are_refused_not_carried() -> None:
    chain = CharterChain.start(GENESIS)
    newcomer = member(5, "publisher", "steward")
    # Enough of version 1's stewards, plus version 2's own new steward: that signature
    # cannot count, and would otherwise travel in the adopted version as if it did.
    v2 = signed(body(2, [*STEWARDS, newcomer], 2, GENESIS), 0, 2, 5)
    with pytest.raises(CharterError, match=f"key {key(5).public_key.raw.hex()}.*cannot count"):
        chain.offer(v2)
    outsider = signed(body(2, [*STEWARDS, newcomer], 2, GENESIS), 0, 2, 8)  # not a member
    with pytest.raises(CharterError, match="cannot count"):
        chain.offer(outsider)
    bad = signed(body(2, [*STEWARDS, newcomer], 2, GENESIS), 0, 2)
    (k0, _), rest = bad.signatures[0], bad.signatures[1:]
    forged = replace(bad, signatures=((k0, bytes(64)), *rest))
    with pytest.raises(CharterError, match="does not verify"):
        chain.offer(forged)
    with pytest.raises(CharterError, match="cannot count"):  # a version 1 likewise
        CharterChain.start(signed(body(1, STEWARDS, 2), 0, 1, 9))
    assert chain.offer(bad) is Offer.APPENDED
    assert chain.latest.signatures == bad.signatures


def test_versions_stored_earlier_load_whatever_other_signatures_they_carry() -> None:
    v2 = signed(body(2, STEWARDS, 2, GENESIS), 0, 2, 9)  # adopted before the rule
    assert CharterChain.load([GENESIS, v2]).latest.id == v2.id


def test_a_version_may_take_effect_at_most_a_week_ahead() -> None:
    chain = CharterChain.start(GENESIS)
    v2 = signed(body(2, STEWARDS, 2, GENESIS), 0, 1)
    now = v2.body.effective_ms - MAX_EFFECTIVE_LEAD_MS - 1  # one ms too early
    with pytest.raises(CharterError, match="at most 7 days ahead"):
        chain.offer(v2, now_ms=now)
    year_3025 = replace(body(2, STEWARDS, 2, GENESIS), effective_ms=33_290_000_000_000)
    with pytest.raises(CharterError, match="days from now"):
        chain.offer(signed(year_3025, 0, 1), now_ms=BASE_TS)
    with pytest.raises(CharterError, match="at most 7 days ahead"):
        CharterChain.start(GENESIS, now_ms=GENESIS.body.effective_ms - 8 * 86_400_000)
    assert chain.offer(v2, now_ms=now + 1) is Offer.APPENDED


def test_a_signature_by_the_subscriber_does_not_count() -> None:
    with pytest.raises(CharterError):
        CharterChain.start(GENESIS).offer(signed(body(2, STEWARDS, 2, GENESIS), 0, 9))


def test_rollback_and_gaps_are_refused_and_forks_detected() -> None:
    chain = CharterChain.start(GENESIS)
    v2 = signed(body(2, STEWARDS, 2, GENESIS), 0, 1)
    v3 = signed(body(3, STEWARDS, 2, v2), 1, 2)
    with pytest.raises(CharterError, match="before version 2"):
        chain.offer(v3)
    chain.offer(v2)
    chain.offer(v3)
    assert chain.offer(v2) is Offer.KNOWN
    forged = signed(body(2, STEWARDS[:2], 1, GENESIS), 0)
    with pytest.raises(CharterError, match="not valid"):
        chain.offer(forged)  # a rollback attempt without enough signatures
    rival = signed(replace(body(2, STEWARDS, 2, GENESIS), effective_ms=BASE_TS + 2500), 0, 2)
    with pytest.raises(CharterForkError) as caught:
        chain.offer(rival)
    assert {caught.value.proof.first.id, caught.value.proof.second.id} == {v2.id, rival.id}


def test_members_must_own_their_org_id() -> None:
    stolen = replace(member(1, "publisher"), org_id=member(2, "publisher").org_id)
    with pytest.raises(InvalidValueError):
        draft(body(1, [STEWARDS[0], stolen], 1))


def entry(n: int, seq: int, ts: int, signer: SigningKey | None = None, kind: str = "add"):
    first = key(n)
    b = (
        AddBody((pdq_item(seq),))
        if kind == "add"
        else FeedbackBody("pdq", pdq_value(1), Verdict.TRUE_POSITIVE, None, FeedbackNote.NONE)
    )
    return sign_entry(
        signer or first,
        author=org_id_for(first.public_key),
        seq=seq,
        prev=None if seq == 1 else b"\x00" * 32,
        timestamp_ms=ts,
        body=b,
    )


def test_roles_membership_time_and_rotation_are_enforced() -> None:
    rotated = key(100)
    members = [*STEWARDS, member(9, "subscriber"), member(4, "publisher", keys=(rotated,))]
    v2 = signed(body(2, members, 2, GENESIS), 0, 1)
    chain = CharterChain.start(GENESIS)
    chain.offer(v2)
    policy = CharterPolicy(chain)
    later = v2.body.effective_ms + 1
    policy.authorize(entry(0, 1, later).header)
    with pytest.raises(UnauthorizedError, match="may not publish add"):
        policy.authorize(entry(9, 1, later).header)  # a subscriber's add
    policy.authorize(entry(9, 1, later, kind="feedback").header)
    with pytest.raises(UnauthorizedError, match="was not a member"):
        policy.authorize(entry(4, 1, GENESIS.body.effective_ms + 1).header)  # before joining
    policy.authorize(entry(4, 9, later).header)
    policy.authorize(entry(4, 10, later, signer=rotated).header)
    with pytest.raises(UnauthorizedError, match="is not the key"):
        policy.authorize(entry(4, 10, later).header)  # the retired key after the rotation
    with pytest.raises(UnauthorizedError, match="is not the key"):
        policy.authorize(entry(4, 9, later, signer=rotated).header)  # new key too early


def test_a_first_key_replaced_before_it_signed_keeps_the_org_id() -> None:
    first, replacement = key(4), key(101)
    keys = (MemberKey(first.public_key.raw, 1), MemberKey(replacement.public_key.raw, 1))
    replaced = Member(org_id_for(first.public_key), "org 4", ("publisher",), keys)
    v2 = signed(body(2, [*STEWARDS, replaced], 2, GENESIS), 0, 1)
    assert decode_charter(v2.encode()).body.member(replaced.org_id) == replaced
    chain = CharterChain.start(GENESIS)
    chain.offer(v2)
    policy = CharterPolicy(chain)
    later = v2.body.effective_ms + 1
    assert replaced.key_at(1) == replaced.current_key == replacement.public_key.raw
    policy.authorize(entry(4, 1, later, signer=replacement).header)
    with pytest.raises(UnauthorizedError, match="is not the key"):
        policy.authorize(entry(4, 1, later).header)  # the replaced key signs nothing
    # A replaced rotation works the same way later in a feed; keys never go backwards.
    third = MemberKey(key(102).public_key.raw, 5)
    again = replace(replaced, keys=(*keys, third, MemberKey(key(103).public_key.raw, 5)))
    assert again.key_at(4) == replacement.public_key.raw
    assert again.key_at(5) == key(103).public_key.raw
    draft(body(1, [*STEWARDS, again], 1))
    backwards = replace(replaced, keys=(keys[0], third, MemberKey(key(103).public_key.raw, 4)))
    with pytest.raises(InvalidValueError, match="in from_seq order"):
        draft(body(1, [*STEWARDS, backwards], 1))
    not_first = replace(replaced, keys=(MemberKey(first.public_key.raw, 2),))
    with pytest.raises(InvalidValueError, match="start at seq 1"):
        draft(body(1, [*STEWARDS, not_first], 1))


def test_removal_keeps_earlier_entries_and_takedowns_void() -> None:
    v2 = signed(
        body(
            2,
            [*STEWARDS[:2], member(9, "subscriber")],
            2,
            GENESIS,
            takedowns=(Takedown(STEWARDS[2].org_id, 5, 6),),
        ),
        0,
        1,
    )
    chain = CharterChain.start(GENESIS)
    chain.offer(v2)
    policy = CharterPolicy(chain)
    before = entry(2, 3, v2.body.effective_ms - 1)
    policy.authorize(before.header)  # signed while still a member
    with pytest.raises(UnauthorizedError, match="was not a member"):
        policy.authorize(entry(2, 4, v2.body.effective_ms).header)
    assert policy.is_void(entry(2, 5, 0).header)
    assert policy.is_void(entry(2, 6, 0).header)
    assert not policy.is_void(entry(2, 7, 0).header)


@st.composite
def histories(draw: st.DrawFn) -> tuple[list[Charter], list[bool]]:
    """Random chains of versions, each signed by a random subset of the previous stewards."""
    versions = [GENESIS]
    valid = [True]
    for number in range(2, draw(st.integers(2, 6)) + 1):
        prev = versions[-1]
        stewards = [m for m in prev.body.members if "steward" in m.roles]
        k = prev.body.threshold
        chosen = draw(st.lists(st.sampled_from(stewards), unique=True, max_size=len(stewards)))
        members = [*STEWARDS[: draw(st.integers(1, 3))], member(9, "subscriber")]
        new_k = draw(st.integers(1, sum("steward" in m.roles for m in members)))
        b = body(number, members, new_k, prev)
        charter = draft(b)
        for m in chosen:
            charter = charter.signed_by(
                key(next(i for i in range(10) if member(i).org_id == m.org_id))
            )
        versions.append(charter)
        valid.append(len(chosen) >= k)
        if len(chosen) < k:
            break
    return versions, valid


@given(histories())
@settings(max_examples=40, deadline=None)
def test_a_chain_accepts_exactly_the_validly_signed_prefix(
    history: tuple[list[Charter], list[bool]],
) -> None:
    versions, valid = history
    chain = CharterChain.start(versions[0])
    for charter, ok in zip(versions[1:], valid[1:], strict=True):
        if ok:
            assert chain.offer(charter) is Offer.APPENDED
        else:
            with pytest.raises(CharterError):
                chain.offer(charter)
    assert chain.latest.number == sum(valid)
    rebuilt = CharterChain.load(chain.versions)
    assert rebuilt.latest.id == chain.latest.id


def test_a_stranger_s_version_1_is_refused_not_reported_as_a_fork() -> None:
    chain = CharterChain.start(GENESIS)
    stranger = signed(body(1, [member(7, "publisher", "steward")], 1), 7)
    with pytest.raises(CharterError, match="not valid") as caught:
        chain.offer(stranger)
    assert not isinstance(caught.value, CharterForkError)
    rival = signed(replace(GENESIS.body, effective_ms=BASE_TS + 1), 0, 2)
    with pytest.raises(CharterForkError):
        chain.offer(rival)


def chain_with(*members_and_takedowns: Member | Takedown) -> CharterPolicy:
    """A policy whose latest version (2) lists these members and takedowns besides GENESIS'."""
    extra = [m for m in members_and_takedowns if isinstance(m, Member)]
    takedowns = tuple(t for t in members_and_takedowns if isinstance(t, Takedown))
    members = {m.org_id: m for m in [*GENESIS.body.members, *extra]}
    v2 = signed(body(2, list(members.values()), 2, GENESIS, takedowns=takedowns), 0, 1)
    chain = CharterChain.start(GENESIS)
    chain.offer(v2)
    return CharterPolicy(chain)


def rival_pair(n: int, seq: int, signer: SigningKey | None = None) -> ForkProof:
    later = GENESIS.body.effective_ms + 10_000
    one = entry(n, seq, later, signer)
    other = entry(n, seq, later + 1, signer)
    return ForkProof.of(one, other)


def test_a_fork_proof_counts_unless_a_takedown_resolves_it_or_a_rotation_retires_it() -> None:
    org = STEWARDS[2].org_id
    plain = chain_with()
    proof = rival_pair(2, 5)
    proof.verify(plain)
    assert proof.standing(plain) is Standing.COUNTS
    assert fork_seq([proof], plain) == 5
    taken_down = chain_with(Takedown(org, 5, 7))
    assert proof.standing(taken_down) is Standing.RESOLVED
    assert fork_seq([proof], taken_down) is None
    assert rival_pair(2, 8).standing(taken_down) is Standing.COUNTS
    # A rotation from seq 10: the old key's proofs below 10 speak for nothing any more, and
    # it makes no valid proof from 10 on.
    new_key = key(200)
    rotated = chain_with(member(2, "publisher", "steward", keys=(new_key,)))
    assert proof.standing(rotated) is Standing.RETIRED
    with pytest.raises(UnauthorizedError):
        rival_pair(2, 10).verify(rotated)
    after = rival_pair(2, 10, new_key)
    after.verify(rotated)
    assert after.standing(rotated) is Standing.COUNTS
    assert preferred(proof, after, rotated) is after  # counting beats a lower seq
    assert preferred(rival_pair(2, 4), proof, plain).seq == 4


def test_takedowns_cover_ranges_and_say_where_a_feed_goes_on() -> None:
    org = STEWARDS[2].org_id
    policy = chain_with(Takedown(org, 3, 5), Takedown(org, 6, 8), Takedown(org, 20, None))
    assert policy.covered(org, 3, 8)
    assert not policy.covered(org, 2, 8)
    assert not policy.covered(org, 8, 9)
    assert policy.covered(org, 25, 2**64 - 1)
    assert policy.next_open_seq(org, 4) == 9
    assert policy.next_open_seq(org, 9) == 9
    assert policy.next_open_seq(org, 20) is None
    assert not policy.covered(STEWARDS[1].org_id, 3, 3)
