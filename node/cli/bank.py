"""``hashbank hash``, ``submit``, ``revoke``, ``feedback``, ``match``, ``status``, ``export``.

``hash`` works on this machine alone and opens no network connection; the others are thin
clients of the node's API, found through the data directory (``--data``), so they work the
same against a node running anywhere.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

from node.cli import importer
from node.cli.client import Client
from node.cli.errors import UsageError
from node.cli.parsing import Commands, names
from node.datadir import DataDir
from node.errors import NodeError
from protocol.body import FeedbackNote, RevokeReason, Verdict


def client_for(args: argparse.Namespace) -> Client:
    return Client.for_data(DataDir(Path(args.data)), args.url)


def cmd_hash(args: argparse.Namespace) -> int:
    from node.hashing.pdq import hash_file

    failures = 0
    for name in args.files:
        try:
            result = hash_file(name).to_json()
        except NodeError as exc:
            failures += 1
            result = {"file": name, "error": exc.message}
        print(json.dumps(result), flush=True)
    return 1 if failures else 0


def hash_specs(values: Sequence[str], stdin: TextIO) -> Iterator[tuple[str, str]]:
    """``type:hex`` arguments, or with ``-`` the JSON lines ``hashbank hash`` prints."""
    for value in values:
        if value == "-":
            yield from _specs_from_lines(stdin)
            continue
        kind, sep, hex_value = value.partition(":")
        if not sep:
            raise UsageError(f"{value!r}: write hashes as TYPE:HEX, e.g. pdq:f8f8…")
        yield kind, hex_value


def _specs_from_lines(stream: TextIO) -> Iterator[tuple[str, str]]:
    for number, line in enumerate(stream, 1):
        if not line.strip():
            continue
        try:
            doc = json.loads(line)
        except json.JSONDecodeError:
            raise UsageError(f"stdin line {number} is not JSON") from None
        if not isinstance(doc, dict):
            raise UsageError(f"stdin line {number} is not a JSON object")
        yield from importer.hashes_in(doc)


def cmd_submit(args: argparse.Namespace) -> int:
    items = [
        {
            "signal_type": kind,
            "value": value,
            "labels": args.label or [],
            **({"case": args.case} if args.case else {}),
        }
        for kind, value in hash_specs(args.hashes, sys.stdin)
    ]
    if not items:
        raise UsageError("no hashes to submit")
    result = client_for(args).post("/v1/hashes", {"items": items})
    print(json.dumps({**result, "items": len(items)}))
    return 0


def cmd_revoke(args: argparse.Namespace) -> int:
    if (args.entry_id is None) == (args.case is None):
        raise UsageError("give either an entry id or --case REF (every entry of that case)")
    if args.case is not None:
        if args.items or args.erase:
            raise UsageError(
                "--items and --erase cannot be used with --case: a case is withdrawn whole"
            )
        doc: dict[str, Any] = {"case": args.case, "reason": args.reason}
        print(json.dumps(client_for(args).post("/v1/revocations", doc)))
        return 0
    doc = {"entry_id": args.entry_id, "reason": args.reason}
    if args.erase:
        if args.items:
            raise UsageError("--erase names the whole entry: leave out --items")
        doc["erase"] = True
    if args.items:
        try:
            doc["items"] = [int(x) for x in args.items.split(",")]
        except ValueError:
            raise UsageError("--items must be comma-separated item indexes, e.g. 0,2") from None
    print(json.dumps(client_for(args).post("/v1/revocations", doc)))
    return 0


def cmd_feedback(args: argparse.Namespace) -> int:
    kind, _, value = args.hash.partition(":")
    doc: dict[str, Any] = {
        "signal_type": kind,
        "value": value,
        "verdict": args.verdict,
        "note": args.note,
    }
    if args.entry_id:
        doc["entry_id"] = args.entry_id
    print(json.dumps(client_for(args).post("/v1/feedback", doc)))
    return 0


def cmd_match(args: argparse.Namespace) -> int:
    queries = [{"signal_type": k, "value": v} for k, v in hash_specs(args.hashes, sys.stdin)]
    if not queries:
        raise UsageError("no hashes to match")
    client, matched = client_for(args), 0
    for start in range(0, len(queries), 1000):
        part = queries[start : start + 1000]
        doc = {"queries": part, "threshold": args.threshold}
        for query, result in zip(part, client.post("/v1/match", doc)["results"], strict=True):
            matched += bool(result["matches"])
            print(json.dumps({"query": query, "matches": result["matches"]}))
    return 0 if matched else 3


def cmd_status(args: argparse.Namespace) -> int:
    if args.feedback or args.case:
        from node.cli.platform import cmd_status_feedback

        return cmd_status_feedback(args, client_for(args))
    print(json.dumps(client_for(args).get("/v1/status"), indent=2))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    if args.format == "hma-csv":
        from node.cli.platform import cmd_export_hma_csv

        return cmd_export_hma_csv(args, client_for(args))
    client = client_for(args)
    out = open(args.out, "w") if args.out else sys.stdout  # noqa: SIM115 - closed below
    cursor, count = "0", 0
    try:
        while True:
            page = client.get("/v1/changes", {"after": cursor, "limit": "1000"})
            for change in page["changes"]:
                out.write(json.dumps({"entry_id": change["entry_id"], "entry": change["entry"]}))
                out.write("\n")
                count += 1
            cursor = page["cursor"]
            if not page["more"]:
                break
    finally:
        if args.out:
            out.close()
    print(f"exported {count} entries", file=sys.stderr)
    return 0


def _add_revoke_parser(commands: Commands) -> None:
    p = commands.add(
        "revoke",
        cmd_revoke,
        "withdraw one of your entries, some of its items, or every entry of a case",
        client=True,
    )
    p.add_argument("entry_id", nargs="?")
    p.add_argument("--case", help="withdraw every entry of this case reference")
    p.add_argument("--items", help="comma-separated item indexes (default: the whole entry)")
    p.add_argument("--reason", default="victim_request", choices=names(RevokeReason))
    p.add_argument(
        "--erase",
        action="store_true",
        help="also have every node drop the entry's body (an add or feedback entry, whole)",
    )


def add_parsers(commands: Commands) -> None:
    p = commands.add(
        "hash", cmd_hash, "hash files locally (PDQ, MD5, SHA-256); no network", data=False
    )
    p.add_argument("files", nargs="+", metavar="FILE")

    p = commands.add(
        "submit",
        cmd_submit,
        "publish hashes (TYPE:HEX … or - for `hashbank hash` output on stdin)",
        client=True,
    )
    p.add_argument("hashes", nargs="+", metavar="HASH")
    p.add_argument("--case", help="your case reference (published only as an opaque id)")
    p.add_argument("--label", action="append", help="label for every hash (repeatable)")

    _add_revoke_parser(commands)

    p = commands.add("feedback", cmd_feedback, "record a verdict on a hash", client=True)
    p.add_argument("hash", metavar="TYPE:HEX")
    p.add_argument("--verdict", required=True, choices=names(Verdict))
    p.add_argument("--note", default="none", choices=names(FeedbackNote))
    p.add_argument("--entry-id")

    p = commands.add(
        "match", cmd_match, "match hashes against the bank (exit 3: no match)", client=True
    )
    p.add_argument("hashes", nargs="+", metavar="HASH")
    p.add_argument("--threshold", type=int, default=31)

    p = commands.add("status", cmd_status, "show the node's status", client=True)
    p.add_argument(
        "--feedback", action="store_true", help="list platforms' verdicts on your entries"
    )
    p.add_argument("--case", help="with --feedback: only the entries of this case reference")
    p.add_argument("--json", action="store_true", help="with --feedback: print JSON")

    p = commands.add(
        "export",
        cmd_export,
        "write every stored entry as JSON lines, or the active hashes as CSV for HMA",
        client=True,
    )
    p.add_argument("--out", help="file to write (default: stdout)")
    p.add_argument(
        "--format",
        choices=["jsonl", "hma-csv"],
        default="jsonl",
        help="jsonl: signed entries (for import); hma-csv: active hashes for HMA banks",
    )
