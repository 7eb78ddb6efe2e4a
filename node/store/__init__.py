"""The node's SQLite store: the only place with SQL, and its one transaction door."""

from node.store.errors import StoreError
from node.store.rows import (
    CASE_STATES,
    ActiveItem,
    AuditRow,
    CaseRow,
    CaseSearch,
    CaseSummaryRow,
    ChangedItem,
    ChangeKinds,
    ChangeReason,
    CharterForkRecord,
    Counts,
    FeedbackOnAdd,
    ForkRecord,
    ItemChange,
    ItemChangeKind,
    ItemRow,
    RevocationRow,
    SessionRow,
    StoredEntry,
    UserRow,
)
from node.store.store import Store
from node.store.transaction import Transaction

__all__ = [
    "CASE_STATES",
    "ActiveItem",
    "AuditRow",
    "CaseRow",
    "CaseSearch",
    "CaseSummaryRow",
    "ChangeKinds",
    "ChangeReason",
    "ChangedItem",
    "CharterForkRecord",
    "Counts",
    "FeedbackOnAdd",
    "ForkRecord",
    "ItemChange",
    "ItemChangeKind",
    "ItemRow",
    "RevocationRow",
    "SessionRow",
    "Store",
    "StoreError",
    "StoredEntry",
    "Transaction",
    "UserRow",
]
