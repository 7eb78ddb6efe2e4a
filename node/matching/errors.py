"""Errors of the matching package (which depends on nothing else in the node)."""

from __future__ import annotations


class MatchingError(Exception):
    """Base of the matching package's errors; ``status_hint`` as the node's errors have."""

    code = "matching_error"
    status_hint = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class IndexInputError(MatchingError):
    """Arguments the PDQ index cannot take (wrong shapes, repeated ids, bad threshold)."""

    code = "invalid_value"


class IndexFileError(MatchingError):
    """A saved index that is missing, of another format, or damaged."""

    code = "index_damaged"
    status_hint = 500
