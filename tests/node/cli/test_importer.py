"""``hashbank import`` of hash files: checked first, signed in chunks, resumable, idempotent."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.nodes import ROOT, NodeProcess, make_data, run_cli


def hashbank(*args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, timeout=300)


def csv_file(path: Path, n: int) -> Path:
    rows = ["signal_type,value,labels"] + [f"md5,{i:032x},ncii;bulk" for i in range(n)]
    path.write_text("\n".join(rows) + "\n")
    return path


async def test_import_is_resumable_and_idempotent(tmp_path: Path) -> None:
    data = make_data(tmp_path / "node")
    node = await NodeProcess.start(data)
    try:
        url = ["--data", str(data.root), "--url", node.url]
        # An interrupted run is the same as one over a prefix of the file.
        first = hashbank("import", *url, str(csv_file(tmp_path / "part.csv", 20_000)))
        assert first.returncode == 0, first.stderr
        assert json.loads(first.stdout)["entries_published"] == 2
        assert "20,000/20,000 hashes" in first.stderr

        whole = hashbank("import", *url, str(csv_file(tmp_path / "all.csv", 25_000)))
        assert whole.returncode == 0, whole.stderr
        assert json.loads(whole.stdout) == {
            "hashes": 25_000,
            "entries_published": 1,
            "entries_already_imported": 2,
        }
        again = hashbank("import", *url, str(tmp_path / "all.csv"))
        assert json.loads(again.stdout)["entries_published"] == 0

        status = await node.status()
        assert status["active_hashes"] == {"md5": 25_000}
        assert status["entries"] == 3
    finally:
        node.terminate()


async def test_a_bad_line_stops_the_import_before_anything_is_published(tmp_path: Path) -> None:
    data = make_data(tmp_path / "node")
    node = await NodeProcess.start(data)
    try:
        path = tmp_path / "hashes.jsonl"
        lines = [json.dumps({"signal_type": "sha256", "value": f"{i:064x}"}) for i in range(50)]
        lines[41] = json.dumps({"signal_type": "sha256", "value": "xyz"})
        path.write_text("\n".join(lines) + "\n")
        result = hashbank("import", "--data", str(data.root), "--url", node.url, str(path))
        assert result.returncode == 1
        assert f"{path}:42:" in result.stderr
        assert (await node.status())["entries"] == 0
    finally:
        node.terminate()


async def test_hash_output_imports_directly(tmp_path: Path) -> None:
    data = make_data(tmp_path / "node")
    node = await NodeProcess.start(data)
    try:
        hashed = hashbank("hash", str(ROOT / "tests" / "data" / "pdq" / "original.jpg"))
        path = tmp_path / "hashes.jsonl"
        path.write_text(hashed.stdout)
        result = hashbank(
            "import",
            "--data",
            str(data.root),
            "--url",
            node.url,
            str(path),
            "--case",
            "HL-1",
            "--label",
            "ncii",
        )
        assert result.returncode == 0, result.stderr
        assert (await node.status())["active_hashes"] == {"pdq": 1, "md5": 1, "sha256": 1}
    finally:
        node.terminate()
