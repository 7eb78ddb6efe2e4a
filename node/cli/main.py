"""The ``hashbank`` command line.

``init``, ``run``, ``rebuild`` and ``hash`` work on the machine itself; ``submit``, ``revoke``,
``feedback``, ``match``, ``status``, ``export`` and ``import`` are thin clients of the node's
API, found through the data directory (``--data``), so they work the same against a node
running anywhere.
"""

from __future__ import annotations

import argparse
import asyncio
import enum
import gc
import json
import logging
import sys
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, TextIO

from node import __version__
from node.cli import charter as charter_cli
from node.cli import importer
from node.cli.client import Client
from node.config import ROLES, PeerConfig, initialise, load_config, write_config
from node.datadir import DataDir, DataLock, load_key
from node.errors import ConfigError, NodeError
from protocol.body import FeedbackNote, RevokeReason, Verdict
from protocol.errors import ProtocolError
from protocol.identity import PublicKey

DEFAULT_DATA = ".hashbank"
# Cycle-collector thresholds for a running node (the default is 700, 10, 10): see cmd_run.
GC_THRESHOLDS = (1_000_000, 50, 100)
log = logging.getLogger("hashbank")


class UsageError(Exception):
    """A command line the CLI cannot act on."""


# --- init / run / rebuild ------------------------------------------------------------------


def cmd_init(args: argparse.Namespace) -> int:
    data, config, key = initialise(
        Path(args.data), name=args.name, role=args.role, host=args.host, port=args.port
    )
    asyncio.run(_create_store(data))
    print(f"initialised {data.root}")
    print(f"  organisation  {config.name} ({config.role})")
    print(f"  org id        {config.org_id}")
    print(f"  node id       {key.public_key}")
    print(f"  listen        {config.url}")
    print(f"  token         {data.token}  (keep it secret; API calls need it)")
    print(f"start it with:  hashbank run --data {data.root}")
    return 0


async def _create_store(data: DataDir) -> None:
    from node.store.store import Store

    store = await Store.open(data.store, create=True)
    await store.close()


def cmd_run(args: argparse.Namespace) -> int:
    from node.api.app import serve
    from node.replica.node import Node

    data = DataDir(Path(args.data))
    data.require()
    # Verification threads and the event loop share the GIL; a shorter switch interval keeps
    # the loop (and SQLite's thread) fed while a thread decodes, instead of waiting 5 ms turns.
    sys.setswitchinterval(0.0005)
    # A bulk sync allocates millions of small tuples that live until their batch is written;
    # with the default thresholds the cycle collector walked them over and over, about a fifth
    # of the sync's time. Garbage freed by reference counting does not count towards the
    # threshold, so what waits for a collection is only cyclic garbage (a few objects per
    # failed request): at most a million objects, tens of MB, between collections.
    gc.set_threshold(*GC_THRESHOLDS)

    async def main() -> None:
        with DataLock(data):
            node = await Node.open(data)
            gc.freeze()  # what start-up built (index, modules) stays; never rescan it
            try:
                host = args.host or node.config.host
                port = node.config.port if args.port is None else args.port
                await serve(node, host=host, port=port, ready=lambda url: _announce(node, url))
            finally:
                await node.close()

    asyncio.run(main())
    return 0


def _announce(node: Any, url: str) -> None:
    print(f"hashbank node {node.config.name!r} listening on {url}", flush=True)
    print(f"  node id {node.key.public_key}   org id {node.org.hex()}", flush=True)
    print(f"  operator token: {node.data.token}", flush=True)


def cmd_rebuild(args: argparse.Namespace) -> int:
    from node.store.rebuild import rebuild

    data = DataDir(Path(args.data))
    data.require()
    with DataLock(data):
        before, after = asyncio.run(rebuild(data))
    print(
        json.dumps(
            {"bank_digest_before": before, "bank_digest_after": after, "equal": before == after}
        )
    )
    return 0 if before == after else 1


# --- hash ----------------------------------------------------------------------------------


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


# --- thin clients --------------------------------------------------------------------------


def _client(args: argparse.Namespace) -> Client:
    return Client.for_data(DataDir(Path(args.data)), args.url)


def _hash_specs(values: Sequence[str], stdin: TextIO) -> Iterator[tuple[str, str]]:
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
        for kind, value in _hash_specs(args.hashes, sys.stdin)
    ]
    if not items:
        raise UsageError("no hashes to submit")
    result = _client(args).post("/v1/hashes", {"items": items})
    print(json.dumps({**result, "items": len(items)}))
    return 0


def cmd_revoke(args: argparse.Namespace) -> int:
    doc: dict[str, Any] = {"entry_id": args.entry_id, "reason": args.reason}
    if args.items:
        try:
            doc["items"] = [int(x) for x in args.items.split(",")]
        except ValueError:
            raise UsageError("--items must be comma-separated item indexes, e.g. 0,2") from None
    print(json.dumps(_client(args).post("/v1/revocations", doc)))
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
    print(json.dumps(_client(args).post("/v1/feedback", doc)))
    return 0


def cmd_match(args: argparse.Namespace) -> int:
    queries = [{"signal_type": k, "value": v} for k, v in _hash_specs(args.hashes, sys.stdin)]
    if not queries:
        raise UsageError("no hashes to match")
    client, matched = _client(args), 0
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

        return cmd_status_feedback(args, _client(args))
    print(json.dumps(_client(args).get("/v1/status"), indent=2))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    if args.format == "hma-csv":
        from node.cli.platform import cmd_export_hma_csv

        return cmd_export_hma_csv(args, _client(args))
    client = _client(args)
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


def cmd_import(args: argparse.Namespace) -> int:
    path = Path(args.file)
    if not path.is_file():
        raise UsageError(f"{path} is not a readable file")
    if not 0 < args.batch <= 10_000:
        raise UsageError("--batch must be between 1 and 10000")
    fmt = importer.detect(path, args.format)
    client = _client(args)
    if fmt != "entries":
        totals = importer.import_hashes(
            client, path, fmt, labels=args.label or [], case=args.case, batch=args.batch
        )
        print(json.dumps(totals.as_json()))
        return 0
    result: dict[str, Any] = {"stored": 0, "duplicates": 0, "held": 0, "rejected": {}}
    for chunk in importer.entry_chunks(path):
        answer = client.post("/v1/entries", {"entries": chunk})
        for key in ("stored", "duplicates", "held"):
            result[key] += answer[key]
        for code, n in answer["rejected"].items():
            result["rejected"][code] = result["rejected"].get(code, 0) + n
    print(json.dumps(result))
    return 0 if not result["rejected"] else 1


# --- peers ---------------------------------------------------------------------------------


def cmd_peers(args: argparse.Namespace) -> int:
    data = DataDir(Path(args.data))
    data.require()
    config = load_config(data)
    if args.action == "list":
        for peer in config.peers:
            print(f"{peer.node_id}  {peer.url}")
        return 0
    if args.action == "add":
        if not args.url or not args.node_id:
            raise UsageError("usage: hashbank peers add --data DIR URL NODE_ID")
        peer = PeerConfig(_peer_url(args.url), str(PublicKey.from_text(args.node_id)))
        if peer.node_id == str(load_key(data).public_key):
            raise UsageError("that node id is this node's own")
        others = tuple(p for p in config.peers if p.node_id != peer.node_id)
        write_config(data, replace(config, peers=(*others, peer)))
        print(f"added peer {peer.node_id} at {peer.url}")
        return 0
    target = args.url
    if not target:
        raise UsageError("usage: hashbank peers remove --data DIR NODE_ID|URL")
    kept = tuple(p for p in config.peers if target not in (p.node_id, p.url))
    if len(kept) == len(config.peers):
        raise UsageError(f"no peer {target!r} in {data.config}")
    write_config(data, replace(config, peers=kept))
    print(f"removed peer {target}")
    return 0


def _peer_url(url: str) -> str:
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise UsageError(f"peer URL must be http(s)://host:port, got {url!r}")
    return url.rstrip("/")


# --- parser --------------------------------------------------------------------------------


def _names(codes: type[enum.IntEnum]) -> list[str]:
    """The CLI spelling of a protocol enum's members (as the JSON API spells them)."""
    return [member.name.lower() for member in codes]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hashbank", description="A federated, signed hash bank for NCII."
    )
    parser.add_argument("--version", action="version", version=f"hashbank {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(
        name: str,
        fn: Callable[[argparse.Namespace], int],
        help: str,
        data: bool = True,
        client: bool = False,
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        if data:
            p.add_argument("--data", default=DEFAULT_DATA, help="node data directory")
        if client:
            p.add_argument("--url", help="node URL (default: from the data directory)")
        p.set_defaults(fn=fn)
        return p

    p = command("init", cmd_init, "create a node: identity key, config, store, token")
    p.add_argument("--name", required=True, help="your organisation's name")
    p.add_argument("--role", choices=ROLES, default="publisher")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8750)

    p = command("run", cmd_run, "serve the node until SIGINT/SIGTERM")
    p.add_argument("--host")
    p.add_argument("--port", type=int)

    command("rebuild", cmd_rebuild, "re-derive the bank from stored entries (node stopped)")

    p = command("hash", cmd_hash, "hash files locally (PDQ, MD5, SHA-256); no network", data=False)
    p.add_argument("files", nargs="+", metavar="FILE")

    p = command(
        "submit",
        cmd_submit,
        "publish hashes (TYPE:HEX … or - for `hashbank hash` output on stdin)",
        client=True,
    )
    p.add_argument("hashes", nargs="+", metavar="HASH")
    p.add_argument("--case", help="your case reference (published only as an opaque id)")
    p.add_argument("--label", action="append", help="label for every hash (repeatable)")

    p = command(
        "revoke", cmd_revoke, "withdraw one of your entries, or some of its items", client=True
    )
    p.add_argument("entry_id")
    p.add_argument("--items", help="comma-separated item indexes (default: the whole entry)")
    p.add_argument("--reason", default="victim_request", choices=_names(RevokeReason))

    p = command("feedback", cmd_feedback, "record a verdict on a hash", client=True)
    p.add_argument("hash", metavar="TYPE:HEX")
    p.add_argument("--verdict", required=True, choices=_names(Verdict))
    p.add_argument("--note", default="none", choices=_names(FeedbackNote))
    p.add_argument("--entry-id")

    p = command("match", cmd_match, "match hashes against the bank (exit 3: no match)", client=True)
    p.add_argument("hashes", nargs="+", metavar="HASH")
    p.add_argument("--threshold", type=int, default=31)

    p = command("status", cmd_status, "show the node's status", client=True)
    p.add_argument(
        "--feedback", action="store_true", help="list platforms' verdicts on your entries"
    )
    p.add_argument("--case", help="with --feedback: only the entries of this case reference")
    p.add_argument("--json", action="store_true", help="with --feedback: print JSON")

    p = command(
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

    p = sub.add_parser(
        "peers",
        help="list, add or remove peers (a running node picks it up)",
        description="list, add or remove peers",
    )
    peer_actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name, help in (
        ("list", "list the configured peers"),
        ("add", "add a peer"),
        ("remove", "remove a peer"),
    ):
        a = peer_actions.add_parser(name, help=help, description=help)
        a.add_argument("--data", default=DEFAULT_DATA, help="node data directory")
        a.set_defaults(fn=cmd_peers, url=None, node_id=None)
        if name == "add":
            a.add_argument("url", help="the peer's URL, e.g. https://node.example.org")
            a.add_argument("node_id", help="the peer's node id (its public key, 64 hex)")
        elif name == "remove":
            a.add_argument("url", metavar="PEER", help="the peer's node id or URL")

    charter_cli.add_parsers(sub, command)

    p = command(
        "import",
        cmd_import,
        "bulk-publish hashes from JSON lines or CSV (resumable), or load exported entries",
        client=True,
    )
    p.add_argument("file", help="hashes (.jsonl, .csv, `hashbank hash` output) or an export")
    p.add_argument("--format", choices=importer.FORMATS, default="auto")
    p.add_argument("--label", action="append", help="label for every hash (repeatable)")
    p.add_argument("--case", help="case reference for hashes that name none")
    p.add_argument("--batch", type=int, default=10_000, help="hashes per signed entry")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from node.logs import setup_logging

    setup_logging(logging.DEBUG if args.verbose else logging.INFO)
    try:
        return int(args.fn(args))
    except (NodeError, ProtocolError) as exc:
        print(f"hashbank: error: {exc.message}", file=sys.stderr)
        return 2 if isinstance(exc, ConfigError) else 1
    except UsageError as exc:
        print(f"hashbank: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a bug, not bad input: say so briefly, details with -v
        log.debug("internal error", exc_info=True)
        print(f"hashbank: internal error: {exc!r} (run with -v for details)", file=sys.stderr)
        return 70
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
