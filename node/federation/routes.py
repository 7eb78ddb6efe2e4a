"""The node-to-node API (``/v1/peer/…``): msgpack bodies, RFC 9421-signed requests.

Only keys the node accepts as peers get past ``peer_auth``; every entry a peer sends is
verified by the protocol core before it is stored, whoever sent it.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from node.errors import RateLimitedError
from node.federation.client import MSGPACK
from node.federation.errors import PeerRequestError
from node.federation.gossip import Gossip
from node.federation.port import Replica
from node.limits import RateLimiter, read_body
from node.logs import untrusted
from protocol import wire
from protocol.errors import AuthError, ProtocolError
from protocol.feed import decode_fork_proof
from protocol.httpsig import ReplayCache, check_headers
from protocol.identity import PublicKey
from protocol.sync import (
    MAX_BATCH_BYTES,
    Head,
    decode_entries,
    decode_feed_request,
    decode_ranges,
    encode_digests,
    encode_entries,
    encode_feed,
    encode_heads,
)

log = logging.getLogger("hashbank.peer")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

NODE: web.AppKey[Replica] = web.AppKey("peer_node")
REPLAY: web.AppKey[ReplayCache] = web.AppKey("replay", ReplayCache)
ACCEPT: web.AppKey[Callable[[PublicKey], bool]] = web.AppKey("accept", Callable)  # type: ignore[arg-type]
WANT_SYNC: web.AppKey[Callable[[str], None]] = web.AppKey("want_sync", Callable)  # type: ignore[arg-type]
LIMIT: web.AppKey[RateLimiter] = web.AppKey("peer_limit", RateLimiter)
# The verified key of the peer that signed the request (set by ``peer_auth``).
PEER: web.RequestKey[str] = web.RequestKey("peer", str)
MAX_AGE_S = 30
MAX_PEER_BODY = 2 * MAX_BATCH_BYTES
# Nonces remembered in all (a few tens of MB at most, see protocol.httpsig.NONCE_PATTERN).
REPLAY_ENTRIES = 100_000


def msgpack_response(data: bytes) -> web.Response:
    return web.Response(body=data, content_type=MSGPACK)


@web.middleware
async def peer_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse, with 401, any request not signed by an accepted peer key within the window.

    The signature headers are checked before the body is read (a stranger's, a stale or a
    replayed request costs no body read), and the key's rate limit applies before its nonce
    is recorded (refused requests take no room in the replay cache).
    """
    node, replay = request.app[NODE], request.app[REPLAY]
    now = int(time.time())
    try:
        checked = check_headers(
            recipient=node.key.public_key,
            earlier_key=node.is_own_key,
            method=request.method,
            path=request.raw_path,
            headers=request.headers,
            now=now,
            replay=replay,
            max_age=MAX_AGE_S,
            accept_key=request.app[ACCEPT],
        )
        signed = checked.verify_body(await read_body(request))
        if wait := request.app[LIMIT].check(str(signed.key)):
            raise RateLimitedError(f"too many requests from this peer; retry in {wait:.1f} s", wait)
        replay.remember(signed, now)
    except AuthError as exc:
        log.warning(
            "refused peer request path=%s peer=%s reason=%s",
            untrusted(request.path),
            untrusted(request.remote),
            untrusted(exc.message),
        )
        raise
    request[PEER] = str(signed.key)
    return await handler(request)


async def heads(request: web.Request) -> web.Response:
    node = request.app[NODE]
    rows = [Head(a, h.seq, h.entry_id) for a, h in node.feeds.heads.items()]
    return msgpack_response(encode_heads(rows))


async def digests(request: web.Request) -> web.Response:
    """Our heads with each author's feed digest, so a peer can tell equal heads apart."""
    return msgpack_response(encode_digests(request.app[NODE].feed_digests()))


async def feed(request: web.Request) -> web.Response:
    """How we hold one author's entries in a range: the drill-down of a disagreement."""
    r = decode_feed_request(await request.read())
    return msgpack_response(
        encode_feed(await request.app[NODE].feed_rows(r.author, r.first, r.last))
    )


async def entries(request: web.Request) -> web.Response:
    node = request.app[NODE]
    ranges = decode_ranges(await request.read())
    out: list[bytes] = []
    size = 0
    for r in ranges:
        for raw in await node.entry_range(r.author, r.first, r.last):
            # A partial answer is fine: the puller advances by what it stored and asks again.
            if out and size + len(raw) > MAX_BATCH_BYTES:
                return msgpack_response(encode_entries(out))
            out.append(raw)
            size += len(raw)
    return msgpack_response(encode_entries(out))


async def push(request: web.Request) -> web.Response:
    node = request.app[NODE]
    peer = request[PEER]
    report = await node.ingest(decode_entries(await request.read()), source=peer, wait_index=False)
    if report.held:
        request.app[WANT_SYNC](peer)
    rejected = sum(report.rejected.values())
    return msgpack_response(wire.encode([len(report.stored), report.held, rejected]))


async def get_forks(request: web.Request) -> web.Response:
    rows = await request.app[NODE].forks()
    return msgpack_response(wire.encode([f.proof for f in rows]))


async def post_forks(request: web.Request) -> web.Response:
    node = request.app[NODE]
    value = wire.decode(await request.read(), max_size=MAX_PEER_BODY, what="fork list")
    if not isinstance(value, list) or len(value) > 100:
        raise PeerRequestError("fork list must be an array of at most 100 proofs")
    fresh = 0
    for data in value:
        if not isinstance(data, bytes):
            raise PeerRequestError("each fork proof must be bytes")
        try:
            proof = decode_fork_proof(data, node.policy)
        except ProtocolError as exc:
            log.warning(
                "invalid fork proof from peer=%s: %s", request[PEER], untrusted(exc.message)
            )
            continue
        fresh += await node.record_fork(proof, source=request[PEER])
    return msgpack_response(wire.encode(fresh))


async def get_charters(request: web.Request) -> web.Response:
    text = request.query.get("after", "0")
    if not (text.isascii() and text.isdigit()) or len(text) > 18:
        raise PeerRequestError("after must be a charter version number")
    return msgpack_response(wire.encode(request.app[NODE].charters_since(int(text))))


async def post_charters(request: web.Request) -> web.Response:
    node = request.app[NODE]
    value = wire.decode(await request.read(), max_size=MAX_PEER_BODY, what="charter list")
    if not isinstance(value, list) or len(value) > 100:
        raise PeerRequestError("charter list must be an array of at most 100 charters")
    report = await node.offer_charters(value, source=request[PEER])
    return msgpack_response(wire.encode(len(report.appended)))


async def notify(request: web.Request) -> web.Response:
    """The peer has entries for us (or dropped some it meant to push): pull from it soon."""
    request.app[WANT_SYNC](request[PEER])
    return msgpack_response(wire.encode(None))


def replay_cache(limiter: RateLimiter) -> ReplayCache:
    """A replay cache in which one key holds at most what its rate limit lets through."""
    window = MAX_AGE_S + 10
    share = math.ceil(limiter.burst + limiter.rate * window)
    return ReplayCache(window, max_entries=REPLAY_ENTRIES, max_per_key=share)


def make_peer_app(replica: Replica, gossip: Gossip, limiter: RateLimiter) -> web.Application:
    """The ``/v1/peer`` sub-application."""
    # (aiohttp applies the root application's client_max_size to sub-apps; see peer_link.py.)
    app = web.Application(middlewares=[peer_auth])
    app[LIMIT] = limiter
    app[NODE] = replica
    app[REPLAY] = replay_cache(limiter)
    app[ACCEPT] = gossip.accepts
    app[WANT_SYNC] = gossip.want_sync
    app.router.add_get("/heads", heads)
    app.router.add_get("/digests", digests)
    app.router.add_post("/feed", feed)
    app.router.add_post("/entries", entries)
    app.router.add_post("/push", push)
    app.router.add_get("/forks", get_forks)
    app.router.add_post("/forks", post_forks)
    app.router.add_post("/notify", notify)
    app.router.add_get("/charters", get_charters)
    app.router.add_post("/charters", post_charters)
    return app
