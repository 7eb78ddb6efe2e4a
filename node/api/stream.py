"""``GET /v1/changes/stream``: the changes feed as Server-Sent Events, live.

Each event is one element of ``/v1/changes``: ``id`` is its cursor, ``event`` its kind and
``data`` the same JSON object. A client resumes with ``Last-Event-ID`` (or ``?after=``).

The store, not a per-client queue, is what a client reads from: a new entry (or a recorded
withdrawal) only wakes the stream, which then reads every committed change after the last one
it sent. So replaying the backlog and going live is one loop with one cursor, and a change
stored while the backlog is replayed can be neither missed nor sent twice. Memory per client
is bounded by the socket's write buffer; a client that accepts no data for ``slow_client_s``
is disconnected and can resume where it left off.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from aiohttp import web

from node.api import shapes
from node.api.context import node_of
from node.api.errors import BadRequestError, SlowClientError
from node.logs import untrusted
from node.replica.events import EntriesStored, Event, ItemsChanged
from node.replica.node import Node
from node.store import ChangeKinds, ItemChange, StoredEntry

log = logging.getLogger("hashbank.sse")


@dataclass(slots=True)
class StreamSettings:
    """Timing of the change stream (read on every use, so tests can shorten them)."""

    heartbeat_s: float = 15.0
    slow_client_s: float = 30.0
    batch: int = 500


SETTINGS_KEY: web.AppKey[StreamSettings] = web.AppKey("sse_settings", StreamSettings)
CLOSING_KEY: web.AppKey[asyncio.Event] = web.AppKey("sse_closing", asyncio.Event)
HEADERS = {
    "Content-Type": "text/event-stream",
    "Cache-Control": "no-cache",
    # Reverse proxies (nginx) would otherwise buffer the stream and delay every event.
    "X-Accel-Buffering": "no",
}


def setup(app: web.Application) -> None:
    """Default settings, and end open streams when the server shuts down."""
    app[SETTINGS_KEY] = StreamSettings()
    app[CLOSING_KEY] = asyncio.Event()

    async def close_streams(app: web.Application) -> None:
        app[CLOSING_KEY].set()

    # on_shutdown runs before aiohttp waits for handlers, so streams end at once.
    app.on_shutdown.append(close_streams)


def resume_cursor(request: web.Request) -> int:
    """Where to start: ``Last-Event-ID`` (a reconnecting client), else ``?after=``, else 0."""
    last = request.headers.get("Last-Event-ID")
    if last is None or last.strip() == "":
        return shapes.query_int(request.query, "after", 0, minimum=0)
    text = last.strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 18:
        raise BadRequestError(f"Last-Event-ID must be a change cursor, got {text[:40]!r}")
    return int(text)


def encode_events(rows: Sequence[StoredEntry | ItemChange]) -> bytes:
    """SSE frames for changes (JSON on one line, so one ``data:`` line each)."""
    frames = []
    for row in rows:
        data = json.dumps(shapes.change_view(row), separators=(",", ":"))
        frames.append(f"id: {row.cursor}\nevent: {shapes.change_kind(row)}\ndata: {data}\n\n")
    return "".join(frames).encode()


async def stream(request: web.Request) -> web.StreamResponse:
    """Serve the change stream until the client leaves, lags, or the server stops."""
    node = node_of(request)
    after = resume_cursor(request)
    kinds = shapes.query_kinds(request.query.get("kinds"))
    settings, closing = request.app[SETTINGS_KEY], request.app[CLOSING_KEY]
    wake = asyncio.Event()

    def on_event(event: Event) -> None:
        if isinstance(event, EntriesStored | ItemsChanged):
            wake.set()

    # Subscribe before the first read: a commit between the two then still wakes the loop.
    unsubscribe = node.subscribe(on_event)
    response = web.StreamResponse(headers=HEADERS)
    try:
        await response.prepare(request)
        await _write(response, b"retry: 2000\n: hashbank change stream\n\n", settings)
        while not closing.is_set():
            wake.clear()
            after = await _send_committed(node, response, after, kinds, settings)
            if not await _wait(wake, closing, settings.heartbeat_s):
                await _write(response, b": keepalive\n\n", settings)
    except SlowClientError:
        log.warning(
            "change stream client too slow; disconnected peer=%s", untrusted(request.remote)
        )
        if request.transport is not None:
            request.transport.abort()
    except ConnectionError:  # the client went away; nothing to tell it
        pass
    finally:
        unsubscribe()
    return response


async def _send_committed(
    node: Node,
    response: web.StreamResponse,
    after: int,
    kinds: ChangeKinds,
    settings: StreamSettings,
) -> int:
    """Send every committed change after ``after``; returns the new position."""
    upto = node.store.last_cursor
    while True:
        rows = await node.store.change_feed(after, settings.batch, kinds, upto=upto)
        if rows:
            await _write(response, encode_events(rows), settings)
        if len(rows) < settings.batch:
            # Everything up to ``upto`` is sent or filtered out by ``kinds``.
            return max(after, upto)
        after = rows[-1].cursor


async def _write(response: web.StreamResponse, data: bytes, settings: StreamSettings) -> None:
    try:
        await asyncio.wait_for(response.write(data), settings.slow_client_s)
    except TimeoutError:
        raise SlowClientError(settings.slow_client_s) from None


async def _wait(wake: asyncio.Event, closing: asyncio.Event, timeout: float) -> bool:
    """Wait for new entries or shutdown; False when ``timeout`` passed with neither."""
    waits = [asyncio.ensure_future(wake.wait()), asyncio.ensure_future(closing.wait())]
    done, pending = await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    return bool(done)
