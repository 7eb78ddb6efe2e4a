"""What a refused member is told: which charter version removed it, and when, as dates."""

from __future__ import annotations

import re

import pytest

from protocol.errors import UnauthorizedError
from protocol.membership import CharterChain, CharterPolicy, utc
from tests.protocol.test_charter import GENESIS, STEWARDS, body, entry, member, signed


def test_a_removed_member_is_told_which_version_removed_it_and_when() -> None:
    v2 = signed(body(2, [*STEWARDS[:2], member(9, "subscriber")], 2, GENESIS), 0, 1)
    chain = CharterChain.start(GENESIS)
    chain.offer(v2)
    late = entry(2, 4, v2.body.effective_ms + 5000)
    with pytest.raises(UnauthorizedError) as caught:
        CharterPolicy(chain).authorize(late.header)
    message = caught.value.message
    signed_at = utc(late.header.timestamp_ms)
    assert f"was not a member when entry seq 4 was signed ({signed_at})" in message
    assert f"charter version 2, in effect from {utc(v2.body.effective_ms)}, removed it" in message
    assert not re.search(r"\b\d{13}\b", message)  # dates, not epoch milliseconds


def test_the_version_that_removed_a_member_is_found() -> None:
    v2 = signed(body(2, [*STEWARDS[:2], member(9, "subscriber")], 2, GENESIS), 0, 1)
    chain = CharterChain.start(GENESIS)
    chain.offer(v2)
    policy = CharterPolicy(chain)
    [removed] = [m for m in GENESIS.body.members if v2.body.member(m.org_id) is None]
    assert policy.removal(removed.org_id) is v2
    assert policy.removal(STEWARDS[0].org_id) is None  # still a member
    assert policy.removal(bytes(32)) is None  # never one


def test_a_member_signing_before_it_joined_is_told_when_it_joins() -> None:
    v2 = signed(body(2, [*STEWARDS, member(7, "publisher")], 2, GENESIS), 0, 1)
    chain = CharterChain.start(GENESIS)
    chain.offer(v2)
    early = entry(7, 1, GENESIS.body.effective_ms + 1)
    with pytest.raises(UnauthorizedError, match="it joins in charter version 2, in effect from"):
        CharterPolicy(chain).authorize(early.header)
    stranger = entry(42, 1, v2.body.effective_ms + 1)
    with pytest.raises(UnauthorizedError, match="no charter version lists it"):
        CharterPolicy(chain).authorize(stranger.header)


def test_utc_is_iso_8601_to_the_second() -> None:
    assert utc(1_767_225_600_123) == "2026-01-01T00:00:00Z"
