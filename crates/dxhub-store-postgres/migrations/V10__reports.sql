-- Reported values: one row per report revision, its values and evidence files, and
-- published editions. Mirrors the SQLite schema (V10 there); text that is ordered uses the
-- "C" collation so that both backends list in the same order. Approved revisions, evidence
-- files and editions are locked by triggers, so not even a bug in dxhub (or a hand-run
-- UPDATE) can change what was approved or published.
CREATE TABLE reports (
    id           BIGSERIAL PRIMARY KEY,
    methodology  TEXT COLLATE "C" NOT NULL,
    period       TEXT COLLATE "C" NOT NULL,
    unit_level   TEXT COLLATE "C" NOT NULL,
    unit_code    TEXT COLLATE "C" NOT NULL,
    revision     BIGINT NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('draft', 'submitted', 'returned', 'verified', 'approved')),
    comment      TEXT,
    updated_by   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    submitted_by BIGINT,
    verified_by  BIGINT,
    approved_by  BIGINT,
    UNIQUE (methodology, period, unit_level, unit_code, revision)
);

CREATE TABLE report_values (
    report_id  BIGINT NOT NULL REFERENCES reports (id),
    code       TEXT COLLATE "C" NOT NULL,
    value      DOUBLE PRECISION NOT NULL,
    note       TEXT,
    updated_by TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (report_id, code)
);

CREATE TABLE report_evidence (
    id          BIGSERIAL PRIMARY KEY,
    report_id   BIGINT NOT NULL REFERENCES reports (id),
    element     TEXT,
    file_name   TEXT NOT NULL,
    media_type  TEXT NOT NULL,
    size        BIGINT NOT NULL,
    sha256      TEXT NOT NULL,
    content     BYTEA NOT NULL,
    uploaded_by TEXT NOT NULL,
    uploaded_at TEXT NOT NULL
);
CREATE INDEX report_evidence_report ON report_evidence (report_id);

-- An approved revision never changes, and no revision is ever deleted.
CREATE FUNCTION reports_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'reports are never deleted';
    END IF;
    IF OLD.state = 'approved' THEN
        RAISE EXCEPTION 'an approved report is locked';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER reports_approved_locked BEFORE UPDATE ON reports
    FOR EACH ROW EXECUTE FUNCTION reports_guard();
CREATE TRIGGER reports_no_delete BEFORE DELETE ON reports
    FOR EACH ROW EXECUTE FUNCTION reports_guard();

-- Whether the revision `id` may have its values and evidence changed.
CREATE FUNCTION report_editable(report BIGINT) RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT state IN ('draft', 'returned') FROM reports WHERE id = report), false);
$$;

-- Values may change only while their revision is editable; both the revision a row
-- leaves and the one it enters are checked.
CREATE FUNCTION report_values_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (TG_OP IN ('UPDATE', 'DELETE') AND NOT report_editable(OLD.report_id))
       OR (TG_OP IN ('INSERT', 'UPDATE') AND NOT report_editable(NEW.report_id)) THEN
        RAISE EXCEPTION 'the values of this report are locked';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER report_values_locked BEFORE INSERT OR UPDATE OR DELETE ON report_values
    FOR EACH ROW EXECUTE FUNCTION report_values_guard();

-- An evidence file never changes; it is added to or removed from an editable revision only.
CREATE FUNCTION report_evidence_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        RAISE EXCEPTION 'evidence files never change';
    END IF;
    IF TG_OP = 'INSERT' AND NOT report_editable(NEW.report_id) THEN
        RAISE EXCEPTION 'the evidence of this report is locked';
    END IF;
    IF TG_OP = 'DELETE' THEN
        IF NOT report_editable(OLD.report_id) THEN
            RAISE EXCEPTION 'the evidence of this report is locked';
        END IF;
        RETURN OLD;
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER report_evidence_locked BEFORE INSERT OR UPDATE OR DELETE ON report_evidence
    FOR EACH ROW EXECUTE FUNCTION report_evidence_guard();

-- Row triggers do not see TRUNCATE.
CREATE FUNCTION reports_no_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'reports, their values and evidence are never truncated';
END;
$$;
CREATE TRIGGER reports_no_truncate BEFORE TRUNCATE ON reports
    FOR EACH STATEMENT EXECUTE FUNCTION reports_no_truncate();
CREATE TRIGGER report_values_no_truncate BEFORE TRUNCATE ON report_values
    FOR EACH STATEMENT EXECUTE FUNCTION reports_no_truncate();
CREATE TRIGGER report_evidence_no_truncate BEFORE TRUNCATE ON report_evidence
    FOR EACH STATEMENT EXECUTE FUNCTION reports_no_truncate();

CREATE TABLE editions (
    id                  BIGSERIAL PRIMARY KEY,
    slug                TEXT COLLATE "C" NOT NULL UNIQUE,
    methodology         TEXT COLLATE "C" NOT NULL,
    methodology_version BIGINT NOT NULL,
    period              TEXT COLLATE "C" NOT NULL,
    map                 TEXT COLLATE "C" NOT NULL,
    kind                TEXT NOT NULL CHECK (kind IN ('computed', 'historical', 'demo')),
    title_vi            TEXT NOT NULL,
    title_en            TEXT NOT NULL,
    payload             TEXT NOT NULL,
    published_at        TEXT NOT NULL,
    published_by        TEXT NOT NULL
);

CREATE FUNCTION editions_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'a published edition never changes';
END;
$$;
CREATE TRIGGER editions_no_update BEFORE UPDATE ON editions
    FOR EACH ROW EXECUTE FUNCTION editions_immutable();
CREATE TRIGGER editions_no_delete BEFORE DELETE ON editions
    FOR EACH ROW EXECUTE FUNCTION editions_immutable();
CREATE TRIGGER editions_no_truncate BEFORE TRUNCATE ON editions
    FOR EACH STATEMENT EXECUTE FUNCTION editions_immutable();
