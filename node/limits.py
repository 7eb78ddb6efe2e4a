"""Limits that keep one client from taking the node: rate limits and slow-client guards.

- ``RateLimiter``: a token bucket per caller (a peer's key, a bearer token, or for
  unauthenticated traffic the remote address). Memory is bounded: the least recently seen
  callers are forgotten first.
- ``ConnectionGuard``: closes connections that hold a slot without completing a request in
  time (slowloris), and caps how many connections the node holds at once.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from node.errors import RequestTimeoutError

BODY_TIMEOUT: web.AppKey[float] = web.AppKey("body_timeout", float)


@dataclass(frozen=True, slots=True)
class LimitsStatus:
    """What the limits have refused since the node started (for ``GET /v1/status``)."""

    api_refused: int
    peer_refused: int | None  # None when the node serves no peer routes
    connections: int
    max_connections: int
    closed_slow: int
    connections_refused: int

    @classmethod
    def of(cls, api: RateLimiter, peer: RateLimiter | None, guard: ConnectionGuard) -> LimitsStatus:
        return cls(
            api_refused=api.refused,
            peer_refused=None if peer is None else peer.refused,
            connections=guard.connections,
            max_connections=guard.max_connections,
            closed_slow=guard.closed_slow,
            connections_refused=guard.refused,
        )


async def read_body(request: web.Request) -> bytes:
    """The request body, refusing a client that trickles it in slower than the limit allows."""
    seconds = request.config_dict.get(BODY_TIMEOUT, 30.0)
    try:
        async with asyncio.timeout(seconds):
            return await request.read()
    except TimeoutError:
        raise RequestTimeoutError(f"the request body did not arrive within {seconds:g} s") from None


class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` saved up."""

    __slots__ = ("burst", "rate", "stamp", "tokens")

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.stamp = time.monotonic()

    def take(self, now: float) -> float:
        """0 if a token was taken, else the seconds until one will be available."""
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


class RateLimiter:
    """Token buckets by caller, for at most ``max_callers`` callers at a time."""

    def __init__(self, rate: float, burst: float, max_callers: int = 10_000) -> None:
        self.rate = rate
        self.burst = burst
        self.max_callers = max_callers
        self.refused = 0
        self._buckets: collections.OrderedDict[str, TokenBucket] = collections.OrderedDict()

    def check(self, caller: str) -> float:
        """0 if ``caller`` may proceed, else the seconds it should wait (and it is refused)."""
        bucket = self._buckets.get(caller)
        if bucket is None:
            bucket = TokenBucket(self.rate, self.burst)
            self._buckets[caller] = bucket
            if len(self._buckets) > self.max_callers:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(caller)
        wait = bucket.take(time.monotonic())
        if wait:
            self.refused += 1
        return wait


class ConnectionGuard:
    """Close connections that start no request in time, and cap the number held.

    Each connection must begin a request (its headers complete) within ``request_timeout``
    of connecting or of finishing its previous request; the request middleware tells the
    guard when requests start and end. A connection beyond ``max_connections`` is closed at
    once.
    """

    def __init__(self, request_timeout: float = 10.0, max_connections: int = 1_000) -> None:
        self.request_timeout = request_timeout
        self.max_connections = max_connections
        self.closed_slow = 0
        self.refused = 0
        self._timers: dict[Any, asyncio.TimerHandle] = {}
        self._busy: set[Any] = set()

    def wrap(self, factory: Callable[[], asyncio.Protocol]) -> Callable[[], asyncio.Protocol]:
        """A protocol factory whose connections this guard watches."""
        return lambda: _Watched(self, factory())

    def connected(self, transport: Any) -> None:
        self._arm(transport)

    def disconnected(self, transport: Any) -> None:
        self._disarm(transport)
        self._busy.discard(transport)

    def request_started(self, transport: Any) -> None:
        self._disarm(transport)
        self._busy.add(transport)

    def request_finished(self, transport: Any) -> None:
        self._busy.discard(transport)
        if transport is not None and not transport.is_closing():
            self._arm(transport)

    def _arm(self, transport: Any) -> None:
        self._disarm(transport)
        loop = asyncio.get_running_loop()
        self._timers[transport] = loop.call_later(self.request_timeout, self._expire, transport)

    def _disarm(self, transport: Any) -> None:
        timer = self._timers.pop(transport, None)
        if timer is not None:
            timer.cancel()

    def _expire(self, transport: Any) -> None:
        self._timers.pop(transport, None)
        if transport not in self._busy and not transport.is_closing():
            self.closed_slow += 1
            transport.close()

    @property
    def connections(self) -> int:
        return len(self._timers) + len(self._busy)


class _Watched(asyncio.Protocol):
    """Passes everything to aiohttp's protocol; tells the guard about connects and losses."""

    def __init__(self, guard: ConnectionGuard, inner: asyncio.Protocol) -> None:
        self.guard = guard
        self.inner = inner
        self.transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.inner.connection_made(transport)
        if self.guard.connections >= self.guard.max_connections:
            self.guard.refused += 1
            transport.close()
            return
        self.guard.connected(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.guard.disconnected(self.transport)
        self.inner.connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received()

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()
