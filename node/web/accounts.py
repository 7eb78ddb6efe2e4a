"""Console accounts: the operator adds, disables and resets them; people log in with them.

Two roles: ``caseworker`` (a helpline's cases) and ``operator`` (everything a caseworker may,
plus the operator's view and the audit log). A password the operator sets or issues must be
changed at its first login (``must_change``). Every change here writes its audit line in the
same transaction; disabling or resetting an account ends its sessions in that transaction
too, so they are gone the moment the operator's command returns.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from node.clock import Clock
from node.store import Store, Transaction, UserRow
from node.web import passwords
from node.web.audit import UNKNOWN_USER, Action, AuditLog
from node.web.errors import (
    AccountError,
    LoginFailedError,
    PasswordPolicyError,
    UnknownUserError,
    UserExistsError,
)
from node.web.throttle import Failures, LoginGuard

CASEWORKER = "caseworker"
OPERATOR = "operator"
ROLES = (CASEWORKER, OPERATOR)
_NAME = re.compile(r"[a-z0-9][a-z0-9._@-]{0,63}")
# Password checks run on threads, at most this many at once (each takes 32 MiB for a moment).
KDF_SLOTS = 2
T = TypeVar("T")


def allows(role: str, needed: str) -> bool:
    """Whether an account of ``role`` may do what needs ``needed``."""
    return role in (OPERATOR, needed)


def normal_name(name: str) -> str:
    """A login name as stored: trimmed, lower case; AccountError if it cannot be one."""
    text = name.strip().lower()
    if not _NAME.fullmatch(text):
        raise AccountError(
            "a user name is 1 to 64 characters: letters, digits and . _ @ - "
            f"(starting with a letter or digit), got {name[:80]!r}"
        )
    return text


@dataclass(frozen=True, slots=True)
class User:
    """A console account as the rest of the node sees it (never its password record)."""

    user_id: int
    name: str
    role: str
    must_change: bool
    disabled: bool
    created_ms: int
    locked_until_ms: int

    @classmethod
    def of(cls, row: UserRow) -> User:
        return cls(
            row.user_id,
            row.name,
            row.role,
            row.must_change,
            row.disabled,
            row.created_ms,
            row.locked_until_ms,
        )


@dataclass(frozen=True, slots=True)
class Issued:
    """An account just added or reset, with the one-time password if the node made one."""

    user: User
    password: str | None


class Accounts:
    """The accounts of one node, and logging in with them."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        audit: AuditLog,
        guard: LoginGuard,
        *,
        caseworkers: bool = True,
    ) -> None:
        self.store = store
        self.clock = clock
        self.audit = audit
        self.guard = guard
        self.caseworkers = caseworkers  # subscriber nodes have no cases, so no caseworkers
        self._slots = asyncio.Semaphore(KDF_SLOTS)

    async def _slow(self, fn: Callable[..., T], *args: str) -> T:
        async with self._slots:
            return await asyncio.to_thread(fn, *args)

    # --- the operator's commands -----------------------------------------------------------

    async def list(self) -> list[User]:
        return [User.of(r) for r in await self.store.users()]

    async def add(self, name: str, role: str, password: str | None, actor: str) -> Issued:
        """A new account; without ``password`` a one-time password is made (and returned)."""
        name = normal_name(name)
        if role not in ROLES:
            raise AccountError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
        if role == CASEWORKER and not self.caseworkers:
            raise AccountError("a subscriber node has no cases: add operators only")
        made = passwords.one_time_password() if password is None else None
        record = await self._slow(
            passwords.hash_password, passwords.check_policy(made or password or "")
        )

        async def work(txn: Transaction) -> UserRow:
            if await txn.user_by_name(name) is not None:
                raise UserExistsError(f"there is already a user {name!r}")
            await txn.add_user(name, role, record, True, self.clock.now_ms())
            await self.audit.write(txn, actor, Action.USER_ADDED, name, {"role": role})
            row = await txn.user_by_name(name)
            assert row is not None
            return row

        return Issued(User.of(await self.store.transaction(work)), made)

    async def reset(self, name: str, password: str | None, actor: str) -> Issued:
        """A new password (one-time unless given), the lockout cleared, every session ended."""
        made = passwords.one_time_password() if password is None else None
        record = await self._slow(
            passwords.hash_password, passwords.check_policy(made or password or "")
        )

        async def work(txn: Transaction) -> UserRow:
            row = await self._existing(txn, name)
            await txn.set_password(row.user_id, record, True)
            ended = await txn.end_sessions_of(row.user_id)
            await self.audit.write(txn, actor, Action.USER_RESET, row.name, {"sessions": ended})
            again = await txn.user_by_name(row.name)
            assert again is not None
            return again

        return Issued(User.of(await self.store.transaction(work)), made)

    async def set_disabled(self, name: str, disabled: bool, actor: str) -> tuple[User, int]:
        """Disable (ending every session at once) or enable an account; returns sessions ended."""

        async def work(txn: Transaction) -> tuple[User, int]:
            row = await self._existing(txn, name)
            await txn.set_disabled(row.user_id, disabled)
            ended = await txn.end_sessions_of(row.user_id) if disabled else 0
            action = Action.USER_DISABLED if disabled else Action.USER_ENABLED
            await self.audit.write(txn, actor, action, row.name, {"sessions": ended})
            again = await txn.user_by_name(row.name)
            assert again is not None
            return User.of(again), ended

        return await self.store.transaction(work)

    async def _existing(self, txn: Transaction, name: str) -> UserRow:
        row = await txn.user_by_name(normal_name(name))
        if row is None:
            raise UnknownUserError(f"there is no user {name.strip()[:80]!r}")
        return row

    # --- the user's own --------------------------------------------------------------------

    async def change_password(
        self, user: User, current: str, new: str, keep_session: bytes
    ) -> None:
        """Replace ``user``'s password after checking the current one; ends other sessions."""
        row = await self.store.user_by_name(user.name)
        if row is None or not await self._slow(passwords.verify_password, current, row.password):
            raise PasswordPolicyError("the current password is not right")
        if new == current:
            raise PasswordPolicyError("the new password must differ from the current one")
        record = await self._slow(passwords.hash_password, passwords.check_policy(new))
        user_id = row.user_id

        async def work(txn: Transaction) -> None:
            await txn.set_password(user_id, record, False)
            await txn.end_sessions_of(user_id, keep=keep_session)
            await self.audit.write(txn, user.name, Action.PASSWORD_CHANGED, user.name)

        await self.store.transaction(work)

    async def authenticate(self, name: str, password: str, client: str) -> User:
        """The account ``name`` if ``password`` opens it; else LoginFailedError, the same way
        whether the name is unknown, the password wrong or the account disabled."""
        self.guard.check_client(client)
        try:
            key = normal_name(name)
        except AccountError:
            key = ""
        row = await self.store.user_by_name(key) if key else None
        failures = self.guard.failures(row, key)
        if self.guard.locked(failures):
            await self._failed(row, key, failures, client, "locked")
            raise LoginFailedError(locked=True)
        if row is None:
            await self._slow(passwords.dummy)
            ok = False
        else:
            ok = await self._slow(passwords.verify_password, password, row.password)
        if row is None or not ok or row.disabled:
            after = self.guard.next_failure(failures)
            await self._failed(row, key, after, client, "bad_credentials")
            raise LoginFailedError(locked=self.guard.locked(after))
        if failures.count or passwords.needs_rehash(row.password):
            await self._succeeded(row, password)
        return User.of(row)

    async def _failed(
        self, row: UserRow | None, key: str, failures: Failures, client: str, reason: str
    ) -> None:
        detail = {"client": client, "reason": reason}
        if row is None:
            if key:
                self.guard.remember_phantom(key, failures)
            await self.audit.audit(UNKNOWN_USER, Action.LOGIN_FAILED, "", detail)
            return
        user_id, name = row.user_id, row.name

        async def work(txn: Transaction) -> None:
            await txn.set_login_failures(user_id, failures.count, failures.locked_until_ms)
            await self.audit.write(txn, name, Action.LOGIN_FAILED, name, detail)

        await self.store.transaction(work)

    async def _succeeded(self, row: UserRow, password: str) -> None:
        """Clear the failures; store a fresh record if its KDF parameters are outdated."""
        record = None
        if passwords.needs_rehash(row.password):
            record = await self._slow(passwords.hash_password, password)
        user_id, must_change = row.user_id, row.must_change

        async def work(txn: Transaction) -> None:
            if record is not None:
                await txn.set_password(user_id, record, must_change)
            else:
                await txn.set_login_failures(user_id, 0, 0)

        await self.store.transaction(work)
