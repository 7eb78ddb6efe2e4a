"""Strict readers for decoded msgpack values.

Each reader checks the exact Python type (so ``True`` is not an integer and a float is never
accepted) and names the field on error. Decoders in ``protocol`` go through these, never
through ``isinstance`` checks of their own.

One rule maps each failure to one error code (docs/protocol.md §6.2): a value of the wrong
msgpack type, or an array of the wrong fixed length, is ``malformed``; an array with more
elements than its maximum is ``too_large``; a value of the right type that breaks a rule (a
range, a minimum count, the length of a text or bytes, a pattern, an order) is
``invalid_value``.
"""

from __future__ import annotations

from typing import Any

from protocol.errors import InvalidValueError, MalformedError, TooLargeError

UINT64_MAX = 2**64 - 1


_TYPE_NAMES = {str: "a string", bytes: "bytes", int: "an integer", list: "an array"}


def of_type(value: Any, expected: type, field: str) -> Any:
    """``value`` if its type is exactly ``expected``; else ``MalformedError`` naming ``field``."""
    if type(value) is not expected:
        raise MalformedError(
            f"{field} must be {_TYPE_NAMES.get(expected, expected.__name__)}, "
            f"got {type(value).__name__}",
            field=field,
        )
    return value


def array(value: Any, length: int, field: str) -> list[Any]:
    """A fixed-length array."""
    if type(value) is not list:
        raise MalformedError(f"{field} must be an array, got {type(value).__name__}", field=field)
    if len(value) != length:
        raise MalformedError(f"{field} must have {length} elements, got {len(value)}", field=field)
    return value


def seq_of(value: Any, field: str, *, min_len: int = 0, max_len: int) -> list[Any]:
    """A variable-length array with bounds."""
    if type(value) is not list:
        raise MalformedError(f"{field} must be an array, got {type(value).__name__}", field=field)
    if len(value) > max_len:
        raise TooLargeError(
            f"{field} has {len(value)} elements, over the limit of {max_len}", field=field
        )
    if len(value) < min_len:
        raise InvalidValueError(
            f"{field} needs at least {min_len} element(s), got {len(value)}", field=field
        )
    return value


def uint(value: Any, field: str, *, minimum: int = 0, maximum: int = UINT64_MAX) -> int:
    """An unsigned integer within bounds."""
    if type(value) is not int:
        raise MalformedError(f"{field} must be an integer, got {type(value).__name__}", field=field)
    if not minimum <= value <= maximum:
        raise InvalidValueError(
            f"{field} must be between {minimum} and {maximum}, got {value}", field=field
        )
    return value


def fixed_bytes(value: Any, size: int, field: str) -> bytes:
    """A bin of exactly ``size`` bytes."""
    if type(value) is not bytes:
        raise MalformedError(f"{field} must be bytes, got {type(value).__name__}", field=field)
    if len(value) != size:
        raise InvalidValueError(f"{field} must be {size} bytes, got {len(value)}", field=field)
    return value


def opt_fixed_bytes(value: Any, size: int, field: str) -> bytes | None:
    """``None`` or a bin of exactly ``size`` bytes."""
    return None if value is None else fixed_bytes(value, size, field)


def text(value: Any, field: str, *, max_len: int) -> str:
    """A str of at most ``max_len`` characters."""
    if type(value) is not str:
        raise MalformedError(f"{field} must be a string, got {type(value).__name__}", field=field)
    if len(value) > max_len:
        raise InvalidValueError(f"{field} is longer than {max_len} characters", field=field)
    return value


def blob(value: Any, field: str) -> bytes:
    """A bin of any length (the caller bounds sizes before decoding)."""
    if type(value) is not bytes:
        raise MalformedError(f"{field} must be bytes, got {type(value).__name__}", field=field)
    return value
