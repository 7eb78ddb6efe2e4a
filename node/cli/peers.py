"""``hashbank peers list|add|remove``: the peer list in the data directory's config file.

The file is edited in place (the operator's comments and layout stay); a running node notices
the change within a second.
"""

from __future__ import annotations

import argparse
import urllib.parse
from pathlib import Path

from node.cli.config_edit import save_peers
from node.cli.errors import UsageError
from node.cli.parsing import Commands, add_data
from node.config import PeerConfig, load_config
from node.datadir import DataDir, load_key
from protocol.errors import ProtocolError
from protocol.identity import PublicKey


def cmd_peers(args: argparse.Namespace) -> int:
    data = DataDir(Path(args.data))
    data.require()
    config = load_config(data)
    if args.action == "list":
        for peer in config.peers:
            print(f"{peer.node_id}  {peer.url}")
        return 0
    if args.action == "add":
        peer = PeerConfig(_peer_url(args.url), _node_id(args.node_id))
        if peer.node_id == str(load_key(data).public_key):
            raise UsageError("that node id is this node's own")
        known = any(p.node_id == peer.node_id for p in config.peers)
        peers = [peer if p.node_id == peer.node_id else p for p in config.peers]
        save_peers(data, peers if known else [*peers, peer])
        print(f"added peer {peer.node_id} at {peer.url}")
        return 0
    target = args.peer
    kept = tuple(p for p in config.peers if target not in (p.node_id, p.url))
    if len(kept) == len(config.peers):
        raise UsageError(f"no peer {target!r} in {data.config}")
    save_peers(data, kept)
    print(f"removed peer {target}")
    return 0


def _node_id(text: str) -> str:
    try:
        return str(PublicKey.from_text(text))
    except ProtocolError:
        raise UsageError(
            f"{text!r} is not a node id: 64 hex characters, as the other node's "
            "`hashbank init` or `hashbank status` prints them"
        ) from None


def _peer_url(url: str) -> str:
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise UsageError(f"peer URL must be http(s)://host:port, got {url!r}")
    return url.rstrip("/")


def add_parsers(commands: Commands) -> None:
    actions = commands.group(
        "peers", "list, add or remove peers (a running node picks it up)", dest="action"
    )
    for name, help in (
        ("list", "list the configured peers"),
        ("add", "add a peer"),
        ("remove", "remove a peer"),
    ):
        a = actions.add_parser(name, help=help, description=help)
        add_data(a)
        a.set_defaults(fn=cmd_peers)
        if name == "add":
            a.add_argument("url", help="the peer's URL, e.g. https://node.example.org")
            a.add_argument("node_id", help="the peer's node id (its public key, 64 hex)")
        elif name == "remove":
            a.add_argument("peer", metavar="PEER", help="the peer's node id or URL")
