"""The store's errors."""

from __future__ import annotations

from node.errors import NodeError


class StoreError(NodeError):
    """A store that cannot be opened or used safely (damaged, newer schema, missing)."""

    code = "store_error"
    status_hint = 503
