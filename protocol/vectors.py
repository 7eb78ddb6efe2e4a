"""Deterministic test vectors for docs/protocol.md.

Everything here is fixed: the key seeds, timestamps, hash values and nonce, so the output is
the same on every machine and in every implementation (Ed25519 signatures are deterministic).
``docs/gen_vectors.py`` writes ``render()`` into the specification — the inputs as values,
then the bytes — and a test checks that the specification still carries exactly this text.
"""

from __future__ import annotations

from dataclasses import dataclass

from protocol import wire
from protocol.bank import BankState, item_digest
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
from protocol.httpsig import request_signature_base, sign_request
from protocol.identity import SigningKey, org_id_for
from protocol.sync import Range, encode_ranges

SEED = bytes(range(32))
T0 = 1_700_000_000_000  # 2023-11-14T22:13:20Z
PDQ_VALUE = bytes.fromhex("f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22")
MD5_VALUE = bytes.fromhex("d41d8cd98f00b204e9800998ecf8427e")
SHA256_VALUE = bytes.fromhex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
DIGEST_AT = T0 + 5_000
RECIPIENT_SEED = bytes(range(32, 64))
REQUEST_METHOD = "POST"
REQUEST_PATH = "/v1/peer/entries"
REQUEST_NONCE = "hashbank-vector-nonce"


@dataclass(frozen=True)
class Vectors:
    """The vector set: one key, three entries of one feed, an erasing revoke, a fork proof and
    a bank digest."""

    key: SigningKey
    add: Entry
    revoke: Entry
    feedback: Entry
    erase: Entry
    rival: Entry
    fork: ForkProof
    digest_after_add: bytes
    digest_after_revoke: bytes
    charter: Charter
    request: Request


@dataclass(frozen=True)
class Request:
    """A signed node-to-node request (§9.5): what was signed, and the headers."""

    recipient: SigningKey
    body: bytes
    created: int
    headers: dict[str, str]


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
    after_add = bank.digest(DIGEST_AT)
    bank.apply(revoke)
    return Vectors(
        key,
        add,
        revoke,
        feedback,
        _erasing(key, add, feedback),
        rival,
        ForkProof.of(feedback, rival),
        after_add,
        bank.digest(DIGEST_AT),
        _genesis(key),
        _request(key),
    )


def _erasing(key: SigningKey, add: Entry, feedback: Entry) -> Entry:
    """The second form of the revoke body (§4.4), on its own: the bank vectors do not use it."""
    return sign_entry(
        key,
        author=add.author,
        seq=4,
        prev=feedback.id,
        timestamp_ms=T0 + 3_000,
        body=RevokeBody((RevokeTarget(add.id, None),), RevokeReason.VICTIM_REQUEST, erase=True),
    )


def _request(key: SigningKey) -> Request:
    """A range request for the vector feed, signed by its key for the recipient's node."""
    recipient = SigningKey(RECIPIENT_SEED)
    body = encode_ranges([Range(org_id_for(key.public_key), 1, 3)])
    created = T0 // 1000
    headers = sign_request(
        key,
        recipient=recipient.public_key,
        method=REQUEST_METHOD,
        path=REQUEST_PATH,
        body=body,
        now=created,
        nonce=REQUEST_NONCE,
    )
    return Request(recipient, body, created, headers)


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


def _text(value: str) -> str:
    return '"' + value + '"'


def _hex(value: bytes | None) -> str:
    return "nil" if value is None else value.hex()


def _opt(value: int | None) -> str:
    return "nil" if value is None else str(value)


def _header_line(entry: Entry, names: dict[bytes, str]) -> str:
    h = entry.header
    prev = "nil" if h.prev is None else f"{names[h.prev]} entry id"
    return (
        f"seq {h.seq}, prev {prev}, timestamp_ms {h.timestamp_ms}, "
        f"kind {int(h.kind)} ({h.kind.name.lower()})"
    )


def _body_lines(entry: Entry, names: dict[bytes, str]) -> list[str]:
    body = entry.body
    if isinstance(body, AddBody):
        return [
            f"  {f'items[{i}]':<13}signal_type {_text(item.signal_type)}, "
            f"value {item.value.hex()}, "
            f"labels [{', '.join(_text(label) for label in item.labels)}], "
            f"case_ref {_hex(item.case_ref)}"
            + (f" ({_text(item.case_ref.decode('ascii'))} in ASCII)" if item.case_ref else "")
            + f", expires {_opt(item.expires_ms)}"
            for i, item in enumerate(body.items)
        ]
    if isinstance(body, RevokeBody):
        lines = [
            f"  {f'targets[{i}]':<13}entry_id = {names[t.entry_id]} entry id, items "
            + ("nil" if t.items is None else f"[{', '.join(map(str, t.items))}]")
            for i, t in enumerate(body.targets)
        ]
        lines.append(f"  {'reason':<13}{int(body.reason)} ({body.reason.name.lower()})")
        return [*lines, f"  {'erase':<13}true"] if body.erase else lines
    assert isinstance(body, FeedbackBody)
    target = "nil" if body.entry_id is None else f"{names[body.entry_id]} entry id"
    return [
        f"  {'body':<13}signal_type {_text(body.signal_type)}, value {body.value.hex()}, "
        f"verdict {int(body.verdict)} ({body.verdict.name.lower()}), entry_id = {target}, "
        f"note {int(body.note)} ({body.note.name.lower()})"
    ]


def _input_lines(v: Vectors) -> list[str]:
    names = {v.add.id: "the add", v.revoke.id: "the revoke", v.feedback.id: "the feedback"}
    lines = [
        "### inputs",
        "",
        "Every entry has version 1, author = the org id and key = the public key (both under",
        '"keys" below, derived from the seed). The rival entry appears only in the fork proof;',
        "the erasing revoke is not part of the feed the bank digests and the proof use.",
        "The request is signed by the same key, for the node whose key has the recipient seed.",
        "",
        "```",
        f"seed           {SEED.hex()}",
        f"T0             {T0} (ms since the Unix epoch)",
        "",
    ]
    for name, entry in (
        ("add", v.add),
        ("revoke", v.revoke),
        ("feedback", v.feedback),
        ("erase", v.erase),
        ("rival", v.rival),
    ):
        lines += [f"{name:<8}       {_header_line(entry, names)}", *_body_lines(entry, names)]
    bank = BankState()
    bank.apply(v.add)
    digests = [
        f"  {f'd(items[{a.index}])':<13}"
        + item_digest(a.item.signal_type, a.item.value, a.author, a.entry_id, a.index)
        .to_bytes(32, "big")
        .hex()
        for a in sorted(bank.active(DIGEST_AT), key=lambda a: a.index)
    ]
    after_revoke = BankState()
    for entry in (v.add, v.revoke):
        after_revoke.apply(entry)
    body = v.charter.body
    member = body.members[0]
    lines += [
        "",
        f"bank digest    now = {DIGEST_AT}; after add: {len(digests)} active items; after add and"
        f" revoke: {sum(1 for _ in after_revoke.active(DIGEST_AT))} (items[1] withdrawn)",
        *digests,
        "",
        f"charter        format 1, network {_text(body.network)}, number {body.number}, "
        f"effective_ms {body.effective_ms}, threshold {body.threshold}, "
        f"prev {_hex(body.prev)}, takedowns []",
        f"  {'members[0]':<13}org_id = the org id, name {_text(member.name)}, "
        f"roles [{', '.join(_text(r) for r in member.roles)}], "
        f"keys [[public key, from_seq {member.keys[0].from_seq}]]",
        f"  {'signatures':<13}{len(v.charter.signatures)}, by the public key",
        "",
        f"recipient seed {RECIPIENT_SEED.hex()}",
        f"request        {REQUEST_METHOD} {REQUEST_PATH}, created {v.request.created}, "
        f"nonce {_text(REQUEST_NONCE)}",
        f"  {'body':<13}range request [[the org id, 1, 3]]",
        "```",
        "",
    ]
    return lines


def _request_lines(v: Vectors) -> list[str]:
    r = v.request
    base = request_signature_base(method=REQUEST_METHOD, path=REQUEST_PATH, headers=r.headers)
    return [
        f"### request signature ({REQUEST_METHOD} {REQUEST_PATH})",
        "",
        "```",
        f"recipient  {r.recipient.public_key}",
        f"body       {r.body.hex()}",
        "```",
        "",
        "Headers:",
        "",
        "```",
        *(f"{name}: {value}" for name, value in r.headers.items()),
        "```",
        "",
        "Signature base (no trailing newline):",
        "",
        "```",
        *base.decode("ascii").split("\n"),
        "```",
        "",
    ]


def render() -> str:
    """The vectors as the Markdown block that docs/protocol.md carries."""
    v = build()
    lines = [
        *_input_lines(v),
        "### keys",
        "",
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
    lines += _entry_lines("erasing revoke", v.erase)
    lines += [
        "### fork proof (two entries at seq 3)",
        "",
        "```",
        f"proof      {v.fork.encode().hex()}",
        "```",
        "",
        f"### bank digest at {DIGEST_AT} ms",
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
        "",
        *_request_lines(v),
    ]
    return "\n".join(lines).rstrip("\n") + "\n"


if __name__ == "__main__":
    print(render(), end="")
