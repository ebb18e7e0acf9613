-- People, sessions, sign-in throttling, API keys, unit contacts, and the audit trail.
-- Mirrors the SQLite schema. Times are RFC 3339 text (as in the domain types); columns
-- that are ordered or compared as text use the "C" collation so that text order is byte
-- order, as in SQLite, whatever the database's locale.
CREATE TABLE users (
    id            BIGSERIAL PRIMARY KEY,
    email         TEXT COLLATE "C" NOT NULL UNIQUE,
    display_name  TEXT NOT NULL,
    role          TEXT NOT NULL,
    scope         TEXT NOT NULL,
    password_hash TEXT,
    oidc_subject  TEXT UNIQUE,
    disabled      BOOLEAN NOT NULL DEFAULT false,
    created_at    TEXT NOT NULL
);

-- Sessions are found by the SHA-256 of their cookie token, never by the token itself.
CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id    BIGINT NOT NULL REFERENCES users (id),
    csrf       TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

-- Consecutive sign-in failures per account and per client address.
CREATE TABLE login_failures (
    throttle_key TEXT PRIMARY KEY,
    failures     BIGINT NOT NULL,
    locked_until BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE api_keys (
    id           BIGSERIAL PRIMARY KEY,
    name         TEXT NOT NULL,
    sources      TEXT NOT NULL,
    capabilities TEXT NOT NULL,
    secret_hash  TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    last_used_at TEXT,
    revoked_at   TEXT
);

-- Keyed by unit version (level, code, first valid day as YYYY-MM-DD): a code alone is
-- not an identity.
CREATE TABLE unit_contacts (
    level      TEXT NOT NULL,
    code       TEXT NOT NULL,
    valid_from TEXT NOT NULL,
    office TEXT NOT NULL,
    person TEXT NOT NULL,
    email  TEXT NOT NULL,
    phone  TEXT NOT NULL,
    PRIMARY KEY (level, code, valid_from)
);

-- Append-only, hash-chained; audit_head keeps the last seq and hash so that deleting the
-- newest entries is detected too. Appenders serialise on an advisory lock (see
-- accounts.rs), so seq has no gaps even with several processes writing.
CREATE TABLE audit_log (
    seq       BIGINT PRIMARY KEY,
    at        TEXT COLLATE "C" NOT NULL,
    actor     TEXT NOT NULL,
    address   TEXT,
    action    TEXT NOT NULL,
    object    TEXT NOT NULL,
    old       TEXT,
    new       TEXT,
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL
);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE TABLE audit_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  BIGINT NOT NULL,
    hash TEXT NOT NULL
);

CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only';
END;
$$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
-- Row triggers do not see TRUNCATE.
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
