"""Hashes this node never publishes: junk that would match what is not NCII, and the operator's
own never-publish list.

A published hash reaches every member and every platform matches its uploads against it, so
one junk hash flags harmless content everywhere: the MD5 of the empty file matches every empty
upload on every platform. Refused, with a reason each, before anything is written:

- the MD5 and SHA-256 of the empty file;
- a PDQ hash whose quality (when the submitter gives it, as ``hashbank hash`` does) is below
  ``MIN_PDQ_QUALITY``: too featureless to match reliably;
- a degenerate PDQ hash: every bit equal, or the hash of a uniform grey image
  (``node.replica.uniform_pdq``);
- whatever the operator lists in ``never-publish.txt`` in the data directory, one
  ``TYPE:HEX`` per line (``#`` starts a comment), re-read whenever the file changes.

The API, the self-service flow and the CLI (``submit``, ``import``) check a submission with
``check`` before anything is written; ``Publisher`` checks every add once more before signing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from node.errors import ConfigError
from node.replica.errors import NeverPublishError
from node.replica.uniform_pdq import UNIFORM_GREY_PDQ
from protocol.errors import ProtocolError
from protocol.signals import SIGNAL_TYPES, signal_type

log = logging.getLogger("hashbank.node")

EMPTY_FILE = {
    "md5": bytes.fromhex("d41d8cd98f00b204e9800998ecf8427e"),
    "sha256": bytes.fromhex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
}
MIN_PDQ_QUALITY = 50
# Refusals named in one error message; the rest are counted.
MAX_NAMED = 20


@dataclass(frozen=True, slots=True)
class Candidate:
    """A hash about to be published, where it came from, and its PDQ quality if known."""

    where: str  # "items[3]", "photo.jpg", "hashes.csv:12"
    signal_type: str
    value: bytes
    quality: int | None = None


def builtin_refusal(signal_type: str, value: bytes, quality: int | None = None) -> str | None:
    """Why the built-in rules refuse this hash, or None."""
    if EMPTY_FILE.get(signal_type) == value:
        return (
            f"the {signal_type.upper()} of an empty file: every empty upload on every "
            "platform would match it"
        )
    if signal_type != "pdq":
        return None
    if quality is not None and quality < MIN_PDQ_QUALITY:
        return (
            f"a PDQ hash of quality {quality} (below {MIN_PDQ_QUALITY}): the image is too "
            "featureless for its hash to match reliably"
        )
    if value in (bytes(32), b"\xff" * 32):
        return "a degenerate PDQ hash (every bit equal)"
    if value in UNIFORM_GREY_PDQ:
        return "the PDQ hash of a uniform image (one grey level: nothing to recognise)"
    return None


class NeverPublish:
    """The built-in rules and the operator's list (``path``), re-read when it changes."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._stamp: tuple[int, ...] | None = None
        self._listed: dict[tuple[str, bytes], str] = {}
        self._reload()

    def refusal(self, signal_type: str, value: bytes, quality: int | None = None) -> str | None:
        """Why this hash is never published here, or None."""
        found = builtin_refusal(signal_type, value, quality)
        if found is not None:
            return found
        self._reload()
        note = self._listed.get((signal_type, value))
        if note is None:
            return None
        return f"on this node's never-publish list ({self.path})" + (f": {note}" if note else "")

    def check(self, candidates: Iterable[Candidate]) -> None:
        """Raise ``NeverPublishError`` naming every refused candidate (nothing is published)."""
        refused = [
            f"{c.where}: {c.signal_type} {c.value.hex()} is {why}"
            for c in candidates
            if (why := self.refusal(c.signal_type, c.value, c.quality)) is not None
        ]
        if refused:
            raise NeverPublishError(refusal_message(refused))

    def _reload(self) -> None:
        if self.path is None:
            return
        try:
            st = self.path.stat()
        except FileNotFoundError:
            self._stamp, self._listed = None, {}
            return
        except OSError as exc:
            raise ConfigError(f"cannot read {self.path}: {exc.strerror}") from None
        stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        if stamp != self._stamp:
            self._listed = read_list(self.path)
            self._stamp = stamp
            log.info("never-publish list read entries=%d", len(self._listed))


def refusal_message(refused: Sequence[str]) -> str:
    shown = "; ".join(refused[:MAX_NAMED])
    more = f"; and {len(refused) - MAX_NAMED} more" if len(refused) > MAX_NAMED else ""
    return (
        f"refused, nothing was published: {shown}{more}. Leave these hashes out (see "
        "'Hashes never published' in docs/operator-guide.md)"
    )


def read_list(path: Path) -> dict[tuple[str, bytes], str]:
    """``never-publish.txt``: ``TYPE:HEX [note]`` per line; ``#`` starts a comment."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    listed: dict[tuple[str, bytes], str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        content, _, comment = line.partition("#")
        words = content.split(maxsplit=1)
        if not words:
            continue
        kind, sep, hex_value = words[0].partition(":")
        try:
            if not sep or kind not in SIGNAL_TYPES:
                raise ValueError(f"write TYPE:HEX with TYPE one of {', '.join(SIGNAL_TYPES)}")
            value = signal_type(kind).parse(hex_value, "value")
        except (ValueError, ProtocolError) as exc:
            reason = exc.message if isinstance(exc, ProtocolError) else str(exc)
            raise ConfigError(f"{path}:{number}: {words[0][:80]!r}: {reason}") from None
        listed[(kind, value)] = " ".join(p.strip() for p in [*words[1:], comment] if p.strip())
    return listed
