"""Node-to-node HTTP: signed msgpack requests to one peer (``/v1/peer/…``).

Every request is signed with the node's key (RFC 9421, ``protocol.httpsig``); every response
is decoded by ``protocol.sync`` and every entry in it is verified by the node before storing.
A peer's answer is never trusted further than its signatures.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

import aiohttp

from node.config import PeerConfig
from node.federation.errors import PeerError
from protocol import wire
from protocol.httpsig import sign_request
from protocol.identity import PublicKey, SigningKey
from protocol.sync import (
    FeedDigest,
    FeedRow,
    Head,
    Range,
    decode_digests,
    decode_entries,
    decode_feed,
    decode_heads,
    encode_entries,
    encode_feed_request,
    encode_ranges,
)

MSGPACK = "application/x-msgpack"
REFUSALS = {
    401: "the peer does not accept this node's key: has it added us as a peer?",
    403: "forbidden",
    404: "not a hashbank peer endpoint",
    413: "request too large for the peer",
    429: "rate limited by the peer",
    500: "the peer failed",
    502: "bad gateway",
    503: "the peer is unavailable",
}
MAX_RESPONSE_BYTES = 32 * 1024 * 1024
TIMEOUT = aiohttp.ClientTimeout(total=60, connect=5, sock_read=30)


class PeerTransport(Protocol):
    """Signed calls to one peer (``PeerClient`` over HTTP; unit tests pass a fake)."""

    async def heads(self) -> dict[bytes, Head]: ...

    async def digests(self) -> dict[bytes, FeedDigest]: ...

    async def feed(self, request: Range) -> list[FeedRow]: ...

    async def fetch(self, ranges: list[Range]) -> list[bytes]: ...

    async def push(self, raws: list[bytes]) -> None: ...

    async def forks(self) -> list[bytes]: ...

    async def charters(self, after: int) -> list[bytes]: ...

    async def push_charters(self, charters: list[bytes]) -> None: ...

    async def push_forks(self, proofs: list[bytes]) -> None: ...

    async def notify(self) -> None: ...


class PeerClient:
    """Signed calls to one peer."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        key: Callable[[], SigningKey],
        url: str,
        node_id: PublicKey,
    ) -> None:
        self.session = session
        self.key = key  # read at every call: a key rotation takes effect at once
        self.url = url.rstrip("/")
        self.node_id = node_id

    async def heads(self) -> dict[bytes, Head]:
        return decode_heads(await self._call("GET", "/v1/peer/heads", b""))

    async def digests(self) -> dict[bytes, FeedDigest]:
        """The peer's heads, each with its author's feed digest."""
        return decode_digests(await self._call("GET", "/v1/peer/digests", b""))

    async def feed(self, request: Range) -> list[FeedRow]:
        """How the peer holds one author's entries in a range, seq by seq."""
        return decode_feed(await self._call("POST", "/v1/peer/feed", encode_feed_request(request)))

    async def fetch(self, ranges: list[Range]) -> list[bytes]:
        return decode_entries(await self._call("POST", "/v1/peer/entries", encode_ranges(ranges)))

    async def push(self, raws: list[bytes]) -> None:
        await self._call("POST", "/v1/peer/push", encode_entries(raws))

    async def forks(self) -> list[bytes]:
        value = wire.decode(
            await self._call("GET", "/v1/peer/forks", b""), max_size=MAX_RESPONSE_BYTES
        )
        if not isinstance(value, list) or not all(isinstance(p, bytes) for p in value):
            raise PeerError("peer sent a malformed fork list")
        return value

    async def charters(self, after: int) -> list[bytes]:
        """The peer's charter versions numbered above ``after``."""
        data = await self._call("GET", f"/v1/peer/charters?after={after}", b"")
        value = wire.decode(data, max_size=MAX_RESPONSE_BYTES, what="charter list")
        if not isinstance(value, list) or not all(isinstance(c, bytes) for c in value):
            raise PeerError("peer sent a malformed charter list")
        return value

    async def push_charters(self, charters: list[bytes]) -> None:
        await self._call("POST", "/v1/peer/charters", wire.encode(charters))

    async def notify(self) -> None:
        """Ask the peer to pull from us."""
        await self._call("POST", "/v1/peer/notify", b"")

    async def push_forks(self, proofs: list[bytes]) -> None:
        await self._call("POST", "/v1/peer/forks", wire.encode(proofs))

    async def _call(self, method: str, path: str, body: bytes) -> bytes:
        headers = sign_request(
            self.key(),
            recipient=self.node_id,
            method=method,
            path=path,
            body=body,
            now=int(time.time()),
        )
        headers["Content-Type"] = MSGPACK
        try:
            # Never follow a redirect: a peer must not point our signed requests elsewhere.
            async with self.session.request(
                method,
                self.url + path,
                data=body,
                headers=headers,
                timeout=TIMEOUT,
                allow_redirects=False,
            ) as response:
                if response.status != 200:
                    raise PeerError(_refusal(method, path, response.status), response.status)
                return await _read_bounded(response, f"{method} {path}")
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise PeerError(f"{method} {path}: {_failure(exc)}") from None


def _refusal(method: str, path: str, status: int) -> str:
    """Our own words for a peer's error answer (its body is never kept)."""
    reason = REFUSALS.get(status, "redirected: refused to follow" if 300 <= status < 400 else "")
    return f"{method} {path}: HTTP {status}" + (f" ({reason})" if reason else "")


def _failure(exc: BaseException) -> str:
    """Our own words for a request that did not get an answer."""
    if isinstance(exc, TimeoutError | aiohttp.ServerTimeoutError):
        return "timed out"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return "cannot connect"
    if isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError):
        return "the connection broke"
    return f"request failed ({type(exc).__name__})"


async def _read_bounded(response: aiohttp.ClientResponse, what: str) -> bytes:
    """The whole body, refusing to buffer more than ``MAX_RESPONSE_BYTES`` from a peer."""
    chunks, size = [], 0
    async for chunk in response.content.iter_chunked(256 * 1024):
        size += len(chunk)
        if size > MAX_RESPONSE_BYTES:
            raise PeerError(f"{what}: response over {MAX_RESPONSE_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


class HttpTransports:
    """Makes the HTTP transport of each peer link, sharing one client session."""

    def __init__(self, key: Callable[[], SigningKey]) -> None:
        self.key = key
        self._session: aiohttp.ClientSession | None = None

    def __call__(self, peer: PeerConfig) -> PeerClient:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return PeerClient(self._session, self.key, peer.url, PublicKey.from_text(peer.node_id))

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
