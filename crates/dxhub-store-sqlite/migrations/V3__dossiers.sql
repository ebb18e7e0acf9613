-- The newest snapshot of every dossier, and the public-service indicators per province ×
-- month kept up to date with them in the same transactions.
CREATE TABLE dossiers (
    source        TEXT NOT NULL,
    dossier_id    TEXT NOT NULL,
    version       INTEGER NOT NULL,
    service_code  TEXT NOT NULL,
    province_code TEXT NOT NULL,
    commune_code  TEXT,
    channel       TEXT NOT NULL,
    end_to_end    INTEGER NOT NULL,
    status        TEXT NOT NULL,
    received_at   TEXT NOT NULL,
    due_at        TEXT,
    completed_at  TEXT,
    fee_vnd       INTEGER NOT NULL,
    paid_online   INTEGER NOT NULL,
    PRIMARY KEY (source, dossier_id)
) WITHOUT ROWID;

CREATE TABLE ps_cells (
    province_code      TEXT NOT NULL,
    month              TEXT NOT NULL,
    received           INTEGER NOT NULL,
    online             INTEGER NOT NULL,
    end_to_end         INTEGER NOT NULL,
    completed          INTEGER NOT NULL,
    completed_on_time  INTEGER NOT NULL,
    online_payments    INTEGER NOT NULL,
    online_payment_vnd INTEGER NOT NULL,
    PRIMARY KEY (province_code, month)
) WITHOUT ROWID;

-- Online dossiers per service in each cell: services_online is the number of rows.
CREATE TABLE ps_services (
    province_code TEXT NOT NULL,
    month         TEXT NOT NULL,
    service_code  TEXT NOT NULL,
    online        INTEGER NOT NULL CHECK (online > 0),
    PRIMARY KEY (province_code, month, service_code)
) WITHOUT ROWID;
