"""The threatexchange extension: a hashbank node as a signal exchange for platforms.

Install with ``pip install 'hashbank[threatexchange]'``, then::

    threatexchange config extensions add node.tx

Only this package imports threatexchange; ``import node`` works without it.
See docs/platforms.md.
"""

from threatexchange.extensions.manifest import ThreatExchangeExtensionManifest

from node.tx import index_store_fix, pdq_index_fix
from node.tx.exchange import HashbankSignalExchangeAPI

# Without this, PDQ matches vanish once threatexchange saves its index (see the module).
pdq_index_fix.install()
# Without this, the last withdrawn hash of a signal type keeps matching (see the module).
index_store_fix.install()

TX_MANIFEST = ThreatExchangeExtensionManifest(apis=(HashbankSignalExchangeAPI,))

__all__ = ["TX_MANIFEST", "HashbankSignalExchangeAPI"]
