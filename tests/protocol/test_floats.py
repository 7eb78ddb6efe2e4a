"""A float anywhere is ``malformed``: float32 or float64, in every field of every object.

float32 and timestamp extensions never re-encode to their own bytes, so ``wire.decode`` finds
them once its canonical check has failed; float64 re-encodes identically and the field readers
refuse it. Either way the code is the same, as docs/protocol.md §6.2 says.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable, Iterator
from typing import Any

import msgpack
import pytest

from protocol import wire
from protocol.charter import decode_charter
from protocol.entry import decode_entry
from protocol.errors import ProtocolError
from protocol.identity import Context
from protocol.sync import decode_heads, decode_ranges
from protocol.vectors import build

VECTORS = build()
FLOAT64 = b"\xcb" + struct.pack(">d", 1.5)
FLOAT32 = b"\xca" + struct.pack(">f", 1.5)
TIMESTAMP = b"\xd6\xff" + struct.pack(">I", 1)  # extension -1, which msgpack reads as a float


def paths(value: Any, at: tuple[int, ...] = ()) -> Iterator[tuple[int, ...]]:
    """Every position in a nested array, the arrays themselves included (but not the root)."""
    if at:
        yield at
    if isinstance(value, list):
        for i, item in enumerate(value):
            yield from paths(item, (*at, i))


def pack(value: Any, path: tuple[int, ...], replacement: bytes) -> bytes:
    """``value`` in canonical msgpack, with the element at ``path`` written as ``replacement``."""
    if not path:
        return replacement
    head, *rest = path
    out = bytearray(msgpack.packb(value, use_bin_type=True)[: _array_header_size(len(value))])
    for i, item in enumerate(value):
        out += pack(item, tuple(rest), replacement) if i == head else wire.encode(item)
    return bytes(out)


def _array_header_size(n: int) -> int:
    return 1 if n < 16 else 3 if n < 2**16 else 5


def entry_with(header: list[Any], body: Any, where: str, path: tuple[int, ...], f: bytes) -> bytes:
    body_bytes = pack(body, path, f) if where == "body" else wire.encode(body)
    header = [*header[:7], hashlib.sha256(body_bytes).digest()]
    header_bytes = pack(header, path, f) if where == "header" else wire.encode(header)
    signature = VECTORS.key.sign(Context.ENTRY, header_bytes)
    return wire.encode([header_bytes, signature, body_bytes])


def entry_cases() -> Iterator[Any]:
    for entry in (VECTORS.add, VECTORS.revoke, VECTORS.feedback):
        header = wire.decode(entry.header_bytes, max_size=256)
        body = wire.decode(wire.decode(entry.raw, max_size=len(entry.raw))[2], max_size=10**6)
        for where, value in (("header", header), ("body", body)):
            for path in paths(value):
                if where == "header" and path == (7,):
                    continue  # the digest is recomputed over the body anyway
                for name, f in (("f64", FLOAT64), ("f32", FLOAT32), ("ts", TIMESTAMP)):
                    raw = entry_with(header, body, where, path, f)
                    yield pytest.param(raw, id=f"{entry.kind.name}-{where}{list(path)}-{name}")


def assert_malformed(decode: Callable[[bytes], object], data: bytes) -> None:
    with pytest.raises(ProtocolError) as caught:
        decode(data)
    assert caught.value.code == "malformed", caught.value.message


@pytest.mark.parametrize("raw", list(entry_cases()))
def test_a_float_in_any_entry_field_is_malformed(raw: bytes) -> None:
    assert_malformed(decode_entry, raw)


def charter_cases() -> Iterator[Any]:
    body = wire.decode(VECTORS.charter.body_bytes, max_size=10**6)
    for path in paths(body):
        for name, f in (("f64", FLOAT64), ("f32", FLOAT32)):
            data = wire.encode([pack(body, path, f), []])
            yield pytest.param(data, id=f"charter{list(path)}-{name}")


@pytest.mark.parametrize("data", list(charter_cases()))
def test_a_float_in_any_charter_field_is_malformed(data: bytes) -> None:
    assert_malformed(decode_charter, data)


@pytest.mark.parametrize("f", [FLOAT64, FLOAT32], ids=["f64", "f32"])
@pytest.mark.parametrize("at", range(3))
def test_a_float_in_a_sync_message_is_malformed(f: bytes, at: int) -> None:
    row = [b"\x01" * 32, 1, b"\x02" * 32]
    assert_malformed(decode_heads, pack([row], (0, at), f))
    assert_malformed(decode_ranges, pack([[b"\x01" * 32, 1, 2]], (0, at), f))


def test_the_mutations_really_hold_floats() -> None:
    raw = pack([1, [2, 3]], (1, 0), FLOAT32)
    assert msgpack.unpackb(raw) == [1, [1.5, 3]]
    assert msgpack.unpackb(pack([1, 2], (1,), FLOAT64)) == [1, 1.5]
