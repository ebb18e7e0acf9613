-- A number every dossier ingest raises in its own transaction. A process that keeps the
-- block directory (`first_key`, `id` of every block) in memory between its batches checks
-- it first: an unchanged number means no other connection or process has changed the
-- blocks since, so the copy is still the directory.
CREATE TABLE dossier_blocks_generation (
    only       INTEGER PRIMARY KEY CHECK (only = 1),
    generation INTEGER NOT NULL
);
INSERT INTO dossier_blocks_generation (only, generation) VALUES (1, 0);
