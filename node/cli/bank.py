"""``hashbank hash``, ``submit``, ``revoke``, ``feedback``, ``match``, ``status``, ``export``.

``hash`` works on this machine alone and opens no network connection; the others are thin
clients of the node's API, found through the data directory (``--data``), so they work the
same against a node running anywhere.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from node.cli import importer
from node.cli.client import Client
from node.cli.errors import InputError, UsageError
from node.cli.files import open_private
from node.cli.parsing import Commands, names
from node.cli.progress import Progress
from node.cli.when import date, parse_when
from node.clock import now_ms
from node.datadir import DataDir
from node.errors import NodeError
from node.replica.junk import Candidate, NeverPublish
from protocol.body import FeedbackNote, RevokeReason, Verdict
from protocol.signals import signal_type


def client_for(args: argparse.Namespace) -> Client:
    return Client.for_data(DataDir(Path(args.data)), args.url)


def cmd_hash(args: argparse.Namespace) -> int:
    from node.hashing.pdq import hash_file

    files = list(hash_targets(args.files, recursive=args.recursive))
    # The bar is for a person waiting on a pipe or a file; on a terminal the lines show it.
    progress = Progress(len(files), "files", quiet=sys.stdout.isatty())
    failures = 0
    for done, (name, problem) in enumerate(files, 1):
        try:
            if problem:
                raise InputError(problem)
            result = hash_file(name).to_json()
        except NodeError as exc:
            failures += 1
            result = {"file": name, "error": exc.message}
        print(json.dumps(result), flush=True)
        progress.update(done)
    progress.finish(len(files))
    return 1 if failures else 0


def hash_targets(names: Sequence[str], *, recursive: bool) -> Iterator[tuple[str, str | None]]:
    """(file, problem) for each argument; with ``recursive`` the files under a directory.

    Hidden files and directories (``.DS_Store``, ``.thumbnails/``) are left out, and symbolic
    links to directories are not followed (a loop would never end).
    """
    for name in names:
        if not os.path.isdir(name):
            yield name, None
        elif not recursive:
            yield name, f"{name} is a directory; hashbank hash -r hashes the files in it"
        else:
            for root, dirs, files in os.walk(name):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for file in sorted(files):
                    if not file.startswith("."):
                        yield os.path.join(root, file), None


@dataclass(frozen=True, slots=True)
class HashSpec:
    """One hash to submit or match, and the file it came from (a `hashbank hash` line)."""

    signal_type: str
    value: str
    file: str | None = None


def hash_specs(values: Sequence[str], stdin: TextIO) -> Iterator[HashSpec]:
    """``type:hex`` arguments, or with ``-`` the JSON lines ``hashbank hash`` prints."""
    for value in values:
        if value == "-":
            yield from _specs_from_lines(stdin)
            continue
        kind, sep, hex_value = value.partition(":")
        if not sep:
            raise UsageError(f"{value!r}: write hashes as TYPE:HEX, e.g. pdq:f8f8…")
        yield HashSpec(kind, hex_value)


def _specs_from_lines(stream: TextIO) -> Iterator[HashSpec]:
    for number, line in enumerate(stream, 1):
        if not line.strip():
            continue
        try:
            doc = json.loads(line)
        except json.JSONDecodeError:
            raise UsageError(f"stdin line {number} is not JSON") from None
        if not isinstance(doc, dict):
            raise UsageError(f"stdin line {number} is not a JSON object")
        file = doc.get("file") if isinstance(doc.get("file"), str) else None
        for kind, value in importer.hashes_in(doc):
            yield HashSpec(kind, value, file)


def cmd_submit(args: argparse.Namespace) -> int:
    extra: dict[str, Any] = {"case": args.case} if args.case else {}
    if args.expires:
        now = now_ms()
        expires = parse_when(args.expires, now, "--expires")
        if expires <= now:
            raise UsageError(f"--expires {args.expires!r} is in the past ({date(expires)})")
        extra["expires_ms"] = expires
    specs = list(hash_specs(args.hashes, sys.stdin))
    if not specs:
        raise UsageError("no hashes to submit")
    # Junk (an empty file's digests, a degenerate PDQ, the operator's list) is refused here,
    # naming each file, before anything is sent; the node refuses it again.
    NeverPublish(DataDir(Path(args.data)).never_publish).check(
        Candidate(h.file or f"{h.signal_type}:{h.value}", h.signal_type, _hash_bytes(h))
        for h in specs
    )
    items = [
        {"signal_type": h.signal_type, "value": h.value, "labels": args.label or [], **extra}
        for h in specs
    ]
    result = client_for(args).post("/v1/hashes", {"items": items})
    done = {**result, "items": len(items)}
    if "expires_ms" in extra:
        done["expires"] = date(extra["expires_ms"])
    print(json.dumps(done))
    return 0


def _hash_bytes(spec: HashSpec) -> bytes:
    """The value of ``spec`` (``ProtocolError``, naming the problem, if it is no such hash)."""
    return signal_type(spec.signal_type).parse(spec.value)


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
    specs = list(hash_specs(args.hashes, sys.stdin))
    if not specs:
        raise UsageError("no hashes to match")
    client, matched = client_for(args), 0
    for start in range(0, len(specs), 1000):
        part = specs[start : start + 1000]
        queries = [{"signal_type": h.signal_type, "value": h.value} for h in part]
        doc = {"queries": queries, "threshold": args.threshold}
        answers = client.post("/v1/match", doc)["results"]
        for spec, query, result in zip(part, queries, answers, strict=True):
            matched += bool(result["matches"])
            # The file a `hashbank hash` line named, so `hash *.jpg | match -` says which.
            line = {"file": spec.file} if spec.file is not None else {}
            print(json.dumps({**line, "query": query, "matches": result["matches"]}))
    return 0 if matched else 3


def cmd_status(args: argparse.Namespace) -> int:
    if args.feedback or args.case:
        from node.cli.platform import cmd_status_feedback

        return cmd_status_feedback(args, client_for(args))
    doc = client_for(args).get("/v1/status")
    if args.json:
        print(json.dumps(doc, indent=2))
    else:
        from node.cli.status import print_status

        print_status(doc, sys.stdout)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    if args.format == "hma-csv":
        from node.cli.platform import cmd_export_hma_csv

        return cmd_export_hma_csv(args, client_for(args))
    client = client_for(args)
    total = int(client.get("/v1/status").get("entries", 0))
    # Writing to the terminal itself, the entries are the progress.
    progress = Progress(total, "entries", quiet=not args.out and sys.stdout.isatty())
    out = open_private(Path(args.out)) if args.out else sys.stdout
    try:
        # The charter history comes first: an import applies it before judging any entry.
        versions = _export_charters(client, out, 0)
        count = _export_entries(client, out, progress)
        # A version adopted while the entries were read goes at the end (import reads every
        # charter line before any entry).
        versions = _export_charters(client, out, versions)
        # Fork proofs last: an import keeps them after the entries, so the entries a fork
        # suspends are restored as the source holds them, in the chain and void.
        proofs = _export_forks(client, out)
    finally:
        if args.out:
            out.close()
    progress.finish(count)
    parts = [f"{count} entries"]
    parts += [f"{versions} charter versions"] if versions else []
    parts += [f"{proofs} fork proof{'s' if proofs != 1 else ''}"] if proofs else []
    listed = parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} and {parts[-1]}"
    print(f"exported {listed}", file=sys.stderr)
    return 0


def _export_charters(client: Client, out: TextIO, after: int) -> int:
    """``{"charter": base64, "version": n}`` lines for the versions after ``after``; returns
    the last version number written (``after`` if none)."""
    while True:
        page = client.get("/v1/charter/versions", {"after": str(after)})
        for version in page["versions"]:
            out.write(json.dumps({"charter": version["charter"], "version": version["version"]}))
            out.write("\n")
            after = version["version"]
        if not page["more"] or not page["versions"]:
            return after


def _export_forks(client: Client, out: TextIO) -> int:
    """``{"fork": hex, "author": hex, "seq": n}`` lines for every fork proof; returns how many."""
    forks = client.get("/v1/forks")["forks"]
    for fork in forks:
        out.write(json.dumps({"fork": fork["proof"], "author": fork["author"], "seq": fork["seq"]}))
        out.write("\n")
    return len(forks)


def _export_entries(client: Client, out: TextIO, progress: Progress) -> int:
    """``{"entry_id", "entry"}`` lines for every stored entry, in the order it was stored."""
    cursor, count = "0", 0
    while True:
        query = {"after": cursor, "limit": "1000", "kinds": "add,revoke,feedback"}
        page = client.get("/v1/changes", query)
        for change in page["changes"]:
            out.write(json.dumps({"entry_id": change["entry_id"], "entry": change["entry"]}))
            out.write("\n")
            count += 1
        progress.update(count)
        cursor = page["cursor"]
        if not page["more"]:
            return count


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
    _add_publishing(commands)
    _add_reading(commands)


def _add_publishing(commands: Commands) -> None:
    """``hash``, ``submit``, ``revoke``, ``feedback``."""
    p = commands.add(
        "hash", cmd_hash, "hash files locally (PDQ, MD5, SHA-256); no network", data=False
    )
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument(
        "-r",
        "--recursive",
        action="store_true",
        help="hash the files under directories too (hidden ones are skipped)",
    )

    p = commands.add(
        "submit",
        cmd_submit,
        "publish hashes (TYPE:HEX … or - for `hashbank hash` output on stdin)",
        client=True,
    )
    p.add_argument("hashes", nargs="+", metavar="HASH")
    p.add_argument("--case", help="your case reference (published only as an opaque id)")
    p.add_argument("--label", action="append", help="label for every hash (repeatable)")
    p.add_argument(
        "--expires",
        metavar="WHEN",
        help="when the hashes expire: a date (2027-06-01, UTC) or a duration from now (90d, 12h)",
    )

    _add_revoke_parser(commands)

    p = commands.add("feedback", cmd_feedback, "record a verdict on a hash", client=True)
    p.add_argument("hash", metavar="TYPE:HEX")
    p.add_argument("--verdict", required=True, choices=names(Verdict))
    p.add_argument("--note", default="none", choices=names(FeedbackNote))
    p.add_argument("--entry-id")


def _add_reading(commands: Commands) -> None:
    """``match``, ``status``, ``export``."""
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
    p.add_argument("--json", action="store_true", help="print the API's JSON document")

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
