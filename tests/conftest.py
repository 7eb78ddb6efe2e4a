"""Suite-wide settings."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

# The suite runs on shared, noisy 2-core machines: per-example deadlines would measure the
# neighbours, not us. Speed is the benchmarks' business (bench/), behaviour the tests'.
settings.register_profile(
    "hashbank", deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True
)
settings.load_profile("hashbank")

# tests/hma needs HMA's source and a PostgreSQL database, which no clean clone has: it is
# `make hma`, not part of `make test` (and never a silent skip there).
collect_ignore = [] if os.environ.get("HASHBANK_HMA_RUN") else ["hma"]
