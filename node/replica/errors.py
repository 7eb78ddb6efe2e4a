"""Errors of the replica: what it refuses to publish, and when it cannot work."""

from __future__ import annotations

from node.errors import NodeError


class ReplicaError(NodeError):
    """Base of the replica's errors."""

    code = "bad_request"


class BadRequestError(ReplicaError):
    """A request the replica cannot act on (revoking a revoke, an item that does not exist)."""

    code = "bad_request"


class UnknownEntryError(ReplicaError):
    """A request naming an entry this node does not hold."""

    code = "not_found"
    status_hint = 404


class NotInBankError(ReplicaError):
    """Feedback on a hash that no entry of the bank holds."""

    code = "not_in_bank"
    status_hint = 404


class NeverPublishError(ReplicaError):
    """A submission holding hashes this node never publishes (nothing of it was written)."""

    code = "never_publish"
    status_hint = 400


class NotOursError(ReplicaError):
    """A request to act on another organisation's entry."""

    code = "forbidden"
    status_hint = 403


class ConflictError(ReplicaError):
    """A request that conflicts with the current state (withdrawn already, reused key)."""

    code = "conflict"
    status_hint = 409


class UnavailableError(ReplicaError):
    """A request the node cannot serve right now (retry later)."""

    code = "unavailable"
    status_hint = 503


class WorkerError(ReplicaError):
    """A decode worker died or broke the framing."""

    code = "decode_worker"
    status_hint = 500
