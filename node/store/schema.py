"""The store's schema, as an ordered list of migrations.

``PRAGMA user_version`` records how many migrations a store has had. A store with a higher
version than this code knows was written by a newer hashbank and is refused, never guessed at.

Only ``entries``, ``charters`` and the fork tables (signed evidence) are primary data of the
bank. ``DERIVED_TABLES`` are derived from them and can be rebuilt by ``hashbank rebuild``;
``item_changes`` is the change feed's record of what left the bank without an entry —
subscribers' positions in the feed count on it, so it is kept like primary data; the rest
(idempotency keys, cases, console users, sessions, the audit log) are this node's own local
records, never published. A migration that changes what the derived tables mean sets
``meta.rederive``; the store re-derives them when it is next opened.
"""

from __future__ import annotations

MIGRATIONS: tuple[str, ...] = (
    # 1: entries, the derived bank, revocations, feedback, forks, counters.
    """
    CREATE TABLE entries (
        cursor       INTEGER PRIMARY KEY AUTOINCREMENT,  -- arrival order, never reused
        id           BLOB    NOT NULL UNIQUE,
        author       BLOB    NOT NULL,
        seq          INTEGER NOT NULL,
        kind         INTEGER NOT NULL,
        timestamp_ms INTEGER NOT NULL,
        received_ms  INTEGER NOT NULL,
        raw          BLOB    NOT NULL,                    -- exact signed bytes
        erased       INTEGER NOT NULL DEFAULT 0,
        UNIQUE (author, seq)
    );
    CREATE INDEX entries_kind ON entries (kind, cursor);

    CREATE TABLE heads (
        author       BLOB PRIMARY KEY,
        seq          INTEGER NOT NULL,
        entry_id     BLOB    NOT NULL,
        timestamp_ms INTEGER NOT NULL,
        advanced_ms  INTEGER NOT NULL
    ) WITHOUT ROWID;

    CREATE TABLE items (
        item_id      INTEGER PRIMARY KEY,
        entry_cursor INTEGER NOT NULL,
        idx          INTEGER NOT NULL,
        signal_type  TEXT    NOT NULL,
        value        BLOB    NOT NULL,
        labels       TEXT    NOT NULL,  -- comma-separated; labels cannot contain commas
        case_ref     BLOB,
        expires_ms   INTEGER,
        active       INTEGER NOT NULL,
        UNIQUE (entry_cursor, idx)
    );
    -- Exact-match lookups only; PDQ is matched by the in-memory index, and leaving its
    -- random 32-byte values out of this B-tree is most of the cost of a bulk sync.
    CREATE INDEX items_exact ON items (signal_type, value)
        WHERE active = 1 AND signal_type != 'pdq';
    CREATE INDEX items_case ON items (case_ref) WHERE case_ref IS NOT NULL;
    CREATE INDEX items_expiry ON items (expires_ms) WHERE active = 1 AND expires_ms IS NOT NULL;

    CREATE TABLE revocations (
        target_id     BLOB    NOT NULL,
        revoke_cursor INTEGER NOT NULL,
        author        BLOB    NOT NULL,
        items         TEXT,              -- comma-separated indexes; NULL = whole entry
        reason        INTEGER NOT NULL,
        PRIMARY KEY (target_id, revoke_cursor)
    ) WITHOUT ROWID;

    CREATE TABLE feedback (
        entry_cursor INTEGER PRIMARY KEY,
        giver        BLOB    NOT NULL,
        signal_type  TEXT    NOT NULL,
        value        BLOB    NOT NULL,
        verdict      INTEGER NOT NULL,
        target_id    BLOB,
        note         INTEGER NOT NULL
    );
    CREATE INDEX feedback_target ON feedback (target_id);
    CREATE INDEX feedback_value ON feedback (signal_type, value);

    CREATE TABLE forks (
        author      BLOB PRIMARY KEY,
        seq         INTEGER NOT NULL,
        proof       BLOB    NOT NULL,
        detected_ms INTEGER NOT NULL
    ) WITHOUT ROWID;

    CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value BLOB
    ) WITHOUT ROWID;
    """,
    # 2: the charter chain, charter forks, and takedown-voided entries.
    """
    ALTER TABLE entries ADD COLUMN void INTEGER NOT NULL DEFAULT 0;

    CREATE TABLE charters (
        number     INTEGER PRIMARY KEY,
        id         BLOB    NOT NULL UNIQUE,
        raw        BLOB    NOT NULL,          -- exact signed bytes
        applied_ms INTEGER NOT NULL
    );

    CREATE TABLE charter_forks (
        number      INTEGER PRIMARY KEY,
        proof       BLOB    NOT NULL,
        detected_ms INTEGER NOT NULL
    );
    """,
    # 3: idempotency keys, so a retried or resumed submission never publishes twice.
    """
    CREATE TABLE idempotency (
        key        TEXT    PRIMARY KEY,
        entry_id   BLOB    NOT NULL,
        created_ms INTEGER NOT NULL
    ) WITHOUT ROWID;
    """,
    # 4: cases, kept here only: which entries belong to which of this helpline's cases, and the
    # self-service PIN (a slow salted hash). Published items carry nothing linking them.
    """
    CREATE TABLE cases (
        case_id         INTEGER PRIMARY KEY,
        reference       TEXT    NOT NULL UNIQUE,  -- the case number people use
        origin          TEXT    NOT NULL,         -- self_service, caseworker, operator
        created_ms      INTEGER NOT NULL,
        pin_hash        BLOB,                     -- scrypt; self-service cases only
        pin_salt        BLOB,
        failed_attempts INTEGER NOT NULL DEFAULT 0,
        locked_until_ms INTEGER NOT NULL DEFAULT 0
    );

    CREATE TABLE case_entries (
        case_id  INTEGER NOT NULL,
        entry_id BLOB    NOT NULL,
        added_ms INTEGER NOT NULL,
        PRIMARY KEY (case_id, entry_id)
    ) WITHOUT ROWID;
    CREATE INDEX case_entries_entry ON case_entries (entry_id);
    """,
    # 5: the console's accounts, their sessions, and the audit log of what people did. Local
    # only, like cases: never published, not derived, kept by backups of the store.
    """
    CREATE TABLE users (
        user_id         INTEGER PRIMARY KEY,
        name            TEXT    NOT NULL UNIQUE,  -- login name, lower case
        role            TEXT    NOT NULL,         -- caseworker, operator
        password        TEXT    NOT NULL,         -- scrypt$ln=..,r=..,p=..$salt$hash
        must_change     INTEGER NOT NULL,         -- set by the operator: change at next login
        disabled        INTEGER NOT NULL DEFAULT 0,
        created_ms      INTEGER NOT NULL,
        failed_logins   INTEGER NOT NULL DEFAULT 0,
        locked_until_ms INTEGER NOT NULL DEFAULT 0
    );

    CREATE TABLE sessions (
        token_hash   BLOB    PRIMARY KEY,  -- SHA-256 of the cookie's random token
        user_id      INTEGER NOT NULL,
        csrf         TEXT    NOT NULL,     -- the synchroniser token of this session's forms
        created_ms   INTEGER NOT NULL,
        last_seen_ms INTEGER NOT NULL,
        expires_ms   INTEGER NOT NULL       -- absolute end, whatever the activity
    ) WITHOUT ROWID;
    CREATE INDEX sessions_user ON sessions (user_id);

    CREATE TABLE audit (
        audit_id INTEGER PRIMARY KEY AUTOINCREMENT,
        at_ms    INTEGER NOT NULL,
        actor    TEXT    NOT NULL,
        action   TEXT    NOT NULL,
        subject  TEXT    NOT NULL,
        detail   TEXT    NOT NULL          -- a JSON object
    );
    CREATE INDEX audit_actor ON audit (actor, audit_id);
    """,
    # 6: changes to the active set that no entry of the author made (takedowns, purges,
    # erasures, expiries), in the change feed. Cursors come from the entries' sequence.
    """
    CREATE TABLE item_changes (
        cursor          INTEGER PRIMARY KEY,
        kind            TEXT    NOT NULL,  -- withdrawn, restored
        reason          TEXT    NOT NULL,  -- takedown, purge, erasure, expiry
        charter_version INTEGER,
        recorded_ms     INTEGER NOT NULL,
        items           BLOB    NOT NULL   -- msgpack [[entry_id, idx, author, type, value]]
    );
    """,
    # 7: replica integrity. Body-less copies are erased (on an authority) or incomplete (the
    # body is still wanted); erasing revokes; per-author feed digests; expired items kept
    # apart from withdrawn ones (items.active: 1 active, 2 expired, 0 withdrawn or void).
    # Stores from before held body-less copies without asking for authority: they are all
    # incomplete until a body or an authority turns up. The derived tables are re-derived
    # once, when the store is next opened (meta 'rederive').
    """
    ALTER TABLE entries ADD COLUMN incomplete INTEGER NOT NULL DEFAULT 0;
    UPDATE entries SET incomplete = 1 WHERE erased = 1;
    CREATE INDEX entries_incomplete ON entries (author, seq) WHERE incomplete = 1;

    ALTER TABLE revocations ADD COLUMN erase INTEGER NOT NULL DEFAULT 0;

    CREATE TABLE feed_digests (
        author BLOB    PRIMARY KEY,
        count  INTEGER NOT NULL,
        total  BLOB    NOT NULL
    ) WITHOUT ROWID;

    INSERT OR REPLACE INTO meta VALUES ('rederive', 1);
    """,
)

DERIVED_TABLES = ("heads", "items", "revocations", "feedback", "feed_digests")
SCHEMA_VERSION = len(MIGRATIONS)


def statements(script: str) -> list[str]:
    """Split a migration script into statements, dropping ``--`` comments first."""
    lines = [line.split("--", 1)[0] for line in script.splitlines()]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]
