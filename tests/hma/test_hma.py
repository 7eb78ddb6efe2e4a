"""HMA (OpenMediaMatch) fetching from a platform's node, set up as docs/platforms.md §4 says.

HMA is not installable from a package index: it runs from the source of facebook/ThreatExchange.
So this test is not part of ``make test`` (a clean clone has neither HMA nor PostgreSQL); it is
``make hma``, pointed at that source and at a PostgreSQL database, and fails at once, saying
what is missing, when either is not given:

    make hma HASHBANK_HMA_SRC=/path/to/ThreatExchange/hasher-matcher-actioner \\
        HASHBANK_HMA_DATABASE_URI=postgresql+psycopg2://user:password@127.0.0.1:5432/media_match

The database must exist, empty or HMA's own (the test runs HMA's migrations and adds a bank of
a fresh name). The test takes the guide's own text: it runs the install block (into a fresh
venv, from the package index; `python3.11` must be on the path), the migration and gunicorn
with the guide's ``omm_config.py`` (the database URI filled in), and the guide's two ``curl``
calls. Then a helpline publishes through a real node and the platform's node replicates it, and
the test checks what §4 says: HMA matches the photo's PDQ, MD5 and SHA-256; a revocation and an
expiry leave HMA's index at a later fetch; HMA sends the helpline no feedback; the ``hma-csv``
snapshot loads into a bank of its own. HMA's intervals are shortened through its ``OMM_``
environment. It takes about 4½ minutes.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from node.hashing.pdq import hash_file
from tests.nodes import ROOT, NodeProcess, helpline_and_platform, wait_until

SRC = os.environ.get("HASHBANK_HMA_SRC", "")
DATABASE_URI = os.environ.get("HASHBANK_HMA_DATABASE_URI", "")
GUIDE = ROOT / "docs" / "platforms.md"
WHEEL = "dist/hashbank-0.1.0-py3-none-any.whl"
INTERVAL_S = 10  # HMA's fetcher, indexer and index cache, instead of its minutes

pytestmark = pytest.mark.slow
if not (SRC and DATABASE_URI):
    pytest.fail(
        "make hma needs HMA's source and a PostgreSQL database: set HASHBANK_HMA_SRC and "
        "HASHBANK_HMA_DATABASE_URI (see tests/hma/test_hma.py's docstring)",
        pytrace=False,
    )


def guide_block(after: str, language: str) -> str:
    """The first ``language`` code block of docs/platforms.md after the text ``after``."""
    text = GUIDE.read_text()
    found = re.search(rf"```{language}\n(.*?)```", text[text.index(after) :], re.DOTALL)
    assert found, f"no {language} block after {after!r} in {GUIDE}"
    return found.group(1)


def run(command: str, env: dict[str, str], cwd: Path) -> None:
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, f"{command}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Hma:
    """HMA installed, configured and started from the guide's text, in ``root``."""

    def __init__(self, root: Path, wheel: Path) -> None:
        self.root = root
        self.url = f"http://127.0.0.1:{free_port()}"
        self.bank = f"HASHBANK_{secrets.token_hex(4).upper()}"  # fresh in a reused database
        self.env = {
            **{k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")},
            "OMM_TASK_FETCHER_INTERVAL_SECONDS": str(INTERVAL_S),
            "OMM_TASK_INDEXER_INTERVAL_SECONDS": str(INTERVAL_S),
            "OMM_TASK_INDEX_CACHE_INTERVAL_SECONDS": str(INTERVAL_S),
        }
        self.paths = {
            "/opt/hma": str(root / "venv"),
            "/etc/hma/omm_config.py": str(root / "omm_config.py"),
            "./ThreatExchange/hasher-matcher-actioner": SRC,
            "$PWD/ThreatExchange/hasher-matcher-actioner": SRC,
            WHEEL: str(wheel),
            "constraints.txt": str(ROOT / "constraints.txt"),
            "0.0.0.0:5100": self.url.removeprefix("http://"),
        }
        self.server: subprocess.Popen[str] | None = None

    def localised(self, text: str) -> str:
        for theirs, ours in self.paths.items():
            text = text.replace(theirs, ours)
        return text

    def install_and_start(self) -> None:
        config = guide_block("`omm_config.py` (HMA's", "python")
        config, n = re.subn(r'DATABASE_URI = ".*"', f"DATABASE_URI = {DATABASE_URI!r}", config)
        assert n == 1, "the guide's omm_config.py has no DATABASE_URI line"
        (self.root / "omm_config.py").write_text(config)
        steps = self.localised(guide_block("From a source checkout:", "sh"))
        *setup, serve = [line for line in steps.replace("\\\n", " ").splitlines() if line]
        assert serve.startswith("gunicorn "), serve
        run("\n".join(setup), self.env, self.root)  # the venv, the installs, the migration
        exports = [line for line in setup if line.startswith("export ")]
        activate = f". {self.root / 'venv' / 'bin' / 'activate'}"
        self.server = subprocess.Popen(
            ["bash", "-c", "\n".join([activate, *exports, "exec " + serve])],
            cwd=self.root,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
        )

    def stop(self) -> None:
        if self.server is not None and self.server.poll() is None:
            os.killpg(self.server.pid, signal.SIGTERM)
            self.server.wait(timeout=60)

    def add_exchange(self, node: NodeProcess) -> None:
        calls = guide_block("Then create the exchange", "sh").replace(
            '"HASHBANK"', f'"{self.bank}"'
        )
        calls = calls.replace("http://hashbank-node:8750", node.url)
        calls = calls.replace("<operator token>", node.token).replace("curl ", "curl -sf ")
        run(calls, {**self.env, "HMA": self.url}, self.root)

    def alive(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + "/status/live", timeout=30) as answer:
                return bool(answer.status == 200)
        except (urllib.error.URLError, ConnectionError):
            return False  # not up yet

    def load_snapshot(self, node: NodeProcess) -> str:
        """The guide's ``hma-csv`` export and loading loop, into a bank of a fresh name."""
        bank = f"SNAPSHOT_{secrets.token_hex(4).upper()}"
        export = guide_block("### A one-off snapshot", "sh")
        export = export.replace("/var/lib/hashbank", str(node.data.root))
        load = guide_block("Load it:", "sh").replace("HASHBANK_SNAPSHOT", bank)
        activate = f". {self.root / 'venv' / 'bin' / 'activate'}\n"  # hashbank is there too
        run(activate + export + load, {**self.env, "HMA": self.url}, self.root)
        return bank

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(self.url + path, timeout=30) as answer:
            return json.loads(answer.read())

    def matches(self, signal_type: str, value: str) -> bool | None:
        """Whether HMA's index holds the hash; None while it has no index to ask (503)."""
        try:
            found = self.get(f"/m/raw_lookup?signal_type={signal_type}&signal={value}")
        except urllib.error.HTTPError as exc:
            if exc.code == 503:
                return None
            raise
        return bool(found["matches"])

    def lookup(self, photo: Path) -> dict[str, Any]:
        boundary = secrets.token_hex(8)
        body = b"".join(
            [
                f'--{boundary}\r\nContent-Disposition: form-data; name="photo"; '
                f'filename="{photo.name}"\r\nContent-Type: image/png\r\n\r\n'.encode(),
                photo.read_bytes(),
                f"\r\n--{boundary}--\r\n".encode(),
            ]
        )
        request = urllib.request.Request(
            self.url + "/m/lookup",
            data=body,
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
        with urllib.request.urlopen(request, timeout=60) as answer:
            return dict(json.loads(answer.read()))


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    command = f"{sys.executable} -m build --no-isolation --wheel --outdir {out} {ROOT}"
    run(command, dict(os.environ), ROOT)
    (built,) = out.glob("hashbank-*.whl")
    return built


@pytest.fixture
def hma(tmp_path: Path, wheel: Path) -> Iterator[Hma]:
    server = Hma(tmp_path, wheel)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def network(tmp_path: Path) -> AsyncIterator[tuple[NodeProcess, NodeProcess]]:
    helpline, platform = await helpline_and_platform(tmp_path)
    yield helpline, platform
    helpline.terminate()
    platform.terminate()


def unique_photo(path: Path) -> Path:
    """A photo no earlier run published: random 8x8 blocks, so a clear PDQ of its own."""
    blocks = Image.frombytes("L", (8, 8), secrets.token_bytes(64)).resize((512, 512))
    blocks.convert("RGB").save(path)
    return path


async def test_hma_follows_the_node_as_the_guide_says(
    tmp_path: Path, hma: Hma, network: tuple[NodeProcess, NodeProcess]
) -> None:
    helpline, node_b = network
    hashes = hash_file(unique_photo(tmp_path / "photo.png"))
    assert hashes.pdq is not None
    pdq, md5, sha256 = hashes.pdq.hex(), hashes.md5.hex(), hashes.sha256.hex()
    items = [
        {"signal_type": "pdq", "value": pdq, "labels": ["ncii"]},
        {"signal_type": "md5", "value": md5, "labels": ["ncii"]},
        {"signal_type": "sha256", "value": sha256, "labels": ["ncii"]},
    ]
    entry_id = (await helpline.call("POST", "/v1/hashes", {"items": items})).body["entry_id"]
    stays = secrets.token_hex(32)
    await helpline.call(
        "POST", "/v1/hashes", {"items": [{"signal_type": "sha256", "value": stays}]}
    )
    expiring = secrets.token_hex(16)
    expires_ms = int(time.time() * 1000) + 240_000  # live through HMA's first fetch
    item = {"signal_type": "md5", "value": expiring, "expires_ms": expires_ms}
    await helpline.call("POST", "/v1/hashes", {"items": [item]})

    async def replicated() -> bool:
        return bool((await node_b.status())["entries"] == 3)

    await wait_until(replicated, what="the helpline's entries at the platform's node")

    await asyncio.to_thread(hma.install_and_start)
    await wait_until(lambda: _up(hma), timeout=120, what="HMA to answer")
    await asyncio.to_thread(hma.add_exchange, node_b)

    async def all_match() -> bool:
        signals = (("pdq", pdq), ("video_md5", md5), ("video_sha256", sha256))
        return all([await asyncio.to_thread(hma.matches, *s) is True for s in signals])

    await wait_until(all_match, timeout=180, what="HMA to match the published hashes")
    assert await asyncio.to_thread(hma.matches, "video_md5", expiring) is True
    found = await asyncio.to_thread(hma.lookup, tmp_path / "photo.png")
    assert [m["distance"] for m in found["pdq"][hma.bank]] in (["0"], [0])

    # The helpline revokes: the next fetch deletes the hashes in HMA.
    await helpline.call("POST", "/v1/revocations", {"entry_id": entry_id})
    await wait_until(
        lambda: _gone(hma, "pdq", pdq), timeout=180, what="the revoked PDQ to leave HMA"
    )
    # HMA has no expiry of its own: the hash goes only when a fetch after the node's
    # sweep deletes it.
    await asyncio.sleep(max(0.0, expires_ms / 1000 - time.time()))
    await wait_until(
        lambda: _gone(hma, "video_md5", expiring), timeout=180, what="the expired MD5 to leave HMA"
    )
    # HMA matched and fetched, and told the helpline nothing.
    doc = (await helpline.call("GET", f"/v1/feedback?entry_id={entry_id}")).body
    assert doc["feedback"] == []

    # The snapshot route: what is active now (the hash that stays) in a bank of its own,
    # beside the exchange's copy.
    await asyncio.to_thread(hma.load_snapshot, node_b)

    async def in_both_banks() -> bool:
        await asyncio.sleep(1)
        found = await asyncio.to_thread(
            hma.get, f"/m/raw_lookup?signal_type=video_sha256&signal={stays}"
        )
        return len(found["matches"]) == 2

    await wait_until(in_both_banks, timeout=180, what="the snapshot's hash in HMA")


async def _up(hma: Hma) -> bool:
    await asyncio.sleep(1)
    return await asyncio.to_thread(hma.alive)


async def _gone(hma: Hma, signal_type: str, value: str) -> bool:
    await asyncio.sleep(1)
    return await asyncio.to_thread(hma.matches, signal_type, value) is False
