-- The newest snapshot of every dossier in key-ordered blocks of a few kilobytes (format:
-- dxhub_ingest::blocks): a batch reads and rewrites the blocks it touches instead of one
-- row per dossier. `first_key` is the key of a block's first entry; every key of a block
-- sorts before the next block's first_key. A rowid table, so that a block of up to 4 KiB
-- stays on its page (a WITHOUT ROWID row spills to overflow pages past about 1 KiB).
-- The rows of `dossier_snapshots` (V12) are moved here by the store on its first ingest
-- after this migration; that table stays, empty.
CREATE TABLE dossier_blocks (
    id        INTEGER PRIMARY KEY,
    first_key BLOB NOT NULL UNIQUE,
    n         INTEGER NOT NULL CHECK (n > 0),
    data      BLOB NOT NULL
);
