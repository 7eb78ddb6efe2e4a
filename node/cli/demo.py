"""``make demo``: three local nodes as a small federation, end to end.

Starts three nodes in a line (A — B — C) in a temporary directory, submits a hash at A,
shows it matching at B and C, revokes it, shows it gone everywhere, and stops them all.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import replace
from pathlib import Path
from typing import Any

from node.config import PeerConfig, initialise, load_config, write_config
from node.datadir import load_key, read_secret

PDQ = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"


class DemoNode:
    def __init__(self, root: Path, name: str) -> None:
        self.name = name
        self.data, _, key = initialise(root / name, name=f"Helpline {name}", port=0)
        self.node_id = str(key.public_key)
        self.proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "node.cli", "run", "--data", str(self.data.root)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.proc.stdout is not None
        found = re.search(r"listening on (\S+)", self.proc.stdout.readline())
        if not found:
            raise SystemExit(f"node {name} did not start")
        self.url = found.group(1)
        self.token = read_secret(self.data.token)

    def call(self, path: str, doc: Any = None) -> Any:
        request = urllib.request.Request(  # noqa: S310 - our own loopback node
            self.url + path,
            data=None if doc is None else json.dumps(doc).encode(),
            headers={"Authorization": f"Bearer {self.token}"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return json.loads(response.read())

    def matches(self) -> int:
        doc = {"queries": [{"signal_type": "pdq", "value": PDQ}]}
        return len(self.call("/v1/match", doc)["results"][0]["matches"])

    def peer_with(self, *others: DemoNode) -> None:
        config = load_config(self.data)
        peers = tuple(PeerConfig(o.url, str(load_key(o.data).public_key)) for o in others)
        write_config(self.data, replace(config, peers=peers))

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


def wait_for(nodes: list[DemoNode], expected: int, what: str) -> float:
    start = time.monotonic()
    while any(n.matches() != expected for n in nodes):
        if time.monotonic() - start > 30:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.02)
    return time.monotonic() - start


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="hashbank-demo-") as tmp:
        nodes = [DemoNode(Path(tmp), name) for name in "ABC"]
        a, b, c = nodes
        try:
            for n in nodes:
                print(f"node {n.name}  {n.url}  node id {n.node_id[:16]}…")
            a.peer_with(b)
            b.peer_with(a, c)
            c.peer_with(b)
            print("peered as a line: A — B — C (A and C are not peers)")
            time.sleep(1.5)  # config reload
            entry = a.call(
                "/v1/hashes",
                {
                    "items": [
                        {"signal_type": "pdq", "value": PDQ, "labels": ["ncii"], "case": "DEMO-1"}
                    ]
                },
            )
            print(f"A published entry {entry['entry_id'][:16]}… (one PDQ hash)")
            took = wait_for([b, c], 1, "the hash at B and C")
            print(f"B and C match it ({took * 1000:.0f} ms); C verified A's signature itself")
            a.call("/v1/revocations", {"entry_id": entry["entry_id"], "reason": "victim_request"})
            print("A revoked it (victim_request)")
            took = wait_for(nodes, 0, "the revocation everywhere")
            print(f"gone at A, B and C ({took * 1000:.0f} ms)")
            digests = {n.call("/v1/status")["bank_digest"] for n in nodes}
            print(f"bank digests equal everywhere: {len(digests) == 1}")
        finally:
            for n in nodes:
                n.stop()
            print("stopped all three nodes")


if __name__ == "__main__":
    main()
