"""Canonical msgpack: the only encoding hashbank signs, stores and forwards.

msgpack has several encodings of one value (the integer 5 has nine); a signature over bytes
is only meaningful if every implementation produces and accepts exactly one of them. The
canonical form is what ``msgpack.packb(value, use_bin_type=True)`` writes for the restricted
value space below: the smallest integer form, str for text and bin for bytes, arrays only.
Decoding re-encodes and refuses anything that is not byte-identical, so there is no second
way to write a value that still decodes.

Allowed values: ``None``, ``bool``, ``int`` (−2**63 … 2**64−1), ``bytes``, ``str`` (UTF-8) and
arrays of those. Maps and extension types are refused here (``MalformedError``). Floats are
``MalformedError`` too, wherever they appear, but found without a walk on the hot path: a
float32 (or a timestamp extension, which decodes to a float) never re-encodes to its own
bytes, so it is looked for only once the canonical check has failed; a float64 does
re-encode identically and is refused by the schema layer (``protocol.schema``), which checks
the exact type of every field it reads. Nesting depth is bounded by the C decoder's fixed
stack, so hostile nesting cannot exhaust Python's.
"""

from __future__ import annotations

from typing import Any, TypeAlias

import msgpack

from protocol.errors import MalformedError, NonCanonicalError, TooLargeError

# Values the canonical encoding admits (recursive shapes are checked at runtime).
Value: TypeAlias = bool | int | bytes | str | list[Any] | tuple[Any, ...] | None


def _refuse_ext(code: int, data: bytes) -> object:
    raise MalformedError(f"msgpack extension type {code} is not allowed")


def _refuse_map(pairs: list[tuple[object, object]]) -> object:
    raise MalformedError("msgpack maps are not allowed; objects are fixed-order arrays")


# One Packer reused: msgpack.packb builds a new one per call, a measurable cost per entry.
_PACKER = msgpack.Packer(use_bin_type=True, autoreset=True)


def encode(value: Value) -> bytes:
    """Encode ``value`` in canonical msgpack, refusing values outside the allowed model."""
    _check_model(value)
    return _pack(value)


def _pack(value: Value) -> bytes:
    try:
        out: bytes = _PACKER.pack(value)
    except (TypeError, ValueError, OverflowError) as exc:
        raise MalformedError(f"value cannot be encoded canonically: {exc}") from exc
    return out


def _check_model(value: object) -> None:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, list | tuple):
            stack.extend(item)
        elif item is not None and not isinstance(item, bool | int | bytes | str):
            raise MalformedError(f"{type(item).__name__} values are not allowed on the wire")


def decode(data: bytes, *, max_size: int, what: str = "object") -> Any:
    """Decode one canonical msgpack value from ``data``, refusing every other encoding.

    ``max_size`` bounds the input before any parsing; ``what`` names the object in errors.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise MalformedError(f"{what}: expected bytes, got {type(data).__name__}")
    data = bytes(data)
    if len(data) > max_size:
        raise TooLargeError(f"{what} is {len(data)} bytes, over the limit of {max_size}")
    if not data:
        raise MalformedError(f"{what} is empty")
    try:
        value = msgpack.unpackb(
            data,
            raw=False,
            use_list=True,
            strict_map_key=True,
            object_pairs_hook=_refuse_map,
            ext_hook=_refuse_ext,
            # Extension type -1 (timestamps) bypasses ext_hook; as a float it re-encodes
            # differently below, so it is refused like every other extension.
            timestamp=1,
        )
    except MalformedError:
        raise
    except msgpack.ExtraData as exc:
        raise MalformedError(f"{what} has trailing bytes after the msgpack value") from exc
    except (ValueError, TypeError, msgpack.UnpackException, RecursionError) as exc:
        raise MalformedError(f"{what} is not valid msgpack: {exc}") from exc
    # Re-encoding a decoded value needs no model check: maps and extensions never decode.
    if _pack(value) != data:
        if _holds_float(value):  # float32, or a timestamp: not a wire type, not a re-encoding
            raise MalformedError(f"{what} holds a float, which is not allowed on the wire")
        raise NonCanonicalError(f"{what} is valid msgpack but not in canonical form")
    return value


def _holds_float(value: object) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, float):
            return True
        if isinstance(item, list):
            stack.extend(item)
    return False
