"""The store's schema, as an ordered list of migrations.

``PRAGMA user_version`` records how many migrations a store has had. A store with a higher
version than this code knows was written by a newer hashbank and is refused, never guessed at.

Only ``entries``, ``charters`` and the fork tables (signed evidence) are primary data. Every
other table is derived from them and can be rebuilt by ``hashbank rebuild``. A migration that
changes what the derived tables mean sets ``meta.rederive``; the store re-derives them when it
is next opened.
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
    # 4: replica integrity. Body-less copies are erased (on an authority) or incomplete (the
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
