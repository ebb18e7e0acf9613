-- The newest snapshot of every dossier, compactly: the key, the version, and the other
-- fields in dxhub_ingest::codec's binary encoding (~30 bytes instead of ~150 as text
-- columns; decoding needs no text parsing). It replaces the V3 table `dossiers`, whose
-- rows the store moves here on its first ingest after this migration (the encoding is
-- not expressible in SQL); `dossiers` stays, empty.
CREATE TABLE dossier_snapshots (
    source     TEXT NOT NULL,
    dossier_id TEXT NOT NULL,
    version    INTEGER NOT NULL,
    fields     BLOB NOT NULL,
    PRIMARY KEY (source, dossier_id)
) WITHOUT ROWID;
