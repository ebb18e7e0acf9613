-- The newest snapshot of every dossier, compactly: the key, the version, and the other
-- fields in dxhub_ingest::codec's binary encoding (as the SQLite store keeps them). It
-- replaces the V3 table `dossiers`, whose rows the store moves here on its first ingest
-- after this migration (the encoding is not expressible in SQL); `dossiers` stays, empty.
CREATE TABLE dossier_snapshots (
    source     TEXT COLLATE "C" NOT NULL,
    dossier_id TEXT COLLATE "C" NOT NULL,
    version    BIGINT NOT NULL,
    fields     BYTEA NOT NULL,
    PRIMARY KEY (source, dossier_id)
);
