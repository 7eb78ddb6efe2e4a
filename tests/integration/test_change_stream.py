"""``GET /v1/changes/stream``: live Server-Sent Events from a real node on loopback."""

from __future__ import annotations

import asyncio
import base64
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from node.api.stream import SETTINGS_KEY, StreamSettings
from protocol.charter import CharterBody, Member, MemberKey, Takedown, draft
from tests.builders import Author, pdq_item
from tests.nodes import RunningNode, ShiftedClock, make_data, wait_until

HOUR_MS = 3_600_000


@dataclass
class Event:
    id: int
    kind: str
    data: dict[str, Any]


class StreamClient:
    """Reads SSE frames off one open stream; comments are kept to check heartbeats."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.response = response
        self.comments: list[str] = []
        self.buffer = b""

    async def next_event(self, timeout: float = 10.0) -> Event:
        return await asyncio.wait_for(self._read_frame(), timeout)

    async def events(self, count: int, timeout: float = 20.0) -> list[Event]:
        return [await self.next_event(timeout) for _ in range(count)]

    async def _read_frame(self) -> Event:
        fields: dict[str, str] = {}
        while True:
            line = await self._line()
            if line.startswith(":"):
                self.comments.append(line[1:].strip())
            elif line:
                name, _, value = line.partition(": ")
                fields[name] = value
            elif "data" in fields:
                return Event(int(fields["id"]), fields["event"], json.loads(fields["data"]))

    async def _line(self) -> str:
        # Events can be megabytes on one line, past aiohttp's readline limit.
        while b"\n" not in self.buffer:
            chunk = await self.response.content.readany()
            if not chunk:
                raise EOFError("stream ended")
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line.decode()


@pytest.fixture
async def hb(tmp_path: Path) -> AsyncIterator[RunningNode]:
    running = await RunningNode.start(make_data(tmp_path / "node"))
    yield running
    await running.stop()


async def open_stream(
    hb: RunningNode, query: str = "", session: aiohttp.ClientSession | None = None, **headers: str
) -> StreamClient:
    response = await (session or hb.session).get(
        f"{hb.url}/v1/changes/stream{query}",
        headers={"Authorization": f"Bearer {hb.token}", **headers},
    )
    assert response.status == 200, await response.text()
    assert response.headers["Content-Type"].startswith("text/event-stream")
    return StreamClient(response)


async def submit(hb: RunningNode, n: int, items: int = 1) -> str:
    doc = {"items": [{"signal_type": "md5", "value": f"{n:016x}{i:016x}"} for i in range(items)]}
    response = await hb.post("/v1/hashes", doc)
    assert response.status == 201, response.body
    return str(response.body["entry_id"])


def tune(hb: RunningNode, **settings: Any) -> None:
    app = hb.app
    assert app is not None
    for name, value in settings.items():
        setattr(app[SETTINGS_KEY], name, value)


def listeners(hb: RunningNode, count: int) -> Callable[[], Awaitable[bool]]:
    """A predicate: the node has ``count`` subscribers (each open stream is one)."""

    async def check() -> bool:
        return len(hb.node.events) == count

    return check


async def test_an_add_and_its_revocation_arrive_live_and_in_order(hb: RunningNode) -> None:
    stream = await open_stream(hb)
    entry_id = await submit(hb, 1)
    add = await stream.next_event()
    assert add.kind == "add"
    assert add.data["entry_id"] == entry_id
    assert add.data["body"]["items"][0]["signal_type"] == "md5"
    assert add.id == int(add.data["cursor"])

    revoked = await hb.post("/v1/revocations", {"entry_id": entry_id})
    revoke = await stream.next_event()
    assert revoke.kind == "revoke"
    assert revoke.data["entry_id"] == revoked.body["entry_id"]
    assert revoke.data["body"]["targets"][0]["entry_id"] == entry_id
    assert revoke.id > add.id
    # The same objects as the polled feed.
    page = (await hb.get("/v1/changes")).body
    assert page["changes"] == [add.data, revoke.data]
    stream.response.close()


async def test_resuming_with_last_event_id_has_no_gaps_or_duplicates(hb: RunningNode) -> None:
    tune(hb, batch=2)  # replaying the backlog takes several reads, each a chance to race
    for n in range(5):
        await submit(hb, n)
    first = await open_stream(hb)
    seen = await first.events(3)
    first.response.close()
    for n in range(5, 9):  # stored while no one listens
        await submit(hb, n)

    resumed = await open_stream(hb, **{"Last-Event-ID": str(seen[-1].id)})
    # Entries stored while the backlog is being replayed must come exactly once too.
    writer = asyncio.gather(*(submit(hb, n) for n in range(9, 20)))
    seen += await resumed.events(17)
    await writer
    cursors = [e.id for e in seen]
    assert cursors == list(range(1, 21))
    assert len({e.data["entry_id"] for e in seen}) == 20
    with pytest.raises(TimeoutError):  # and nothing more (a duplicate would come now)
        await resumed.next_event(timeout=2.0)
    resumed.response.close()


async def test_after_parameter_and_kinds_filter(hb: RunningNode) -> None:
    ids = [await submit(hb, n) for n in range(3)]
    await hb.post("/v1/revocations", {"entry_id": ids[0]})
    await hb.post(
        "/v1/feedback",
        {
            "signal_type": "md5",
            "value": f"{1:016x}{0:016x}",
            "verdict": "true_positive",
            "entry_id": ids[1],
        },
    )
    revokes = await open_stream(hb, "?kinds=revoke,feedback")
    got = await revokes.events(2)
    assert [e.kind for e in got] == ["revoke", "feedback"]
    later = await open_stream(hb, "?after=2")
    assert (await later.next_event()).id == 3
    revokes.response.close()
    later.response.close()


async def test_takedowns_and_expiries_arrive_as_withdrawn_events(tmp_path: Path) -> None:
    clock = ShiftedClock()
    hb = await RunningNode.start(make_data(tmp_path / "node"), clock=clock)
    try:
        await _withdrawn_events(hb, clock)
    finally:
        await hb.stop()


async def _withdrawn_events(hb: RunningNode, clock: ShiftedClock) -> None:
    # A charter: this node is the steward, another helpline publishes.
    helpline = Author(7)
    versions = [_charter(hb, helpline, ()), _charter(hb, helpline, (Takedown(helpline.org, 1),))]
    await hb.post("/v1/charter", {"charter": versions[0]})
    everything = await open_stream(hb)
    entries_only = await open_stream(hb, "?kinds=add,revoke,feedback")
    expires = clock.now_ms() + HOUR_MS
    item = {"signal_type": "md5", "value": "ab" * 16, "expires_ms": expires}
    ours = (await hb.post("/v1/hashes", {"items": [item]})).body["entry_id"]
    theirs = helpline.add(pdq_item(5))
    await hb.post("/v1/entries", {"entries": [base64.b64encode(theirs.raw).decode()]})
    assert [e.kind for e in await everything.events(2)] == ["add", "add"]

    # The stewards take the helpline's feed down: no entry of its author says so.
    await hb.post("/v1/charter", {"charter": versions[1]})
    takedown = await everything.next_event()
    assert takedown.kind == "withdrawn"
    assert takedown.id == int(takedown.data["cursor"]) == 3
    assert (takedown.data["reason"], takedown.data["charter_version"]) == ("takedown", 2)
    assert takedown.data["items"] == [
        {
            "entry_id": theirs.id.hex(),
            "index": 0,
            "author": helpline.org.hex(),
            "signal_type": "pdq",
            "value": pdq_item(5).value.hex(),
        }
    ]

    # Our own hash expires; the sweep withdraws it.
    clock.ahead_ms = 2 * HOUR_MS
    assert await hb.node.expire() == 1
    expiry = await everything.next_event()
    assert (expiry.kind, expiry.id, expiry.data["reason"]) == ("withdrawn", 4, "expiry")
    assert expiry.data["charter_version"] is None
    assert [(i["entry_id"], i["signal_type"]) for i in expiry.data["items"]] == [(ours, "md5")]

    # A client that asks for entry kinds only sees exactly the entries, as before.
    await submit(hb, 9)
    assert [(e.kind, e.id) for e in await entries_only.events(3)] == [
        ("add", 1),
        ("add", 2),
        ("add", 5),
    ]
    # The polled feed is the same sequence.
    page = (await hb.get("/v1/changes")).body
    assert [c["kind"] for c in page["changes"]] == ["add", "add", "withdrawn", "withdrawn", "add"]
    assert page["changes"][2] == takedown.data
    only = (await hb.get("/v1/changes?kinds=withdrawn&after=3")).body
    assert (only["changes"], only["cursor"]) == ([expiry.data], "4")
    everything.response.close()
    entries_only.response.close()


def _charter(hb: RunningNode, helpline: Author, takedowns: tuple[Takedown, ...]) -> str:
    """Version 1 (no takedowns) or 2 of a charter this node signs as its one steward."""
    members = [
        Member(
            hb.node.org, "Us", ("publisher", "steward"), (MemberKey(hb.node.key.public_key.raw, 1),)
        ),
        Member(helpline.org, "Them", ("publisher",), (MemberKey(helpline.key.public_key.raw, 1),)),
    ]
    members.sort(key=lambda m: m.org_id)
    first = draft(CharterBody("stream-net", 1, 1_000, 1, tuple(members))).signed_by(hb.node.key)
    charter = first
    if takedowns:
        body = CharterBody("stream-net", 2, 2_000, 1, tuple(members), takedowns, first.id)
        charter = draft(body).signed_by(hb.node.key)
    return base64.b64encode(charter.encode()).decode()


async def test_idle_streams_get_heartbeats(hb: RunningNode) -> None:
    tune(hb, heartbeat_s=1.0)
    stream = await open_stream(hb)

    async def keepalive() -> None:
        while await stream._line() != ": keepalive":
            pass

    await asyncio.wait_for(keepalive(), 30)
    stream.response.close()


async def test_a_client_that_stops_reading_is_disconnected_and_can_resume(
    hb: RunningNode,
) -> None:
    tune(hb, slow_client_s=2.0)
    for n in range(8):  # ~1.5 MB of events each: more than the socket buffers can hold
        await submit(hb, n, items=10_000)
    before = len(hb.node.events)
    host, port = hb.url.removeprefix("http://").split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, (host, int(port)))
    request = (
        f"GET /v1/changes/stream HTTP/1.1\r\nHost: {host}\r\n"
        f"Authorization: Bearer {hb.token}\r\n\r\n"
    )
    await asyncio.get_running_loop().sock_sendall(sock, request.encode())
    await wait_until(listeners(hb, before + 1), timeout=30, what="the stream to open")
    # Never read: the server must give up on us instead of buffering without bound.
    await wait_until(listeners(hb, before), timeout=30, what="the slow client's disconnection")
    sock.close()
    # This test's own reader shares the node's event loop: on a loaded machine it may fall
    # behind for seconds, and must not be taken for a slow client itself.
    tune(hb, slow_client_s=StreamSettings().slow_client_s)

    resumed = await open_stream(hb, **{"Last-Event-ID": "6"})
    tail = await resumed.events(2)
    assert [e.id for e in tail] == [7, 8]
    assert len(tail[0].data["body"]["items"]) == 10_000
    resumed.response.close()


async def test_streams_end_when_the_node_stops(tmp_path: Path) -> None:
    running = await RunningNode.start(make_data(tmp_path / "node"))
    async with aiohttp.ClientSession() as session:
        stream = await open_stream(running, session=session)
        # Promptly, not after aiohttp's 60 s wait for running handlers.
        await asyncio.wait_for(running.stop(), 30)
        with pytest.raises(EOFError):
            await stream.next_event(timeout=30)


BAD_STREAMS = [
    ({}, "?after=-1", 400),
    ({"Last-Event-ID": "x1"}, "", 400),
    ({}, "?kinds=adds", 400),
]


@pytest.mark.parametrize(("headers", "query", "status"), BAD_STREAMS)
async def test_bad_stream_requests_get_json_errors(
    hb: RunningNode, headers: dict[str, str], query: str, status: int
) -> None:
    response = await hb.get(f"/v1/changes/stream{query}", headers=headers)
    assert response.status == status
    assert response.body["error"]["code"] == "bad_request"


async def test_the_stream_needs_the_token(hb: RunningNode) -> None:
    response = await hb.get("/v1/changes/stream", token=None)
    assert response.status == 401
    assert response.body["error"]["code"] == "unauthenticated"
