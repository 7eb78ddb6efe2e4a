"""``hashbank status --feedback`` and ``hashbank export --format hma-csv`` against a real node."""

from __future__ import annotations

import base64
import csv
import io
import json
from pathlib import Path

from protocol.body import Verdict
from tests.builders import Author, pdq_item, pdq_value
from tests.node.cli.test_cli import hashbank
from tests.nodes import NodeProcess, make_data

MD5 = "4a8043f0a48f715c417ff06d5dd435c5"


async def test_status_feedback_lists_platform_verdicts_per_entry_and_case(tmp_path: Path) -> None:
    data = make_data(tmp_path / "a", name="Helpline A")
    node = await NodeProcess.start(data)
    try:
        url = ["--data", str(data.root), "--url", node.url]
        ids = []
        for n, case in enumerate(["C-7", "C-7", "C-8"]):
            done = hashbank("submit", *url, "--case", case, f"pdq:{pdq_value(n).hex()}")
            assert done.returncode == 0, done.stderr
            ids.append(json.loads(done.stdout)["entry_id"])
        platform = Author(31)
        feedback = [
            platform.feedback(pdq_value(0), Verdict.TRUE_POSITIVE, bytes.fromhex(ids[0])),
            platform.feedback(pdq_value(2), Verdict.FALSE_POSITIVE, bytes.fromhex(ids[2])),
        ]
        doc = {"entries": [base64.b64encode(e.raw).decode() for e in feedback]}
        assert (await node.call("POST", "/v1/entries", doc)).body["stored"] == 2

        listing = hashbank("status", *url, "--feedback")
        assert listing.returncode == 0, listing.stderr
        text = listing.stdout
        assert "Feedback on entries of Helpline A" in text
        assert f"entry {ids[0]}" in text
        assert f"entry {ids[1]}" not in text  # no feedback, and no case asked for
        assert "true_positive   actioned" in text
        assert platform.org.hex() in text
        assert "verdicts: 1 false_positive, 1 true_positive" in text

        case = hashbank("status", *url, "--feedback", "--case", "C-7", "--json")
        assert case.returncode == 0, case.stderr
        entries = json.loads(case.stdout)["entries"]
        assert [e["entry_id"] for e in entries] == ids[:2]
        assert [len(e["feedback"]) for e in entries] == [1, 0]
        case_text = hashbank("status", *url, "--feedback", "--case", "C-7").stdout
        assert "no feedback yet" in case_text
    finally:
        node.terminate()


async def test_status_feedback_counts_each_givers_latest_verdict_on_a_hash(
    tmp_path: Path,
) -> None:
    data = make_data(tmp_path / "a", name="Helpline A")
    node = await NodeProcess.start(data)
    try:
        url = ["--data", str(data.root), "--url", node.url]
        done = hashbank("submit", *url, f"pdq:{pdq_value(0).hex()}", f"pdq:{pdq_value(1).hex()}")
        entry = bytes.fromhex(json.loads(done.stdout)["entry_id"])
        platform, other = Author(33), Author(34)
        feedback = [
            platform.feedback(pdq_value(0), Verdict.TRUE_POSITIVE, entry),
            platform.feedback(pdq_value(0), Verdict.TRUE_POSITIVE, entry),  # confirmed again
            platform.feedback(pdq_value(1), Verdict.TRUE_POSITIVE, entry),  # another hash
            other.feedback(pdq_value(0), Verdict.TRUE_POSITIVE, entry),
            other.feedback(pdq_value(0), Verdict.FALSE_POSITIVE, entry),  # corrected
        ]
        doc = {"entries": [base64.b64encode(e.raw).decode() for e in feedback]}
        assert (await node.call("POST", "/v1/entries", doc)).body["stored"] == 5

        text = hashbank("status", *url, "--feedback").stdout
        assert "1 entries; 2 givers; verdicts: 1 false_positive, 2 true_positive" in text
        assert text.count("(superseded by a later verdict)") == 2
    finally:
        node.terminate()


async def test_hma_csv_export_has_only_active_hashes_under_hma_signal_names(
    tmp_path: Path,
) -> None:
    data = make_data(tmp_path / "a")
    node = await NodeProcess.start(data)
    try:
        url = ["--data", str(data.root), "--url", node.url]
        kept = hashbank(
            "submit", *url, "--label", "ncii", f"pdq:{pdq_value(1).hex()}", f"md5:{MD5}"
        )
        gone = hashbank("submit", *url, f"pdq:{pdq_value(2).hex()}")
        assert kept.returncode == gone.returncode == 0
        assert hashbank("revoke", *url, json.loads(gone.stdout)["entry_id"]).returncode == 0
        other = Author(32)
        shared = other.add(pdq_item(1))  # another helpline published the same hash
        doc = {"entries": [base64.b64encode(shared.raw).decode()]}
        assert (await node.call("POST", "/v1/entries", doc)).body["stored"] == 1

        out = tmp_path / "bank.csv"
        exported = hashbank("export", *url, "--format", "hma-csv", "--out", str(out))
        assert exported.returncode == 0, exported.stderr
        assert "exported 3 active hashes" in exported.stderr
        rows = list(csv.DictReader(io.StringIO(out.read_text())))
        assert [(r["signal_type"], r["signal_value"]) for r in rows] == [
            ("pdq", pdq_value(1).hex()),
            ("video_md5", MD5),
            ("pdq", pdq_value(1).hex()),
        ]
        assert rows[0]["labels"] == "ncii"
        assert rows[2]["author"] == other.org.hex()
        assert rows[2]["entry_id"] == shared.id.hex()

        jsonl = hashbank("export", *url)
        assert jsonl.returncode == 0
        assert len(jsonl.stdout.splitlines()) == 4  # the default is unchanged: every entry
    finally:
        node.terminate()


async def test_feedback_on_a_hash_in_no_entry_is_refused_by_the_cli(tmp_path: Path) -> None:
    data = make_data(tmp_path / "p", name="Platform", role="subscriber")
    node = await NodeProcess.start(data)
    try:
        url = ["--data", str(data.root), "--url", node.url]
        own = f"pdq:{pdq_value(5).hex()}"  # the platform's own upload: in no entry
        done = hashbank("feedback", *url, own, "--verdict", "true_positive")
        assert done.returncode != 0
        assert done.stdout == ""
        assert "is in no active entry of the bank" in done.stderr
        assert "Traceback" not in done.stderr
        assert (await node.status())["entries"] == 0  # nothing signed, nothing gossiped
    finally:
        node.terminate()
