from __future__ import annotations

import struct
from typing import Any

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol import wire
from protocol.errors import MalformedError, NonCanonicalError, TooLargeError

scalars = st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.binary() | st.text()
values = st.recursive(scalars, lambda children: st.lists(children, max_size=5), max_leaves=20)


@given(values)
def test_encode_decode_round_trips(value: Any) -> None:
    data = wire.encode(value)
    assert wire.decode(data, max_size=len(data)) == value
    assert wire.encode(wire.decode(data, max_size=len(data))) == data


# The integer 5 has nine msgpack encodings (positive fixint, uint8/16/32/64, int8/16/32/64);
# exactly one is canonical (docs/protocol.md §2).
FIVE_ENCODINGS = [
    b"\x05",
    b"\xcc\x05",
    b"\xcd\x00\x05",
    b"\xce\x00\x00\x00\x05",
    b"\xcf" + struct.pack(">Q", 5),
    b"\xd0\x05",
    b"\xd1\x00\x05",
    b"\xd2\x00\x00\x00\x05",
    b"\xd3" + struct.pack(">q", 5),
]
# And -5 five: negative fixint, int8/16/32/64.
MINUS_FIVE_ENCODINGS = [
    b"\xfb",
    b"\xd0\xfb",
    b"\xd1\xff\xfb",
    b"\xd2\xff\xff\xff\xfb",
    b"\xd3" + struct.pack(">q", -5),
]


@pytest.mark.parametrize(("value", "encodings"), [(5, FIVE_ENCODINGS), (-5, MINUS_FIVE_ENCODINGS)])
def test_only_the_smallest_integer_form_is_accepted(value: int, encodings: list[bytes]) -> None:
    assert len(set(encodings)) == len(encodings)
    assert wire.decode(encodings[0], max_size=16) == value
    for data in encodings[1:]:
        assert msgpack.unpackb(data) == value
        with pytest.raises(NonCanonicalError) as caught:
            wire.decode(data, max_size=16)
        assert caught.value.code == "non_canonical"


def test_the_integer_5_has_exactly_nine_encodings() -> None:
    # Every msgpack integer format byte, each at its own width, read back as 5 (and nothing else).
    widths = {0xCC: 1, 0xCD: 2, 0xCE: 4, 0xCF: 8, 0xD0: 1, 0xD1: 2, 0xD2: 4, 0xD3: 8}
    found = [bytes([5])] + [
        bytes([tag]) + (5).to_bytes(n, "big") for tag, n in sorted(widths.items())
    ]
    assert found == FIVE_ENCODINGS


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\xd9\x01a", "str8 for a one-byte string"),
        (b"\xc4\x01a", "bin is fine, but as str it would be different"),
        (b"\xdc\x00\x01\x01", "array16 for a one-element array"),
        (b"\xa1a" + b"", "fixstr is canonical"),
    ],
)
def test_non_minimal_containers_are_rejected(data: bytes, reason: str) -> None:
    canonical = wire.encode(msgpack.unpackb(data, raw=False))
    if canonical == data:
        assert wire.decode(data, max_size=64) is not None
    else:
        with pytest.raises(NonCanonicalError):
            wire.decode(data, max_size=64)


def test_str_and_bin_stay_apart() -> None:
    assert wire.decode(wire.encode(b"abc"), max_size=8) == b"abc"
    assert wire.decode(wire.encode("abc"), max_size=8) == "abc"
    assert wire.encode(b"abc") != wire.encode("abc")


@pytest.mark.parametrize(
    "data",
    [
        b"\x81\x01\x02",  # a map
        b"\xca\x3f\x80\x00\x00",  # float32
        b"\xd4\x01\x00",  # fixext1
        b"\xc1",  # never-used byte
        b"\x92\x01",  # truncated array
        b"\x01\x02",  # trailing bytes
        b"\xa2\xff\xfe",  # invalid UTF-8 in a str
        b"",
    ],
)
def test_malformed_input_is_rejected(data: bytes) -> None:
    with pytest.raises(MalformedError):
        wire.decode(data, max_size=64)


def test_float64_survives_msgpack_but_not_the_schema_layer() -> None:
    # The wire layer lets float64 through (it re-encodes identically); schema readers refuse it.
    from protocol import schema

    value = wire.decode(b"\xcb" + struct.pack(">d", 1.5), max_size=16)
    with pytest.raises(MalformedError, match="integer"):
        schema.uint(value, "seq")


@pytest.mark.parametrize(
    "data",
    [
        b"\xca\x3f\x80\x00\x00",  # float32
        b"\x92\x01\xca\x3f\x80\x00\x00",  # float32 inside an array
        b"\xd6\xff\x00\x00\x00\x01",  # timestamp extension (-1), which msgpack reads as a float
        b"\xc7\x0c\xff" + bytes(12),  # timestamp 96
    ],
)
def test_floats_and_timestamps_are_malformed_not_non_canonical(data: bytes) -> None:
    with pytest.raises(MalformedError) as caught:
        wire.decode(data, max_size=64)
    assert caught.value.code == "malformed"


def test_size_limit_is_checked_before_parsing() -> None:
    with pytest.raises(TooLargeError, match="over the limit"):
        wire.decode(wire.encode(b"x" * 100), max_size=50)


def test_hostile_nesting_is_refused_without_crashing() -> None:
    with pytest.raises(MalformedError):
        wire.decode(b"\x91" * 100_000 + b"\x00", max_size=200_000)


def test_values_outside_the_model_cannot_be_encoded() -> None:
    with pytest.raises(MalformedError):
        wire.encode({"a": 1})  # type: ignore[arg-type]
    with pytest.raises(MalformedError):
        wire.encode(2**64)
