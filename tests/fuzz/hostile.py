"""Hostile msgpack for the decoder fuzzers: raw writers, a token lexer, mutations and seeds.

Shared by the Hypothesis suites (``tests/protocol/test_fuzz_decoders.py``,
``tests/integration/test_fuzz_peer.py``) and the atheris target
(``tests/fuzz/atheris_decoders.py``). Every encoding here is written byte by byte, never through
``protocol.wire``, so the fuzzers can produce what the code under test would never write itself:
non-minimal integers and lengths, maps, floats, extension types, lying length fields.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import struct
import tempfile
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import msgpack

from protocol.body import (
    AddBody,
    Body,
    FeedbackBody,
    FeedbackNote,
    HashItem,
    RevokeBody,
    RevokeReason,
    RevokeTarget,
    Verdict,
)
from protocol.charter import Charter, CharterBody, Member, MemberKey, Takedown, draft
from protocol.entry import Entry, sign_entry
from protocol.feed import ForkProof
from protocol.identity import Context, OrgId, SigningKey, org_id_for
from protocol.sync import Head, Range, encode_entries, encode_heads, encode_ranges

BASE_TS = 1_760_000_000_000
U32 = 0xFFFFFFFF

# --- raw writers ----------------------------------------------------------------------------


def int_forms(n: int) -> list[bytes]:
    """Every msgpack encoding of the integer ``n``, the canonical one first."""
    forms: list[bytes] = []
    if 0 <= n <= 0x7F or -32 <= n < 0:
        forms.append(struct.pack(">b" if n < 0 else ">B", n))
    for code, fmt in (
        (0xCC, ">B"),
        (0xCD, ">H"),
        (0xCE, ">I"),
        (0xCF, ">Q"),
        (0xD0, ">b"),
        (0xD1, ">h"),
        (0xD2, ">i"),
        (0xD3, ">q"),
    ):
        try:
            forms.append(bytes([code]) + struct.pack(fmt, n))
        except struct.error:
            continue
    canonical: bytes = msgpack.packb(n)
    return [canonical, *(f for f in forms if f != canonical)]


def float_forms(x: float) -> list[bytes]:
    """The float32 (when it fits) and float64 encodings of ``x``."""
    forms = [b"\xcb" + struct.pack(">d", x)]
    with contextlib.suppress(OverflowError):
        forms.append(b"\xca" + struct.pack(">f", x))
    return forms


def _sized(codes: tuple[int, int, int, int], fix_mask: int, n: int, width: int) -> bytes:
    """A header from ``codes`` = (fix, 8-bit, 16-bit, 32-bit); ``n`` is cut to the width."""
    if width == 0 and codes[0] >= 0:
        return bytes([codes[0] | (n & fix_mask)])
    if width <= 1 and codes[1] >= 0:
        return bytes([codes[1], n & 0xFF])
    if width <= 2:
        return bytes([codes[2]]) + struct.pack(">H", n & 0xFFFF)
    return bytes([codes[3]]) + struct.pack(">I", n & U32)


STR = (0xA0, 0xD9, 0xDA, 0xDB)
BIN = (-1, 0xC4, 0xC5, 0xC6)
ARRAY = (0x90, -1, 0xDC, 0xDD)
MAP = (0x80, -1, 0xDE, 0xDF)


def str_header(n: int, width: int) -> bytes:
    return _sized(STR, 0x1F, n, width)


def bin_header(n: int, width: int) -> bytes:
    return _sized(BIN, 0, n, width)


def array_header(n: int, width: int) -> bytes:
    return _sized(ARRAY, 0x0F, n, width)


def map_header(n: int, width: int) -> bytes:
    return _sized(MAP, 0x0F, n, width)


def ext(code: int, data: bytes, width: int) -> bytes:
    """An extension value; ``width`` 0 picks a fixext when the size allows one."""
    fixed = {1: 0xD4, 2: 0xD5, 4: 0xD6, 8: 0xD7, 16: 0xD8}
    type_byte = struct.pack(">b", code)
    if width == 0 and len(data) in fixed:
        return bytes([fixed[len(data)]]) + type_byte + data
    return _sized((-1, 0xC7, 0xC8, 0xC9), 0, len(data), max(width, 1)) + type_byte + data


def _min_width(n: int, fix_limit: int) -> int:
    if n <= fix_limit:
        return 0
    if n <= 0xFF:
        return 1
    return 2 if n <= 0xFFFF else 4


# Tokens no canonical encoder writes, or that lie about what follows.
HOSTILE_TOKENS: tuple[bytes, ...] = (
    b"\xc1",  # never used
    b"\xca\x00\x00\x00\x00",  # float32 0.0
    b"\xcb" + struct.pack(">d", 1.5),
    b"\xcb" + struct.pack(">d", float("nan")),
    b"\xd4\x01\x00",  # fixext 1
    b"\xd6\xff\x00\x00\x00\x01",  # timestamp 32
    b"\xd7\xff" + b"\xff" * 8,  # timestamp 64, nanoseconds out of range
    b"\xc7\x0c\xff" + b"\x00" * 4 + b"\x7f" + b"\xff" * 7,  # timestamp 96, far future
    b"\xc7\x00\x05",  # ext 8, empty
    b"\x80",  # empty map
    b"\x81\xc0\xc0",  # {nil: nil}
    b"\x81\x90\xc0",  # {[]: nil}: an unhashable key
    b"\xdf\xff\xff\xff\xff",  # map of 4 G pairs
    b"\xdd\xff\xff\xff\xff",  # array of 4 G elements
    b"\xdc\xff\xff",
    b"\xc6\xff\xff\xff\xff",  # bin of 4 GB
    b"\xdb\xff\xff\xff\xff",  # str of 4 GB
    b"\xc9\xff\xff\xff\xff\x00",  # ext of 4 GB
    b"\xcf" + b"\xff" * 8,  # 2**64 - 1
    b"\xd3\x80" + b"\x00" * 7,  # -2**63
    b"\xd3" + b"\xff" * 8,  # -1, non-minimal
    b"\xa1\xff",  # invalid UTF-8
    b"\xa3\xed\xa0\x80",  # an encoded surrogate
    b"\x91\x91\x91\x91\x91\x91\x91\x91\xc0",
    b"\xc3",
    b"\xc2",
)

# --- re-encoding ------------------------------------------------------------------------------


def reencode(value: Any, rnd: random.Random, rate: float, *, same_value: bool = False) -> bytes:
    """Write a decoded ``value`` again, choosing another encoding at each node with ``rate``.

    With ``same_value`` only widths change (non-minimal integers and lengths), so the bytes
    still decode to the very same value; otherwise types change too (maps for arrays, floats
    for integers, str for bin and back, extension types), as a confused encoder would write.
    """
    out = bytearray()
    _emit(value, rnd, rate, same_value, out)
    return bytes(out)


def _emit(value: Any, rnd: random.Random, rate: float, same: bool, out: bytearray) -> None:
    odd = rnd.random() < rate
    if value is None or isinstance(value, bool):
        if odd and not same:
            out += rnd.choice((b"\xc0", b"\xc2", b"\xc3", b"\x00", b"\xc1", b"\x90"))
        else:
            out += msgpack.packb(value)
    elif isinstance(value, int):
        forms = int_forms(value)
        if odd and not same and rnd.random() < 0.4:
            out += rnd.choice(float_forms(float(value)))
        elif odd and len(forms) > 1:
            out += rnd.choice(forms[1:])
        else:
            out += forms[0]
    elif isinstance(value, float):
        out += rnd.choice(float_forms(value))
    elif isinstance(value, bytes | str):
        raw = value.encode("utf-8", "surrogatepass") if isinstance(value, str) else value
        writer = str_header if isinstance(value, str) else bin_header
        width = _min_width(len(raw), 31 if isinstance(value, str) else -1)
        if odd and not same:
            choice = rnd.randrange(3)
            if choice == 0:  # the other string type
                writer = bin_header if isinstance(value, str) else str_header
            elif choice == 1:
                out += ext(rnd.randrange(-128, 128), raw, rnd.choice((0, 1, 2, 4)))
                return
        if odd:
            width = rnd.choice([w for w in (0, 1, 2, 4) if w >= width] or [4])
        out += writer(len(raw), width) + raw
    elif isinstance(value, list | tuple):
        n = len(value)
        width = _min_width(n, 15)
        if odd and not same and rnd.random() < 0.5:
            # A map: of index -> element, or of consecutive elements as key/value pairs.
            if rnd.random() < 0.5:
                out += map_header(n, width)
                for i, item in enumerate(value):
                    _emit(i, rnd, rate, same, out)
                    _emit(item, rnd, rate, same, out)
            else:
                items = [*value, None] if n % 2 else list(value)
                out += map_header(len(items) // 2, _min_width(len(items) // 2, 15))
                for item in items:
                    _emit(item, rnd, rate, same, out)
            return
        if odd:
            width = rnd.choice([w for w in (0, 2, 4) if w >= width] or [4])
        out += array_header(n, width)
        for item in value:
            _emit(item, rnd, rate, same, out)
    else:
        raise TypeError(f"cannot re-encode {type(value).__name__}")


# --- lexing -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Token:
    """One msgpack token: its type byte, length field (if any) and where it ends."""

    offset: int
    code: int
    size_at: int  # offset of the length field; == offset when the length is in the type byte
    size_len: int  # bytes of the length field (0 for fix types, -1 when there is no length)
    length: int  # element count (containers) or payload bytes (str, bin, ext)
    end: int  # offset after the header and payload (containers: after the header)

    @property
    def has_length(self) -> bool:
        return self.size_len >= 0


_SCALAR_SIZES = {0xC0: 0, 0xC2: 0, 0xC3: 0, 0xCA: 4, 0xCB: 8, 0xCC: 1, 0xCD: 2, 0xCE: 4}
_SCALAR_SIZES |= {0xCF: 8, 0xD0: 1, 0xD1: 2, 0xD2: 4, 0xD3: 8, 0xC1: 0}
_LENGTH_FIELDS = {
    0xC4: (1, 0),
    0xC5: (2, 0),
    0xC6: (4, 0),
    0xC7: (1, 1),
    0xC8: (2, 1),
    0xC9: (4, 1),
    0xD9: (1, 0),
    0xDA: (2, 0),
    0xDB: (4, 0),
    0xDC: (2, -1),
    0xDD: (4, -1),
    0xDE: (2, -1),
    0xDF: (4, -1),
}
_FIXEXT = {0xD4: 1, 0xD5: 2, 0xD6: 4, 0xD7: 8, 0xD8: 16}


def tokens(data: bytes | bytearray) -> list[Token]:
    """Lex ``data`` as consecutive msgpack tokens, stopping where the bytes stop making sense.

    msgpack is prefix-coded, so tokens can be found without tracking nesting; str, bin and ext
    payloads are skipped (the fuzzer mutates nested encodings by re-wrapping them instead).
    """
    out: list[Token] = []
    i = 0
    while i < len(data):
        code = data[i]
        if code <= 0x7F or code >= 0xE0:
            out.append(Token(i, code, i, -1, 0, i + 1))
        elif code <= 0x9F:  # fixmap, fixarray
            out.append(Token(i, code, i, 0, code & 0x0F, i + 1))
        elif code <= 0xBF:  # fixstr
            length = code & 0x1F
            out.append(Token(i, code, i, 0, length, i + 1 + length))
        elif code in _SCALAR_SIZES:
            out.append(Token(i, code, i, -1, 0, i + 1 + _SCALAR_SIZES[code]))
        elif code in _FIXEXT:
            out.append(Token(i, code, i, 0, _FIXEXT[code], i + 2 + _FIXEXT[code]))
        else:
            size_len, extra = _LENGTH_FIELDS[code]
            if i + 1 + size_len > len(data):
                break
            length = int.from_bytes(data[i + 1 : i + 1 + size_len], "big")
            header_end = i + 1 + size_len + max(extra, 0)
            end = header_end if extra < 0 else header_end + length
            out.append(Token(i, code, i + 1, size_len, length, end))
        if out[-1].end > len(data):
            break
        i = out[-1].end
    return out


# --- mutations --------------------------------------------------------------------------------

Mutation = tuple[int, int, int]  # (operation, a, b): a and b pick positions and values


def _flip(buf: bytearray, a: int, b: int) -> None:
    if buf:
        buf[a % len(buf)] ^= 1 << (b % 8)


def _set(buf: bytearray, a: int, b: int) -> None:
    if buf:
        buf[a % len(buf)] = b & 0xFF


def _insert(buf: bytearray, a: int, b: int) -> None:
    buf.insert(a % (len(buf) + 1), b & 0xFF)


def _delete(buf: bytearray, a: int, b: int) -> None:
    if buf:
        start = a % len(buf)
        del buf[start : start + 1 + b % 8]


def _truncate(buf: bytearray, a: int, b: int) -> None:
    del buf[a % (len(buf) + 1) :]


def _append(buf: bytearray, a: int, b: int) -> None:
    buf += random.Random(a).randbytes(1 + b % 32)


def _duplicate(buf: bytearray, a: int, b: int) -> None:
    if buf:
        start = a % len(buf)
        buf[start:start] = buf[start : start + 1 + b % 64]


def _pick(buf: bytearray, a: int, pred: Callable[[Token], bool]) -> Token | None:
    found = [t for t in tokens(buf) if pred(t)]
    return found[a % len(found)] if found else None


def _length(buf: bytearray, a: int, b: int) -> None:
    """Tamper with a declared length: off by one, zero, doubled, huge or arbitrary."""
    tok = _pick(buf, a, lambda t: t.has_length)
    if tok is None:
        return
    n = tok.length
    new = (0, n - 1, n + 1, 2 * n + 1, 0xFF, 0xFFFF, U32, b >> 3)[b % 8]
    if tok.size_len == 0:
        mask = 0x1F if 0xA0 <= tok.code <= 0xBF else 0x0F
        if tok.code in _FIXEXT:
            return
        buf[tok.offset] = (tok.code & ~mask & 0xFF) | (new & mask)
    else:
        bits = 8 * tok.size_len
        buf[tok.size_at : tok.size_at + tok.size_len] = (new % (1 << bits)).to_bytes(
            tok.size_len, "big"
        )


_WIDE = {"str": 0xDB, "bin": 0xC6, "array": 0xDD, "map": 0xDF}


def _family(code: int) -> str | None:
    if 0xA0 <= code <= 0xBF or code in (0xD9, 0xDA, 0xDB):
        return "str"
    if code in (0xC4, 0xC5, 0xC6):
        return "bin"
    if 0x90 <= code <= 0x9F or code in (0xDC, 0xDD):
        return "array"
    if 0x80 <= code <= 0x8F or code in (0xDE, 0xDF):
        return "map"
    return None


def _widen(buf: bytearray, a: int, b: int) -> None:
    """Rewrite a header or an integer in a wider form: same value, or a 4 G length."""
    tok = _pick(buf, a, lambda t: _family(t.code) is not None or t.code <= 0x7F or t.code >= 0xE0)
    if tok is None:
        return
    family = _family(tok.code)
    if family is None:
        value = tok.code if tok.code <= 0x7F else tok.code - 0x100
        forms = int_forms(value)
        buf[tok.offset : tok.offset + 1] = forms[1 + b % (len(forms) - 1)]
        return
    header_end = tok.offset + 1 + max(tok.size_len, 0)
    length = U32 if b % 4 == 0 else tok.length
    buf[tok.offset : header_end] = bytes([_WIDE[family]]) + struct.pack(">I", length)


def _to_map(buf: bytearray, a: int, b: int) -> None:
    """Turn an array header into a map header of the same count (or half of it)."""
    tok = _pick(buf, a, lambda t: _family(t.code) == "array")
    if tok is None:
        return
    count = tok.length if b % 2 else tok.length // 2
    header_end = tok.offset + 1 + max(tok.size_len, 0)
    buf[tok.offset : header_end] = map_header(count, _min_width(count, 15))


_NESTS = (b"\x91", b"\xdc\x00\x01", b"\xdd\x00\x00\x00\x01", b"\x81\xc0")


def _nest(buf: bytearray, a: int, b: int) -> None:
    """Wrap a value (or the whole input) in up to 3,000 one-element containers."""
    toks = tokens(buf)
    at = toks[a % len(toks)].offset if toks else 0
    buf[at:at] = _NESTS[b % len(_NESTS)] * (1 + (b >> 2) % 3000)


def _splice(buf: bytearray, a: int, b: int) -> None:
    """Insert a hostile token before a token, or put it in that token's place."""
    toks = tokens(buf)
    hostile = HOSTILE_TOKENS[(b >> 1) % len(HOSTILE_TOKENS)]
    if not toks:
        buf[:] = hostile
        return
    tok = toks[a % len(toks)]
    end = tok.end if b % 2 else tok.offset
    buf[tok.offset : end] = hostile


MUTATORS: tuple[Callable[[bytearray, int, int], None], ...] = (
    _flip,
    _set,
    _insert,
    _delete,
    _truncate,
    _append,
    _duplicate,
    _length,
    _widen,
    _to_map,
    _nest,
    _splice,
)


def mutate(data: bytes, ops: Sequence[Mutation]) -> bytes:
    """``data`` after each ``(operation, a, b)`` in turn (operations are taken modulo)."""
    buf = bytearray(data)
    for op, a, b in ops:
        MUTATORS[op % len(MUTATORS)](buf, a, b)
    return bytes(buf)


# --- signed objects built from hostile parts --------------------------------------------------

FUZZ_KEY = SigningKey(hashlib.sha256(b"hashbank fuzz author").digest())
FUZZ_ORG = org_id_for(FUZZ_KEY.public_key)
FORGER = SigningKey(hashlib.sha256(b"hashbank fuzz forger").digest())
VICTIM = SigningKey(hashlib.sha256(b"hashbank fuzz victim").digest())


def header_bytes(
    body: bytes,
    *,
    kind: int = 1,
    seq: int = 1,
    prev: bytes | None = None,
    key: SigningKey = FUZZ_KEY,
    author: bytes | None = None,
    timestamp_ms: int = BASE_TS,
) -> bytes:
    fields = [
        1,
        author if author is not None else org_id_for(key.public_key),
        key.public_key.raw,
        seq,
        prev,
        timestamp_ms,
        kind,
        hashlib.sha256(body).digest(),
    ]
    out: bytes = msgpack.packb(fields, use_bin_type=True)
    return out


def signed_raw(header: bytes, body: bytes | None, key: SigningKey = FUZZ_KEY) -> bytes:
    """A canonical ``[header, signature, body]`` around any header and body bytes."""
    out: bytes = msgpack.packb([header, key.sign(Context.ENTRY, header), body], use_bin_type=True)
    return out


def resign_body(
    body: bytes, kind: int = 1, key: SigningKey = FUZZ_KEY, author: bytes | None = None
) -> bytes:
    """An entry whose signed header commits to ``body``, so the body decoder must read it."""
    return signed_raw(header_bytes(body, kind=kind, key=key, author=author), body, key)


def forge_body(body: bytes, kind: int = 1) -> bytes:
    """``resign_body`` by ``FORGER`` for ``VICTIM``'s organisation: decoded, never accepted."""
    return resign_body(body, kind, FORGER, org_id_for(VICTIM.public_key))


def resign_header(fields: Sequence[Any], key: SigningKey = FUZZ_KEY) -> bytes:
    """An entry around a header made of any ``fields`` (canonically packed), validly signed."""
    header: bytes = msgpack.packb(list(fields), use_bin_type=True)
    return signed_raw(header, msgpack.packb([[["pdq", bytes(32), [], None, None]]]), key)


def fork_proof_raw(
    seq: int,
    key: SigningKey = FUZZ_KEY,
    *,
    author: bytes | None = None,
    timestamp_ms: int = BASE_TS,
) -> bytes:
    """A fork proof: two different, validly signed, body-less entries at ``seq``.

    Genuine when ``author`` is the key's own organisation (the default).
    """
    prev = None if seq == 1 else hashlib.sha256(b"prev %d" % seq).digest()
    raws = []
    for n in (1, 2):
        body = msgpack.packb([[["pdq", hashlib.sha256(b"%d" % n).digest(), [], None, None]]])
        header = header_bytes(
            body, seq=seq, prev=prev, key=key, author=author, timestamp_ms=timestamp_ms
        )
        raws.append((hashlib.sha256(header).digest(), signed_raw(header, None, key)))
    out: bytes = msgpack.packb([raw for _, raw in sorted(raws)], use_bin_type=True)
    return out


def forge_fork_proof(seq: int) -> bytes:
    """``fork_proof_raw`` by ``FORGER`` for ``VICTIM``'s organisation: never accepted."""
    return fork_proof_raw(seq, FORGER, author=org_id_for(VICTIM.public_key))


# --- seeds ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Seeds:
    """Valid encodings of every object a decoder reads, to be mutated."""

    entries: tuple[bytes, ...]
    headers: tuple[bytes, ...]
    bodies: tuple[tuple[int, bytes], ...]  # (kind, body bytes)
    charters: tuple[bytes, ...]
    charter_bodies: tuple[bytes, ...]
    fork_proofs: tuple[bytes, ...]
    heads: tuple[bytes, ...]
    ranges: tuple[bytes, ...]
    batches: tuple[bytes, ...]  # entries messages
    charter_lists: tuple[bytes, ...]
    fork_lists: tuple[bytes, ...]

    def all(self) -> tuple[bytes, ...]:
        return (
            *self.entries,
            *self.headers,
            *(b for _, b in self.bodies),
            *self.charters,
            *self.charter_bodies,
            *self.fork_proofs,
            *self.heads,
            *self.ranges,
            *self.batches,
            *self.charter_lists,
            *self.fork_lists,
        )


def _sample_bodies() -> list[Body]:
    pdq = hashlib.sha256(b"pdq").digest()
    return [
        AddBody(
            (
                HashItem("pdq", pdq, ("ncii",)),
                HashItem("md5", bytes(range(16)), ("a", "b:c"), b"case-7", BASE_TS + 10**9),
                HashItem("sha256", bytes(32)),
            )
        ),
        RevokeBody(
            (
                RevokeTarget(hashlib.sha256(b"t1").digest()),
                RevokeTarget(hashlib.sha256(b"t2").digest(), (0, 2, 9_999)),
            ),
            RevokeReason.VICTIM_REQUEST,
        ),
        FeedbackBody("pdq", pdq, Verdict.DISPUTED, hashlib.sha256(b"e").digest()),
        FeedbackBody("md5", bytes(16), Verdict.TRUE_POSITIVE, None, FeedbackNote.ACTIONED),
    ]


def _feed(key: SigningKey, author: OrgId) -> list[Entry]:
    entries: list[Entry] = []
    for i, body in enumerate(_sample_bodies()):
        entries.append(
            sign_entry(
                key,
                author=author,
                seq=i + 1,
                prev=entries[-1].id if entries else None,
                timestamp_ms=BASE_TS + i,
                body=body,
            )
        )
    return entries


def _charters(signed: bool) -> list[Charter]:
    """A two-version chain of three members; unsigned ones can never be adopted."""
    keys = [SigningKey(hashlib.sha256(b"fuzz steward %d" % i).digest()) for i in range(3)]
    rotated = SigningKey(hashlib.sha256(b"fuzz rotated").digest())

    def members(rotate: bool) -> tuple[Member, ...]:
        rows = []
        for i, k in enumerate(keys):
            chain = [MemberKey(k.public_key.raw, 1)]
            if rotate and i == 2:
                chain.append(MemberKey(rotated.public_key.raw, 5))
            roles = ("publisher", "steward") if i < 2 else ("subscriber",)
            rows.append(Member(org_id_for(k.public_key), f"Member {i}", roles, tuple(chain)))
        return tuple(sorted(rows, key=lambda m: m.org_id))

    first = draft(CharterBody("fuzz-net", 1, BASE_TS, 2, members(False)))
    victim = members(False)[0].org_id
    second_body = CharterBody(
        "fuzz-net",
        2,
        BASE_TS + 1,
        1,
        members(True),
        (Takedown(victim, 3, 7), Takedown(victim, 9)),
        first.id,
    )
    second = draft(second_body)
    if signed:
        first = first.signed_by(keys[0]).signed_by(keys[1])
        second = second.signed_by(keys[0])
    return [first, second]


@cache
def seeds(*, forged: bool = False) -> Seeds:
    """Valid encodings to mutate.

    ``forged`` seeds are well formed but can never be accepted by a node, whatever a mutation
    keeps of them: entries are signed by ``FORGER`` for ``VICTIM``'s organisation, charters
    carry no signature. Fuzzing a live node with them must leave its store untouched.
    """
    key = FORGER if forged else FUZZ_KEY
    author = org_id_for(VICTIM.public_key) if forged else FUZZ_ORG
    feed = _feed(key, author)
    entries = [e.raw for e in feed] + [feed[0].without_body().raw, feed[2].without_body().raw]
    rival = sign_entry(
        key,
        author=author,
        seq=2,
        prev=feed[0].id,
        timestamp_ms=BASE_TS + 5,
        body=AddBody((HashItem("md5", bytes(16)),)),
    )
    proofs = [ForkProof.of(feed[1], rival).encode(), fork_proof_raw(1, key, author=author)]
    if forged:
        proofs.append(
            msgpack.packb(
                [ForkProof.of(feed[1], rival).first.envelope(), feed[0].raw], use_bin_type=True
            )
        )
    charters = _charters(signed=not forged)
    heads = [Head(e.author, e.seq, e.id) for e in (feed[-1], rival)]
    heads += [Head(hashlib.sha256(b"h%d" % i).digest(), i + 1, bytes(32)) for i in range(3)]
    unique_heads = {h.author: h for h in heads}
    ranges = [Range(author, 1, 4), Range(bytes(32), 7, 7), Range(b"\xff" * 32, 1, 900)]
    return Seeds(
        entries=tuple(entries),
        headers=tuple(e.header_bytes for e in feed),
        bodies=tuple((int(b.kind), msgpack.packb(b.to_wire())) for b in _sample_bodies()),
        charters=tuple(c.encode() for c in charters),
        charter_bodies=tuple(c.body_bytes for c in charters),
        fork_proofs=tuple(proofs),
        heads=(encode_heads(unique_heads.values()), encode_heads([])),
        ranges=(encode_ranges(ranges), encode_ranges(ranges[:1])),
        batches=(encode_entries(entries), encode_entries(entries[:1]), encode_entries([])),
        charter_lists=(msgpack.packb([c.encode() for c in charters]), msgpack.packb([])),
        fork_lists=(msgpack.packb(proofs), msgpack.packb([])),
    )


# --- counting ---------------------------------------------------------------------------------


@dataclass
class Tally:
    """How many inputs each fuzz target was given, and how they ended."""

    tried: Counter[str] = field(default_factory=Counter)
    rejected: Counter[str] = field(default_factory=Counter)

    def add(self, target: str, *, accepted: bool) -> None:
        self.tried[target] += 1
        if not accepted:
            self.rejected[target] += 1

    def summary(self) -> str:
        total = sum(self.tried.values())
        parts = ", ".join(f"{k} {v}" for k, v in sorted(self.tried.items()))
        return f"{total} inputs tried ({parts})"

    def write(self, name: str, **extra: object) -> Path:
        """Save the counts as JSON under ``$HASHBANK_FUZZ_DIR`` (default: the temp dir)."""
        root = Path(os.environ.get("HASHBANK_FUZZ_DIR") or Path(tempfile.gettempdir()))
        path = root / "hashbank-fuzz" / f"{name}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        doc = {
            "total": sum(self.tried.values()),
            "tried": dict(sorted(self.tried.items())),
            "rejected": dict(sorted(self.rejected.items())),
            **extra,
        }
        path.write_text(json.dumps(doc, indent=2) + "\n")
        return path


def announce(config: Any, line: str) -> None:
    """Print ``line`` on pytest's terminal, past output capturing (for the inputs-tried counts)."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or capture is None:
        return
    with capture.global_and_fixture_disabled():
        reporter.write_line("")
        reporter.write_line(line)
