"""The web app served by publisher nodes: static files and the in-browser hasher (static/)."""
