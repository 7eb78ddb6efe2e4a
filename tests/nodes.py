"""Real nodes for tests: in-process (aiohttp on 127.0.0.1, port 0) or as child processes."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from node.api.service import Service
from node.clock import SYSTEM, Clock
from node.config import PeerConfig, initialise, load_config, write_config
from node.datadir import DataDir, load_key, read_secret
from node.replica.node import Node

ROOT = Path(__file__).resolve().parents[1]


def run_cli(
    *args: str, stdin: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run the real ``hashbank`` command line in a child process."""
    return subprocess.run(
        [sys.executable, "-m", "node.cli", *args],
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def make_data(
    root: Path, name: str = "Test helpline", role: str = "publisher", sync_interval: float = 3.0
) -> DataDir:
    """A fresh, initialised data directory (anti-entropy every few seconds, for tests)."""
    data, config, _ = initialise(root, name=name, role=role, port=0)
    write_config(data, replace(config, sync_interval_s=sync_interval))
    return data


@dataclass
class Response:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class RunningNode:
    """A node served in this process; ``restart`` reopens it from the same directory."""

    data: DataDir
    node: Node
    service: Service
    url: str
    token: str
    session: aiohttp.ClientSession = field(repr=False)

    @classmethod
    async def start(cls, data: DataDir, *, clock: Clock = SYSTEM) -> RunningNode:
        node = await Node.open(data, clock=clock)
        token = read_secret(data.token)
        service = Service(node, token)
        url = await service.start("127.0.0.1", 0)
        return cls(data, node, service, url, token, aiohttp.ClientSession())

    @property
    def app(self) -> web.Application:
        return self.service.app

    @property
    def node_id(self) -> str:
        return str(self.node.key.public_key)

    @property
    def org(self) -> str:
        return self.node.org.hex()

    async def stop(self) -> None:
        await self.session.close()
        await self.service.stop()
        await self.node.close()

    async def restart(self) -> RunningNode:
        await self.stop()
        return await RunningNode.start(self.data, clock=self.node.clock)

    async def call(
        self,
        method: str,
        path: str,
        doc: Any = None,
        *,
        raw: bytes | None = None,
        token: str | None = "default",
        headers: dict[str, str] | None = None,
    ) -> Response:
        hdrs = dict(headers or {})
        if token == "default":
            token = self.token
        if token is not None:
            hdrs["Authorization"] = f"Bearer {token}"
        kwargs: dict[str, Any] = {"headers": hdrs}
        if raw is not None:
            kwargs["data"] = raw
        elif doc is not None:
            kwargs["json"] = doc
        async with self.session.request(method, self.url + path, **kwargs) as resp:
            text = await resp.text()
            try:
                body = await resp.json(content_type=None) if text else None
            except ValueError:
                body = text
            return Response(resp.status, body, dict(resp.headers))

    async def post(self, path: str, doc: Any = None, **kw: Any) -> Response:
        return await self.call("POST", path, doc, **kw)

    async def get(self, path: str, **kw: Any) -> Response:
        return await self.call("GET", path, **kw)


@dataclass
class NodeProcess:
    """A node in a child process (``hashbank run``), for kill -9 and multi-process tests."""

    data: DataDir
    proc: subprocess.Popen[str]
    url: str

    @property
    def node_id(self) -> str:
        return str(load_key(self.data).public_key)

    @property
    def org(self) -> str:
        return load_config(self.data).org_id

    @property
    def token(self) -> str:
        return read_secret(self.data.token)

    async def call(self, method: str, path: str, doc: Any = None) -> Response:
        headers = {"Authorization": f"Bearer {self.token}"}
        async with (
            aiohttp.ClientSession() as http,
            http.request(method, self.url + path, json=doc, headers=headers) as resp,
        ):
            return Response(resp.status, await resp.json(content_type=None))

    async def status(self) -> dict[str, Any]:
        response = await self.call("GET", "/v1/status")
        assert response.status == 200, response.body
        return dict(response.body)

    def set_peers(self, peers: list[NodeProcess]) -> None:
        """Rewrite the peer list; the running node picks it up within a second or so."""
        config = load_config(self.data)
        write_config(
            self.data, replace(config, peers=tuple(PeerConfig(p.url, p.node_id) for p in peers))
        )

    @classmethod
    async def start(cls, data: DataDir, *, timeout: float = 60.0, port: int = 0) -> NodeProcess:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "node.cli",
                "run",
                "--data",
                str(data.root),
                "--port",
                str(port),
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        assert proc.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), timeout)
        found = re.search(r"listening on (http://\S+)", line)
        if not found:
            proc.kill()
            raise RuntimeError(f"node did not start: {line!r}")
        return cls(data, proc, found.group(1))

    def kill(self) -> None:
        """``kill -9``: no cleanup, no flush, exactly what a crash looks like."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def terminate(self) -> int:
        self.proc.terminate()
        return self.proc.wait(timeout=30)


class ShiftedClock:
    """The system clock, moved forward by ``ahead_ms`` (to pass an expiry without waiting)."""

    def __init__(self) -> None:
        self.ahead_ms = 0

    def now_ms(self) -> int:
        return SYSTEM.now_ms() + self.ahead_ms

    def monotonic(self) -> float:
        return SYSTEM.monotonic()


async def wait_until(
    predicate: Callable[[], Awaitable[bool]], *, timeout: float = 90.0, what: str = "condition"
) -> None:
    """Poll ``predicate`` until it holds, failing the test after ``timeout`` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.05)


async def start_nodes(root: Path, count: int, prefix: str = "n") -> list[NodeProcess]:
    """``count`` fresh nodes in child processes, started concurrently."""
    datas = [make_data(root / f"{prefix}{i}", name=f"Helpline {prefix}{i}") for i in range(count)]
    return list(await asyncio.gather(*(NodeProcess.start(d) for d in datas)))


def connect(nodes: list[NodeProcess], edges: list[tuple[int, int]]) -> None:
    """Make each edge a two-way peering."""
    peers: dict[int, list[NodeProcess]] = {i: [] for i in range(len(nodes))}
    for a, b in edges:
        peers[a].append(nodes[b])
        peers[b].append(nodes[a])
    for i, node in enumerate(nodes):
        node.set_peers(peers[i])


async def helpline_and_platform(root: Path) -> tuple[NodeProcess, NodeProcess]:
    """A publishing helpline and a subscribing platform, in child processes, peered."""
    helpline = await NodeProcess.start(make_data(root / "a", name="Helpline A"))
    platform = await NodeProcess.start(make_data(root / "b", name="Platform B", role="subscriber"))
    connect([helpline, platform], [(0, 1)])
    return helpline, platform
