-- Reported values (issue 5): one row per report revision, its values and evidence files,
-- and published editions. Approved revisions and editions are locked by triggers, so not
-- even a bug in dxhub (or a hand-run UPDATE) can change what was approved or published.
CREATE TABLE reports (
    id           INTEGER PRIMARY KEY,
    methodology  TEXT NOT NULL,
    period       TEXT NOT NULL,
    unit_level   TEXT NOT NULL,
    unit_code    TEXT NOT NULL,
    revision     INTEGER NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('draft', 'submitted', 'returned', 'verified', 'approved')),
    comment      TEXT,
    updated_by   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    submitted_by INTEGER,
    verified_by  INTEGER,
    approved_by  INTEGER,
    UNIQUE (methodology, period, unit_level, unit_code, revision)
);

CREATE TABLE report_values (
    report_id  INTEGER NOT NULL REFERENCES reports (id),
    code       TEXT NOT NULL,
    value      REAL NOT NULL,
    note       TEXT,
    updated_by TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (report_id, code)
);

CREATE TABLE report_evidence (
    id          INTEGER PRIMARY KEY,
    report_id   INTEGER NOT NULL REFERENCES reports (id),
    element     TEXT,
    file_name   TEXT NOT NULL,
    media_type  TEXT NOT NULL,
    size        INTEGER NOT NULL,
    sha256      TEXT NOT NULL,
    content     BLOB NOT NULL,
    uploaded_by TEXT NOT NULL,
    uploaded_at TEXT NOT NULL
);
CREATE INDEX report_evidence_report ON report_evidence (report_id);

CREATE TRIGGER reports_approved_locked BEFORE UPDATE ON reports
WHEN OLD.state = 'approved'
BEGIN SELECT RAISE(ABORT, 'an approved report is locked'); END;
CREATE TRIGGER reports_no_delete BEFORE DELETE ON reports
BEGIN SELECT RAISE(ABORT, 'reports are never deleted'); END;

CREATE TRIGGER report_values_locked_insert BEFORE INSERT ON report_values
WHEN (SELECT state FROM reports WHERE id = NEW.report_id) NOT IN ('draft', 'returned')
BEGIN SELECT RAISE(ABORT, 'the values of this report are locked'); END;
CREATE TRIGGER report_values_locked_update BEFORE UPDATE ON report_values
WHEN (SELECT state FROM reports WHERE id = OLD.report_id) NOT IN ('draft', 'returned')
BEGIN SELECT RAISE(ABORT, 'the values of this report are locked'); END;
CREATE TRIGGER report_values_locked_delete BEFORE DELETE ON report_values
WHEN (SELECT state FROM reports WHERE id = OLD.report_id) NOT IN ('draft', 'returned')
BEGIN SELECT RAISE(ABORT, 'the values of this report are locked'); END;

CREATE TRIGGER report_evidence_locked_insert BEFORE INSERT ON report_evidence
WHEN (SELECT state FROM reports WHERE id = NEW.report_id) NOT IN ('draft', 'returned')
BEGIN SELECT RAISE(ABORT, 'the evidence of this report is locked'); END;
CREATE TRIGGER report_evidence_no_update BEFORE UPDATE ON report_evidence
BEGIN SELECT RAISE(ABORT, 'evidence files never change'); END;
CREATE TRIGGER report_evidence_locked_delete BEFORE DELETE ON report_evidence
WHEN (SELECT state FROM reports WHERE id = OLD.report_id) NOT IN ('draft', 'returned')
BEGIN SELECT RAISE(ABORT, 'the evidence of this report is locked'); END;

CREATE TABLE editions (
    id                  INTEGER PRIMARY KEY,
    slug                TEXT NOT NULL UNIQUE,
    methodology         TEXT NOT NULL,
    methodology_version INTEGER NOT NULL,
    period              TEXT NOT NULL,
    map                 TEXT NOT NULL,
    kind                TEXT NOT NULL CHECK (kind IN ('computed', 'historical', 'demo')),
    title_vi            TEXT NOT NULL,
    title_en            TEXT NOT NULL,
    payload             TEXT NOT NULL,
    published_at        TEXT NOT NULL,
    published_by        TEXT NOT NULL
);
CREATE TRIGGER editions_no_update BEFORE UPDATE ON editions
BEGIN SELECT RAISE(ABORT, 'a published edition never changes'); END;
CREATE TRIGGER editions_no_delete BEFORE DELETE ON editions
BEGIN SELECT RAISE(ABORT, 'a published edition never changes'); END;
