"""``hashbank init``, ``run`` and ``rebuild``: the node itself, on this machine."""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import sys
from pathlib import Path

from node.cli.parsing import Commands
from node.config import ROLES, initialise, load_config
from node.datadir import DataDir, DataLock
from node.logs import FORMATS, setup_logging
from node.replica.node import Node

# Cycle-collector thresholds for a running node (the default is 700, 10, 10): see cmd_run.
GC_THRESHOLDS = (1_000_000, 50, 100)


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
    from node.store import Store

    store = await Store.open(data.store, create=True)
    await store.close()


def cmd_run(args: argparse.Namespace) -> int:
    from node.api.service import serve

    data = DataDir(Path(args.data))
    data.require()
    fmt = args.log_format or load_config(data).log_format
    setup_logging(logging.DEBUG if args.verbose else logging.INFO, fmt)
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


def _announce(node: Node, url: str) -> None:
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


def add_parsers(commands: Commands) -> None:
    p = commands.add("init", cmd_init, "create a node: identity key, config, store, token")
    p.add_argument("--name", required=True, help="your organisation's name")
    p.add_argument("--role", choices=ROLES, default="publisher")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8750)

    p = commands.add("run", cmd_run, "serve the node until SIGINT/SIGTERM")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.add_argument(
        "--log-format",
        choices=FORMATS,
        help="log lines as readable text (default) or one JSON object each (default: [log] format)",
    )

    commands.add("rebuild", cmd_rebuild, "re-derive the bank from stored entries (node stopped)")
