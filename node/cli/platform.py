"""CLI commands around platforms: ``status --feedback`` and ``export --format hma-csv``.

Both are thin clients of the node's API, like the rest of ``node.cli``.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any, TextIO

from node.cli.client import Client
from node.cli.files import open_private

# Signal types as threatexchange and Hasher-Matcher-Actioner name them: md5 and sha256 are
# file digests, which threatexchange files under its video signal types.
TX_SIGNAL_NAMES = {"pdq": "pdq", "md5": "video_md5", "sha256": "video_sha256"}
HMA_CSV_COLUMNS = ("signal_type", "signal_value", "author", "entry_id", "item", "labels")


def cmd_status_feedback(args: argparse.Namespace, client: Client) -> int:
    """Print the platforms' verdicts on our own entries (of one case with ``--case``)."""
    params = {"case": args.case} if args.case else None
    doc = client.get("/v1/feedback/entries", params)
    if args.json:
        print(json.dumps(doc, indent=2))
    else:
        print_feedback(doc, sys.stdout)
    return 0


def print_feedback(doc: dict[str, Any], out: TextIO) -> None:
    """The ``/v1/feedback/entries`` document for a person: one block per entry.

    A giver may give several verdicts on one hash (a later one corrects an earlier one, or
    the same match is confirmed twice): every verdict is listed, as each is signed evidence,
    but only each giver's latest on each hash counts in the tally.
    """
    scope = f", case {doc['case']!r}" if doc.get("case") else ""
    out.write(f"Feedback on entries of {doc['name']} (org {doc['org_id']}){scope}\n")
    verdicts: Counter[str] = Counter()
    givers: set[str] = set()
    for entry in doc["entries"]:
        out.write(
            f"\nentry {entry['entry_id']}  seq {entry['seq']}  {_when(entry['timestamp_ms'])}"
            f"  items {entry['items']} ({entry['active_items']} active)\n"
        )
        if not entry["feedback"]:
            out.write("  no feedback yet\n")
        counted = latest_verdicts(entry["feedback"])
        for fb in entry["feedback"]:
            givers.add(fb["giver"])
            if fb["feedback_id"] in counted:
                verdicts[fb["verdict"]] += 1
            later = "" if fb["feedback_id"] in counted else "  (superseded by a later verdict)"
            out.write(
                f"  {fb['verdict']:<15} {fb['note']:<13} by {member(fb['giver'], fb['giver_name'])}"
                f"  {_when(fb['timestamp_ms'])}  feedback {fb['feedback_id']}{later}\n"
            )
    if not doc["entries"]:
        out.write("\nno feedback yet\n" if not scope else "\nno entries for that case\n")
        return
    tally = ", ".join(f"{n} {v}" for v, n in sorted(verdicts.items())) or "none"
    out.write(f"\n{len(doc['entries'])} entries; {len(givers)} givers; verdicts: {tally}\n")


def latest_verdicts(feedback: list[dict[str, Any]]) -> set[str]:
    """The ids of the verdicts that count: each giver's latest on each hash.

    "Latest" is by cursor: a node stores each feed in order, so a giver's later entry has
    the higher cursor whatever the clocks say.
    """
    latest: dict[tuple[str, str, str], dict[str, Any]] = {}
    for fb in feedback:
        key = (fb["giver"], fb["signal_type"], fb["value"])
        if key not in latest or int(fb["cursor"]) > int(latest[key]["cursor"]):
            latest[key] = fb
    return {fb["feedback_id"] for fb in latest.values()}


def member(org: str, name: str | None) -> str:
    """An organisation for a person: ``Name (org id prefix)``, or the whole id without a name."""
    return f"{name} ({org[:12]})" if name else org


def _when(ms: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(ms / 1000))


def cmd_export_hma_csv(args: argparse.Namespace, client: Client) -> int:
    """Write the active hashes as CSV for Hasher-Matcher-Actioner (see docs/platforms.md)."""
    out = open_private(Path(args.out), newline="") if args.out else sys.stdout
    try:
        count = write_hma_csv(client, out)
    finally:
        if args.out:
            out.close()
    print(f"exported {count} active hashes", file=sys.stderr)
    return 0


def write_hma_csv(client: Client, out: TextIO) -> int:
    """One row per active item, so every publisher of a hash is credited; returns rows."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HMA_CSV_COLUMNS)
    cursor, count = "0", 0
    while True:
        page = client.get("/v1/hashes", {"after": cursor, "limit": "10000"})
        for h in page["hashes"]:
            writer.writerow(
                (
                    TX_SIGNAL_NAMES[h["signal_type"]],
                    h["value"],
                    h["author"],
                    h["entry_id"],
                    h["item"],
                    " ".join(h["labels"]),
                )
            )
            count += 1
        cursor = page["cursor"]
        if not page["more"]:
            return count
