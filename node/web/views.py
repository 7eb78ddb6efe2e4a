"""JSON shapes of console accounts, sessions and the audit log (console and operator API)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from node.web.accounts import Issued, User
from node.web.audit import AuditEntry
from node.web.sessions import Session


def user_view(user: User, now_ms: int) -> dict[str, Any]:
    return {
        "name": user.name,
        "role": user.role,
        "disabled": user.disabled,
        "must_change_password": user.must_change,
        "locked": user.locked_until_ms > now_ms,
        "created_ms": user.created_ms,
    }


def issued_view(issued: Issued, now_ms: int) -> dict[str, Any]:
    """An added or reset account; ``password`` only when the node made a one-time one."""
    doc: dict[str, Any] = {"user": user_view(issued.user, now_ms)}
    if issued.password is not None:
        doc["password"] = issued.password
    return doc


def me_view(session: Session, idle_ms: int, now_ms: int) -> dict[str, Any]:
    return {
        "user": user_view(session.user, now_ms),
        "session": {
            "created_ms": session.created_ms,
            "expires_ms": session.expires_ms,
            "idle_timeout_s": idle_ms // 1000,
        },
        "csrf_token": session.csrf,
    }


def audit_view(entries: Sequence[AuditEntry], more: bool) -> dict[str, Any]:
    """A page of the audit log, newest first; ``before`` continues it."""
    return {
        "entries": [
            {
                "id": e.audit_id,
                "at_ms": e.at_ms,
                "actor": e.actor,
                "action": e.action,
                "subject": e.subject,
                "detail": dict(e.detail),
            }
            for e in entries
        ],
        "before": str(entries[-1].audit_id) if more and entries else None,
    }
