"""Key files for rotation: ``identity.next.key`` waits for the charter, then takes over.

``hashbank key rotate`` writes the next key; the node keeps publishing nothing until a charter
version lists that key as the organisation's current one, then promotes it: the old key is
kept as ``identity.retired-<n>.key`` (never deleted: it signed part of the feed).
``hashbank key cancel`` sets a pending key aside as ``identity.cancelled-<n>.key`` (kept, in
case a charter version listing it is adopted after all) and publishing resumes.
"""

from __future__ import annotations

import os
from pathlib import Path

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


def _free(data: DataDir, kind: str) -> Path:
    """The first ``identity.<kind>-<n>.key`` not yet taken."""
    n = 1
    while (path := data.root / f"identity.{kind}-{n}.key").exists():
        n += 1
    return path


def cancel_rotation(data: DataDir) -> Path:
    """Set the pending key aside (the caller checked no charter lists it); returns its file."""
    pending = data.root / "identity.next.key"
    if not pending.exists():
        raise ConfigError(f"no key rotation is pending ({pending} does not exist)")
    kept = _free(data, "cancelled")
    os.replace(pending, kept)
    return kept


def restore_rotation(data: DataDir, kept: Path) -> None:
    """Undo ``cancel_rotation``: the set-aside key is pending again."""
    os.replace(kept, data.root / "identity.next.key")


def promote(data: DataDir) -> SigningKey:
    """Make the pending key the identity key, keeping the old one."""
    pending = data.root / "identity.next.key"
    key = load_key_file(pending)
    retired = _free(data, "retired")
    os.replace(data.identity, retired)
    os.replace(pending, data.identity)
    return key


class KeyRing:
    """The organisation's current signing key, and the rotation that may replace it."""

    def __init__(self, data: DataDir, current: SigningKey) -> None:
        self.data = data
        self.current = current

    def pending(self) -> SigningKey | None:
        return pending_key(self.data)

    def adopt_if_listed(self, listed_key: bytes | None) -> bool:
        """Switch to the pending key once the charter lists it as our current key."""
        pending = self.pending()
        if pending is None or listed_key != pending.public_key.raw:
            return False
        self.current = promote(self.data)
        return True
