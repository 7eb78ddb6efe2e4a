"""RFC 8941 Structured Field Values: a strict parser and a serialiser, sans-I/O.

Only what HTTP Message Signatures (``protocol.httpsig``) needs: Dictionaries whose members are
Items or Inner Lists, with Parameters, over every bare item type (Integer, Decimal, String,
Token, Byte Sequence, Boolean). Lists as top-level fields are not needed and not provided.

Stricter than RFC 8941 §4.2 in two ways, both so that one header value has one meaning:

* a repeated dictionary key or parameter key is refused (the RFC lets the last one win, which
  would let a second signature hide behind a first);
* a Byte Sequence must be canonical base64 (padding present, no stray bits), so that no two
  spellings of one value can appear in a signed header.

Parsing errors are ``MalformedError`` naming what was expected and at which offset; callers
that answer for a particular header (``protocol.httpsig``) re-raise them as their own errors.
Serialising a value outside RFC 8941's ranges is a programming error: ``ValueError``.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import NoReturn, TypeAlias

from protocol.errors import MalformedError


@dataclass(frozen=True, slots=True)
class Token:
    """An RFC 8941 Token (as opposed to a String)."""

    value: str


Bare: TypeAlias = bool | int | Decimal | str | Token | bytes
Params: TypeAlias = tuple[tuple[str, Bare], ...]


@dataclass(frozen=True, slots=True)
class Item:
    """A bare item with its parameters."""

    value: Bare
    params: Params = ()


@dataclass(frozen=True, slots=True)
class InnerList:
    """A parenthesised list of items, with the list's own parameters."""

    items: tuple[Item, ...]
    params: Params = ()


Member: TypeAlias = Item | InnerList

MAX_INTEGER = 999_999_999_999_999
"""RFC 8941 §3.3.1: integers have at most 15 decimal digits."""

_KEY_RE = re.compile(r"[a-z*][a-z0-9_.*-]*")
_DECIMAL_RE = re.compile(r"-?[0-9]{1,12}\.[0-9]{1,3}")
_INTEGER_RE = re.compile(r"-?[0-9]{1,15}")
_STRING_RE = re.compile(r'"((?:[ !#-\[\]-~]|\\["\\])*)"')
_STRING_ESCAPE_RE = re.compile(r"\\(.)")
_TOKEN_RE = re.compile(r"[A-Za-z*][!#$%&'*+.^_`|~0-9A-Za-z:/-]*")
_BYTES_RE = re.compile(r":([A-Za-z0-9+/=]*):")
_BOOLEAN_RE = re.compile(r"\?[01]")
_STRING_CHARS_RE = re.compile(r"[ -~]*")
_DIGITS = frozenset("0123456789")


def parse_dictionary(text: str) -> dict[str, Member]:
    """Parse a whole field value as a Dictionary (RFC 8941 §4.2.2), keys in order of appearance."""
    return _Parser(text).dictionary()


class _Parser:
    """A strict RFC 8941 §4.2 parser over one field value."""

    __slots__ = ("_pos", "_text")

    def __init__(self, text: str) -> None:
        self._text = text
        self._pos = 0

    def dictionary(self) -> dict[str, Member]:
        members: dict[str, Member] = {}
        self._skip(" ")
        while not self._at_end():
            key = self._key()
            if key in members:
                self._fail(f"duplicate key {key!r}")
            if self._peek() == "=":
                self._pos += 1
                members[key] = self._member()
            else:
                members[key] = Item(True, self._params())
            self._skip(" \t")
            if self._at_end():
                break
            self._expect(",")
            self._skip(" \t")
            if self._at_end():
                self._fail("trailing comma")
        return members

    def _member(self) -> Member:
        if self._peek() == "(":
            return self._inner_list()
        return self._item()

    def _inner_list(self) -> InnerList:
        self._expect("(")
        items: list[Item] = []
        while True:
            self._skip(" ")
            if self._peek() == ")":
                self._pos += 1
                return InnerList(tuple(items), self._params())
            items.append(self._item())
            if self._peek() not in (" ", ")"):
                self._fail("expected space or ')' in inner list")

    def _item(self) -> Item:
        value = self._bare()
        return Item(value, self._params())

    def _params(self) -> Params:
        params: list[tuple[str, Bare]] = []
        while self._peek() == ";":
            self._pos += 1
            self._skip(" ")
            key = self._key()
            value: Bare = True
            if self._peek() == "=":
                self._pos += 1
                value = self._bare()
            if any(key == seen for seen, _ in params):
                self._fail(f"duplicate parameter {key!r}")
            params.append((key, value))
        return tuple(params)

    def _key(self) -> str:
        return self._match(_KEY_RE, "key").group()

    def _bare(self) -> Bare:
        char = self._peek()
        if char == "-" or char in _DIGITS:
            return self._number()
        if char == '"':
            raw = self._match(_STRING_RE, "string").group(1)
            return _STRING_ESCAPE_RE.sub(r"\1", raw)
        if char == ":":
            return self._bytes()
        if char == "?":
            return self._match(_BOOLEAN_RE, "boolean").group() == "?1"
        return Token(self._match(_TOKEN_RE, "bare item").group())

    def _number(self) -> int | Decimal:
        decimal = _DECIMAL_RE.match(self._text, self._pos)
        if decimal is not None:
            self._pos = decimal.end()
            result: int | Decimal = Decimal(decimal.group())
        else:
            result = int(self._match(_INTEGER_RE, "number").group())
        if self._peek() in _DIGITS or self._peek() == ".":
            self._fail("number too long")
        return result

    def _bytes(self) -> bytes:
        text = self._match(_BYTES_RE, "byte sequence").group(1)
        try:
            raw = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            self._fail("bad base64 in byte sequence")
        if base64.b64encode(raw).decode("ascii") != text:
            self._fail("non-canonical base64 in byte sequence")
        return raw

    def _match(self, pattern: re.Pattern[str], what: str) -> re.Match[str]:
        match = pattern.match(self._text, self._pos)
        if match is None:
            self._fail(f"expected {what}")
        self._pos = match.end()
        return match

    def _peek(self) -> str:
        return self._text[self._pos : self._pos + 1]

    def _at_end(self) -> bool:
        return self._pos >= len(self._text)

    def _skip(self, chars: str) -> None:
        while not self._at_end() and self._text[self._pos] in chars:
            self._pos += 1

    def _expect(self, char: str) -> None:
        if self._peek() != char:
            self._fail(f"expected {char!r}")
        self._pos += 1

    def _fail(self, what: str) -> NoReturn:
        raise MalformedError(f"{what} at offset {self._pos}")


def serialize_bare(value: Bare) -> str:
    """A bare item's text (RFC 8941 §4.1.3)."""
    if isinstance(value, bool):
        return "?1" if value else "?0"
    if isinstance(value, int):
        if abs(value) > MAX_INTEGER:
            raise ValueError(f"integer {value} out of structured-field range")
        return str(value)
    if isinstance(value, Decimal):
        text = format(value.quantize(Decimal("0.001"), rounding=ROUND_HALF_EVEN), "f")
        text = text.rstrip("0")
        return text + "0" if text.endswith(".") else text
    if isinstance(value, str):
        if _STRING_CHARS_RE.fullmatch(value) is None:
            raise ValueError(f"string {value!r} is not printable ASCII")
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, Token):
        return value.value
    return ":" + base64.b64encode(value).decode("ascii") + ":"


def serialize_params(params: Params) -> str:
    """Parameters' text, ``;key`` for a true boolean (RFC 8941 §4.1.1.2)."""
    return "".join(
        f";{key}" if value is True else f";{key}={serialize_bare(value)}" for key, value in params
    )


def serialize_item(item: Item) -> str:
    """An item's text: its bare value, then its parameters."""
    return serialize_bare(item.value) + serialize_params(item.params)


def serialize_inner_list(inner: InnerList) -> str:
    """An inner list's text: ``(item item …)`` then its parameters."""
    items = " ".join(serialize_item(item) for item in inner.items)
    return f"({items}){serialize_params(inner.params)}"


def serialize_dictionary(members: Mapping[str, Member]) -> str:
    """A Dictionary's text (RFC 8941 §4.1.2), members in mapping order."""
    return ", ".join(key + _serialize_member(member) for key, member in members.items())


def _serialize_member(member: Member) -> str:
    if isinstance(member, InnerList):
        return "=" + serialize_inner_list(member)
    if member.value is True:
        return serialize_params(member.params)
    return "=" + serialize_item(member)
