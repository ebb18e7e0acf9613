-- The newest snapshot of every dossier in key-ordered blocks of a few kilobytes (format:
-- dxhub_ingest::blocks): a batch reads and rewrites the blocks it touches instead of one
-- row per dossier. `first_key` is the key of a block's first entry (bytea compares
-- byte-wise, the order of the blocks); every key of a block sorts before the next block's
-- first_key. Blocks are under 4 KiB and already compact: kept in the row, uncompressed.
-- The rows of `dossier_snapshots` (V12) are moved here by the store on its first ingest
-- after this migration; that table stays, empty.
CREATE TABLE dossier_blocks (
    first_key BYTEA PRIMARY KEY,
    n         INTEGER NOT NULL CHECK (n > 0),
    data      BYTEA NOT NULL
);
ALTER TABLE dossier_blocks ALTER COLUMN data SET STORAGE PLAIN;
