"""hashbank protocol core: sans-I/O wire format, identities, feeds, merge and sync rules."""

PROTOCOL_VERSION = 1
