"""Builders for real signed charter versions, shared by node and integration tests."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from protocol.charter import Charter, CharterBody, Member, MemberKey, Takedown, draft
from protocol.identity import OrgId, SigningKey, org_id_for
from tests.builders import BASE_TS

NETWORK = "test-network"


def member(
    key: SigningKey,
    name: str,
    *roles: str,
    org: bytes | None = None,
    later: Sequence[tuple[SigningKey, int]] = (),
) -> Member:
    """A member whose first key is ``key`` (and ``later`` keys from their seqs on)."""
    keys = (MemberKey(key.public_key.raw, 1), *(MemberKey(k.public_key.raw, s) for k, s in later))
    return Member(
        OrgId(org or org_id_for(key.public_key)), name, tuple(sorted(roles or ("publisher",))), keys
    )


def genesis(members: Sequence[Member], *signers: SigningKey, threshold: int = 1) -> Charter:
    """Version 1 of ``NETWORK``, signed by ``signers`` (stewards among ``members``)."""
    body = CharterBody(
        NETWORK, 1, BASE_TS - 10**9, threshold, tuple(sorted(members, key=lambda m: m.org_id))
    )
    return sign(draft(body), *signers)


def successor(
    previous: Charter,
    *signers: SigningKey,
    members: Sequence[Member] | None = None,
    takedowns: Sequence[Takedown] | None = None,
    effective_ms: int | None = None,
) -> Charter:
    """The version after ``previous``: its members and takedowns unless given, signed."""
    before = previous.body
    body = replace(
        before,
        number=before.number + 1,
        prev=previous.id,
        effective_ms=before.effective_ms if effective_ms is None else effective_ms,
        members=before.members
        if members is None
        else tuple(sorted(members, key=lambda m: m.org_id)),
        takedowns=before.takedowns if takedowns is None else tuple(takedowns),
    )
    return sign(draft(body), *signers)


def sign(charter: Charter, *signers: SigningKey) -> Charter:
    for key in signers:
        charter = charter.signed_by(key)
    return charter
