"""Node-to-node HTTP: signed msgpack requests to one peer (``/v1/peer/…``).

Every request is signed with the node's key (RFC 9421, ``protocol.httpsig``); every response
is decoded by ``protocol.sync`` and every entry in it is verified by the node before storing.
A peer's answer is never trusted further than its signatures.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import aiohttp

from protocol import wire
from protocol.httpsig import sign_request
from protocol.identity import PublicKey, SigningKey
from protocol.sync import (
    Head,
    Range,
    decode_entries,
    decode_heads,
    encode_entries,
    encode_ranges,
)

MSGPACK = "application/x-msgpack"
MAX_RESPONSE_BYTES = 32 * 1024 * 1024
TIMEOUT = aiohttp.ClientTimeout(total=60, connect=5, sock_read=30)


class PeerError(Exception):
    """A peer that could not be reached or answered with an error."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


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
            async with self.session.request(
                method, self.url + path, data=body, headers=headers, timeout=TIMEOUT
            ) as response:
                if response.status != 200:
                    text = (await response.content.read(2000)).decode(errors="replace")
                    raise PeerError(
                        f"{method} {path}: HTTP {response.status} {text}", response.status
                    )
                return await _read_bounded(response, f"{method} {path}")
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise PeerError(f"{method} {path}: {type(exc).__name__}: {exc}") from None


async def _read_bounded(response: aiohttp.ClientResponse, what: str) -> bytes:
    """The whole body, refusing to buffer more than ``MAX_RESPONSE_BYTES`` from a peer."""
    chunks, size = [], 0
    async for chunk in response.content.iter_chunked(256 * 1024):
        size += len(chunk)
        if size > MAX_RESPONSE_BYTES:
            raise PeerError(f"{what}: response over {MAX_RESPONSE_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
