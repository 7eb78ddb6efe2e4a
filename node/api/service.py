"""A running node: the replica, its gossip, the HTTP application and the upkeep tasks.

This is what ``hashbank run`` serves and what the integration tests start in-process: it
builds the pieces, starts them in order and stops them in reverse.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable

from aiohttp import web

from node.api.app import make_app
from node.api.context import GUARD
from node.api.errors import ListenError
from node.api.metrics import METRICS, metrics_app
from node.api.probes import LIFECYCLE
from node.config import split_address
from node.datadir import TokenFile
from node.federation.client import HttpTransports
from node.federation.gossip import ConfigPeers, Gossip
from node.replica.node import Node
from node.web.console import CONSOLE, Console

log = logging.getLogger("hashbank.http")
EXPIRY_SWEEP_S = 10.0
# Dead console sessions are deleted when next presented; this sweeps the ones never seen again.
SESSION_SWEEP_EVERY = 30  # expiry sweeps, so about every five minutes


class Service:
    """One node serving HTTP, with gossip and the expiry sweep (items, held entries) beside it."""

    def __init__(self, node: Node, token: str | Callable[[], str]) -> None:
        self.node = node
        self.transports = HttpTransports(lambda: node.key)
        peers = ConfigPeers(node.data, node.config.peers)
        self.gossip = Gossip(
            node, peers, self.transports, interval_s=node.config.sync_interval_s, clock=node.clock
        )
        self.app = make_app(node, self.gossip, token)
        self.runner = web.AppRunner(
            self.app, access_log=None, handle_signals=False, keepalive_timeout=15
        )
        self.server: asyncio.Server | None = None
        self.url = ""
        self.metrics_url = ""
        self._metrics_runner: web.AppRunner | None = None
        self._metrics_server: asyncio.Server | None = None
        self._sweeper: asyncio.Task[None] | None = None

    async def start(self, host: str, port: int) -> str:
        """Listen on ``host``:``port`` (0: any free port); returns the URL served."""
        await self.runner.setup()
        factory = self.app[GUARD].wrap(self.runner.server) if self.runner.server else None
        if factory is None:
            raise RuntimeError("the runner must be set up before listening")
        try:
            self.server = await asyncio.get_running_loop().create_server(factory, host, port)
        except OSError as exc:
            await self.runner.cleanup()
            raise ListenError(host, port, exc) from None
        bound = self.server.sockets[0].getsockname()
        # An IPv6 address needs brackets in a URL (RFC 3986 §3.2.2).
        address = f"[{bound[0]}]" if ":" in bound[0] else bound[0]
        self.url = f"http://{address}:{bound[1]}"
        # Gossip starts once peer routes can answer: a peer may call back at once.
        await self.gossip.start()
        if self.node.config.metrics_listen:
            await self._serve_metrics(self.node.config.metrics_listen)
        self._sweeper = asyncio.create_task(
            _sweep_expired(self.node, self.app[CONSOLE]), name="expiry sweep"
        )
        return self.url

    async def _serve_metrics(self, address: str) -> None:
        """``/metrics`` without a token on its own address (``[metrics] listen``)."""
        host, port = split_address(address, "metrics.listen")
        self._metrics_runner = runner = web.AppRunner(
            metrics_app(self.app[METRICS]), access_log=None, handle_signals=False
        )
        await runner.setup()
        if runner.server is None:
            raise RuntimeError("the metrics runner must be set up before listening")
        self._metrics_server = await asyncio.get_running_loop().create_server(
            runner.server, host, port
        )
        bound = self._metrics_server.sockets[0].getsockname()
        self.metrics_url = f"http://{bound[0]}:{bound[1]}/metrics"
        log.info("metrics listening url=%s", self.metrics_url)

    async def stop(self) -> None:
        """Stop serving, gossip and the sweep (the node itself stays open)."""
        self.app[LIFECYCLE].stopping = True  # /readyz answers 503 from here on
        if self._metrics_server is not None:
            self._metrics_server.close()
        if self._metrics_runner is not None:
            await self._metrics_runner.cleanup()
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        await self.gossip.stop()
        if self.server is not None:
            self.server.close()
        await self.runner.cleanup()
        await self.transports.close()


async def _sweep_expired(node: Node, console: Console) -> None:
    rounds = 0
    while True:
        await asyncio.sleep(EXPIRY_SWEEP_S)
        rounds += 1
        try:
            if n := await node.expire():
                log.info("expired items=%d", n)
            if n := node.expire_held():
                log.info("dropped held entries=%d (held too long)", n)
            if rounds % SESSION_SWEEP_EVERY == 0 and (n := await console.sessions.sweep()):
                log.info("ended idle console sessions=%d", n)
        except Exception:
            log.exception("expiry sweep failed")


async def serve(node: Node, *, host: str, port: int, ready: Callable[[str], None]) -> None:
    """Serve until SIGINT or SIGTERM, then stop cleanly."""
    service = Service(node, TokenFile(node.data.token).current)
    ready(await service.start(host, port))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        log.info("stopping")
        await service.stop()
