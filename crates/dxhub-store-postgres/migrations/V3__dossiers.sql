-- The newest snapshot of every dossier, and the public-service indicators per province ×
-- month kept up to date with them in the same transactions. Mirrors the SQLite schema:
-- timestamps are RFC 3339 UTC text exactly as SQLite stores them (jiff's Display), so both
-- backends round-trip a snapshot identically; text keys that are ordered or compared use
-- the "C" collation, so that text order is byte order, as in SQLite, whatever the locale.
CREATE TABLE dossiers (
    source        TEXT COLLATE "C" NOT NULL,
    dossier_id    TEXT COLLATE "C" NOT NULL,
    version       BIGINT NOT NULL,
    service_code  TEXT NOT NULL,
    province_code TEXT NOT NULL,
    commune_code  TEXT,
    channel       TEXT NOT NULL,
    end_to_end    BOOLEAN NOT NULL,
    status        TEXT NOT NULL,
    received_at   TEXT NOT NULL,
    due_at        TEXT,
    completed_at  TEXT,
    fee_vnd       BIGINT NOT NULL,
    paid_online   BOOLEAN NOT NULL,
    PRIMARY KEY (source, dossier_id)
);

CREATE TABLE ps_cells (
    province_code      TEXT COLLATE "C" NOT NULL,
    month              TEXT COLLATE "C" NOT NULL,
    received           BIGINT NOT NULL,
    online             BIGINT NOT NULL,
    end_to_end         BIGINT NOT NULL,
    completed          BIGINT NOT NULL,
    completed_on_time  BIGINT NOT NULL,
    online_payments    BIGINT NOT NULL,
    online_payment_vnd BIGINT NOT NULL,
    PRIMARY KEY (province_code, month)
);

-- Online dossiers per service in each cell: services_online is the number of rows.
-- Unlike SQLite there is no CHECK (online > 0): a batch adds its signed changes to every
-- touched row in one statement and then deletes the rows that fell to zero (a CHECK would
-- refuse that intermediate zero, and PostgreSQL checks the proposed row of an
-- INSERT … ON CONFLICT DO UPDATE, even a negative change). A row below zero makes the
-- store report corrupt data and roll the batch back.
CREATE TABLE ps_services (
    province_code TEXT COLLATE "C" NOT NULL,
    month         TEXT COLLATE "C" NOT NULL,
    service_code  TEXT COLLATE "C" NOT NULL,
    online        BIGINT NOT NULL,
    PRIMARY KEY (province_code, month, service_code)
);
