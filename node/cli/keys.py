"""``hashbank key rotate`` and ``hashbank key cancel``: the organisation's next key.

``rotate`` writes ``identity.next.key`` and pauses publishing until a charter version lists
it. ``cancel`` (or ``rotate --cancel``) sets a pending key aside so publishing resumes, but
only while no adopted charter version lists it: once one does, the network expects that key,
and the node promotes it. The charter is read from the running node, or from the store when
the node is stopped.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
from pathlib import Path

from node.cli.client import Client
from node.cli.errors import ClientError
from node.config import load_config
from node.datadir import DataDir, DataLock
from node.errors import ConfigError
from node.replica import keys
from protocol.charter import decode_charter


def cmd_key(args: argparse.Namespace) -> int:
    data = DataDir(Path(args.data))
    data.require()
    if args.key_command == "cancel" or args.cancel:
        return _cancel(data, args.url)
    key = keys.start_rotation(data)
    print(f"new key {key.public_key} written to {data.root}/identity.next.key")
    print("publishing pauses until a charter version lists it; ask the stewards for:")
    print(f"  hashbank charter propose --rotate <your org id> {key.public_key} --out next.json")
    print("changed your mind before they adopt it? hashbank key cancel")
    return 0


def _cancel(data: DataDir, url: str | None) -> int:
    pending = keys.pending_key(data)
    if pending is None:
        raise ConfigError(f"no key rotation is pending ({data.root}/identity.next.key is absent)")
    _refuse_if_listed(data, url, pending.public_key.raw)
    kept = keys.cancel_rotation(data)
    try:  # a version listing it may have been adopted while the file was being moved
        _refuse_if_listed(data, url, pending.public_key.raw)
    except ConfigError:
        keys.restore_rotation(data, kept)
        raise
    print(f"key rotation cancelled: {pending.public_key} will not be used; publishing resumes")
    print(f"the key is kept as {kept}, in case a charter version listing it is adopted after")
    print("all (then move it back to identity.next.key and restart the node); tell the stewards")
    print("not to adopt a version listing it")
    return 0


def _refuse_if_listed(data: DataDir, url: str | None, key: bytes) -> None:
    """Raise if an adopted charter version lists ``key`` among this organisation's keys."""
    org = bytes.fromhex(load_config(data).org_id)
    for raw in charter_versions(data, url):
        charter = decode_charter(raw)
        member = charter.body.member(org)
        if member is not None and any(k.key == key for k in member.keys):
            raise ConfigError(
                f"charter version {charter.number} already lists the pending key for this "
                "organisation; the rotation cannot be cancelled (the node takes the key as "
                "soon as it runs with that version)"
            )


def charter_versions(data: DataDir, url: str | None) -> list[bytes]:
    """Every adopted charter version: from the node's API, or its store if it is stopped."""
    client = Client.for_data(data, url)
    try:
        return _versions_from(client)
    except ClientError as exc:
        if exc.status != 0:  # the node answered, with an error
            raise
    try:
        with DataLock(data):
            return asyncio.run(_versions_in_store(data))
    except ConfigError:
        raise ConfigError(
            f"cannot check the charter: the node at {client.base_url} does not answer and "
            f"{data.root} is in use; pass --url with the node's address"
        ) from None


def _versions_from(client: Client) -> list[bytes]:
    raws: list[bytes] = []
    while True:
        page = client.get("/v1/charter/versions", {"after": str(len(raws))})
        raws += [base64.b64decode(v["charter"]) for v in page["versions"]]
        if not page["more"] or not page["versions"]:
            return raws


async def _versions_in_store(data: DataDir) -> list[bytes]:
    from node.store import Store

    if not data.store.exists():
        return []
    store = await Store.open(data.store, check=False)
    try:
        return await store.charters()
    finally:
        await store.close()
