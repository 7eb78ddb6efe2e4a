"""The node's SQLite store: the only place with SQL, and its one transaction door."""

from node.store.errors import StoreError
from node.store.rows import (
    ActiveItem,
    CaseRow,
    CharterForkRecord,
    Counts,
    FeedbackOnAdd,
    ForkRecord,
    ItemRow,
    StoredEntry,
)
from node.store.store import Store
from node.store.transaction import Transaction

__all__ = [
    "ActiveItem",
    "CaseRow",
    "CharterForkRecord",
    "Counts",
    "FeedbackOnAdd",
    "ForkRecord",
    "ItemRow",
    "Store",
    "StoreError",
    "StoredEntry",
    "Transaction",
]
