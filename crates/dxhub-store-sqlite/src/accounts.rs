//! Accounts, sessions, throttling, API keys, unit contacts and the audit trail in SQLite.
//! Every change runs in an IMMEDIATE transaction that also appends its audit entry.

use std::collections::BTreeSet;

use async_trait::async_trait;
use dxhub_core::accounts::{
    ApiKey, NewApiKey, NewUser, Session, ThrottlePolicy, UnitContact, User,
};
use dxhub_core::audit::{AuditEntry, Change, now_text};
use dxhub_core::auth::{Capability, Role, Scope};
use dxhub_core::units::UnitKey;
use dxhub_store::{AccountStore, AuditFilter, StoreError, StoreResult};
use rusqlite::{Connection, OptionalExtension, Row, Transaction, TransactionBehavior, params};

use crate::{SqliteStore, db_err};

pub(crate) fn corrupt<E: std::fmt::Display>(e: E) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        0,
        rusqlite::types::Type::Text,
        Box::<dyn std::error::Error + Send + Sync>::from(e.to_string()),
    )
}

const USER_COLUMNS: &str =
    "id, email, display_name, role, scope, password_hash, oidc_subject, disabled, created_at";

fn user_from_row(r: &Row<'_>) -> rusqlite::Result<User> {
    let role: String = r.get(3)?;
    let scope: String = r.get(4)?;
    Ok(User {
        id: r.get(0)?,
        email: r.get(1)?,
        display_name: r.get(2)?,
        role: role.parse::<Role>().map_err(corrupt)?,
        scope: Scope::from_text(&scope).map_err(corrupt)?,
        password_hash: r.get(5)?,
        oidc_subject: r.get(6)?,
        disabled: r.get(7)?,
        created_at: r.get(8)?,
    })
}

const KEY_COLUMNS: &str =
    "id, name, sources, capabilities, secret_hash, created_at, last_used_at, revoked_at";

fn split_set(s: &str) -> BTreeSet<String> {
    s.split(',')
        .filter(|x| !x.is_empty())
        .map(str::to_owned)
        .collect()
}

fn key_from_row(r: &Row<'_>) -> rusqlite::Result<ApiKey> {
    let sources: String = r.get(2)?;
    let caps: String = r.get(3)?;
    let capabilities = split_set(&caps)
        .iter()
        .map(|c| c.parse::<Capability>().map_err(corrupt))
        .collect::<Result<_, _>>()?;
    Ok(ApiKey {
        id: r.get(0)?,
        name: r.get(1)?,
        sources: split_set(&sources),
        capabilities,
        secret_hash: r.get(4)?,
        created_at: r.get(5)?,
        last_used_at: r.get(6)?,
        revoked_at: r.get(7)?,
    })
}

const AUDIT_COLUMNS: &str = "seq, at, actor, address, action, object, old, new, prev_hash, hash";

fn audit_from_row(r: &Row<'_>) -> rusqlite::Result<AuditEntry> {
    Ok(AuditEntry {
        seq: r.get(0)?,
        at: r.get(1)?,
        actor: r.get(2)?,
        address: r.get(3)?,
        action: r.get(4)?,
        object: r.get(5)?,
        old: r.get(6)?,
        new: r.get(7)?,
        prev_hash: r.get(8)?,
        hash: r.get(9)?,
    })
}

/// Appends `change` after the recorded head, inside the caller's transaction.
pub(crate) fn append(tx: &Transaction<'_>, change: Change) -> StoreResult<AuditEntry> {
    let head: Option<(i64, String)> = tx
        .query_row("SELECT seq, hash FROM audit_head WHERE id = 1", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()
        .map_err(db_err)?;
    let e = change.seal(head.as_ref().map(|(s, h)| (*s, h.as_str())), now_text());
    tx.execute(
        "INSERT INTO audit_log (seq, at, actor, address, action, object, old, new, prev_hash, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            e.seq,
            e.at,
            e.actor,
            e.address,
            e.action,
            e.object,
            e.old,
            e.new,
            e.prev_hash,
            e.hash
        ],
    )
    .map_err(db_err)?;
    tx.execute(
        "INSERT INTO audit_head (id, seq, hash) VALUES (1, ?1, ?2)
         ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
        params![e.seq, e.hash],
    )
    .map_err(db_err)?;
    Ok(e)
}

/// Runs `f` in an IMMEDIATE transaction with the change's audit entry appended.
pub(crate) fn audited<T>(
    conn: &mut Connection,
    change: Change,
    f: impl FnOnce(&Transaction<'_>) -> StoreResult<T>,
) -> StoreResult<T> {
    audited_as(conn, change, |tx| f(tx).map(|out| (out, None)))
}

/// Like [`audited`], but `f` may name the audit object once it knows it (the id of a row
/// it created).
pub(crate) fn audited_as<T>(
    conn: &mut Connection,
    mut change: Change,
    f: impl FnOnce(&Transaction<'_>) -> StoreResult<(T, Option<String>)>,
) -> StoreResult<T> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(db_err)?;
    let (out, object) = f(&tx)?;
    if let Some(object) = object {
        change.object = object;
    }
    append(&tx, change)?;
    tx.commit().map_err(db_err)?;
    Ok(out)
}

pub(crate) fn unique_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE)
}

fn user_by(
    conn: &Connection,
    clause: &str,
    value: &dyn rusqlite::ToSql,
) -> StoreResult<Option<User>> {
    conn.prepare_cached(&format!("SELECT {USER_COLUMNS} FROM users WHERE {clause}"))
        .map_err(db_err)?
        .query_row([value], user_from_row)
        .optional()
        .map_err(db_err)
}

fn key_by_id(conn: &Connection, id: i64) -> StoreResult<Option<ApiKey>> {
    conn.prepare_cached(&format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE id = ?1"))
        .map_err(db_err)?
        .query_row([id], key_from_row)
        .optional()
        .map_err(db_err)
}

#[async_trait]
impl AccountStore for SqliteStore {
    async fn create_user(&self, user: &NewUser, audit: Change) -> StoreResult<User> {
        let user = user.clone();
        self.with_conn(move |c| {
            let email = user.email.trim().to_lowercase();
            audited_as(c, audit, |tx| {
                let id = tx
                    .execute(
                        "INSERT INTO users (email, display_name, role, scope, password_hash, created_at)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                        params![
                            email,
                            user.display_name,
                            user.role.as_str(),
                            user.scope.to_text(),
                            user.password_hash,
                            now_text()
                        ],
                    )
                    .map(|_| tx.last_insert_rowid())
                    .map_err(|e| {
                        if unique_violation(&e) {
                            StoreError::Conflict(format!("an account with e-mail {email} already exists"))
                        } else {
                            db_err(e)
                        }
                    })?;
                let user = user_by(tx, "id = ?1", &id)?
                    .ok_or_else(|| StoreError::Corrupt("new user vanished".into()))?;
                Ok((user, Some(format!("user:{id}"))))
            })
        })
        .await
    }

    async fn user(&self, id: i64) -> StoreResult<Option<User>> {
        self.with_conn(move |c| user_by(c, "id = ?1", &id)).await
    }

    async fn user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        let email = email.trim().to_lowercase();
        self.with_conn(move |c| user_by(c, "email = ?1", &email))
            .await
    }

    async fn user_by_oidc_subject(&self, subject: &str) -> StoreResult<Option<User>> {
        let subject = subject.to_owned();
        self.with_conn(move |c| user_by(c, "oidc_subject = ?1", &subject))
            .await
    }

    async fn users(&self) -> StoreResult<Vec<User>> {
        self.with_conn(|c| {
            let mut stmt = c
                .prepare_cached(&format!("SELECT {USER_COLUMNS} FROM users ORDER BY email"))
                .map_err(db_err)?;
            let rows = stmt.query_map([], user_from_row).map_err(db_err)?;
            rows.collect::<Result<_, _>>().map_err(db_err)
        })
        .await
    }

    async fn set_password(&self, user_id: i64, hash: &str, audit: Change) -> StoreResult<()> {
        let hash = hash.to_owned();
        self.with_conn(move |c| {
            audited(c, audit, |tx| {
                let n = tx
                    .execute(
                        "UPDATE users SET password_hash = ?1 WHERE id = ?2",
                        params![hash, user_id],
                    )
                    .map_err(db_err)?;
                if n == 0 {
                    return Err(StoreError::NotFound(format!("no account {user_id}")));
                }
                tx.execute("DELETE FROM sessions WHERE user_id = ?1", [user_id])
                    .map_err(db_err)?;
                Ok(())
            })
        })
        .await
    }

    async fn link_oidc_subject(
        &self,
        user_id: i64,
        subject: &str,
        audit: Change,
    ) -> StoreResult<()> {
        let subject = subject.to_owned();
        self.with_conn(move |c| {
            audited(c, audit, |tx| {
                let n = tx
                    .execute(
                        "UPDATE users SET oidc_subject = ?1 WHERE id = ?2",
                        params![subject, user_id],
                    )
                    .map_err(|e| {
                        if unique_violation(&e) {
                            StoreError::Conflict(
                                "this identity is already linked to another account".into(),
                            )
                        } else {
                            db_err(e)
                        }
                    })?;
                if n == 0 {
                    return Err(StoreError::NotFound(format!("no account {user_id}")));
                }
                Ok(())
            })
        })
        .await
    }

    async fn create_session(
        &self,
        token_hash: &str,
        s: &Session,
        audit: Change,
    ) -> StoreResult<()> {
        let (token_hash, s) = (token_hash.to_owned(), s.clone());
        self.with_conn(move |c| {
            audited(c, audit, |tx| {
                tx.execute(
                    "INSERT INTO sessions (token_hash, user_id, csrf, expires_at, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![token_hash, s.user_id, s.csrf, s.expires_at, now_text()],
                )
                .map_err(db_err)?;
                Ok(())
            })
        })
        .await
    }

    async fn session(&self, token_hash: &str, now: i64) -> StoreResult<Option<(User, Session)>> {
        let token_hash = token_hash.to_owned();
        self.with_conn(move |c| {
            let row: Option<(i64, String, i64)> = c
                .prepare_cached("SELECT user_id, csrf, expires_at FROM sessions WHERE token_hash = ?1 AND expires_at > ?2")
                .map_err(db_err)?
                .query_row(params![token_hash, now], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .optional()
                .map_err(db_err)?;
            let Some((user_id, csrf, expires_at)) = row else { return Ok(None) };
            let user = user_by(c, "id = ?1 AND disabled = 0", &user_id)?;
            Ok(user.map(|u| (u, Session { user_id, csrf, expires_at })))
        })
        .await
    }

    async fn delete_session(&self, token_hash: &str, audit: Change) -> StoreResult<()> {
        let token_hash = token_hash.to_owned();
        self.with_conn(move |c| {
            audited(c, audit, |tx| {
                tx.execute("DELETE FROM sessions WHERE token_hash = ?1", [token_hash])
                    .map_err(db_err)?;
                Ok(())
            })
        })
        .await
    }

    async fn login_locked_until(&self, keys: &[String], now: i64) -> StoreResult<Option<i64>> {
        let keys = keys.to_vec();
        self.with_conn(move |c| {
            let mut until = None;
            let mut stmt = c
                .prepare_cached("SELECT locked_until FROM login_failures WHERE throttle_key = ?1")
                .map_err(db_err)?;
            for k in &keys {
                let t: Option<i64> = stmt
                    .query_row([k], |r| r.get(0))
                    .optional()
                    .map_err(db_err)?;
                if let Some(t) = t.filter(|t| *t > now) {
                    until = Some(until.map_or(t, |u: i64| u.max(t)));
                }
            }
            Ok(until)
        })
        .await
    }

    async fn record_login_failure(
        &self,
        keys: &[String],
        now: i64,
        policy: ThrottlePolicy,
        audit: Change,
    ) -> StoreResult<Option<i64>> {
        let keys = keys.to_vec();
        self.with_conn(move |c| {
            audited(c, audit, |tx| {
                let mut until = None;
                for k in &keys {
                    let failures: i64 = tx
                        .query_row(
                            "INSERT INTO login_failures (throttle_key, failures) VALUES (?1, 1)
                             ON CONFLICT (throttle_key) DO UPDATE SET failures = failures + 1
                             RETURNING failures",
                            [k],
                            |r| r.get(0),
                        )
                        .map_err(db_err)?;
                    let lock = policy.lock_secs(u32::try_from(failures).unwrap_or(u32::MAX));
                    if lock > 0 {
                        let t = now + lock;
                        tx.execute(
                            "UPDATE login_failures SET locked_until = ?1 WHERE throttle_key = ?2",
                            params![t, k],
                        )
                        .map_err(db_err)?;
                        until = Some(until.map_or(t, |u: i64| u.max(t)));
                    }
                }
                Ok(until)
            })
        })
        .await
    }

    async fn clear_login_failures(&self, keys: &[String]) -> StoreResult<()> {
        let keys = keys.to_vec();
        self.with_conn(move |c| {
            for k in &keys {
                c.execute("DELETE FROM login_failures WHERE throttle_key = ?1", [k])
                    .map_err(db_err)?;
            }
            Ok(())
        })
        .await
    }

    async fn create_key(&self, key: &NewApiKey, audit: Change) -> StoreResult<ApiKey> {
        let key = key.clone();
        self.with_conn(move |c| {
            audited_as(c, audit, |tx| {
                let caps: Vec<&str> = key.capabilities.iter().map(|c| c.as_str()).collect();
                let sources: Vec<&str> = key.sources.iter().map(String::as_str).collect();
                tx.execute(
                    "INSERT INTO api_keys (name, sources, capabilities, secret_hash, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![
                        key.name,
                        sources.join(","),
                        caps.join(","),
                        key.secret_hash,
                        now_text()
                    ],
                )
                .map_err(db_err)?;
                let id = tx.last_insert_rowid();
                let key = key_by_id(tx, id)?
                    .ok_or_else(|| StoreError::Corrupt("new key vanished".into()))?;
                Ok((key, Some(format!("key:{id}"))))
            })
        })
        .await
    }

    async fn key(&self, id: i64) -> StoreResult<Option<ApiKey>> {
        self.with_conn(move |c| key_by_id(c, id)).await
    }

    async fn keys(&self) -> StoreResult<Vec<ApiKey>> {
        self.with_conn(|c| {
            let mut stmt = c
                .prepare_cached(&format!(
                    "SELECT {KEY_COLUMNS} FROM api_keys ORDER BY id DESC"
                ))
                .map_err(db_err)?;
            let rows = stmt.query_map([], key_from_row).map_err(db_err)?;
            rows.collect::<Result<_, _>>().map_err(db_err)
        })
        .await
    }

    async fn touch_key(&self, id: i64, at: &str) -> StoreResult<()> {
        let at = at.to_owned();
        self.with_conn(move |c| {
            c.execute(
                "UPDATE api_keys SET last_used_at = ?1 WHERE id = ?2",
                params![at, id],
            )
            .map_err(db_err)?;
            Ok(())
        })
        .await
    }

    async fn revoke_key(&self, id: i64, audit: Change) -> StoreResult<ApiKey> {
        self.with_conn(move |c| {
            // Revoking a revoked key changes nothing, so it records nothing either.
            if let Some(k) = key_by_id(c, id)?.filter(|k| k.revoked_at.is_some()) {
                return Ok(k);
            }
            audited(c, audit, |tx| {
                tx.execute(
                    "UPDATE api_keys SET revoked_at = ?1 WHERE id = ?2 AND revoked_at IS NULL",
                    params![now_text(), id],
                )
                .map_err(db_err)?;
                key_by_id(tx, id)?
                    .ok_or_else(|| StoreError::NotFound(format!("there is no API key {id}")))
            })
        })
        .await
    }

    async fn unit_contact(&self, unit: &UnitKey) -> StoreResult<Option<UnitContact>> {
        let unit = unit.clone();
        self.with_conn(move |c| {
            c.prepare_cached(
                "SELECT office, person, email, phone FROM unit_contacts
                  WHERE level = ?1 AND code = ?2 AND valid_from = ?3",
            )
            .map_err(db_err)?
            .query_row(
                params![unit.level.as_str(), unit.code, unit.valid_from.to_string()],
                |r| {
                    Ok(UnitContact {
                        office: r.get(0)?,
                        person: r.get(1)?,
                        email: r.get(2)?,
                        phone: r.get(3)?,
                    })
                },
            )
            .optional()
            .map_err(db_err)
        })
        .await
    }

    async fn set_unit_contact(
        &self,
        unit: &UnitKey,
        contact: &UnitContact,
        audit: Change,
    ) -> StoreResult<()> {
        let (unit, k) = (unit.clone(), contact.clone());
        self.with_conn(move |c| {
            audited(c, audit, |tx| {
                tx.execute(
                    "INSERT INTO unit_contacts (level, code, valid_from, office, person, email, phone)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                     ON CONFLICT (level, code, valid_from) DO UPDATE SET office = excluded.office,
                         person = excluded.person, email = excluded.email, phone = excluded.phone",
                    params![unit.level.as_str(), unit.code, unit.valid_from.to_string(), k.office, k.person, k.email, k.phone],
                )
                .map_err(db_err)?;
                Ok(())
            })
        })
        .await
    }

    async fn append_audit(&self, audit: Change) -> StoreResult<AuditEntry> {
        self.with_conn(move |c| {
            let tx = c
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(db_err)?;
            let e = append(&tx, audit)?;
            tx.commit().map_err(db_err)?;
            Ok(e)
        })
        .await
    }

    async fn audit_entries(&self, f: &AuditFilter) -> StoreResult<Vec<AuditEntry>> {
        let f = f.clone();
        self.with_conn(move |c| {
            let sql = format!(
                "SELECT {AUDIT_COLUMNS} FROM audit_log
                  WHERE (?1 IS NULL OR instr(actor, ?1) > 0)
                    AND (?2 IS NULL OR substr(action, 1, length(?2)) = ?2)
                    AND (?3 IS NULL OR substr(object, 1, length(?3)) = ?3)
                    AND (?4 IS NULL OR at >= ?4)
                    AND (?5 IS NULL OR at < ?5)
                  ORDER BY seq DESC LIMIT ?6"
            );
            let limit = f.limit.map_or(-1, i64::from);
            let mut stmt = c.prepare_cached(&sql).map_err(db_err)?;
            let rows = stmt
                .query_map(
                    params![f.actor, f.action, f.object, f.since, f.until, limit],
                    audit_from_row,
                )
                .map_err(db_err)?;
            rows.collect::<Result<_, _>>().map_err(db_err)
        })
        .await
    }

    async fn audit_chain(&self) -> StoreResult<(Vec<AuditEntry>, Option<(i64, String)>)> {
        self.with_conn(|c| {
            // One read transaction so the head and the entries are from the same moment.
            let tx = c.transaction().map_err(db_err)?;
            let head = tx
                .query_row("SELECT seq, hash FROM audit_head WHERE id = 1", [], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()
                .map_err(db_err)?;
            let entries = {
                let mut stmt = tx
                    .prepare(&format!(
                        "SELECT {AUDIT_COLUMNS} FROM audit_log ORDER BY seq"
                    ))
                    .map_err(db_err)?;
                let rows = stmt.query_map([], audit_from_row).map_err(db_err)?;
                rows.collect::<Result<Vec<_>, _>>().map_err(db_err)?
            };
            Ok((entries, head))
        })
        .await
    }
}
