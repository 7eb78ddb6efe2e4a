"""What the command line tells the console: imports in progress, and charter drafts.

``hashbank import`` says with each chunk which import it belongs to and how far it has got
(the node lists it in the operator's console); ``hashbank charter share`` hands a draft to
the node, which lists who has signed it. Real child processes against a running node.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

from node.datadir import load_key
from tests.builders import Author
from tests.nodes import RunningNode, make_data, run_cli


async def hb(node: RunningNode, *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI in a thread, so this process's event loop keeps serving the node."""
    where = ["--data", str(node.data.root), "--url", node.url]
    return await asyncio.to_thread(run_cli, *args, *where)


async def test_imports_show_their_progress(tmp_path: Path) -> None:
    node = await RunningNode.start(make_data(tmp_path / "a"))
    other = await RunningNode.start(make_data(tmp_path / "b"))
    try:
        rows = ["signal_type,value"] + [f"md5,{i:032x}" for i in range(5)]
        (tmp_path / "bulk.csv").write_text("\n".join(rows) + "\n")
        done = await hb(node, "import", str(tmp_path / "bulk.csv"), "--batch", "2")
        assert done.returncode == 0, done.stderr
        [progress] = node.node.imports.recent()
        assert (progress.name, progress.unit, progress.done, progress.total) == (
            "bulk.csv", "hashes", 5, 5,
        )  # fmt: skip
        assert (progress.published, progress.finished) == (3, True)
        again = await hb(node, "import", str(tmp_path / "bulk.csv"), "--batch", "2")
        assert again.returncode == 0, again.stderr
        assert len(node.node.imports.recent()) == 1  # a re-run is the same import
        assert node.node.imports.recent()[0].published == 3  # and published nothing new

        exported = await hb(node, "export", "--out", str(tmp_path / "bank.jsonl"))
        assert exported.returncode == 0, exported.stderr
        restored = await hb(other, "import", str(tmp_path / "bank.jsonl"))
        assert restored.returncode == 0, restored.stderr
        [entries] = other.node.imports.recent()
        assert (entries.name, entries.unit, entries.done, entries.total) == (
            "bank.jsonl", "entries", 3, 3,
        )  # fmt: skip
    finally:
        await other.stop()
        await node.stop()


async def test_charter_share_lists_a_draft_with_its_signers(tmp_path: Path) -> None:
    node = await RunningNode.start(make_data(tmp_path / "a", name="Helpline A"))
    try:
        other = Author(3)
        members = tmp_path / "members.toml"
        members.write_text(
            'network = "n"\nthreshold = 2\n'
            f'[[member]]\nname = "Helpline A"\nnode_id = "{load_key(node.data).public_key}"\n'
            'roles = ["publisher", "steward"]\n'
            f'[[member]]\nname = "Helpline B"\nnode_id = "{other.key.public_key}"\n'
            'roles = ["publisher", "steward"]\n'
        )
        draft = tmp_path / "v1.json"
        made = await asyncio.to_thread(
            run_cli, "charter", "init", "--members", str(members), "--out", str(draft)
        )
        assert made.returncode == 0, made.stderr
        shared = await hb(node, "charter", "share", str(draft))
        assert shared.returncode == 0, shared.stderr
        assert "version 1 as a pending draft; signed by nobody yet (0 of 2 needed)" in (
            shared.stdout
        )
        signed = await hb(node, "charter", "sign", "--yes", str(draft))
        assert signed.returncode == 0, signed.stderr
        shared = await hb(node, "charter", "share", str(draft))
        assert "signed by Helpline A (1 of 2 needed)" in shared.stdout
        listed = (await node.get("/v1/charter/drafts")).body["drafts"]
        assert [(d["version"], d["not_signed_by"]) for d in listed] == [(1, ["Helpline B"])]
        (tmp_path / "junk.json").write_text(json.dumps({"charter": "AAAA"}))
        junk = await hb(node, "charter", "share", str(tmp_path / "junk.json"))
        assert junk.returncode != 0
        assert "junk.json: charter" in junk.stderr
        assert "Traceback" not in junk.stderr
    finally:
        await node.stop()
