"""Errors of the command line: each says what to do next and carries its exit status."""

from __future__ import annotations

from node.errors import NodeError


class CliError(NodeError):
    """Base of the command line's errors."""

    code = "cli_error"
    exit_status = 1


class UsageError(CliError):
    """A command line the CLI cannot act on."""

    code = "usage"
    exit_status = 2


class DeclinedError(CliError):
    """The person at the terminal answered no: nothing was done."""

    code = "declined"


class InputError(CliError):
    """A file given to a command that cannot be used (not JSON, a bad hash on line N)."""

    code = "bad_input"


class ClientError(CliError):
    """The node answered with an error, or could not be reached."""

    code = "client_error"

    def __init__(self, message: str, status: int = 0, code: str = "") -> None:
        super().__init__(message)
        self.status = status
        if code:
            self.code = code


class InterruptError(CliError):
    """Ctrl-C in the middle of a long command: says what was done and how to go on."""

    code = "interrupted"
    exit_status = 130
