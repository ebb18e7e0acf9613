//! Accounts, sessions, throttling, API keys, unit contacts and the audit trail in PostgreSQL.
//! Every change runs in one transaction that first takes the audit advisory lock and ends
//! by appending its audit entry, so the chain stays gapless with several processes writing.

use std::collections::BTreeSet;

use async_trait::async_trait;
use deadpool_postgres::{Object, Transaction};
use dxhub_core::accounts::{
    ApiKey, NewApiKey, NewUser, Session, ThrottlePolicy, UnitContact, User,
};
use dxhub_core::audit::{AuditEntry, Change, now_text};
use dxhub_core::auth::{Capability, Role, Scope};
use dxhub_core::units::UnitKey;
use dxhub_store::{AccountStore, AuditFilter, StoreError, StoreResult};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::{GenericClient, IsolationLevel, Row};

use crate::{PostgresStore, db_err};

/// Advisory-lock key (an arbitrary constant, distinct from the migration and reference
/// locks) that serialises every audited write across all processes sharing the database.
const LOCK_AUDIT: i64 = 0x6478_6875_6203;

pub(crate) fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

const USER_COLUMNS: &str =
    "id, email, display_name, role, scope, password_hash, oidc_subject, disabled, created_at";

fn user_from_row(r: &Row) -> StoreResult<User> {
    let role: String = r.try_get(3).map_err(db_err)?;
    let scope: String = r.try_get(4).map_err(db_err)?;
    Ok(User {
        id: r.try_get(0).map_err(db_err)?,
        email: r.try_get(1).map_err(db_err)?,
        display_name: r.try_get(2).map_err(db_err)?,
        role: role.parse::<Role>().map_err(corrupt)?,
        scope: Scope::from_text(&scope).map_err(corrupt)?,
        password_hash: r.try_get(5).map_err(db_err)?,
        oidc_subject: r.try_get(6).map_err(db_err)?,
        disabled: r.try_get(7).map_err(db_err)?,
        created_at: r.try_get(8).map_err(db_err)?,
    })
}

const KEY_COLUMNS: &str =
    "id, name, sources, capabilities, secret_hash, created_at, last_used_at, revoked_at";

/// Sets are stored as comma-separated text, as in SQLite.
fn split_set(s: &str) -> BTreeSet<String> {
    s.split(',')
        .filter(|x| !x.is_empty())
        .map(str::to_owned)
        .collect()
}

fn key_from_row(r: &Row) -> StoreResult<ApiKey> {
    let sources: String = r.try_get(2).map_err(db_err)?;
    let caps: String = r.try_get(3).map_err(db_err)?;
    let capabilities = split_set(&caps)
        .iter()
        .map(|c| c.parse::<Capability>().map_err(corrupt))
        .collect::<StoreResult<_>>()?;
    Ok(ApiKey {
        id: r.try_get(0).map_err(db_err)?,
        name: r.try_get(1).map_err(db_err)?,
        sources: split_set(&sources),
        capabilities,
        secret_hash: r.try_get(4).map_err(db_err)?,
        created_at: r.try_get(5).map_err(db_err)?,
        last_used_at: r.try_get(6).map_err(db_err)?,
        revoked_at: r.try_get(7).map_err(db_err)?,
    })
}

const AUDIT_COLUMNS: &str = "seq, at, actor, address, action, object, old, new, prev_hash, hash";

fn audit_from_row(r: &Row) -> StoreResult<AuditEntry> {
    Ok(AuditEntry {
        seq: r.try_get(0).map_err(db_err)?,
        at: r.try_get(1).map_err(db_err)?,
        actor: r.try_get(2).map_err(db_err)?,
        address: r.try_get(3).map_err(db_err)?,
        action: r.try_get(4).map_err(db_err)?,
        object: r.try_get(5).map_err(db_err)?,
        old: r.try_get(6).map_err(db_err)?,
        new: r.try_get(7).map_err(db_err)?,
        prev_hash: r.try_get(8).map_err(db_err)?,
        hash: r.try_get(9).map_err(db_err)?,
    })
}

pub(crate) fn unique_violation(e: &tokio_postgres::Error) -> bool {
    e.code() == Some(&SqlState::UNIQUE_VIOLATION)
}

async fn head(c: &impl GenericClient) -> StoreResult<Option<(i64, String)>> {
    let row = c
        .query_opt("SELECT seq, hash FROM audit_head WHERE id = 1", &[])
        .await
        .map_err(db_err)?;
    row.map(|r| Ok((r.try_get(0).map_err(db_err)?, r.try_get(1).map_err(db_err)?)))
        .transpose()
}

/// Starts a write transaction holding the audit lock until it ends. READ COMMITTED (set
/// explicitly, whatever the server's default) makes every statement after the lock see
/// the audit head the previous holder committed.
pub(crate) async fn begin(client: &mut Object) -> StoreResult<Transaction<'_>> {
    let tx = client
        .build_transaction()
        .isolation_level(IsolationLevel::ReadCommitted)
        .start()
        .await
        .map_err(db_err)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_AUDIT])
        .await
        .map_err(db_err)?;
    Ok(tx)
}

/// Appends `change` after the recorded head and commits the transaction [`begin`] started.
pub(crate) async fn commit_audited(tx: Transaction<'_>, change: Change) -> StoreResult<AuditEntry> {
    let prev = head(&*tx).await?;
    let e = change.seal(prev.as_ref().map(|(s, h)| (*s, h.as_str())), now_text());
    tx.execute(
        "INSERT INTO audit_log (seq, at, actor, address, action, object, old, new, prev_hash, hash)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        &[
            &e.seq,
            &e.at,
            &e.actor,
            &e.address,
            &e.action,
            &e.object,
            &e.old,
            &e.new,
            &e.prev_hash,
            &e.hash,
        ],
    )
    .await
    .map_err(db_err)?;
    tx.execute(
        "INSERT INTO audit_head (id, seq, hash) VALUES (1, $1, $2)
         ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
        &[&e.seq, &e.hash],
    )
    .await
    .map_err(db_err)?;
    tx.commit().await.map_err(db_err)?;
    Ok(e)
}

async fn user_by(
    c: &impl GenericClient,
    clause: &str,
    value: &(dyn ToSql + Sync),
) -> StoreResult<Option<User>> {
    let row = c
        .query_opt(
            &format!("SELECT {USER_COLUMNS} FROM users WHERE {clause}"),
            &[value],
        )
        .await
        .map_err(db_err)?;
    row.as_ref().map(user_from_row).transpose()
}

async fn key_by_id(c: &impl GenericClient, id: i64) -> StoreResult<Option<ApiKey>> {
    let row = c
        .query_opt(
            &format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE id = $1"),
            &[&id],
        )
        .await
        .map_err(db_err)?;
    row.as_ref().map(key_from_row).transpose()
}

#[async_trait]
impl AccountStore for PostgresStore {
    async fn create_user(&self, user: &NewUser, audit: Change) -> StoreResult<User> {
        let email = user.email.trim().to_lowercase();
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        let row = tx
            .query_one(
                &format!(
                    "INSERT INTO users (email, display_name, role, scope, password_hash, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6)
                     RETURNING {USER_COLUMNS}"
                ),
                &[
                    &email,
                    &user.display_name,
                    &user.role.as_str(),
                    &user.scope.to_text(),
                    &user.password_hash,
                    &now_text(),
                ],
            )
            .await
            .map_err(|e| {
                if unique_violation(&e) {
                    StoreError::Conflict(format!("an account with e-mail {email} already exists"))
                } else {
                    db_err(e)
                }
            })?;
        let created = user_from_row(&row)?;
        let audit = Change {
            object: format!("user:{}", created.id),
            ..audit
        };
        commit_audited(tx, audit).await?;
        Ok(created)
    }

    async fn user(&self, id: i64) -> StoreResult<Option<User>> {
        let client = self.client().await?;
        user_by(&**client, "id = $1", &id).await
    }

    async fn user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        let email = email.trim().to_lowercase();
        let client = self.client().await?;
        user_by(&**client, "email = $1", &email).await
    }

    async fn user_by_oidc_subject(&self, subject: &str) -> StoreResult<Option<User>> {
        let client = self.client().await?;
        user_by(&**client, "oidc_subject = $1", &subject).await
    }

    async fn users(&self) -> StoreResult<Vec<User>> {
        let client = self.client().await?;
        let rows = client
            .query(
                &format!("SELECT {USER_COLUMNS} FROM users ORDER BY email"),
                &[],
            )
            .await
            .map_err(db_err)?;
        rows.iter().map(user_from_row).collect()
    }

    async fn set_password(&self, user_id: i64, hash: &str, audit: Change) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        let n = tx
            .execute(
                "UPDATE users SET password_hash = $1 WHERE id = $2",
                &[&hash, &user_id],
            )
            .await
            .map_err(db_err)?;
        if n == 0 {
            return Err(StoreError::NotFound(format!("no account {user_id}")));
        }
        tx.execute("DELETE FROM sessions WHERE user_id = $1", &[&user_id])
            .await
            .map_err(db_err)?;
        commit_audited(tx, audit).await?;
        Ok(())
    }

    async fn link_oidc_subject(
        &self,
        user_id: i64,
        subject: &str,
        audit: Change,
    ) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        let n = tx
            .execute(
                "UPDATE users SET oidc_subject = $1 WHERE id = $2",
                &[&subject, &user_id],
            )
            .await
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
        commit_audited(tx, audit).await?;
        Ok(())
    }

    async fn create_session(
        &self,
        token_hash: &str,
        s: &Session,
        audit: Change,
    ) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        tx.execute(
            "INSERT INTO sessions (token_hash, user_id, csrf, expires_at, created_at)
             VALUES ($1, $2, $3, $4, $5)",
            &[&token_hash, &s.user_id, &s.csrf, &s.expires_at, &now_text()],
        )
        .await
        .map_err(db_err)?;
        commit_audited(tx, audit).await?;
        Ok(())
    }

    async fn session(&self, token_hash: &str, now: i64) -> StoreResult<Option<(User, Session)>> {
        let client = self.client().await?;
        // One statement, so the session and its account are read from the same moment.
        let columns = USER_COLUMNS
            .split(", ")
            .map(|c| format!("u.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let row = client
            .query_opt(
                &format!(
                    "SELECT {columns}, s.csrf, s.expires_at
                       FROM sessions s JOIN users u ON u.id = s.user_id
                      WHERE s.token_hash = $1 AND s.expires_at > $2 AND NOT u.disabled"
                ),
                &[&token_hash, &now],
            )
            .await
            .map_err(db_err)?;
        let Some(row) = row else { return Ok(None) };
        let user = user_from_row(&row)?;
        let session = Session {
            user_id: user.id,
            csrf: row.try_get(9).map_err(db_err)?,
            expires_at: row.try_get(10).map_err(db_err)?,
        };
        Ok(Some((user, session)))
    }

    async fn delete_session(&self, token_hash: &str, audit: Change) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        tx.execute("DELETE FROM sessions WHERE token_hash = $1", &[&token_hash])
            .await
            .map_err(db_err)?;
        commit_audited(tx, audit).await?;
        Ok(())
    }

    async fn login_locked_until(&self, keys: &[String], now: i64) -> StoreResult<Option<i64>> {
        let client = self.client().await?;
        let row = client
            .query_one(
                "SELECT max(locked_until) FROM login_failures
                  WHERE throttle_key = ANY($1) AND locked_until > $2",
                &[&keys, &now],
            )
            .await
            .map_err(db_err)?;
        row.try_get(0).map_err(db_err)
    }

    async fn record_login_failure(
        &self,
        keys: &[String],
        now: i64,
        policy: ThrottlePolicy,
        audit: Change,
    ) -> StoreResult<Option<i64>> {
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        let mut until = None;
        for k in keys {
            let failures: i64 = tx
                .query_one(
                    "INSERT INTO login_failures AS f (throttle_key, failures) VALUES ($1, 1)
                     ON CONFLICT (throttle_key) DO UPDATE SET failures = f.failures + 1
                     RETURNING failures",
                    &[k],
                )
                .await
                .map_err(db_err)?
                .try_get(0)
                .map_err(db_err)?;
            let lock = policy.lock_secs(u32::try_from(failures).unwrap_or(u32::MAX));
            if lock > 0 {
                let t = now + lock;
                tx.execute(
                    "UPDATE login_failures SET locked_until = $1 WHERE throttle_key = $2",
                    &[&t, k],
                )
                .await
                .map_err(db_err)?;
                until = Some(until.map_or(t, |u: i64| u.max(t)));
            }
        }
        commit_audited(tx, audit).await?;
        Ok(until)
    }

    async fn clear_login_failures(&self, keys: &[String]) -> StoreResult<()> {
        let client = self.client().await?;
        client
            .execute(
                "DELETE FROM login_failures WHERE throttle_key = ANY($1)",
                &[&keys],
            )
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn create_key(&self, key: &NewApiKey, audit: Change) -> StoreResult<ApiKey> {
        let caps: Vec<&str> = key.capabilities.iter().map(|c| c.as_str()).collect();
        let sources: Vec<&str> = key.sources.iter().map(String::as_str).collect();
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        let row = tx
            .query_one(
                &format!(
                    "INSERT INTO api_keys (name, sources, capabilities, secret_hash, created_at)
                     VALUES ($1, $2, $3, $4, $5)
                     RETURNING {KEY_COLUMNS}"
                ),
                &[
                    &key.name,
                    &sources.join(","),
                    &caps.join(","),
                    &key.secret_hash,
                    &now_text(),
                ],
            )
            .await
            .map_err(db_err)?;
        let created = key_from_row(&row)?;
        let audit = Change {
            object: format!("key:{}", created.id),
            ..audit
        };
        commit_audited(tx, audit).await?;
        Ok(created)
    }

    async fn key(&self, id: i64) -> StoreResult<Option<ApiKey>> {
        let client = self.client().await?;
        key_by_id(&**client, id).await
    }

    async fn keys(&self) -> StoreResult<Vec<ApiKey>> {
        let client = self.client().await?;
        let rows = client
            .query(
                &format!("SELECT {KEY_COLUMNS} FROM api_keys ORDER BY id DESC"),
                &[],
            )
            .await
            .map_err(db_err)?;
        rows.iter().map(key_from_row).collect()
    }

    async fn touch_key(&self, id: i64, at: &str) -> StoreResult<()> {
        let client = self.client().await?;
        client
            .execute(
                "UPDATE api_keys SET last_used_at = $1 WHERE id = $2",
                &[&at, &id],
            )
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn revoke_key(&self, id: i64, audit: Change) -> StoreResult<ApiKey> {
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        let n = tx
            .execute(
                "UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
                &[&now_text(), &id],
            )
            .await
            .map_err(db_err)?;
        let key = key_by_id(&*tx, id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("there is no API key {id}")))?;
        // Revoking a revoked key changes nothing, so it records nothing either.
        if n == 0 {
            return Ok(key);
        }
        commit_audited(tx, audit).await?;
        Ok(key)
    }

    async fn unit_contact(&self, unit: &UnitKey) -> StoreResult<Option<UnitContact>> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT office, person, email, phone FROM unit_contacts
                  WHERE level = $1 AND code = $2 AND valid_from = $3",
                &[
                    &unit.level.as_str(),
                    &unit.code,
                    &unit.valid_from.to_string(),
                ],
            )
            .await
            .map_err(db_err)?;
        row.map(|r| {
            Ok(UnitContact {
                office: r.try_get(0).map_err(db_err)?,
                person: r.try_get(1).map_err(db_err)?,
                email: r.try_get(2).map_err(db_err)?,
                phone: r.try_get(3).map_err(db_err)?,
            })
        })
        .transpose()
    }

    async fn set_unit_contact(
        &self,
        unit: &UnitKey,
        k: &UnitContact,
        audit: Change,
    ) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        tx.execute(
            "INSERT INTO unit_contacts (level, code, valid_from, office, person, email, phone)
             VALUES ($1, $2, $7, $3, $4, $5, $6)
             ON CONFLICT (level, code, valid_from) DO UPDATE SET office = excluded.office,
                 person = excluded.person, email = excluded.email, phone = excluded.phone",
            &[
                &unit.level.as_str(),
                &unit.code,
                &k.office,
                &k.person,
                &k.email,
                &k.phone,
                &unit.valid_from.to_string(),
            ],
        )
        .await
        .map_err(db_err)?;
        commit_audited(tx, audit).await?;
        Ok(())
    }

    async fn append_audit(&self, audit: Change) -> StoreResult<AuditEntry> {
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        commit_audited(tx, audit).await
    }

    async fn audit_entries(&self, f: &AuditFilter) -> StoreResult<Vec<AuditEntry>> {
        let sql = format!(
            "SELECT {AUDIT_COLUMNS} FROM audit_log
              WHERE ($1::text IS NULL OR strpos(actor, $1) > 0)
                AND ($2::text IS NULL OR starts_with(action, $2))
                AND ($3::text IS NULL OR starts_with(object, $3))
                AND ($4::text IS NULL OR at >= $4)
                AND ($5::text IS NULL OR at < $5)
              ORDER BY seq DESC LIMIT $6"
        );
        let limit = f.limit.map(i64::from);
        let client = self.client().await?;
        let rows = client
            .query(
                &sql,
                &[&f.actor, &f.action, &f.object, &f.since, &f.until, &limit],
            )
            .await
            .map_err(db_err)?;
        rows.iter().map(audit_from_row).collect()
    }

    async fn audit_chain(&self) -> StoreResult<(Vec<AuditEntry>, Option<(i64, String)>)> {
        let mut client = self.client().await?;
        // One snapshot so the head and the entries are from the same moment.
        let tx = client
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .map_err(db_err)?;
        let head = head(&*tx).await?;
        let rows = tx
            .query(
                &format!("SELECT {AUDIT_COLUMNS} FROM audit_log ORDER BY seq"),
                &[],
            )
            .await
            .map_err(db_err)?;
        let entries = rows
            .iter()
            .map(audit_from_row)
            .collect::<StoreResult<_>>()?;
        tx.commit().await.map_err(db_err)?;
        Ok((entries, head))
    }
}
