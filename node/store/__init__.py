"""The node's SQLite store: the only place with SQL, and its one transaction door."""

from node.store.errors import StoreError
from node.store.rows import (
    ActiveItem,
    AuditRow,
    CaseRow,
    CharterForkRecord,
    Counts,
    FeedbackOnAdd,
    ForkRecord,
    ItemRow,
    SessionRow,
    StoredEntry,
    UserRow,
)
from node.store.store import Store
from node.store.transaction import Transaction

__all__ = [
    "ActiveItem",
    "AuditRow",
    "CaseRow",
    "CharterForkRecord",
    "Counts",
    "FeedbackOnAdd",
    "ForkRecord",
    "ItemRow",
    "SessionRow",
    "Store",
    "StoreError",
    "StoredEntry",
    "Transaction",
    "UserRow",
]
