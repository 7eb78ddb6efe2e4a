"""Edits to an operator's ``config.toml`` that keep everything else in it, comments included.

``hashbank peers add`` and ``peers remove`` change only the ``[[peers]]`` tables they must: a
peer kept keeps its table (and the comments in it), a new one is appended, a removed one is
deleted. The result is checked like any config before it replaces the file, atomically.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Sequence

import tomlkit
from tomlkit.exceptions import TOMLKitError
from tomlkit.items import AoT, Table

from node.config import PeerConfig, parse_config
from node.datadir import DataDir
from node.errors import ConfigError


def save_peers(data: DataDir, peers: Sequence[PeerConfig]) -> None:
    """Make the file's ``[[peers]]`` exactly ``peers`` (by node id), in that order."""
    path = data.config
    try:
        doc = tomlkit.parse(path.read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    except TOMLKitError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    old = doc.get("peers")
    if old is not None and not isinstance(old, AoT):
        raise ConfigError(f"{path}: peers must be an array of tables ([[peers]])")
    if old is None:
        if peers:
            doc["peers"] = AoT([_table(p) for p in peers])
    else:
        _reconcile(old, peers)
        if not len(old):
            del doc["peers"]
    text = tomlkit.dumps(doc)
    parse_config(tomllib.loads(text), str(path), text)  # never write a file the node refuses
    _replace(data, text)


def _reconcile(tables: AoT, peers: Sequence[PeerConfig]) -> None:
    """Edit ``tables`` in place: drop peers not wanted, update URLs, append new peers."""
    wanted = {p.node_id: p for p in peers}
    for index in reversed(range(len(tables))):
        if str(tables[index].get("node_id")) not in wanted:
            del tables[index]
    present = set()
    for table in tables:
        peer = wanted[str(table.get("node_id"))]
        present.add(peer.node_id)
        if table.get("url") != peer.url:
            table["url"] = peer.url
    for peer in peers:
        if peer.node_id not in present:
            if len(tables):
                tables[-1].add(tomlkit.nl())  # a blank line between [[peers]] tables
            tables.append(_table(peer))


def _table(peer: PeerConfig) -> Table:
    table = tomlkit.table()
    table["url"] = peer.url
    table["node_id"] = peer.node_id
    return table


def _replace(data: DataDir, text: str) -> None:
    """Write ``text`` over config.toml atomically, keeping the file's mode."""
    path = data.config
    tmp = path.with_suffix(".toml.tmp")
    mode = path.stat().st_mode & 0o777
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
