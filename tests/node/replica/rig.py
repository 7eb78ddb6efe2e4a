"""The replica's parts around a real store (a SQLite file in the test's directory).

``Ingester`` and ``CharterKeeper`` are built as ``Node`` builds them, from a real ``Store``,
``Feeds``, ``Matcher`` and ``Events``, with a fake clock and an in-process decoder; nothing of
our own is mocked.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from node.config import load_config
from node.datadir import DataDir, load_key
from node.matching.matcher import Matcher
from node.replica.charters import CharterKeeper
from node.replica.decoder import Decoder
from node.replica.events import Event, Events
from node.replica.feeds import Feeds
from node.replica.ingest import Ingester
from node.replica.keys import KeyRing
from node.store import Store
from protocol.identity import OrgId
from tests.builders import BASE_TS
from tests.node.federation.fakes import FakeClock
from tests.nodes import make_data

NOW = BASE_TS + 10**9  # after every entry the builders sign


@dataclass
class Rig:
    data: DataDir
    org: OrgId
    store: Store
    feeds: Feeds
    matcher: Matcher
    events: Events
    keys: KeyRing
    clock: FakeClock
    charters: CharterKeeper
    ingester: Ingester
    seen: list[Event] = field(default_factory=list)


@asynccontextmanager
async def rig(root: Path) -> AsyncIterator[Rig]:
    data = make_data(root / "node")
    org = OrgId(bytes.fromhex(load_config(data).org_id))
    store = await Store.open(data.store, create=True)
    feeds, matcher, events = Feeds({}, {}), Matcher(), Events()
    keys, clock, decoder = KeyRing(data, load_key(data)), FakeClock(NOW), Decoder(0)
    charters = CharterKeeper(
        org=org, store=store, feeds=feeds, matcher=matcher, keys=keys, events=events, clock=clock
    )
    ingester = Ingester(
        store=store, feeds=feeds, charters=charters, matcher=matcher, decoder=decoder,
        events=events, clock=clock,
    )  # fmt: skip
    parts = Rig(data, org, store, feeds, matcher, events, keys, clock, charters, ingester)
    events.subscribe(parts.seen.append)
    try:
        yield parts
    finally:
        await matcher.drain()
        await decoder.close()
        await store.close()
