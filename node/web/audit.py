"""The audit log: who did what, when, on this node — kept locally, never published.

``audit(actor, action, subject, detail)`` is the one way a line is written; handlers that
change something in a transaction of their own write the line in that same transaction
(``AuditLog.write``), so an action and its line commit together or not at all.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass

from node.clock import Clock
from node.store import AuditRow, Store, Transaction

MAX_TEXT = 200
# The actor of what the operator does through the API with the bearer token (the CLI).
API_OPERATOR = "operator (API)"
# The actor of a failed login whose name is not an account (never the typed name: people type
# passwords into the name field).
UNKNOWN_USER = "(unknown user)"

Detail = Mapping[str, str | int | float | bool | None]


class Action(enum.StrEnum):
    """Everything the audit log records."""

    LOGIN = "login"
    LOGIN_FAILED = "login_failed"
    LOGOUT = "logout"
    PASSWORD_CHANGED = "password_changed"  # noqa: S105 - an action name
    USER_ADDED = "user_added"
    USER_DISABLED = "user_disabled"
    USER_ENABLED = "user_enabled"
    USER_RESET = "user_reset"
    CASE_CREATED = "case_created"
    ITEMS_WITHDRAWN = "items_withdrawn"
    REPORT_EXPORTED = "report_exported"
    DRAFT_ADDED = "charter_draft_added"


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One line of the audit log."""

    audit_id: int
    at_ms: int
    actor: str
    action: str
    subject: str
    detail: Mapping[str, object]

    @classmethod
    def of(cls, row: AuditRow) -> AuditEntry:
        try:
            detail = json.loads(row.detail)
        except ValueError:
            detail = {}
        if not isinstance(detail, dict):
            detail = {}
        return cls(row.audit_id, row.at_ms, row.actor, row.action, row.subject, detail)


def _bounded(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + "…"


class AuditLog:
    """Writes and reads the audit log of one node."""

    def __init__(self, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    async def write(
        self,
        txn: Transaction,
        actor: str,
        action: Action,
        subject: str = "",
        detail: Detail | None = None,
    ) -> None:
        """Add a line inside ``txn`` (it commits with the action it records)."""
        text = json.dumps(dict(detail or {}), separators=(",", ":"), ensure_ascii=False)
        await txn.add_audit(
            self.clock.now_ms(), _bounded(actor), action.value, _bounded(subject), text
        )

    async def audit(
        self, actor: str, action: Action, subject: str = "", detail: Detail | None = None
    ) -> None:
        """Add a line in a transaction of its own."""

        async def work(txn: Transaction) -> None:
            await self.write(txn, actor, action, subject, detail)

        await self.store.transaction(work)

    async def page(
        self,
        *,
        before_id: int | None = None,
        limit: int = 100,
        actor: str | None = None,
        action: str | None = None,
    ) -> list[AuditEntry]:
        """Lines newest first; ``before_id`` continues a previous page."""
        rows = await self.store.audit_page(
            before_id=before_id, limit=limit, actor=actor, action=action
        )
        return [AuditEntry.of(r) for r in rows]
