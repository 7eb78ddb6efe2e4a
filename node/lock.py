"""An exclusive lock on a data directory, so two processes never write one store."""

from __future__ import annotations

import fcntl
import os
from types import TracebackType

from node.config import DataDir
from node.errors import ConfigError


class DataLock:
    """Held while a node runs (or an offline command works) on a data directory."""

    def __init__(self, data: DataDir) -> None:
        self.path = data.lock
        self._fd: int | None = None

    def __enter__(self) -> DataLock:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise ConfigError(
                f"{self.path.parent} is in use by another hashbank process (a running node?)"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
