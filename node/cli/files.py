"""Files the CLI writes that hold the bank: readable by their owner only."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TextIO

from node.cli.errors import InputError


def open_private(path: Path, newline: str | None = None) -> TextIO:
    """``path`` truncated for writing text, mode 0600 whatever the umask or its old mode.

    An export holds every hash of the bank, which is not published beyond its members
    (docs/threat-model.md): the default umask would leave it readable by every local user.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror}") from None
    try:
        os.fchmod(fd, 0o600)  # a file that was already there keeps its mode otherwise
        return os.fdopen(fd, "w", newline=newline)
    except BaseException:
        os.close(fd)
        raise
