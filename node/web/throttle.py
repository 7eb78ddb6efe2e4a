"""Stopping password guessing at the console's login: a budget per client, a lockout per name.

- Per client (its address; behind a trusted proxy, the address the proxy reports): a token
  bucket of ``CLIENT_TRIES`` attempts refilling over ``CLIENT_WINDOW_S``, whatever the names.
- Per name: after ``FREE_FAILURES`` failures in a row, the name is locked for a minute, then
  twice as long after every further failure, up to an hour; a success clears it. Names that
  are not accounts are counted the same way in memory, so a lockout says nothing about
  whether the account exists.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from node.clock import Clock
from node.errors import RateLimitedError
from node.limits import RateLimiter
from node.store import UserRow

CLIENT_TRIES = 20
CLIENT_WINDOW_S = 600.0
FREE_FAILURES = 5
FIRST_LOCK_MS = 60_000
MAX_LOCK_MS = 3_600_000
MAX_PHANTOMS = 10_000


@dataclass(frozen=True, slots=True)
class Failures:
    """A name's failed logins in a row, and until when it is locked (0: not locked)."""

    count: int
    locked_until_ms: int


def lock_after(count: int, now_ms: int) -> int:
    """When a name with ``count`` failures in a row is unlocked again (0: it is not locked)."""
    if count < FREE_FAILURES:
        return 0
    return now_ms + min(MAX_LOCK_MS, FIRST_LOCK_MS << min(16, count - FREE_FAILURES))


class LoginGuard:
    """The login throttles of one node."""

    def __init__(self, clock: Clock, per_client: RateLimiter | None = None) -> None:
        self.clock = clock
        self.per_client = per_client or RateLimiter(CLIENT_TRIES / CLIENT_WINDOW_S, CLIENT_TRIES)
        self._phantoms: OrderedDict[str, Failures] = OrderedDict()

    def check_client(self, client: str) -> None:
        """Spend one of ``client``'s attempts, or refuse it (429 with Retry-After)."""
        if wait := self.per_client.check(client):
            raise RateLimitedError(
                f"too many login attempts from here; try again in {wait:.0f} s", wait
            )

    def failures(self, row: UserRow | None, name: str) -> Failures:
        if row is not None:
            return Failures(row.failed_logins, row.locked_until_ms)
        return self._phantoms.get(name, Failures(0, 0))

    def locked(self, failures: Failures) -> bool:
        return failures.locked_until_ms > self.clock.now_ms()

    def next_failure(self, failures: Failures) -> Failures:
        count = failures.count + 1
        return Failures(count, lock_after(count, self.clock.now_ms()))

    def remember_phantom(self, name: str, failures: Failures) -> None:
        """Keep the failures of a name that is no account (bounded, oldest forgotten first)."""
        self._phantoms[name] = failures
        self._phantoms.move_to_end(name)
        while len(self._phantoms) > MAX_PHANTOMS:
            self._phantoms.popitem(last=False)
