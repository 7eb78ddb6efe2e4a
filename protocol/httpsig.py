"""HTTP Message Signatures (RFC 9421) with Ed25519 for node-to-node requests, sans-I/O.

Every request one node sends another carries four headers::

    Hashbank-Recipient: <the receiving node's id: its public key, 64 lowercase hex>
    Content-Digest: sha-256=:<base64 of SHA-256(body)>:
    Signature-Input: hb=("@method" "@path" "@query" "hashbank-recipient" "content-digest")\
;created=1700000000;keyid="<64 hex>";alg="ed25519";nonce="<random>";tag="hashbank"
    Signature: hb=:<base64 of the 64-byte Ed25519 signature>:

The functions here take plain data (method, the raw request-target path, a header mapping, the
body bytes, the current unix time, the nodes' keys) and never do I/O; the node layer calls them
from its aiohttp handlers. Structured-field parsing and serialising (RFC 8941) is
``protocol.structured_fields``; signing and verifying the base is ``protocol.identity``.

Covered components
    Always exactly ``COVERED_COMPONENTS``, in that order. ``@query`` is covered even when the
    request has no query string: RFC 9421 §2.2.7 gives it the value ``?`` then, so one fixed
    list serves every request and a signed ``/x`` can never be replayed as ``/x?anything``.
    (``/x`` and ``/x?`` sign identically, as the RFC intends.) ``path`` is the origin-form
    request-target exactly as sent on the wire, percent-encoding intact (aiohttp's
    ``request.raw_path``); it is split at the first ``?``.

    ``hashbank-recipient`` binds the request to the node it was signed for, so a request one
    member signed for node A is refused by node C (no member can forward or replay another's
    request to a third node within the freshness window). The verifier may also accept an
    earlier key of its own organisation there (``earlier_key``), so that peers that have not
    yet learned of its key rotation still reach it. ``@authority`` would bind the host
    name instead, which breaks behind proxies that rewrite ``Host``; the receiver's node id
    does not change on the way.

Signature parameters
    ``created`` (unix seconds), ``keyid`` (the sender's public key, 64 lowercase hex), ``alg``
    (``"ed25519"``), ``nonce`` (16-128 characters of ``A-Z a-z 0-9 _ . ~ + / = -``; by default
    16 random bytes, base64url) and ``tag`` (``"hashbank"``), all required, in any order; no
    other parameter is accepted. The label is ``hb``; other labels in the same headers are
    parsed and ignored, as RFC 9421 allows several signatures.

Domain separation
    RFC 9421's ``ed25519`` signs the signature base itself, with no prefix; that is
    ``identity.sign_raw``, which accepts only messages starting with the byte ``"``. Every
    signature base starts with a quoted component identifier, while every hashbank context
    starts with ``hashbank/``, so no message signed here can verify as an entry, charter or
    request-context signature, nor the other way round.

Strictness
    Verification is deliberately narrower than RFC 9421 permits, because only hashbank nodes
    speak to each other: the component list and parameter set must be exactly the ones above;
    each of the four headers must appear once; values must be printable ASCII of at most
    ``MAX_HEADER_LENGTH`` characters; structured fields are parsed per RFC 8941 but duplicate
    keys and non-canonical base64 are rejected; ``Content-Digest`` must hold ``sha-256`` only;
    ``keyid`` and ``Hashbank-Recipient`` are compared as exact lowercase hex. The
    ``@signature-params`` line is the RFC 8941 serialisation of the parsed ``Signature-Input``
    member (RFC 9421 §2.3), so the signer's parameter order is kept while optional whitespace
    inside the inner list is not.

Freshness and replay
    ``created`` must lie in ``[now - max_age, now + MAX_CLOCK_SKEW]``. The ``(key, nonce)`` pair is
    remembered by a ``ReplayCache`` until ``created + window_seconds``, which is why the cache's
    window must be at least ``max_age``. Nonces are recorded only after the signature verifies,
    so unauthenticated traffic cannot fill the cache; a node records them only after its
    per-peer rate limit too, and each key may hold a bounded share of the cache, so a flooding
    member cannot fill it for the others. ``check_headers`` does every check that needs no
    body (a known nonce included) before the body is read.
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import re
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from protocol import structured_fields as sf
from protocol.errors import AuthError, BadSignatureError, InvalidValueError, MalformedError
from protocol.identity import SIGNATURE_SIZE, PublicKey, SigningKey, sign_raw, verify_raw

LABEL = "hb"
ALG = "ed25519"
TAG = "hashbank"
COVERED_COMPONENTS = ("@method", "@path", "@query", "hashbank-recipient", "content-digest")
REQUIRED_PARAMS = frozenset({"created", "keyid", "alg", "nonce", "tag"})
DIGEST_ALGORITHM = "sha-256"

DEFAULT_MAX_AGE = 30
MAX_CLOCK_SKEW = 5
"""Seconds a ``created`` time may lie ahead of the verifier's clock."""
MAX_HEADER_LENGTH = 4096
MAX_PATH_LENGTH = 8192

HEADER_RECIPIENT = "Hashbank-Recipient"
_HEADER_CONTENT_DIGEST = "Content-Digest"
_HEADER_SIGNATURE_INPUT = "Signature-Input"
_HEADER_SIGNATURE = "Signature"

_KEY_HEX_RE = re.compile(r"[0-9a-f]{64}")
# Wide enough for other RFC 9421 implementations' nonces, long enough to carry real entropy,
# short enough that a full replay cache stays a few tens of megabytes.
NONCE_PATTERN = r"[A-Za-z0-9_.~+/=-]{16,128}"
_NONCE_RE = re.compile(NONCE_PATTERN)
_METHOD_RE = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,32}")
# Visible ASCII without '#': no space or control byte can reach a signature-base line.
_PATH_RE = re.compile(r"/[!-\"$-~]*")
_FIELD_VALUE_RE = re.compile(r"[\t -~]*")


# --- Signature base -------------------------------------------------------------------------


def content_digest(body: bytes) -> str:
    """The RFC 9530 ``Content-Digest`` value of ``body``: ``sha-256=:<base64>:``."""
    digest = hashlib.sha256(body).digest()
    return sf.serialize_dictionary({DIGEST_ALGORITHM: sf.Item(digest)})


def signature_base(
    components: Sequence[tuple[str, str]], params: Sequence[tuple[str, int | str]]
) -> bytes:
    """The RFC 9421 §2.5 signature base for ``(identifier, value)`` pairs and parameters."""
    covered = sf.InnerList(tuple(sf.Item(name) for name, _ in components), tuple(params))
    return _signature_base(covered, [value for _, value in components])


def _signature_base(covered: sf.InnerList, values: Sequence[str]) -> bytes:
    if len(values) != len(covered.items):
        raise ValueError("one value is needed per covered component")
    lines = []
    for item, value in zip(covered.items, values, strict=True):
        # A newline in a value would let it forge further base lines.
        if _FIELD_VALUE_RE.fullmatch(value) is None:
            raise ValueError(f"component value {value[:80]!r} is not printable ASCII")
        lines.append(f"{sf.serialize_item(item)}: {value}")
    lines.append(f'"@signature-params": {sf.serialize_inner_list(covered)}')
    return "\n".join(lines).encode("ascii")


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

    def values(self, recipient: str, digest_header: str) -> list[str]:
        """Component values in ``COVERED_COMPONENTS`` order."""
        return [self.method, self.path, self.query, recipient, digest_header]


def _covered(params: sf.Params) -> sf.InnerList:
    return sf.InnerList(tuple(sf.Item(name) for name in COVERED_COMPONENTS), params)


# --- Signing --------------------------------------------------------------------------------


def sign_request(
    key: SigningKey,
    *,
    recipient: PublicKey,
    method: str,
    path: str,
    body: bytes,
    now: int,
    nonce: str | None = None,
) -> dict[str, str]:
    """The four signature headers for a request to the node whose id is ``recipient``."""
    target = _Target.parse(method, path)
    if isinstance(target, str):
        raise InvalidValueError(f"cannot sign request: {target}", field="path")
    if type(now) is not int or not 0 <= now <= sf.MAX_INTEGER:
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
    signature = sign_raw(key, _signature_base(covered, target.values(str(recipient), digest)))
    return {
        HEADER_RECIPIENT: str(recipient),
        _HEADER_CONTENT_DIGEST: digest,
        _HEADER_SIGNATURE_INPUT: sf.serialize_dictionary({LABEL: covered}),
        _HEADER_SIGNATURE: sf.serialize_dictionary({LABEL: sf.Item(signature)}),
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


@dataclass(frozen=True, slots=True)
class SignedHeaders:
    """A request whose signature headers passed every check that needs no body.

    Its body is read only after this (so a stranger, a stale or replayed request costs the
    verifier no body read), then ``verify_body`` checks the digest and the signature.
    """

    key: PublicKey
    created: int
    nonce: str
    base_values: tuple[str, ...]
    covered: sf.InnerList
    signature: bytes
    claimed_digest: bytes

    def verify_body(self, body: bytes) -> SignedRequest:
        """Check ``body`` against the signed digest, then the signature itself."""
        if not hmac.compare_digest(self.claimed_digest, hashlib.sha256(body).digest()):
            raise AuthError("Content-Digest does not match the body", field="content-digest")
        base = _signature_base(self.covered, self.base_values)
        try:
            verify_raw(self.key, base, self.signature)
        except BadSignatureError as exc:
            raise AuthError(exc.message, field="signature") from exc
        return SignedRequest(self.key, self.created, self.nonce)


def check_headers(
    *,
    recipient: PublicKey,
    method: str,
    path: str,
    headers: Mapping[str, str],
    now: int,
    replay: ReplayCache,
    max_age: int = DEFAULT_MAX_AGE,
    accept_key: Callable[[PublicKey], bool],
    earlier_key: Callable[[PublicKey], bool] | None = None,
) -> SignedHeaders:
    """Every check of a request that needs no body: form, freshness, key, recipient, replay.

    ``recipient`` is the verifying node's own id (its current public key): a request signed
    for any other node is refused. ``earlier_key(k)`` says whether ``k`` is an earlier key of
    the verifier's own organisation; peers that have not yet learned of a key rotation still
    address the node by it, and a key belongs to one organisation only, so such a request was
    meant for this node too. It is asked only when the recipient is not the current key.
    A nonce already recorded is refused here; nothing is recorded (``ReplayCache.remember``).
    """
    if replay.window_seconds < max_age:
        # A shorter memory than the freshness window would silently allow replays.
        raise ValueError(
            f"replay window {replay.window_seconds}s is shorter than max_age {max_age}s"
        )
    target = _Target.parse(method, path)
    if isinstance(target, str):
        raise AuthError(target, field="path")
    recipient_header = _header(headers, HEADER_RECIPIENT)
    digest_header = _header(headers, _HEADER_CONTENT_DIGEST)
    covered = _signature_input(_header(headers, _HEADER_SIGNATURE_INPUT))
    signature = _signature(_header(headers, _HEADER_SIGNATURE))
    claimed_digest = _parse_content_digest(digest_header)

    params = _check_covered(covered)
    _check_time(params.created, now, max_age)
    if not accept_key(params.key):
        raise AuthError(f"key {params.key} is not accepted here", field="keyid")
    _check_recipient(recipient_header, recipient, earlier_key)
    replay.check_unused(params.key.raw, params.nonce)
    return SignedHeaders(
        params.key,
        params.created,
        params.nonce,
        tuple(target.values(recipient_header, digest_header)),
        covered,
        signature,
        claimed_digest,
    )


def verify_request(
    *,
    recipient: PublicKey,
    method: str,
    path: str,
    headers: Mapping[str, str],
    body: bytes,
    now: int,
    replay: ReplayCache,
    max_age: int = DEFAULT_MAX_AGE,
    accept_key: Callable[[PublicKey], bool],
    earlier_key: Callable[[PublicKey], bool] | None = None,
) -> SignedRequest:
    """Check a request's ``hb`` signature and record its nonce; raise ``AuthError`` naming the
    first problem found. ``check_headers``, ``SignedHeaders.verify_body`` and
    ``ReplayCache.remember`` in one call, for a verifier with the body at hand and no rate
    limit to apply between verifying and recording."""
    checked = check_headers(
        recipient=recipient,
        method=method,
        path=path,
        headers=headers,
        now=now,
        replay=replay,
        max_age=max_age,
        accept_key=accept_key,
        earlier_key=earlier_key,
    )
    signed = checked.verify_body(body)
    replay.remember(signed, now)
    return signed


def request_signature_base(*, method: str, path: str, headers: Mapping[str, str]) -> bytes:
    """The signature base a signed request's headers cover (for test vectors and debugging).

    Checks only what building the base needs; ``verify_request`` is what accepts a request.
    """
    target = _Target.parse(method, path)
    if isinstance(target, str):
        raise AuthError(target, field="path")
    covered = _signature_input(_header(headers, _HEADER_SIGNATURE_INPUT))
    values = target.values(
        _header(headers, HEADER_RECIPIENT), _header(headers, _HEADER_CONTENT_DIGEST)
    )
    return _signature_base(covered, values)


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


def _dictionary(value: str, field: str) -> dict[str, sf.Member]:
    try:
        return sf.parse_dictionary(value)
    except MalformedError as exc:
        raise AuthError(
            f"{field} header is not a valid structured field: {exc.message}", field=field.lower()
        ) from None


def _labelled(value: str, field: str) -> sf.Member:
    member = _dictionary(value, field).get(LABEL)
    if member is None:
        raise AuthError(f"{field} header has no {LABEL!r} signature", field=field.lower())
    return member


def _signature_input(value: str) -> sf.InnerList:
    member = _labelled(value, _HEADER_SIGNATURE_INPUT)
    if not isinstance(member, sf.InnerList):
        raise AuthError(
            f"{_HEADER_SIGNATURE_INPUT} {LABEL!r} is not an inner list", field="signature-input"
        )
    return member


def _signature(value: str) -> bytes:
    member = _labelled(value, _HEADER_SIGNATURE)
    if not isinstance(member, sf.Item) or not isinstance(member.value, bytes) or member.params:
        raise AuthError(f"{_HEADER_SIGNATURE} {LABEL!r} is not a byte sequence", field="signature")
    if len(member.value) != SIGNATURE_SIZE:
        raise AuthError(
            f"signature is {len(member.value)} bytes, expected {SIGNATURE_SIZE}", field="signature"
        )
    return member.value


def _parse_content_digest(value: str) -> bytes:
    members = _dictionary(value, _HEADER_CONTENT_DIGEST)
    if list(members) != [DIGEST_ALGORITHM]:
        raise AuthError(
            f"Content-Digest must hold exactly {DIGEST_ALGORITHM}, got {sorted(members)}",
            field="content-digest",
        )
    member = members[DIGEST_ALGORITHM]
    if (
        not isinstance(member, sf.Item)
        or not isinstance(member.value, bytes)
        or member.params
        or len(member.value) != hashlib.sha256().digest_size
    ):
        raise AuthError("Content-Digest sha-256 is not a 32-byte sequence", field="content-digest")
    return member.value


def _check_covered(covered: sf.InnerList) -> _SignatureParams:
    names = tuple(item.value for item in covered.items)
    if names != COVERED_COMPONENTS or any(item.params for item in covered.items):
        shown = " ".join(sf.serialize_item(item) for item in covered.items)
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
    if not isinstance(keyid, str) or _KEY_HEX_RE.fullmatch(keyid) is None:
        raise AuthError(f"keyid must be 64 lowercase hex characters, got {keyid!r}", field="keyid")
    nonce = params["nonce"]
    if not isinstance(nonce, str) or _NONCE_RE.fullmatch(nonce) is None:
        raise AuthError(f"nonce must be 16-128 URL-safe characters, got {nonce!r}", field="nonce")
    return _SignatureParams(created, PublicKey(bytes.fromhex(keyid)), nonce)


def _expect_param(params: Mapping[str, sf.Bare], name: str, expected: str) -> None:
    value = params[name]
    if not isinstance(value, str) or value != expected:
        raise AuthError(f"{name} must be {expected!r}, got {value!r}", field=name)


def _check_recipient(
    value: str, recipient: PublicKey, earlier_key: Callable[[PublicKey], bool] | None
) -> None:
    field = HEADER_RECIPIENT.lower()
    if _KEY_HEX_RE.fullmatch(value) is None:
        raise AuthError(
            f"{HEADER_RECIPIENT} must be 64 lowercase hex characters, got {value[:80]!r}",
            field=field,
        )
    if value == str(recipient):
        return
    if earlier_key is None or not earlier_key(PublicKey(bytes.fromhex(value))):
        raise AuthError(
            f"request is addressed to node {value}, not to this node ({recipient})", field=field
        )


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
    a live nonce would reopen it for replay. So that one key cannot fill it for everyone, each
    key may hold at most ``max_per_key`` entries, and verifiers record a nonce only after
    their rate limit has let the request through (a refused request records nothing). Not
    thread-safe; use one per event loop.
    """

    __slots__ = ("_expiries", "_per_key", "_seen", "max_entries", "max_per_key", "window_seconds")

    def __init__(
        self, window_seconds: int, max_entries: int = 100_000, max_per_key: int | None = None
    ) -> None:
        if window_seconds <= 0 or max_entries <= 0:
            raise ValueError("window_seconds and max_entries must be positive")
        if max_per_key is not None and max_per_key <= 0:
            raise ValueError("max_per_key must be positive")
        self.window_seconds = window_seconds
        self.max_entries = max_entries
        self.max_per_key = max_entries if max_per_key is None else min(max_per_key, max_entries)
        self._seen: set[tuple[bytes, str]] = set()
        self._per_key: dict[bytes, int] = {}
        # Entries are added once and removed only on expiry, so a heap needs no lazy deletion.
        self._expiries: list[tuple[int, bytes, str]] = []

    def __len__(self) -> int:
        return len(self._seen)

    def held_by(self, key: bytes) -> int:
        """How many live nonces of ``key`` are remembered."""
        return self._per_key.get(key, 0)

    def check_unused(self, key: bytes, nonce: str) -> None:
        """Raise ``AuthError`` if ``(key, nonce)`` is remembered (a replay); record nothing."""
        if (key, nonce) in self._seen:
            raise AuthError(
                f"nonce {nonce!r} already used by key {key.hex()} (replay)", field="nonce"
            )

    def remember(self, signed: SignedRequest, now: int) -> None:
        """Record a verified request's nonce (``check_and_remember`` for a ``SignedRequest``)."""
        self.check_and_remember(signed.key.raw, signed.nonce, signed.created, now)

    def check_and_remember(self, key: bytes, nonce: str, created: int, now: int) -> None:
        """Record the nonce, or raise ``AuthError`` if it was seen or cannot be tracked."""
        self._evict(now)
        expires = created + self.window_seconds
        if expires < now:
            raise AuthError(
                f"request created at {created} is older than the replay window", field="created"
            )
        self.check_unused(key, nonce)
        if len(self._seen) >= self.max_entries:
            raise AuthError("too many requests in window", field="nonce")
        if self._per_key.get(key, 0) >= self.max_per_key:
            raise AuthError(
                f"too many requests from key {key.hex()} in the last {self.window_seconds} s",
                field="nonce",
            )
        self._seen.add((key, nonce))
        self._per_key[key] = self._per_key.get(key, 0) + 1
        heapq.heappush(self._expiries, (expires, key, nonce))

    def _evict(self, now: int) -> None:
        while self._expiries and self._expiries[0][0] < now:
            _, key, nonce = heapq.heappop(self._expiries)
            self._seen.discard((key, nonce))
            left = self._per_key.get(key, 0) - 1
            if left > 0:
                self._per_key[key] = left
            else:
                self._per_key.pop(key, None)
