"""The real ``hashbank`` command line against real node processes."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from tests.nodes import ROOT, NodeProcess, make_data, run_cli, wait_until

PDQ = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
MD5 = "4a8043f0a48f715c417ff06d5dd435c5"


hashbank = run_cli


def test_init_creates_a_private_identity_and_refuses_to_overwrite_it(tmp_path: Path) -> None:
    data = tmp_path / "node"
    first = hashbank("init", "--data", str(data), "--name", "Helpline A")
    assert first.returncode == 0, first.stderr
    assert "org id" in first.stdout
    for name in ("identity.key", "operator.token", "case.secret"):
        assert stat.S_IMODE((data / name).stat().st_mode) == 0o600
    key_before = (data / "identity.key").read_text()
    again = hashbank("init", "--data", str(data), "--name", "Helpline B")
    assert again.returncode == 2
    assert "refusing to replace an identity" in again.stderr
    assert "Traceback" not in again.stderr
    assert (data / "identity.key").read_text() == key_before


def test_commands_on_a_missing_data_directory_fail_clearly(tmp_path: Path) -> None:
    for command in (["run"], ["status"], ["rebuild"]):
        result = hashbank(*command, "--data", str(tmp_path / "nowhere"))
        assert result.returncode == 2
        assert "not a hashbank data directory" in result.stderr
        assert "Traceback" not in result.stderr


def test_an_empty_or_short_case_secret_is_refused(tmp_path: Path) -> None:
    data = make_data(tmp_path / "node")
    for text in ("\n", "00" * 8 + "\n"):  # an empty key would seal every case with no secret
        data.case_secret.write_text(text)  # still 0600
        result = hashbank("run", "--data", str(data.root), "--port", "0")
        assert result.returncode == 2
        assert "case.secret holds a" in result.stderr
        assert "at least 16 bytes" in result.stderr
        assert "Traceback" not in result.stderr


def test_a_world_readable_key_is_refused(tmp_path: Path) -> None:
    data = make_data(tmp_path / "node")
    data.identity.chmod(0o644)
    result = hashbank("run", "--data", str(data.root), "--port", "0")
    assert result.returncode == 2
    assert "chmod 600" in result.stderr


async def test_submit_match_revoke_export_import_rebuild(tmp_path: Path) -> None:
    data = make_data(tmp_path / "a")
    node = await NodeProcess.start(data)
    try:
        url = ["--data", str(data.root), "--url", node.url]
        hash_line = json.dumps(
            {
                "file": "x.jpg",
                "pdq": PDQ,
                "quality": 100,
                "md5": MD5,
                "sha256": "00" * 32,
                "unreliable": False,
            }
        )
        submitted = hashbank(
            "submit", *url, "--case", "C-1", "--label", "ncii", "-", stdin=hash_line + "\n"
        )
        assert submitted.returncode == 0, submitted.stderr
        entry_id = json.loads(submitted.stdout)["entry_id"]
        assert json.loads(submitted.stdout)["items"] == 3

        matched = hashbank("match", *url, f"pdq:{PDQ}", f"md5:{MD5}", "md5:" + "11" * 16)
        assert matched.returncode == 0, matched.stderr
        lines = [json.loads(x) for x in matched.stdout.splitlines()]
        assert [len(x["matches"]) for x in lines] == [1, 1, 0]
        assert lines[0]["matches"][0]["entry_id"] == entry_id

        revoked = hashbank("revoke", *url, entry_id, "--items", "0")
        assert revoked.returncode == 0, revoked.stderr
        assert hashbank("match", *url, f"pdq:{PDQ}").returncode == 3

        bad = hashbank("revoke", *url, "ab" * 32)
        assert bad.returncode == 1
        assert "no entry" in bad.stderr

        status = json.loads(hashbank("status", *url, "--json").stdout)
        exported = hashbank("export", *url, "--out", str(tmp_path / "bank.jsonl"))
        assert exported.returncode == 0, exported.stderr
        assert "exported 2 entries" in exported.stderr
        # The bank is for members only: an export is its owner's, whatever the umask, even
        # over a file that was readable by everyone.
        assert stat.S_IMODE((tmp_path / "bank.jsonl").stat().st_mode) == 0o600
        (tmp_path / "hma.csv").write_text("old\n")
        (tmp_path / "hma.csv").chmod(0o644)
        csv = hashbank("export", *url, "--format", "hma-csv", "--out", str(tmp_path / "hma.csv"))
        assert csv.returncode == 0, csv.stderr
        assert stat.S_IMODE((tmp_path / "hma.csv").stat().st_mode) == 0o600
        nowhere = hashbank("export", *url, "--out", str(tmp_path / "no" / "such" / "dir"))
        assert nowhere.returncode != 0
        assert "cannot write" in nowhere.stderr
        assert "Traceback" not in nowhere.stderr
    finally:
        node.terminate()

    restored_data = make_data(tmp_path / "b")
    restored = await NodeProcess.start(restored_data)
    try:
        url_b = ["--data", str(restored_data.root), "--url", restored.url]
        imported = hashbank("import", *url_b, str(tmp_path / "bank.jsonl"))
        assert imported.returncode == 0, imported.stderr
        assert json.loads(imported.stdout)["stored"] == 2
        status_b = json.loads(hashbank("status", *url_b, "--json").stdout)
        assert status_b["bank_digest"] == status["bank_digest"]
        again = hashbank("export", *url_b, "--out", str(tmp_path / "again.jsonl"))
        assert again.returncode == 0
        assert (tmp_path / "again.jsonl").read_text() == (tmp_path / "bank.jsonl").read_text()
        assert hashbank("rebuild", "--data", str(restored_data.root)).returncode == 2
    finally:
        restored.terminate()

    rebuilt = hashbank("rebuild", "--data", str(restored_data.root))
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert json.loads(rebuilt.stdout)["bank_digest_after"] == status["bank_digest"]


def test_submit_refuses_malformed_hash_arguments(tmp_path: Path) -> None:
    data = make_data(tmp_path / "node")
    result = hashbank("submit", "--data", str(data.root), "f8f8")
    assert result.returncode == 2
    assert "TYPE:HEX" in result.stderr


async def test_peers_are_added_listed_and_removed_while_the_node_runs(tmp_path: Path) -> None:
    data = make_data(tmp_path / "node")
    other = make_data(tmp_path / "other")
    node = await NodeProcess.start(data)
    try:
        other_id = NodeProcess(other, node.proc, "").node_id
        added = hashbank("peers", "add", "--data", str(data.root), "http://127.0.0.1:9", other_id)
        assert added.returncode == 0, added.stderr
        listed = hashbank("peers", "list", "--data", str(data.root))
        assert f"{other_id}  http://127.0.0.1:9" in listed.stdout

        async def picked_up() -> bool:
            return [p["node_id"] for p in (await node.status())["peers"]] == [other_id]

        await wait_until(picked_up, what="the running node to see the new peer")
        bad = hashbank("peers", "add", "--data", str(data.root), "ftp://x", other_id)
        assert bad.returncode == 2
        assert "http(s)" in bad.stderr
        removed = hashbank("peers", "remove", "--data", str(data.root), other_id)
        assert removed.returncode == 0

        async def dropped() -> bool:
            return (await node.status())["peers"] == []

        await wait_until(dropped, what="the running node to drop the peer")
    finally:
        node.terminate()


def test_hash_prints_one_json_line_per_file_and_flags_errors(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not an image")
    image = ROOT / "tests" / "data" / "pdq" / "original.jpg"
    result = hashbank("hash", str(image), str(text), str(tmp_path / "missing.jpg"))
    assert result.returncode == 1
    photo, notes, missing = (json.loads(line) for line in result.stdout.splitlines())
    assert photo["pdq"].startswith("d8f8f0ce")
    assert photo["quality"] == 100
    assert notes["pdq"] is None
    assert notes["note"]
    assert len(notes["md5"]) == 32
    assert "missing.jpg" in missing["error"]
    assert "Traceback" not in result.stderr


async def test_revoke_case_withdraws_every_entry_of_that_case_only(tmp_path: Path) -> None:
    data = make_data(tmp_path / "a")
    node = await NodeProcess.start(data)
    try:
        url = ["--data", str(data.root), "--url", node.url]
        for n, case in ((1, "C-1"), (2, "C-1"), (3, "C-2")):
            value = f"{n:02x}" * 16
            done = hashbank("submit", *url, "--case", case, f"md5:{value}")
            assert done.returncode == 0, done.stderr
        revoked = hashbank("revoke", *url, "--case", "C-1")
        assert revoked.returncode == 0, revoked.stderr
        assert len(json.loads(revoked.stdout)["revocations"]) == 2
        matched = hashbank("match", *url, *(f"md5:{f'{n:02x}' * 16}" for n in (1, 2, 3)))
        assert [bool(json.loads(x)["matches"]) for x in matched.stdout.splitlines()] == [
            False,
            False,
            True,
        ]
        unknown = hashbank("revoke", *url, "--case", "C-9")
        assert unknown.returncode == 1
        assert "no case 'C-9'" in unknown.stderr
        neither = hashbank("revoke", *url)
        assert neither.returncode == 2
        assert "either an entry id or --case" in neither.stderr
    finally:
        node.proc.terminate()
        node.proc.wait(timeout=30)


async def test_junk_is_refused_by_submit_and_import_naming_each_file(tmp_path: Path) -> None:
    data = make_data(tmp_path / "node")
    node = await NodeProcess.start(data)
    try:
        url = ["--data", str(data.root), "--url", node.url]
        (tmp_path / "empty.jpg").write_bytes(b"")
        hashed = hashbank("hash", str(tmp_path / "empty.jpg"), str(ROOT / "tests/data/pdq/wee.jpg"))
        submitted = hashbank("submit", *url, "-", stdin=hashed.stdout)
        assert submitted.returncode != 0
        assert submitted.stdout == ""
        for kind in ("MD5", "SHA256"):
            assert f"empty.jpg: {kind.lower()} " in submitted.stderr
            assert f"the {kind} of an empty file" in submitted.stderr
        assert "wee.jpg" not in submitted.stderr  # its hashes are fine, and were not sent
        flat = hashbank("submit", *url, "pdq:" + "00" * 32)
        assert flat.returncode != 0
        assert "every bit equal" in flat.stderr

        (tmp_path / "hashes.csv").write_text(
            f"signal_type,value\nmd5,{MD5}\nmd5,d41d8cd98f00b204e9800998ecf8427e\npdq,{PDQ}\n"
        )
        imported = hashbank("import", *url, str(tmp_path / "hashes.csv"))
        assert imported.returncode != 0
        assert f"{tmp_path / 'hashes.csv'}:3: md5 d41d8cd98f00b204e9800998ecf8427e" in (
            imported.stderr
        )
        assert "nothing was published" in imported.stderr
        assert "Traceback" not in submitted.stderr + flat.stderr + imported.stderr
        assert (await node.status())["entries"] == 0  # nothing of any of it
    finally:
        node.terminate()
