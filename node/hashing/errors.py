"""Errors of hashing local files."""

from __future__ import annotations

from node.errors import NodeError


class HashingError(NodeError):
    """A local file that cannot be hashed (unreadable, not a regular file, no image for PDQ)."""

    code = "hashing_error"
