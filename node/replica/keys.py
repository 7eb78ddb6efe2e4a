"""Key files for rotation: ``identity.next.key`` waits for the charter, then takes over.

``hashbank key rotate`` writes the next key; the node keeps publishing nothing until a charter
version lists that key as the organisation's current one, then promotes it: the old key is
kept as ``identity.retired-<n>.key`` (never deleted: it signed part of the feed).
"""

from __future__ import annotations

import os

from node.datadir import KEY_PREFIX, DataDir, load_key_file, write_secret
from node.errors import ConfigError
from protocol.identity import SigningKey


def pending_key(data: DataDir) -> SigningKey | None:
    """The key waiting for a charter, if a rotation has been started."""
    path = data.root / "identity.next.key"
    return load_key_file(path) if path.exists() else None


def start_rotation(data: DataDir) -> SigningKey:
    """Create the next key; refuses if a rotation is already pending."""
    path = data.root / "identity.next.key"
    if path.exists():
        raise ConfigError(f"a key rotation is already pending ({path})")
    key = SigningKey.generate()
    write_secret(path, KEY_PREFIX + key.seed.hex())
    return key


def promote(data: DataDir) -> SigningKey:
    """Make the pending key the identity key, keeping the old one."""
    pending = data.root / "identity.next.key"
    key = load_key_file(pending)
    n = 1
    while (retired := data.root / f"identity.retired-{n}.key").exists():
        n += 1
    os.replace(data.identity, retired)
    os.replace(pending, data.identity)
    return key
