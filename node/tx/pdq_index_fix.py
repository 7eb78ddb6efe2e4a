"""A repair for threatexchange's saved PDQ indexes, applied only where they are broken.

threatexchange 1.2's PDQ index wraps faiss's ``IndexBinaryMultiHash``. faiss (1.10 to 1.15
at least, the releases that work with numpy 2) writes that index without its hash tables
and reads it back empty, so an index that ``threatexchange fetch`` saved finds nothing when
``threatexchange match`` loads it: PDQ matching silently stops, for every exchange. Loading
the extension checks a one-hash round trip; only if it fails are loaded indexes rebuilt from
the hash codes they still carry. With a fixed faiss the check passes and nothing changes.
"""

from __future__ import annotations

import logging
import weakref
from typing import Any

import faiss
import numpy as np
from threatexchange.signal_type.pdq import pdq_faiss_matcher as matcher

log = logging.getLogger("hashbank.tx")
_PROBE = bytes(range(32))


def round_trip_works() -> bool:
    """Does a saved and reloaded multi-hash index still find the hash it holds?"""
    codes = np.frombuffer(_PROBE, dtype=np.uint8).reshape(1, 32)
    index = faiss.IndexBinaryMultiHash(256, 16, 16)
    index.add(codes)
    loaded = faiss.deserialize_index_binary(faiss.serialize_index_binary(index))
    limits, _, _ = loaded.range_search(codes, 1)
    return bool(limits[1] > limits[0])


def rebuilt(index: Any) -> Any:
    """A fresh ``IndexBinaryIDMap2(IndexBinaryMultiHash)`` with the same codes and ids."""
    # faiss's stubs know only the base class; these are the multi-hash and flat subclasses.
    mih: Any = faiss.downcast_IndexBinary(index.index)
    storage: Any = faiss.downcast_IndexBinary(mih.storage)
    codes = faiss.vector_to_array(storage.xb).reshape(-1, mih.code_size)
    ids = faiss.vector_to_array(index.id_map)
    fresh = faiss.IndexBinaryIDMap2(faiss.IndexBinaryMultiHash(mih.d, mih.nhash, mih.b))
    fresh.add_with_ids(codes, ids)
    return fresh


def install() -> bool:
    """Repair loaded PDQ indexes if this faiss needs it; True when the repair is active."""
    cls = matcher.PDQMultiHashIndex
    if getattr(cls, "_hashbank_repaired", False) or round_trip_works():
        return False
    loaded: Any = cls.__setstate__  # unannotated upstream

    def setstate(self: Any, data: bytes) -> None:
        loaded(self, data)
        if self.faiss_index.ntotal:
            self._finalizer.detach()
            self.faiss_index = rebuilt(self.faiss_index)
            self._finalizer = weakref.finalize(
                self, matcher.PDQHashIndex._finalize_faiss, self.faiss_index
            )

    cls.__setstate__ = setstate  # type: ignore[method-assign]
    cls._hashbank_repaired = True  # type: ignore[attr-defined]
    log.info("faiss drops multi-hash tables on save; rebuilding PDQ indexes on load")
    return True
