"""A node's data directory: its paths, the secrets in it, and the lock on it.

Layout of ``DATA``::

    config.toml      what the operator may edit (name, role, listen address, peers, limits)
    identity.key     the node's Ed25519 seed, hex, mode 0600 — never leaves the machine
    operator.token   bearer token for operator and platform API calls, mode 0600
    case.secret      key that turns case references into opaque ids before publishing, 0600
    never-publish.txt  optional: hashes this node refuses to publish (node.replica.junk)
    store.sqlite     the SQLite store (entries and everything derived from them)
    node.lock        held by the one process working on the directory
    node.url         while a node runs: the URL it serves (what the CLI talks to), locked
"""

from __future__ import annotations

import fcntl
import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from node.errors import ConfigError
from protocol.errors import ProtocolError
from protocol.identity import SigningKey

KEY_PREFIX = "hashbank-ed25519-seed:"
log = logging.getLogger("hashbank")


@dataclass(frozen=True, slots=True)
class DataDir:
    """Paths inside a node's data directory."""

    root: Path

    @property
    def config(self) -> Path:
        return self.root / "config.toml"

    @property
    def identity(self) -> Path:
        return self.root / "identity.key"

    @property
    def token(self) -> Path:
        return self.root / "operator.token"

    @property
    def never_publish(self) -> Path:
        return self.root / "never-publish.txt"

    @property
    def case_secret(self) -> Path:
        return self.root / "case.secret"

    @property
    def store(self) -> Path:
        return self.root / "store.sqlite"

    @property
    def lock(self) -> Path:
        return self.root / "node.lock"

    @property
    def url_file(self) -> Path:
        return self.root / "node.url"

    @property
    def charter_drafts(self) -> Path:
        """Charter drafts the operator handed the node, until a version supersedes them."""
        return self.root / "charter-drafts"

    def require(self) -> None:
        """Refuse clearly when ``root`` is not an initialised data directory."""
        if not self.identity.exists() or not self.config.exists():
            raise ConfigError(
                f"{self.root} is not a hashbank data directory "
                f"(run: hashbank init --data {self.root} --name ORG)"
            )


def write_secret(path: Path, text: str) -> None:
    """Create ``path`` readable only by its owner; never overwrite."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text + "\n")
        f.flush()
        os.fsync(f.fileno())


def read_secret(path: Path) -> str:
    """Read a secret file, refusing one others can read (a leaked key is a stolen identity)."""
    try:
        mode = path.stat().st_mode
        text = path.read_text().strip()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    if mode & 0o077:
        raise ConfigError(f"{path} is readable by other users; run: chmod 600 {path}")
    return text


def replace_secret(path: Path, text: str) -> None:
    """Replace a secret file atomically: readers see the old text or the new, never half."""
    tmp = path.with_name(f".{path.name}.new")
    tmp.unlink(missing_ok=True)
    write_secret(tmp, text)
    os.replace(tmp, path)


class TokenFile:
    """The operator token, re-read whenever ``operator.token`` is replaced.

    ``hashbank token rotate`` renames a new file over the old one, which changes its inode, so
    a running node notices on the next request (one stat per call) and the old token stops
    working at once. A file that becomes unreadable keeps the token already loaded.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp = self._stat()
        self._token = read_secret(path)

    def _stat(self) -> tuple[int, ...] | None:
        try:
            st = self.path.stat()
        except OSError:
            return None
        # ctime too: a chmod that makes the file usable again changes nothing else.
        return (st.st_ino, st.st_mtime_ns, st.st_ctime_ns, st.st_size)

    def current(self) -> str:
        stamp = self._stat()
        if stamp is not None and stamp != self._stamp:
            self._stamp = stamp
            try:
                self._token = read_secret(self.path)
                log.info("operator token reloaded from %s", self.path)
            except ConfigError as exc:
                log.warning("operator token not reloaded, the old one stays: %s", exc.message)
        return self._token


def load_key(data: DataDir) -> SigningKey:
    """The node's signing key from ``identity.key``."""
    return load_key_file(data.identity)


def load_key_file(path: Path) -> SigningKey:
    """A signing key from a key file written by ``init`` or ``key rotate``."""
    text = read_secret(path)
    if not text.startswith(KEY_PREFIX):
        raise ConfigError(f"{path} is not a hashbank identity key")
    try:
        return SigningKey(bytes.fromhex(text[len(KEY_PREFIX) :]))
    except (ValueError, ProtocolError):
        raise ConfigError(f"{path} holds a malformed key") from None


# A shorter key would let anyone holding the bank guess it and open every sealed case value.
MIN_CASE_SECRET_BYTES = 16


def load_case_secret(data: DataDir) -> bytes:
    """The secret that turns case references into opaque published ids."""
    try:
        secret = bytes.fromhex(read_secret(data.case_secret))
    except ValueError:
        raise ConfigError(f"{data.case_secret} is malformed (it holds hex)") from None
    if len(secret) < MIN_CASE_SECRET_BYTES:
        raise ConfigError(
            f"{data.case_secret} holds a {len(secret)}-byte key; a case secret needs at least "
            f"{MIN_CASE_SECRET_BYTES} bytes (hashbank init writes 32 random bytes, as hex)"
        )
    return secret


def save_key(data: DataDir, key: SigningKey) -> None:
    write_secret(data.identity, KEY_PREFIX + key.seed.hex())


def new_token() -> str:
    """A fresh bearer token (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)


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


class UrlNote:
    """``node.url``: the URL a running node serves, for the CLI on the same machine.

    The node holds an exclusive lock on the file while it serves, so a note left behind by a
    killed node (the lock dies with its process) is never mistaken for a running one.
    """

    def __init__(self, data: DataDir, url: str) -> None:
        self.path = data.url_file
        self.url = url
        self._fd: int | None = None

    def __enter__(self) -> UrlNote:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        # Written before it is locked: a reader sees the lock only once the URL is there.
        os.ftruncate(fd, 0)
        os.write(fd, f"{self.url}\n".encode())
        os.fsync(fd)
        # Blocking: only a reader's momentary shared lock can be in the way (the data
        # directory's own lock keeps a second node out).
        fcntl.flock(fd, fcntl.LOCK_EX)
        self._fd = fd
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._fd is not None:
            self.path.unlink(missing_ok=True)
            os.close(self._fd)
            self._fd = None


def running_url(data: DataDir) -> str | None:
    """The URL of the node running on ``data`` now, if one is (see ``UrlNote``)."""
    try:
        fd = os.open(data.url_file, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            text = os.read(fd, 4096).decode("utf-8", "replace").strip()
            return text or None
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None  # nobody holds it: left by a node that is gone
    finally:
        os.close(fd)
