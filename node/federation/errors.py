"""Errors of talking to peers."""

from __future__ import annotations

from node.errors import NodeError


class FederationError(NodeError):
    """Base of federation's errors."""

    code = "federation_error"
    status_hint = 502


class PeerError(FederationError):
    """A peer that could not be reached or answered with an error.

    The message is always our own words (never the peer's body): it is shown to operators and
    must not carry what a hostile peer chose to say.
    """

    code = "peer_error"

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class PeerRequestError(FederationError):
    """A peer's request this node cannot act on (malformed list, too many items)."""

    code = "bad_request"
    status_hint = 400
