"""Deterministic test vectors for docs/protocol.md.

Everything here is fixed: the key seed, timestamps and hash values, so the output is the same
on every machine and in every implementation. ``docs/gen_vectors.py`` writes ``render()`` into
the specification; a test checks that the specification still carries exactly this text.
"""

from __future__ import annotations

from dataclasses import dataclass

from protocol import wire
from protocol.bank import BankState
from protocol.body import (
    AddBody,
    FeedbackBody,
    FeedbackNote,
    HashItem,
    RevokeBody,
    RevokeReason,
    RevokeTarget,
    Verdict,
)
from protocol.charter import Charter, CharterBody, Member, MemberKey, draft
from protocol.entry import Entry, sign_entry
from protocol.feed import ForkProof
from protocol.identity import SigningKey, org_id_for

SEED = bytes(range(32))
T0 = 1_700_000_000_000  # 2023-11-14T22:13:20Z
PDQ_VALUE = bytes.fromhex("f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22")
MD5_VALUE = bytes.fromhex("d41d8cd98f00b204e9800998ecf8427e")
SHA256_VALUE = bytes.fromhex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")


@dataclass(frozen=True)
class Vectors:
    """The vector set: one key, three entries of one feed, a fork proof and a bank digest."""

    key: SigningKey
    add: Entry
    revoke: Entry
    feedback: Entry
    fork: ForkProof
    digest_after_add: bytes
    digest_after_revoke: bytes
    charter: Charter


def build() -> Vectors:
    """Build the vectors from the fixed inputs."""
    key = SigningKey(SEED)
    org = org_id_for(key.public_key)
    add = sign_entry(
        key,
        author=org,
        seq=1,
        prev=None,
        timestamp_ms=T0,
        body=AddBody(
            (
                HashItem("pdq", PDQ_VALUE, ("ncii",), b"case-0001", None),
                HashItem("md5", MD5_VALUE, (), None, T0 + 86_400_000),
                HashItem("sha256", SHA256_VALUE, ("adult", "ncii"), None, None),
            )
        ),
    )
    revoke = sign_entry(
        key,
        author=org,
        seq=2,
        prev=add.id,
        timestamp_ms=T0 + 1_000,
        body=RevokeBody((RevokeTarget(add.id, (1,)),), RevokeReason.VICTIM_REQUEST),
    )
    feedback = sign_entry(
        key,
        author=org,
        seq=3,
        prev=revoke.id,
        timestamp_ms=T0 + 2_000,
        body=FeedbackBody("pdq", PDQ_VALUE, Verdict.TRUE_POSITIVE, add.id, FeedbackNote.ACTIONED),
    )
    rival = sign_entry(
        key,
        author=org,
        seq=3,
        prev=revoke.id,
        timestamp_ms=T0 + 2_000,
        body=FeedbackBody("pdq", PDQ_VALUE, Verdict.DISPUTED, add.id, FeedbackNote.NONE),
    )
    bank = BankState()
    bank.apply(add)
    after_add = bank.digest(T0 + 5_000)
    bank.apply(revoke)
    return Vectors(
        key,
        add,
        revoke,
        feedback,
        ForkProof.of(feedback, rival),
        after_add,
        bank.digest(T0 + 5_000),
        _genesis(key),
    )


def _genesis(key: SigningKey) -> Charter:
    """Version 1 of a one-member network whose only member is also its only steward."""
    member = Member(
        org_id_for(key.public_key),
        "Vector Helpline",
        ("publisher", "steward"),
        (MemberKey(key.public_key.raw, 1),),
    )
    return draft(CharterBody("vector-network", 1, T0, 1, (member,))).signed_by(key)


def _entry_lines(name: str, entry: Entry) -> list[str]:
    body = wire.decode(entry.raw, max_size=len(entry.raw))[2]
    return [
        f"### {name} entry (seq {entry.seq})",
        "",
        "```",
        f"header     {entry.header_bytes.hex()}",
        f"signature  {entry.signature.hex()}",
        f"body       {body.hex()}",
        f"entry      {entry.raw.hex()}",
        f"entry id   {entry.id.hex()}",
        "```",
        "",
    ]


def render() -> str:
    """The vectors as the Markdown block that docs/protocol.md carries."""
    v = build()
    lines = [
        "```",
        f"seed       {SEED.hex()}",
        f"public key {v.key.public_key}",
        f"org id     {org_id_for(v.key.public_key).hex()}",
        "```",
        "",
    ]
    lines += _entry_lines("add", v.add)
    lines += _entry_lines("revoke", v.revoke)
    lines += _entry_lines("feedback", v.feedback)
    lines += [
        "### fork proof (two entries at seq 3)",
        "",
        "```",
        f"proof      {v.fork.encode().hex()}",
        "```",
        "",
        f"### bank digest at {T0 + 5_000} ms",
        "",
        "```",
        f"after add            {v.digest_after_add.hex()}",
        f"after add + revoke   {v.digest_after_revoke.hex()}",
        "```",
        "",
        "### charter version 1 (one member, steward, threshold 1)",
        "",
        "```",
        f"body       {v.charter.body_bytes.hex()}",
        f"charter    {v.charter.encode().hex()}",
        f"charter id {v.charter.id.hex()}",
        "```",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render(), end="")
