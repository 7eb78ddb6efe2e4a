"""docs/architecture.md's two data paths, checked against what a real node runs.

The page names, for each path, the files doing the work, the shared machinery and the plumbing
on the way. Here a real publisher node (in this process, traced with a profile hook on every
thread) exchanges entries with two peers in child processes, and ``hashbank submit`` runs
traced in another child:

- every file the page names for a path runs on that path (the page claims nothing false);
- every ``node/`` file that runs on the path is named for it (the page hides nothing);
- each path names at most twelve files doing the work (issue 12), apart from the shared
  machinery (transports, the store's door, the event bus), which only the page's introduction
  may name as such.

Periodic work that happens to run during the traced window (the pull loop, the config watch,
the expiry sweep) is left out by the name of its task: it belongs to no path.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

from node.config import PeerConfig, load_config, write_config
from tests.nodes import ROOT, NodeProcess, RunningNode, make_data, wait_until

DOC = ROOT / "docs" / "architecture.md"
NODE = ROOT / "node"
# At most this many files doing the work per path (issue 12), the shared machinery apart.
MAX_WORK_FILES = 12
# Tasks that run on a timer, not because of the traced request (their names in node/).
PERIODIC_TASKS = ("pull ", "watch config", "expiry sweep")
PDQ_A = "d8f8f0cee0f4a84f0637022a078f67f0b36e2ed596621e1d33e6339c4e9c9b22"
PDQ_B = "58f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"


# --- what the page says --------------------------------------------------------------------


def path_section(label: str) -> str:
    """The text of the page's section ``### (label) …`` up to the next heading."""
    text = DOC.read_text()
    found = re.search(rf"^### \({label}\) .*?(?=^#|\Z)", text, re.S | re.M)
    assert found, f"docs/architecture.md has no section '### ({label}) …'"
    return found.group(0)


def named(section: str, lead: str) -> set[str]:
    """The ``node/…`` files named in the paragraph of ``section`` starting with ``lead``."""
    found = re.search(rf"^{re.escape(lead)}.*?(?=\n\n|\Z)", section, re.S | re.M)
    assert found, f"the section has no paragraph starting {lead!r}"
    return set(re.findall(r"`(node/[\w/]+\.py)`", found.group(0)))


def shared_machinery() -> set[str]:
    """What the page's introduction calls shared machinery (its first paragraph naming it)."""
    text = DOC.read_text()
    intro = text[text.index("## Two data paths") : text.index("### (a)")]
    found = re.search(r"\*\*shared machinery\*\*.*?(?=\. The \*\*plumbing)", intro, re.S)
    assert found, "docs/architecture.md's data paths introduction names no shared machinery"
    return set(re.findall(r"`(node/[\w/]+\.py)`", found.group(0)))


SHARED_MACHINERY = shared_machinery()


def test_the_page_parser_reads_both_paths() -> None:
    assert len(SHARED_MACHINERY) == 4
    for label in ("a", "b"):
        section = path_section(label)
        assert named(section, "**Files doing the work**")
        assert named(section, "**Shared machinery on the way**")
        assert named(section, "**Plumbing on the way**")


# --- what the node runs --------------------------------------------------------------------


class Tracer:
    """Records which ``node/`` files have a function called, on every thread, while on."""

    def __init__(self) -> None:
        self.on = False
        self.files: set[str] = set()

    def __call__(self, frame: FrameType, event: str, arg: Any) -> None:
        if not self.on or event != "call":
            return
        filename = frame.f_code.co_filename
        if not filename.startswith(str(NODE)) or _in_periodic_task():
            return
        self.files.add(Path(filename).relative_to(ROOT).as_posix())

    @contextmanager
    def recording(self) -> Iterator[set[str]]:
        self.files = set()
        self.on = True
        try:
            yield self.files
        finally:
            self.on = False


def _in_periodic_task() -> bool:
    loop = asyncio._get_running_loop()
    task = asyncio.current_task(loop) if loop is not None else None
    return task is not None and task.get_name().startswith(PERIODIC_TASKS)


@pytest.fixture
def tracer() -> Iterator[Tracer]:
    tracer = Tracer()
    threading.setprofile(tracer)  # threads started from now on (the store's, the matcher's)
    sys.setprofile(tracer)
    try:
        yield tracer
    finally:
        sys.setprofile(None)
        threading.setprofile(None)  # type: ignore[arg-type]


async def _network(tmp_path: Path) -> tuple[RunningNode, NodeProcess, NodeProcess]:
    """A publisher traced here, peered with two nodes in child processes (b - a - c)."""
    # An hour between anti-entropy rounds: after the first, only the traced work runs.
    datas = [make_data(tmp_path / n, f"Helpline {n}", sync_interval=3600) for n in "abc"]
    a = await RunningNode.start(datas[0])
    b, c = await asyncio.gather(NodeProcess.start(datas[1]), NodeProcess.start(datas[2]))
    links = {0: [(b.url, b.node_id), (c.url, c.node_id)], 1: [(a.url, a.node_id)]}
    links[2] = links[1]
    for i, data in enumerate(datas):
        config = load_config(data)
        write_config(data, replace(config, peers=tuple(PeerConfig(*p) for p in links[i])))

    async def synced() -> bool:
        views = [(await a.get("/v1/status")).body, await b.status(), await c.status()]
        return all(v["peers"] and all(p["last_ok_ms"] for p in v["peers"]) for v in views)

    await wait_until(synced, what="the first round of syncs")
    return a, b, c


Network = tuple[RunningNode, NodeProcess, NodeProcess]


@pytest.fixture
async def network(tracer: Tracer, tmp_path: Path) -> AsyncIterator[Network]:
    a, b, c = await _network(tmp_path)
    yield a, b, c
    b.terminate()
    c.terminate()
    await a.stop()


async def _matches(node: NodeProcess | RunningNode, value: str) -> bool:
    doc = {"queries": [{"signal_type": "pdq", "value": value}]}
    if isinstance(node, RunningNode):
        body = (await node.post("/v1/match", doc)).body
    else:
        body = (await node.call("POST", "/v1/match", doc)).body
    return bool(body["results"][0]["matches"])


def check(path: str, ran: set[str]) -> None:
    section = path_section(path)
    work = named(section, "**Files doing the work**")
    machinery = named(section, "**Shared machinery on the way**")
    assert machinery <= SHARED_MACHINERY, (
        f"path ({path}): not shared: {machinery - SHARED_MACHINERY}"
    )
    listed = work | machinery | named(section, "**Plumbing on the way**")
    if path == "b":
        listed |= named(section, "**Then relayed on**")
    assert len(work) <= MAX_WORK_FILES, f"path ({path}) has {len(work)} files doing the work"
    assert not listed - ran, f"path ({path}): named but never ran: {sorted(listed - ran)}"
    hidden = ran - listed
    assert not hidden, f"path ({path}): ran but not named: {sorted(hidden)}"


# --- the paths -----------------------------------------------------------------------------


async def test_path_a_a_submitted_hash_to_every_replicas_index(
    tracer: Tracer, network: Network
) -> None:
    a, b, c = network
    with tracer.recording() as ran:
        response = await a.post(
            "/v1/hashes",
            {"items": [{"signal_type": "pdq", "value": PDQ_A, "case": "HL-1", "labels": []}]},
        )
        assert response.status == 201, response.body
        for peer in (b, c):
            await wait_until(lambda p=peer: _matches(p, PDQ_A), what="the hash matching on a peer")
        await a.node.matcher.drain()
    check("a", ran | await cli_files(a))


async def test_path_b_an_incoming_entry_to_the_store(tracer: Tracer, network: Network) -> None:
    a, b, c = network
    org_b = bytes.fromhex(b.org)
    with tracer.recording() as ran:
        response = await b.call(
            "POST", "/v1/hashes", {"items": [{"signal_type": "pdq", "value": PDQ_B}]}
        )
        assert response.status == 201, response.body

        async def stored() -> bool:
            return org_b in a.node.feeds.heads

        await wait_until(stored, what="the peer's entry stored here")
        await wait_until(lambda: _matches(c, PDQ_B), what="the entry relayed on to c")
        await a.node.matcher.drain()
    check("b", ran)


# --- the CLI's part of path (a), traced in its own process ---------------------------------

DRIVER = """
import json, sys
from pathlib import Path
files = set()
root = str(Path.cwd() / "node")
def hook(frame, event, arg):
    if event == "call" and frame.f_code.co_filename.startswith(root):
        files.add(frame.f_code.co_filename)
from node.cli.main import main
sys.setprofile(hook)
try:
    status = main(sys.argv[1:])
finally:
    sys.setprofile(None)
print(json.dumps(sorted(files)), file=sys.stderr)
sys.exit(status)
"""


async def cli_files(node: RunningNode) -> set[str]:
    """The node/ files ``hashbank submit`` runs in its own process."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        DRIVER,
        "submit",
        "--data",
        str(node.data.root),
        "--url",
        node.url,
        "--case",
        "HL-2",
        f"pdq:{PDQ_B}",
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, err.decode()
    files = json.loads(err.decode().strip().splitlines()[-1])
    return {Path(f).relative_to(ROOT).as_posix() for f in files}
