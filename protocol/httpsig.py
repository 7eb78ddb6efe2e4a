"""HTTP Message Signatures (RFC 9421) with Ed25519 for node-to-node requests, sans-I/O.

Every request one node sends another carries three headers::

    Content-Digest: sha-256=:<base64 of SHA-256(body)>:
    Signature-Input: hb=("@method" "@path" "@query" "content-digest");created=1700000000;\
keyid="<64 hex>";alg="ed25519";nonce="<random>";tag="hashbank"
    Signature: hb=:<base64 of the 64-byte Ed25519 signature>:

The functions here take plain data (method, the raw request-target path, a header mapping, the
body bytes, the current unix time) and never do I/O; the node layer calls them from aiohttp.

Covered components
    Always exactly ``"@method" "@path" "@query" "content-digest"``, in that order. ``@query`` is
    covered even when the request has no query string: RFC 9421 §2.2.7 gives it the value ``?``
    then, so one fixed list serves every request and a signed ``/x`` can never be replayed as
    ``/x?anything``. (``/x`` and ``/x?`` sign identically, as the RFC intends.) ``path`` is the
    origin-form request-target exactly as sent on the wire, percent-encoding intact (aiohttp's
    ``request.raw_path``); it is split at the first ``?``. ``@authority`` is deliberately not
    covered: nodes sit behind proxies that rewrite ``Host``, and the peer is identified by its
    key, not by a host name.

Signature parameters
    ``created`` (unix seconds), ``keyid`` (the sender's public key, 64 lowercase hex), ``alg``
    (``"ed25519"``), ``nonce`` (by default 16 random bytes, base64url) and ``tag``
    (``"hashbank"``), all required; no other parameter is accepted. The label is ``hb``; other
    labels in the same headers are parsed and ignored, as RFC 9421 allows several signatures.

Domain separation
    RFC 9421's ``ed25519`` signs the signature base itself, with no prefix, so this module signs
    with PyNaCl directly rather than through ``SigningKey.sign`` (which prepends a context).
    The key is still shared with every other hashbank signature, and the message spaces stay
    disjoint: every hashbank context starts with ``hashbank/`` (first byte ``h``), while every
    signature base starts with a quoted component identifier, and ``sign_request`` always puts
    ``"@method"`` first, so its bases start with the byte ``"``. ``_sign_base`` refuses any other
    first byte, so no message signed here can verify as an entry, charter or request-context
    signature, nor the other way round.

Strictness
    Verification is deliberately narrower than RFC 9421 permits, because only hashbank nodes
    speak to each other: the component list and parameter set must be exactly the ones above;
    each of the three headers must appear once; values must be printable ASCII of at most
    ``MAX_HEADER_LENGTH`` characters; structured fields are parsed per RFC 8941 but duplicate
    keys and non-canonical base64 are rejected; ``Content-Digest`` must hold ``sha-256`` only.
    The ``@signature-params`` line is rebuilt from the parsed ``Signature-Input`` (RFC 9421
    §3.2), so the signer's parameter order is kept.

Freshness and replay
    ``created`` must lie in ``[now - max_age, now + MAX_CLOCK_SKEW]``. The ``(key, nonce)`` pair is
    remembered by a ``ReplayCache`` until ``created + window_seconds``, which is why the cache's
    window must be at least ``max_age``. Nonces are recorded only after the signature verifies,
    so unauthenticated traffic cannot fill the cache.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import heapq
import hmac
import re
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import NoReturn, TypeAlias

import nacl.exceptions
import nacl.signing

from protocol.errors import AuthError, InvalidValueError
from protocol.identity import SIGNATURE_SIZE, PublicKey, SigningKey

LABEL = "hb"
ALG = "ed25519"
TAG = "hashbank"
COVERED_COMPONENTS = ("@method", "@path", "@query", "content-digest")
REQUIRED_PARAMS = frozenset({"created", "keyid", "alg", "nonce", "tag"})
DIGEST_ALGORITHM = "sha-256"

DEFAULT_MAX_AGE = 30
MAX_CLOCK_SKEW = 5
"""Seconds a ``created`` time may lie ahead of the verifier's clock."""
MAX_HEADER_LENGTH = 4096
MAX_PATH_LENGTH = 8192

_HEADER_CONTENT_DIGEST = "Content-Digest"
_HEADER_SIGNATURE_INPUT = "Signature-Input"
_HEADER_SIGNATURE = "Signature"

_KEYID_RE = re.compile(r"[0-9a-f]{64}")
# Wide enough for other RFC 9421 implementations' nonces, long enough to carry real entropy,
# short enough that a full replay cache stays a few tens of megabytes.
_NONCE_RE = re.compile(r"[A-Za-z0-9_.~+/=-]{16,128}")
_METHOD_RE = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,32}")
# Visible ASCII without '#': no space or control byte can reach a signature-base line.
_PATH_RE = re.compile(r"/[!-\"$-~]*")
_FIELD_VALUE_RE = re.compile(r"[\t -~]*")


# --- RFC 8941 structured fields -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Token:
    """An RFC 8941 token (as opposed to a string)."""

    value: str


_Bare: TypeAlias = bool | int | Decimal | str | _Token | bytes
_Params: TypeAlias = tuple[tuple[str, _Bare], ...]


@dataclass(frozen=True, slots=True)
class _Item:
    value: _Bare
    params: _Params = ()


@dataclass(frozen=True, slots=True)
class _InnerList:
    items: tuple[_Item, ...]
    params: _Params = ()


_Member: TypeAlias = _Item | _InnerList

_KEY_RE = re.compile(r"[a-z*][a-z0-9_.*-]*")
_DECIMAL_RE = re.compile(r"-?[0-9]{1,12}\.[0-9]{1,3}")
_INTEGER_RE = re.compile(r"-?[0-9]{1,15}")
_STRING_RE = re.compile(r'"((?:[ !#-\[\]-~]|\\["\\])*)"')
_STRING_ESCAPE_RE = re.compile(r"\\(.)")
_TOKEN_RE = re.compile(r"[A-Za-z*][!#$%&'*+.^_`|~0-9A-Za-z:/-]*")
_BYTES_RE = re.compile(r":([A-Za-z0-9+/=]*):")
_BOOLEAN_RE = re.compile(r"\?[01]")
_STRING_CHARS_RE = re.compile(r"[ -~]*")
_MAX_INTEGER = 999_999_999_999_999
_DIGITS = frozenset("0123456789")


class _Parser:
    """A strict RFC 8941 §4.2 parser over one header value."""

    __slots__ = ("_field", "_pos", "_text")

    def __init__(self, text: str, field: str) -> None:
        self._text = text
        self._field = field
        self._pos = 0

    def dictionary(self) -> dict[str, _Member]:
        """Parse the whole value as a Dictionary."""
        members: dict[str, _Member] = {}
        self._skip(" ")
        while not self._at_end():
            key = self._key()
            if key in members:
                # RFC 8941 lets the last one win; two signatures under one label is an attack
                # or a bug, so refuse instead of picking one.
                self._fail(f"duplicate key {key!r}")
            if self._peek() == "=":
                self._pos += 1
                members[key] = self._member()
            else:
                members[key] = _Item(True, self._params())
            self._skip(" \t")
            if self._at_end():
                break
            self._expect(",")
            self._skip(" \t")
            if self._at_end():
                self._fail("trailing comma")
        return members

    def _member(self) -> _Member:
        if self._peek() == "(":
            return self._inner_list()
        return self._item()

    def _inner_list(self) -> _InnerList:
        self._expect("(")
        items: list[_Item] = []
        while True:
            self._skip(" ")
            if self._peek() == ")":
                self._pos += 1
                return _InnerList(tuple(items), self._params())
            items.append(self._item())
            if self._peek() not in (" ", ")"):
                self._fail("expected space or ')' in inner list")

    def _item(self) -> _Item:
        value = self._bare()
        return _Item(value, self._params())

    def _params(self) -> _Params:
        params: list[tuple[str, _Bare]] = []
        while self._peek() == ";":
            self._pos += 1
            self._skip(" ")
            key = self._key()
            value: _Bare = True
            if self._peek() == "=":
                self._pos += 1
                value = self._bare()
            if any(key == seen for seen, _ in params):
                self._fail(f"duplicate parameter {key!r}")
            params.append((key, value))
        return tuple(params)

    def _key(self) -> str:
        return self._match(_KEY_RE, "key").group()

    def _bare(self) -> _Bare:
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
        return _Token(self._match(_TOKEN_RE, "bare item").group())

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
        # One encoding per value: no stray padding bits or missing '=' to vary a signed header.
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
        raise AuthError(
            f"{self._field} header is not a valid structured field: {what} at offset {self._pos}",
            field=self._field.lower(),
        )


def _serialize_bare(value: _Bare) -> str:
    if isinstance(value, bool):
        return "?1" if value else "?0"
    if isinstance(value, int):
        if abs(value) > _MAX_INTEGER:
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
    if isinstance(value, _Token):
        return value.value
    return ":" + base64.b64encode(value).decode("ascii") + ":"


def _serialize_params(params: _Params) -> str:
    return "".join(
        f";{key}" if value is True else f";{key}={_serialize_bare(value)}" for key, value in params
    )


def _serialize_item(item: _Item) -> str:
    return _serialize_bare(item.value) + _serialize_params(item.params)


def _serialize_inner_list(inner: _InnerList) -> str:
    items = " ".join(_serialize_item(item) for item in inner.items)
    return f"({items}){_serialize_params(inner.params)}"


def _serialize_member(member: _Member) -> str:
    if isinstance(member, _InnerList):
        return "=" + _serialize_inner_list(member)
    if member.value is True:
        return _serialize_params(member.params)
    return "=" + _serialize_item(member)


def _serialize_dictionary(members: Mapping[str, _Member]) -> str:
    return ", ".join(key + _serialize_member(member) for key, member in members.items())


# --- Signature base -------------------------------------------------------------------------


def content_digest(body: bytes) -> str:
    """The RFC 9530 ``Content-Digest`` value of ``body``: ``sha-256=:<base64>:``."""
    digest = hashlib.sha256(body).digest()
    return _serialize_dictionary({DIGEST_ALGORITHM: _Item(digest)})


def signature_base(
    components: Sequence[tuple[str, str]], params: Sequence[tuple[str, int | str]]
) -> bytes:
    """The RFC 9421 §2.5 signature base for ``(identifier, value)`` pairs and parameters."""
    covered = _InnerList(tuple(_Item(name) for name, _ in components), tuple(params))
    return _signature_base(covered, [value for _, value in components])


def _signature_base(covered: _InnerList, values: Sequence[str]) -> bytes:
    if len(values) != len(covered.items):
        raise ValueError("one value is needed per covered component")
    lines = []
    for item, value in zip(covered.items, values, strict=True):
        # A newline in a value would let it forge further base lines.
        if _FIELD_VALUE_RE.fullmatch(value) is None:
            raise ValueError(f"component value {value[:80]!r} is not printable ASCII")
        lines.append(f"{_serialize_item(item)}: {value}")
    lines.append(f'"@signature-params": {_serialize_inner_list(covered)}')
    return "\n".join(lines).encode("ascii")


def _sign_base(key: SigningKey, base: bytes) -> bytes:
    # Hashbank contexts start with b"hashbank/"; a base starting with '"' cannot collide.
    if base[:1] != b'"':
        raise ValueError("an RFC 9421 signature base starts with a quoted component identifier")
    signature: bytes = nacl.signing.SigningKey(key.seed).sign(base).signature
    return signature


def _verify_base(key: PublicKey, base: bytes, signature: bytes) -> None:
    try:
        nacl.signing.VerifyKey(key.raw).verify(base, signature)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.CryptoError, ValueError) as exc:
        raise AuthError(f"signature does not verify with key {key}", field="signature") from exc


@dataclass(frozen=True, slots=True)
class _Target:
    method: str
    path: str
    query: str

    @classmethod
    def parse(cls, method: str, path: str) -> _Target | str:
        """The split request target, or a description of what is wrong with it."""
        if _METHOD_RE.fullmatch(method) is None:
            return f"method {method[:40]!r} is not an HTTP token"
        if len(path) > MAX_PATH_LENGTH:
            return f"path is {len(path)} characters, limit {MAX_PATH_LENGTH}"
        if _PATH_RE.fullmatch(path) is None:
            return f"path {path[:80]!r} is not an origin-form ASCII path"
        bare, _, query = path.partition("?")
        return cls(method, bare, "?" + query)

    def values(self, digest_header: str) -> list[str]:
        """Component values in ``COVERED_COMPONENTS`` order."""
        return [self.method, self.path, self.query, digest_header]


def _covered(params: _Params) -> _InnerList:
    return _InnerList(tuple(_Item(name) for name in COVERED_COMPONENTS), params)


# --- Signing --------------------------------------------------------------------------------


def sign_request(
    key: SigningKey, *, method: str, path: str, body: bytes, now: int, nonce: str | None = None
) -> dict[str, str]:
    """The ``Content-Digest``, ``Signature-Input`` and ``Signature`` headers for a request."""
    target = _Target.parse(method, path)
    if isinstance(target, str):
        raise InvalidValueError(f"cannot sign request: {target}", field="path")
    if type(now) is not int or not 0 <= now <= _MAX_INTEGER:
        raise InvalidValueError(f"now must be a non-negative integer, got {now!r}", field="now")
    if nonce is None:
        nonce = secrets.token_urlsafe(16)
    elif _NONCE_RE.fullmatch(nonce) is None:
        raise InvalidValueError(f"nonce {nonce[:80]!r} is not 16-128 URL-safe characters")
    digest = content_digest(body)
    covered = _covered(
        (
            ("created", now),
            ("keyid", str(key.public_key)),
            ("alg", ALG),
            ("nonce", nonce),
            ("tag", TAG),
        )
    )
    signature = _sign_base(key, _signature_base(covered, target.values(digest)))
    return {
        _HEADER_CONTENT_DIGEST: digest,
        _HEADER_SIGNATURE_INPUT: _serialize_dictionary({LABEL: covered}),
        _HEADER_SIGNATURE: _serialize_dictionary({LABEL: _Item(signature)}),
    }


# --- Verification ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """What a successful verification established about a request."""

    key: PublicKey
    created: int
    nonce: str


@dataclass(frozen=True, slots=True)
class _SignatureParams:
    created: int
    key: PublicKey
    nonce: str


def verify_request(
    *,
    method: str,
    path: str,
    headers: Mapping[str, str],
    body: bytes,
    now: int,
    replay: ReplayCache,
    max_age: int = DEFAULT_MAX_AGE,
    accept_key: Callable[[PublicKey], bool],
) -> SignedRequest:
    """Check a request's ``hb`` signature; raise ``AuthError`` naming the first problem found."""
    if replay.window_seconds < max_age:
        # A shorter memory than the freshness window would silently allow replays.
        raise ValueError(
            f"replay window {replay.window_seconds}s is shorter than max_age {max_age}s"
        )
    target = _Target.parse(method, path)
    if isinstance(target, str):
        raise AuthError(target, field="path")
    digest_header = _header(headers, _HEADER_CONTENT_DIGEST)
    covered = _signature_input(_header(headers, _HEADER_SIGNATURE_INPUT))
    signature = _signature(_header(headers, _HEADER_SIGNATURE))
    claimed_digest = _parse_content_digest(digest_header)

    params = _check_covered(covered)
    _check_time(params.created, now, max_age)
    if not accept_key(params.key):
        raise AuthError(f"key {params.key} is not accepted here", field="keyid")
    if not hmac.compare_digest(claimed_digest, hashlib.sha256(body).digest()):
        raise AuthError("Content-Digest does not match the body", field="content-digest")
    _verify_base(params.key, _signature_base(covered, target.values(digest_header)), signature)
    replay.check_and_remember(params.key.raw, params.nonce, params.created, now)
    return SignedRequest(params.key, params.created, params.nonce)


def _header(headers: Mapping[str, str], name: str) -> str:
    # items() rather than a lookup: a multidict yields every copy, a plain dict every spelling.
    wanted = name.lower()
    values = [value for key, value in headers.items() if key.lower() == wanted]
    if not values:
        raise AuthError(f"missing {name} header", field=wanted)
    if len(values) > 1:
        raise AuthError(f"{name} header appears {len(values)} times", field=wanted)
    value = values[0]
    if len(value) > MAX_HEADER_LENGTH:
        raise AuthError(
            f"{name} header is {len(value)} characters, limit {MAX_HEADER_LENGTH}", field=wanted
        )
    if _FIELD_VALUE_RE.fullmatch(value) is None:
        raise AuthError(f"{name} header holds non-ASCII or control characters", field=wanted)
    return value.strip(" \t")


def _labelled(value: str, field: str) -> _Member:
    members = _Parser(value, field).dictionary()
    member = members.get(LABEL)
    if member is None:
        raise AuthError(f"{field} header has no {LABEL!r} signature", field=field.lower())
    return member


def _signature_input(value: str) -> _InnerList:
    member = _labelled(value, _HEADER_SIGNATURE_INPUT)
    if not isinstance(member, _InnerList):
        raise AuthError(
            f"{_HEADER_SIGNATURE_INPUT} {LABEL!r} is not an inner list", field="signature-input"
        )
    return member


def _signature(value: str) -> bytes:
    member = _labelled(value, _HEADER_SIGNATURE)
    if not isinstance(member, _Item) or not isinstance(member.value, bytes) or member.params:
        raise AuthError(f"{_HEADER_SIGNATURE} {LABEL!r} is not a byte sequence", field="signature")
    if len(member.value) != SIGNATURE_SIZE:
        raise AuthError(
            f"signature is {len(member.value)} bytes, expected {SIGNATURE_SIZE}", field="signature"
        )
    return member.value


def _parse_content_digest(value: str) -> bytes:
    members = _Parser(value, _HEADER_CONTENT_DIGEST).dictionary()
    if list(members) != [DIGEST_ALGORITHM]:
        raise AuthError(
            f"Content-Digest must hold exactly {DIGEST_ALGORITHM}, got {sorted(members)}",
            field="content-digest",
        )
    member = members[DIGEST_ALGORITHM]
    if (
        not isinstance(member, _Item)
        or not isinstance(member.value, bytes)
        or member.params
        or len(member.value) != hashlib.sha256().digest_size
    ):
        raise AuthError("Content-Digest sha-256 is not a 32-byte sequence", field="content-digest")
    return member.value


def _check_covered(covered: _InnerList) -> _SignatureParams:
    names = tuple(item.value for item in covered.items)
    if names != COVERED_COMPONENTS or any(item.params for item in covered.items):
        shown = " ".join(_serialize_item(item) for item in covered.items)
        raise AuthError(
            f"covered components must be exactly {COVERED_COMPONENTS}, got ({shown})",
            field="signature-input",
        )
    params = dict(covered.params)
    missing = sorted(REQUIRED_PARAMS - params.keys())
    if missing:
        raise AuthError(f"missing signature parameters {missing}", field="signature-input")
    unexpected = sorted(params.keys() - REQUIRED_PARAMS)
    if unexpected:
        raise AuthError(f"unexpected signature parameters {unexpected}", field="signature-input")
    _expect_param(params, "alg", ALG)
    _expect_param(params, "tag", TAG)
    created = params["created"]
    if type(created) is not int or created < 0:
        raise AuthError(f"created must be a non-negative integer, got {created!r}", field="created")
    keyid = params["keyid"]
    if not isinstance(keyid, str) or _KEYID_RE.fullmatch(keyid) is None:
        raise AuthError(f"keyid must be 64 lowercase hex characters, got {keyid!r}", field="keyid")
    nonce = params["nonce"]
    if not isinstance(nonce, str) or _NONCE_RE.fullmatch(nonce) is None:
        raise AuthError(f"nonce must be 16-128 URL-safe characters, got {nonce!r}", field="nonce")
    return _SignatureParams(created, PublicKey(bytes.fromhex(keyid)), nonce)


def _expect_param(params: Mapping[str, _Bare], name: str, expected: str) -> None:
    value = params[name]
    if not isinstance(value, str) or value != expected:
        raise AuthError(f"{name} must be {expected!r}, got {value!r}", field=name)


def _check_time(created: int, now: int, max_age: int) -> None:
    if created > now + MAX_CLOCK_SKEW:
        raise AuthError(
            f"request created at {created} is in the future (now {now}, allowed skew "
            f"{MAX_CLOCK_SKEW}s)",
            field="created",
        )
    if created < now - max_age:
        raise AuthError(
            f"request created at {created} is too old (now {now}, max age {max_age}s)",
            field="created",
        )


# --- Replay protection ----------------------------------------------------------------------


class ReplayCache:
    """Remembers ``(key, nonce)`` pairs until their request can no longer be fresh.

    An entry lives until ``created + window_seconds``. Memory is bounded by ``max_entries``:
    when full, new requests are refused rather than unexpired nonces evicted, since forgetting
    a live nonce would reopen it for replay. Not thread-safe; use one per event loop.
    """

    __slots__ = ("_expiries", "_seen", "max_entries", "window_seconds")

    def __init__(self, window_seconds: int, max_entries: int = 100_000) -> None:
        if window_seconds <= 0 or max_entries <= 0:
            raise ValueError("window_seconds and max_entries must be positive")
        self.window_seconds = window_seconds
        self.max_entries = max_entries
        self._seen: set[tuple[bytes, str]] = set()
        # Entries are added once and removed only on expiry, so a heap needs no lazy deletion.
        self._expiries: list[tuple[int, bytes, str]] = []

    def __len__(self) -> int:
        return len(self._seen)

    def check_and_remember(self, key: bytes, nonce: str, created: int, now: int) -> None:
        """Record the nonce, or raise ``AuthError`` if it was seen or cannot be tracked."""
        self._evict(now)
        expires = created + self.window_seconds
        if expires < now:
            raise AuthError(
                f"request created at {created} is older than the replay window", field="created"
            )
        entry = (key, nonce)
        if entry in self._seen:
            raise AuthError(
                f"nonce {nonce!r} already used by key {key.hex()} (replay)", field="nonce"
            )
        if len(self._seen) >= self.max_entries:
            raise AuthError("too many requests in window", field="nonce")
        self._seen.add(entry)
        heapq.heappush(self._expiries, (expires, key, nonce))

    def _evict(self, now: int) -> None:
        while self._expiries and self._expiries[0][0] < now:
            _, key, nonce = heapq.heappop(self._expiries)
            self._seen.discard((key, nonce))
