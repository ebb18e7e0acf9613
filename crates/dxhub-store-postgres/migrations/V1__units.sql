-- Administrative units through time. Open-ended validity is stored as sentinel dates
-- ('0001-01-01' = before our records, '9999-12-31' = still valid) so that "valid on day D"
-- is one range test and (level, code, valid_from) can be a real unique key.
CREATE TABLE units (
    id            BIGSERIAL PRIMARY KEY,
    level         TEXT NOT NULL CHECK (level IN ('province', 'district', 'commune', 'ministry')),
    code          TEXT NOT NULL,
    valid_from    DATE NOT NULL,
    valid_to      DATE NOT NULL,
    name          TEXT NOT NULL,
    short_name    TEXT,
    kind          TEXT NOT NULL,
    parent_code   TEXT,
    province_code TEXT,
    UNIQUE (level, code, valid_from),
    CHECK (valid_from <= valid_to)
);
CREATE INDEX units_code ON units (code, valid_from);
CREATE INDEX units_level ON units (level, valid_from, valid_to);
CREATE INDEX units_parent ON units (parent_code, level);
CREATE INDEX units_province ON units (province_code, level);

-- Reorganisation steps: (part of) from became (part of) to.
CREATE TABLE unit_lineage (
    from_id BIGINT NOT NULL REFERENCES units (id),
    to_id   BIGINT NOT NULL REFERENCES units (id),
    kind    TEXT NOT NULL CHECK (kind IN ('full', 'partial')),
    PRIMARY KEY (from_id, to_id)
);
CREATE INDEX unit_lineage_to ON unit_lineage (to_id);

-- Which reference-data versions have been loaded, so a restart loads nothing twice.
CREATE TABLE reference_loads (
    version   TEXT PRIMARY KEY,
    loaded_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    units     INTEGER NOT NULL,
    edges     INTEGER NOT NULL
);
