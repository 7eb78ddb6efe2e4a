"""hashbank node: the I/O shell (store, HTTP server, gossip, matching, CLI)."""

__version__ = "0.1.0"
