"""A repair for threatexchange's CLI index store, applied only where it is broken.

threatexchange 1.2's ``CliIndexStore.clear(only_types)`` compares each index file's whole
path, less its extension, with the signal type's bare name, so it never matches: when the
last hash of a type is deleted, ``threatexchange fetch`` asks for that type's index to be
removed and the old file stays, still matching the withdrawn hashes. (``list()`` has the same
mix-up.) Loading the extension checks ``clear`` on an empty scratch directory; only if the
file survives are both replaced by versions that compare file names. With a fixed
threatexchange the check passes and nothing changes.
"""

from __future__ import annotations

import logging
import pathlib
import tempfile
import typing as t

from threatexchange.cli import cli_state
from threatexchange.signal_type.signal_base import SignalType

log = logging.getLogger("hashbank.tx")


class _Probe:
    """Stands in for a signal type: ``clear`` only asks for its name."""

    @classmethod
    def get_name(cls) -> str:
        return "hashbank_probe"


def clear_works() -> bool:
    """Does ``CliIndexStore.clear([type])`` remove that type's index file?"""
    with tempfile.TemporaryDirectory(prefix="hashbank-tx-") as tmp:
        store = cli_state.CliIndexStore(pathlib.Path(tmp))
        index = pathlib.Path(tmp) / f"{_Probe.get_name()}{store.FILE_EXTENSION}"
        index.write_bytes(b"")
        store.clear([t.cast(type[SignalType], _Probe)])
        return not index.exists()


def _names(store: cli_state.CliIndexStore) -> dict[str, pathlib.Path]:
    """Each stored index by its signal type's name."""
    ext = store.FILE_EXTENSION
    return {f.name[: -len(ext)]: f for f in store.dir.glob(f"*{ext}")}


# The two replacements become methods, so their first parameter is ``self``.
def list_names(self: cli_state.CliIndexStore) -> list[str]:
    """The names (``SignalType.get_name()``) of stored indices."""
    return sorted(_names(self))


def clear(
    self: cli_state.CliIndexStore, only_types: t.Iterable[type[SignalType]] | None = None
) -> None:
    """Remove the stored indices of ``only_types`` (of every type when None)."""
    wanted = None if only_types is None else {st.get_name() for st in only_types}
    for name, path in _names(self).items():
        if wanted is None or name in wanted:
            log.info("Removing index %s", path)
            path.unlink(missing_ok=True)


def install() -> bool:
    """Repair ``CliIndexStore`` if this threatexchange needs it; True when the repair is active."""
    cls = cli_state.CliIndexStore
    if getattr(cls, "_hashbank_repaired", False) or clear_works():
        return False
    cls.clear = clear  # type: ignore[method-assign]
    cls.list = list_names  # type: ignore[method-assign]
    cls._hashbank_repaired = True  # type: ignore[attr-defined]
    log.info("threatexchange never removes an emptied type's index; removing it ourselves")
    return True
