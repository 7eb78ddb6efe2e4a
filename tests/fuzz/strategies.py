"""Hypothesis strategies for hostile inputs: garbage, raw msgpack, mutations, lying structures.

Three layers, from blind to structure-aware:

* bytes: random binary, hand-written msgpack with any encoding choices (``raw_msgpack``),
  deep nesting, and mutations or re-encodings of valid seeds (``mutated``, ``reencoded``);
* values: canonical msgpack whose *shape* is right but whose fields may be anything
  (``model_values`` at boundaries: 2**64 - 1, -2**63, floats, nested arrays...);
* signed objects: entries re-signed around hostile headers and bodies, so the fuzz reaches the
  body decoder behind the signature and digest checks.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import msgpack
from hypothesis import strategies as st

from protocol.identity import org_id_for
from tests.fuzz import hostile
from tests.fuzz.hostile import U32, Mutation

T = TypeVar("T")

BOUNDARY_INTS = (
    0,
    1,
    2,
    3,
    127,
    128,
    255,
    256,
    9_999,
    10_000,
    65_535,
    65_536,
    2**31 - 1,
    2**32 - 1,
    2**32,
    2**53 + 1,
    2**63 - 1,
    2**63,
    2**64 - 1,
    -1,
    -32,
    -33,
    -128,
    -129,
    -(2**31),
    -(2**63),
)
ints = st.sampled_from(BOUNDARY_INTS) | st.integers(min_value=-(2**63), max_value=2**64 - 1)
uints = st.sampled_from([n for n in BOUNDARY_INTS if n >= 0]) | st.integers(0, 2**64 - 1)
scalars = (
    st.none() | st.booleans() | ints | st.floats() | st.binary(max_size=70) | st.text(max_size=40)
)
model_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=5), max_leaves=12)


def pack(value: Any) -> bytes:
    """Canonical msgpack of any value (floats included: the schema layer must refuse them)."""
    out: bytes = msgpack.packb(value, use_bin_type=True)
    return out


def unpack(data: bytes) -> Any:
    return msgpack.unpackb(data, raw=False, strict_map_key=False)


def weighted(
    common: st.SearchStrategy[Any], rare: st.SearchStrategy[Any], odds: int
) -> st.SearchStrategy[Any]:
    """``common`` ``odds`` times out of ``odds + 1``, else ``rare`` (``one_of`` is not uniform)."""
    return st.sampled_from((True,) * odds + (False,)).flatmap(lambda pick: common if pick else rare)


def mostly(valid: st.SearchStrategy[T]) -> st.SearchStrategy[Any]:
    """``valid`` five times in six, any value at all otherwise.

    A row of five fields is then wholly valid two times in five, so the decoder is driven both
    past its early checks and into each of them.
    """
    return weighted(valid, model_values, 5)


def _arity(row: list[Any], change: int) -> list[Any]:
    if change > 0:
        return [*row, None]
    if change < 0:
        return row[:-1]
    return row


arity = st.sampled_from((0,) * 14 + (1, -1))


def rows(*fields: st.SearchStrategy[Any]) -> st.SearchStrategy[list[Any]]:
    """A fixed-layout array of ``fields``, sometimes one element too long or too short."""
    return st.builds(_arity, st.tuples(*fields).map(list), arity)


# --- raw msgpack ------------------------------------------------------------------------------

widths = st.sampled_from((0, 1, 2, 4))


def _int_form(n: int, i: int) -> bytes:
    forms = hostile.int_forms(n)
    return forms[i % len(forms)]


def _float_form(x: float, i: int) -> bytes:
    forms = hostile.float_forms(x)
    return forms[i % len(forms)]


def _bin(data: bytes, width: int) -> bytes:
    return hostile.bin_header(len(data), width) + data


def _str(data: bytes, width: int) -> bytes:
    return hostile.str_header(len(data), width) + data


def _array(items: list[bytes], width: int, delta: int) -> bytes:
    return hostile.array_header(len(items) + delta, width) + b"".join(items)


def _map(pairs: list[tuple[bytes, bytes]], width: int, delta: int) -> bytes:
    return hostile.map_header(len(pairs) + delta, width) + b"".join(k + v for k, v in pairs)


deltas = st.sampled_from((0, 0, 0, 0, 0, 1, -1, U32))
raw_scalars = st.one_of(
    st.builds(_int_form, ints, st.integers(0, 8)),
    st.builds(_float_form, st.floats(), st.integers(0, 1)),
    st.sampled_from(hostile.HOSTILE_TOKENS),
    st.sampled_from((b"\xc0", b"\xc2", b"\xc3")),
    st.builds(_bin, st.binary(max_size=40), widths),
    st.builds(_str, st.binary(max_size=40) | st.text(max_size=20).map(str.encode), widths),
    st.builds(
        hostile.ext,
        st.just(-1) | st.integers(-128, 127),
        st.binary(max_size=16) | st.sampled_from((b"\0" * 4, b"\0" * 8, b"\xff" * 12)),
        widths,
    ),
)
raw_msgpack = st.recursive(
    raw_scalars,
    lambda inner: (
        st.builds(_array, st.lists(inner, max_size=5), widths, deltas)
        | st.builds(_map, st.lists(st.tuples(inner, inner), max_size=3), widths, deltas)
    ),
    max_leaves=16,
)


def _finish(data: bytes, how: int, n: int) -> bytes:
    if how == 1:
        return data[: n % (len(data) + 1)]
    if how == 2:
        return data + random.Random(n).randbytes(1 + n % 8)
    return data


hostile_msgpack = st.builds(
    _finish, raw_msgpack, st.sampled_from((0, 0, 1, 2)), st.integers(0, 2**16)
)
deeply_nested = st.builds(
    lambda prefix, n, inner: prefix * n + inner,
    st.sampled_from((b"\x91", b"\xdc\x00\x01", b"\xdd\x00\x00\x00\x01", b"\x81\xc0", b"\x92\xc0")),
    st.sampled_from((100, 511, 512, 1023, 1024, 1025, 5000, 100_000)) | st.integers(1, 3000),
    raw_scalars | st.just(b""),
)
garbage = st.binary(max_size=600)

# --- mutations of valid seeds -----------------------------------------------------------------

mutations: st.SearchStrategy[list[Mutation]] = st.lists(
    st.tuples(st.integers(0, len(hostile.MUTATORS) - 1), st.integers(0, U32), st.integers(0, U32)),
    min_size=1,
    max_size=4,
)


def mutated(pool: Sequence[bytes]) -> st.SearchStrategy[bytes]:
    """A seed from ``pool`` after one to four byte-level or token-level mutations."""
    return st.builds(hostile.mutate, st.sampled_from(pool), mutations)


def _reencode(data: bytes, seed: int, rate: float, same: bool) -> bytes:
    return hostile.reencode(unpack(data), random.Random(seed), rate, same_value=same)


def reencoded(pool: Sequence[bytes], *, same_value: bool = False) -> st.SearchStrategy[bytes]:
    """A seed written again with other encoding choices (see ``hostile.reencode``)."""
    return st.builds(
        _reencode,
        st.sampled_from(pool),
        st.integers(0, 2**32),
        st.floats(0.05, 1.0),
        st.just(same_value),
    )


def any_bytes(pool: Sequence[bytes]) -> st.SearchStrategy[bytes]:
    """Every kind of hostile bytes, with mutations of ``pool`` the most frequent."""
    return st.one_of(
        garbage,
        hostile_msgpack,
        deeply_nested,
        mutated(pool),
        mutated(pool),
        reencoded(pool),
        reencoded(pool, same_value=True),
    )


# --- structured entries -----------------------------------------------------------------------

hash32 = st.binary(min_size=32, max_size=32)
SIGNAL_SIZES = {"pdq": 32, "md5": 16, "sha256": 32}
odd_signal_names = st.sampled_from(("PDQ", "", "pdq\x00", "sha1"))
valid_labels = st.lists(
    st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.:/-]{0,70}", fullmatch=True), max_size=17, unique=True
).map(sorted)
labels = weighted(valid_labels, st.lists(model_values, max_size=4) | model_values, 2)


@st.composite
def signal(draw: st.DrawFn) -> tuple[Any, Any]:
    """A signal type name and a value, mostly of the size that type needs."""
    name = draw(st.sampled_from(sorted(SIGNAL_SIZES)))
    size = SIGNAL_SIZES[name]
    value = draw(mostly(weighted(st.binary(min_size=size, max_size=size), st.binary(), 8)))
    return draw(mostly(weighted(st.just(name), odd_signal_names, 8))), value


def _item(signal: tuple[Any, Any], labels: Any, case_ref: Any, expires: Any) -> list[Any]:
    return [*signal, labels, case_ref, expires]


items = st.builds(
    _arity,
    st.builds(
        _item,
        signal(),
        labels,
        mostly(st.none() | st.binary(min_size=0, max_size=70)),
        mostly(st.none() | uints),
    ),
    arity,
)
add_values = rows(mostly(st.lists(items, min_size=1, max_size=4)))
indexes = st.lists(st.integers(0, 10_000) | uints, min_size=0, max_size=5)
revoke_values = rows(
    mostly(st.lists(rows(mostly(hash32), mostly(st.none() | indexes)), min_size=1, max_size=3)),
    mostly(st.integers(0, 6)),
)
feedback_values = st.builds(
    _arity,
    st.builds(
        lambda sig, verdict, entry_id, note: [*sig, verdict, entry_id, note],
        signal(),
        mostly(st.integers(0, 4)),
        mostly(st.none() | hash32),
        mostly(st.integers(0, 4)),
    ),
    arity,
)
body_values = st.one_of(add_values, revoke_values, feedback_values, model_values)
kinds = st.sampled_from((1, 1, 2, 3, 0, 4, 255))
kinded_body_values: st.SearchStrategy[tuple[int, Any]] = st.one_of(
    st.tuples(st.just(1), add_values),
    st.tuples(st.just(1), add_values),
    st.tuples(st.just(2), revoke_values),
    st.tuples(st.just(3), feedback_values),
    st.tuples(kinds, body_values),
)
"""(kind code, body value) pairs, mostly of matching kind."""


def resigned_bodies_by(sign: Callable[[bytes, int], bytes]) -> st.SearchStrategy[bytes]:
    """Entries whose headers, signed by ``sign(body, kind)``, commit to hostile bodies."""
    bodies = hostile.seeds().bodies
    return st.one_of(
        kinded_body_values.map(lambda case: sign(pack(case[1]), case[0])),
        kinded_body_values.map(lambda case: sign(pack(case[1]), case[0])),
        st.builds(sign, hostile_msgpack | mutated([b for _, b in bodies]), kinds),
    )


resigned_bodies = resigned_bodies_by(hostile.resign_body)
"""Validly signed entries whose headers commit to hostile bodies."""

header_values = rows(
    mostly(st.just(1)),
    mostly(st.just(hostile.FUZZ_ORG) | hash32),
    mostly(st.just(hostile.FUZZ_KEY.public_key.raw)),
    mostly(uints),
    mostly(st.none() | hash32),
    mostly(uints),
    mostly(st.integers(0, 4) | uints),
    mostly(hash32),
)
resigned_headers = st.builds(hostile.resign_header, header_values)
"""Validly signed entries around hostile headers."""

# --- structured charters ----------------------------------------------------------------------

_KEYS = [hostile.FUZZ_KEY, hostile.FORGER, hostile.VICTIM]
_ROLES = weighted(
    st.lists(st.sampled_from(("publisher", "steward", "subscriber")), min_size=1).map(
        lambda rs: sorted(set(rs))
    ),
    st.lists(st.sampled_from(("publisher", "steward", "admin", "")), max_size=4),
    4,
)


def _member(i: int, roles: list[str], name: str, from_seqs: list[int]) -> list[Any]:
    key = _KEYS[i]
    keys = [[key.public_key.raw, 1]] + [
        [bytes([j + 1]) * 32, s] for j, s in enumerate(sorted(set(from_seqs)))
    ]
    return [org_id_for(key.public_key), name, roles, keys]


def _members(rows: list[list[Any]]) -> list[list[Any]]:
    return sorted(rows, key=lambda m: m[0] if m and isinstance(m[0], bytes) else b"")


valid_member = st.builds(
    _member,
    st.integers(0, 2),
    _ROLES,
    weighted(st.text(min_size=1, max_size=40), st.text(max_size=210), 4),
    weighted(st.lists(st.integers(2, 100), max_size=2), st.lists(uints, max_size=3), 4),
)
hostile_member = rows(mostly(hash32), mostly(st.text()), _ROLES, model_values)
members = st.lists(
    weighted(valid_member, hostile_member, 6),
    min_size=1,
    max_size=3,
    unique_by=lambda m: m[0] if m and isinstance(m[0], bytes) else b"",
).map(_members)
takedowns = st.lists(rows(mostly(hash32), mostly(uints), mostly(st.none() | uints)), max_size=3)
# (number, prev): nil prev exactly for version 1, mostly.
versions = weighted(
    st.tuples(st.just(1), st.none()) | st.tuples(st.integers(2, 9), hash32),
    st.tuples(uints, st.none() | hash32),
    4,
)


def _charter_body(
    fmt: Any, network: Any, version: tuple[Any, Any], rest: list[Any], change: int
) -> list[Any]:
    effective, threshold, member_rows, takedown_rows = rest
    row = [fmt, network, version[0], effective, threshold, member_rows, takedown_rows, version[1]]
    return _arity(row, change)


charter_body_values = st.builds(
    _charter_body,
    mostly(st.just(1)),
    mostly(st.text(max_size=210)),
    versions,
    st.tuples(
        mostly(uints),
        mostly(weighted(st.integers(1, 2), st.integers(0, 4) | uints, 4)),
        mostly(members),
        mostly(takedowns),
    ).map(list),
    arity,
)
signature_rows = mostly(
    st.lists(
        rows(mostly(hash32), mostly(st.binary(min_size=64, max_size=64))),
        max_size=3,
        unique_by=lambda r: r[0] if r and isinstance(r[0], bytes) else b"",
    ).map(_members)
)


def _charter(body: bytes, signatures: Any, wrap: bool) -> bytes:
    return pack([body, signatures]) if wrap else body


structured_charters = st.builds(
    _charter,
    st.one_of(charter_body_values.map(pack), mutated(hostile.seeds().charter_bodies)),
    signature_rows,
    st.just(True),
)

# --- structured sync messages and fork proofs -------------------------------------------------


def _sorted_rows(values: list[list[Any]], keep_order: bool) -> list[list[Any]]:
    if keep_order:
        return values
    return sorted(values, key=lambda r: r[0] if r and isinstance(r[0], bytes) else b"")


heads_messages = st.builds(
    _sorted_rows,
    st.lists(rows(mostly(hash32), mostly(uints), mostly(hash32)), max_size=5),
    st.booleans(),
).map(pack)
ranges_messages = st.lists(rows(mostly(hash32), mostly(uints), mostly(uints)), max_size=5).map(pack)


def entries_messages(pool: Sequence[bytes]) -> st.SearchStrategy[bytes]:
    """Entries messages of entries from ``pool``, random bytes or any value."""
    raws = mostly(st.sampled_from(pool) | st.binary(max_size=64))
    return mostly(st.lists(raws, max_size=5)).map(pack)


def fork_proofs(make: Callable[[int], bytes], pool: Sequence[bytes]) -> st.SearchStrategy[bytes]:
    """Fork proofs ``make(seq)`` at boundary seqs, and pairs of entries from ``pool``."""
    return st.one_of(
        st.builds(make, st.sampled_from([n for n in BOUNDARY_INTS if n >= 1])),
        rows(mostly(st.sampled_from(pool)), mostly(st.sampled_from(pool))).map(pack),
    )
