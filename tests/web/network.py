"""Real nodes for the self-service browser tests: a helpline and a platform, peered, on loopback.

The nodes run on one event loop in a background thread (Playwright's sync API holds this
thread's loop). The helpline (a publisher offering self-service) and the platform (a
subscriber) are peered both ways under a charter naming both, so feedback shows by name.
"""

from __future__ import annotations

import asyncio
import base64
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

from node.config import PeerConfig, Referral, WebConfig, load_config, write_config
from node.datadir import DataDir, load_key
from node.limits import RateLimiter
from node.web.protect import BUDGETS
from protocol.charter import CharterBody, Member, MemberKey, draft
from protocol.identity import OrgId
from tests.nodes import Response, RunningNode, make_data, wait_until

T = TypeVar("T")
HELPLINE = "Harbour Helpline"
PLATFORM = "Example Platform"
EXIT_URL = "https://neutral.example/weather"
WEB = WebConfig(
    contact="0800 000 000 · help@harbour.example",
    website="https://harbour.example/",
    quick_exit_url=EXIT_URL,
    under_18=Referral(
        "Call Childline on 0800 1111, free and confidential.", "https://childline.example/"
    ),
    under_18_by_language=(
        ("ar", Referral("اتصل بخط نجدة الطفل على 0800 1111.", "https://childline.example/ar")),
    ),
)


class LoopThread:
    """An event loop in a daemon thread; ``run`` waits for a coroutine's result."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="web-net", daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 120.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(60)
        self.loop.close()


def generous(node: RunningNode) -> None:
    """Budgets no test flow can exhaust (the guessing tests keep the real ones)."""
    node.app[BUDGETS].requests = RateLimiter(1000, 1000)
    node.app[BUDGETS].cases = RateLimiter(1000, 1000)
    node.node.pins.per_client = RateLimiter(1000, 1000)


class Network:
    """A helpline node and a platform node, peered, served from a background loop."""

    def __init__(self, root: Path, *, generous_budgets: bool = True) -> None:
        self.loop = LoopThread()
        helpline = make_data(root / "helpline", name=HELPLINE)
        platform = make_data(root / "platform", name=PLATFORM, role="subscriber")
        config = load_config(helpline)
        write_config(helpline, replace(config, web=WEB, confirm_own_head=False))
        self.helpline = self.loop.run(RunningNode.start(helpline))
        self.platform = self.loop.run(RunningNode.start(platform))
        if generous_budgets:
            generous(self.helpline)
        self.loop.run(self._peer_and_charter())

    async def _peer_and_charter(self) -> None:
        a, b = self.helpline, self.platform
        rows = sorted(
            [
                (a.node.org, HELPLINE, ("publisher", "steward"), load_key(a.data).public_key.raw),
                (b.node.org, PLATFORM, ("subscriber",), load_key(b.data).public_key.raw),
            ]
        )
        body = CharterBody(
            network="web-test",
            number=1,
            effective_ms=int(time.time() * 1000) - 60_000,
            threshold=1,
            members=tuple(Member(OrgId(o), n, r, (MemberKey(k, 1),)) for o, n, r, k in rows),
        )
        charter = base64.b64encode(draft(body).signed_by(load_key(a.data)).encode()).decode()
        for node in (a, b):
            answer = await node.post("/v1/charter", {"charter": charter})
            assert answer.status == 200, answer.body
        for node, other in ((a, b), (b, a)):
            _peer(node.data, other)

        async def linked() -> bool:
            status = (await a.get("/v1/status")).body
            return any(p.get("last_ok_ms") for p in status.get("peers", []))

        await wait_until(linked, timeout=60, what="the helpline to reach the platform")

    def call(self, node: RunningNode, method: str, path: str, doc: Any = None) -> Response:
        return self.loop.run(node.call(method, path, doc))

    def matches(self, node: RunningNode, queries: list[dict[str, str]]) -> list[int]:
        """How many matches each query finds on ``node`` (exact, or PDQ within 31)."""
        answer = self.call(node, "POST", "/v1/match", {"queries": queries, "threshold": 31})
        assert answer.status == 200, answer.body
        return [len(r["matches"]) for r in answer.body["results"]]

    def wait(self, predicate: Callable[[], bool], what: str, timeout: float = 90.0) -> None:
        """Poll ``predicate`` (from this thread) until it holds, else fail naming ``what``."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
            time.sleep(0.2)

    def close(self) -> None:
        for node in (self.helpline, self.platform):
            self.loop.run(node.stop())
        self.loop.close()


def _peer(data: DataDir, other: RunningNode) -> None:
    config = load_config(data)
    peer = PeerConfig(other.url, str(load_key(other.data).public_key))
    write_config(data, replace(config, peers=(peer,)))
