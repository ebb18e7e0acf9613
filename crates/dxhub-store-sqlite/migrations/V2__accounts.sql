-- People, sessions, sign-in throttling, API keys, unit contacts, and the audit trail.
CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE,
    display_name  TEXT NOT NULL,
    role          TEXT NOT NULL,
    scope         TEXT NOT NULL,
    password_hash TEXT,
    oidc_subject  TEXT UNIQUE,
    disabled      INTEGER NOT NULL DEFAULT 0,
    created_at    TEXT NOT NULL
);

-- Sessions are found by the SHA-256 of their cookie token, never by the token itself.
CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users (id),
    csrf       TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

-- Consecutive sign-in failures per account and per client address.
CREATE TABLE login_failures (
    throttle_key TEXT PRIMARY KEY,
    failures     INTEGER NOT NULL,
    locked_until INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE api_keys (
    id           INTEGER PRIMARY KEY,
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
-- newest entries is detected too.
CREATE TABLE audit_log (
    seq       INTEGER PRIMARY KEY,
    at        TEXT NOT NULL,
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
    seq  INTEGER NOT NULL,
    hash TEXT NOT NULL
);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
