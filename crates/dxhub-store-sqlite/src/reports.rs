//! Reports, reported values, evidence files and published editions in SQLite. Each change
//! is one IMMEDIATE transaction with its audit entry; the workflow step is applied only if
//! the row is still in the state the caller saw, and triggers (V10) lock approved
//! revisions and editions underneath.

use async_trait::async_trait;
use dxhub_core::audit::{Change, now_text};
use dxhub_core::reports::{ReportKey, ReportState, Transition, check_value, sha256_hex};
use dxhub_core::units::UnitLevel;
use dxhub_store::{
    ApprovedReport, Edition, Evidence, NewEdition, NewEvidence, Report, ReportFilter, ReportStore,
    ReportedValue, StoreError, StoreResult, ValueChange,
};
use rusqlite::{Connection, OptionalExtension, Row, Transaction, params};

use crate::accounts::{append, audited, audited_as, corrupt, unique_violation};
use crate::{SqliteStore, db_err};

const REPORT_COLUMNS: &str = "id, methodology, period, unit_level, unit_code, revision, state, \
     comment, updated_by, updated_at, submitted_by, verified_by, approved_by";

fn report_from_row(r: &Row<'_>) -> rusqlite::Result<Report> {
    let level: String = r.get(3)?;
    let state: String = r.get(6)?;
    Ok(Report {
        id: r.get(0)?,
        key: ReportKey {
            methodology: r.get(1)?,
            period: r.get(2)?,
            level: level.parse::<UnitLevel>().map_err(corrupt)?,
            unit: r.get(4)?,
        },
        revision: r.get(5)?,
        state: state.parse::<ReportState>().map_err(corrupt)?,
        comment: r.get(7)?,
        updated_by: r.get(8)?,
        updated_at: r.get(9)?,
        submitted_by: r.get(10)?,
        verified_by: r.get(11)?,
        approved_by: r.get(12)?,
    })
}

const EVIDENCE_COLUMNS: &str =
    "id, report_id, element, file_name, media_type, size, sha256, uploaded_by, uploaded_at";

fn evidence_from_row(r: &Row<'_>) -> rusqlite::Result<Evidence> {
    Ok(Evidence {
        id: r.get(0)?,
        report_id: r.get(1)?,
        element: r.get(2)?,
        file_name: r.get(3)?,
        media_type: r.get(4)?,
        size: r.get(5)?,
        sha256: r.get(6)?,
        uploaded_by: r.get(7)?,
        uploaded_at: r.get(8)?,
    })
}

const EDITION_COLUMNS: &str = "id, slug, methodology, methodology_version, period, map, kind, \
     title_vi, title_en, payload, published_at, published_by";

fn edition_from_row(r: &Row<'_>) -> rusqlite::Result<Edition> {
    Ok(Edition {
        id: r.get(0)?,
        slug: r.get(1)?,
        methodology: r.get(2)?,
        methodology_version: r.get(3)?,
        period: r.get(4)?,
        map: r.get(5)?,
        kind: r.get(6)?,
        title_vi: r.get(7)?,
        title_en: r.get(8)?,
        payload: r.get(9)?,
        published_at: r.get(10)?,
        published_by: r.get(11)?,
    })
}

fn report_by_id(conn: &Connection, id: i64) -> StoreResult<Option<Report>> {
    conn.query_row(
        &format!("SELECT {REPORT_COLUMNS} FROM reports WHERE id = ?1"),
        [id],
        report_from_row,
    )
    .optional()
    .map_err(db_err)
}

fn newest(conn: &Connection, key: &ReportKey) -> StoreResult<Option<Report>> {
    conn.query_row(
        &format!(
            "SELECT {REPORT_COLUMNS} FROM reports
             WHERE methodology = ?1 AND period = ?2 AND unit_level = ?3 AND unit_code = ?4
             ORDER BY revision DESC LIMIT 1"
        ),
        params![key.methodology, key.period, key.level.as_str(), key.unit],
        report_from_row,
    )
    .optional()
    .map_err(db_err)
}

fn values_of(conn: &Connection, id: i64) -> StoreResult<Vec<ReportedValue>> {
    let mut st = conn
        .prepare_cached(
            "SELECT code, value, note, updated_by, updated_at FROM report_values
             WHERE report_id = ?1 ORDER BY code",
        )
        .map_err(db_err)?;
    st.query_map([id], |r| {
        Ok(ReportedValue {
            code: r.get(0)?,
            value: r.get(1)?,
            note: r.get(2)?,
            updated_by: r.get(3)?,
            updated_at: r.get(4)?,
        })
    })
    .and_then(|rows| rows.collect())
    .map_err(db_err)
}

fn evidence_of(conn: &Connection, id: i64) -> StoreResult<Vec<Evidence>> {
    let mut st = conn
        .prepare_cached(&format!(
            "SELECT {EVIDENCE_COLUMNS} FROM report_evidence WHERE report_id = ?1 ORDER BY id"
        ))
        .map_err(db_err)?;
    st.query_map([id], evidence_from_row)
        .and_then(|rows| rows.collect())
        .map_err(db_err)
}

/// The revision `id` if it is the newest of its report and may be edited; `Conflict`
/// naming why not otherwise.
fn editable(tx: &Transaction<'_>, id: i64) -> StoreResult<Report> {
    let report =
        report_by_id(tx, id)?.ok_or_else(|| StoreError::NotFound(format!("no report {id}")))?;
    if !report.state.editable() {
        return Err(StoreError::Conflict(format!(
            "the report is {}; only a draft or returned report can be changed",
            report.state
        )));
    }
    match newest(tx, &report.key)? {
        Some(n) if n.id == report.id => Ok(report),
        _ => Err(StoreError::Conflict(
            "a newer revision of this report exists".into(),
        )),
    }
}

fn touch(tx: &Transaction<'_>, id: i64, by: &str, at: &str) -> StoreResult<()> {
    tx.execute(
        "UPDATE reports SET updated_by = ?2, updated_at = ?3 WHERE id = ?1",
        params![id, by, at],
    )
    .map_err(db_err)?;
    Ok(())
}

fn insert_edition(tx: &Transaction<'_>, e: &NewEdition, at: &str) -> StoreResult<Edition> {
    tx.execute(
        "INSERT INTO editions (slug, methodology, methodology_version, period, map, kind,
                               title_vi, title_en, payload, published_at, published_by)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        params![
            e.slug,
            e.methodology,
            e.methodology_version,
            e.period,
            e.map,
            e.kind,
            e.title_vi,
            e.title_en,
            e.payload,
            at,
            e.published_by
        ],
    )
    .map_err(|err| {
        if unique_violation(&err) {
            StoreError::Conflict(format!("an edition named '{}' exists already", e.slug))
        } else {
            db_err(err)
        }
    })?;
    let id = tx.last_insert_rowid();
    tx.query_row(
        &format!("SELECT {EDITION_COLUMNS} FROM editions WHERE id = ?1"),
        [id],
        edition_from_row,
    )
    .map_err(db_err)
}

fn json<T: serde::Serialize>(v: &T) -> Option<String> {
    serde_json::to_string(v).ok()
}

#[async_trait]
impl ReportStore for SqliteStore {
    async fn current_report(&self, key: &ReportKey) -> StoreResult<Option<Report>> {
        let key = key.clone();
        self.with_conn(move |c| newest(c, &key)).await
    }

    async fn open_report(&self, key: &ReportKey, by: &str, audit: Change) -> StoreResult<Report> {
        let key = key.clone();
        let by = by.to_owned();
        self.with_conn(move |c| {
            if let Some(r) = newest(c, &key)? {
                return Ok(r);
            }
            let tx = c
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(db_err)?;
            // Another writer may have opened it between the read and the lock: then nothing
            // changes and nothing is audited (the transaction rolls back).
            let inserted = tx
                .execute(
                    "INSERT INTO reports (methodology, period, unit_level, unit_code, revision,
                                          state, updated_by, updated_at)
                     VALUES (?1, ?2, ?3, ?4, 1, 'draft', ?5, ?6)
                     ON CONFLICT (methodology, period, unit_level, unit_code, revision) DO NOTHING",
                    params![
                        key.methodology,
                        key.period,
                        key.level.as_str(),
                        key.unit,
                        by,
                        now_text()
                    ],
                )
                .map_err(db_err)?;
            if inserted == 0 {
                return newest(&tx, &key)?
                    .ok_or_else(|| StoreError::Database("the opened report vanished".into()));
            }
            let created = report_by_id(&tx, tx.last_insert_rowid())?
                .ok_or_else(|| StoreError::Database("the new report vanished".into()))?;
            let mut audit = audit;
            audit.new = json(&key);
            append(&tx, audit)?;
            tx.commit().map_err(db_err)?;
            Ok(created)
        })
        .await
    }

    async fn report(&self, id: i64) -> StoreResult<Option<Report>> {
        self.with_conn(move |c| report_by_id(c, id)).await
    }

    async fn reports(&self, f: &ReportFilter) -> StoreResult<Vec<Report>> {
        let f = f.clone();
        self.with_conn(move |c| {
            let mut st = c
                .prepare(&format!(
                    "SELECT {REPORT_COLUMNS} FROM reports r
                     WHERE (?1 IS NULL OR methodology = ?1) AND (?2 IS NULL OR period = ?2)
                       AND (?3 IS NULL OR state = ?3)
                       AND revision = (SELECT max(revision) FROM reports x
                                       WHERE x.methodology = r.methodology AND x.period = r.period
                                         AND x.unit_level = r.unit_level AND x.unit_code = r.unit_code)
                     ORDER BY methodology, period, unit_level, unit_code"
                ))
                .map_err(db_err)?;
            let rows: Vec<Report> = st
                .query_map(
                    params![f.methodology, f.period, f.state.map(|s| s.as_str())],
                    report_from_row,
                )
                .and_then(|rows| rows.collect())
                .map_err(db_err)?;
            Ok(match &f.units {
                Some(units) => rows
                    .into_iter()
                    .filter(|r| units.contains(&r.key.unit))
                    .collect(),
                None => rows,
            })
        })
        .await
    }

    async fn report_revisions(&self, key: &ReportKey) -> StoreResult<Vec<Report>> {
        let key = key.clone();
        self.with_conn(move |c| {
            let mut st = c
                .prepare(&format!(
                    "SELECT {REPORT_COLUMNS} FROM reports
                     WHERE methodology = ?1 AND period = ?2 AND unit_level = ?3 AND unit_code = ?4
                     ORDER BY revision"
                ))
                .map_err(db_err)?;
            st.query_map(
                params![key.methodology, key.period, key.level.as_str(), key.unit],
                report_from_row,
            )
            .and_then(|rows| rows.collect())
            .map_err(db_err)
        })
        .await
    }

    async fn report_values(&self, id: i64) -> StoreResult<Vec<ReportedValue>> {
        self.with_conn(move |c| values_of(c, id)).await
    }

    async fn set_report_values(
        &self,
        id: i64,
        changes: &[ValueChange],
        by: &str,
        audit: Change,
    ) -> StoreResult<Report> {
        // SQLite would store NaN as NULL (and refuse it), PostgreSQL would keep it: both
        // refuse what is not a number before writing anything.
        for ch in changes {
            if let Some(v) = ch.value {
                check_value(&ch.code, v).map_err(StoreError::Conflict)?;
            }
        }
        let changes = changes.to_vec();
        let by = by.to_owned();
        self.with_conn(move |c| {
            let mut audit = audit;
            audit.new = json(
                &changes
                    .iter()
                    .map(|v| (v.code.as_str(), v.value, v.note.as_deref()))
                    .collect::<Vec<_>>(),
            );
            let tx = c
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(db_err)?;
            editable(&tx, id)?;
            let old: Vec<ReportedValue> = values_of(&tx, id)?
                .into_iter()
                .filter(|v| changes.iter().any(|c| c.code == v.code))
                .collect();
            audit.old = json(
                &old.iter()
                    .map(|v| (v.code.as_str(), v.value, v.note.as_deref()))
                    .collect::<Vec<_>>(),
            );
            let at = now_text();
            for ch in &changes {
                match ch.value {
                    Some(v) => tx.execute(
                        "INSERT INTO report_values (report_id, code, value, note, updated_by, updated_at)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                         ON CONFLICT (report_id, code) DO UPDATE SET value = excluded.value,
                             note = excluded.note, updated_by = excluded.updated_by,
                             updated_at = excluded.updated_at",
                        params![id, ch.code, v, ch.note, by, at],
                    ),
                    None => tx.execute(
                        "DELETE FROM report_values WHERE report_id = ?1 AND code = ?2",
                        params![id, ch.code],
                    ),
                }
                .map_err(db_err)?;
            }
            touch(&tx, id, &by, &at)?;
            append(&tx, audit)?;
            let updated = report_by_id(&tx, id)?
                .ok_or_else(|| StoreError::NotFound(format!("no report {id}")))?;
            tx.commit().map_err(db_err)?;
            Ok(updated)
        })
        .await
    }

    async fn transition_report(
        &self,
        id: i64,
        expected: ReportState,
        step: Transition,
        by: (i64, &str),
        comment: Option<&str>,
        audit: Change,
    ) -> StoreResult<Report> {
        let (by_id, by_name) = (by.0, by.1.to_owned());
        let comment = comment.map(str::to_owned);
        self.with_conn(move |c| {
            let mut audit = audit;
            audit.old = json(&serde_json::json!({ "state": expected }));
            audited(c, audit, |tx| {
                let report = report_by_id(tx, id)?
                    .ok_or_else(|| StoreError::NotFound(format!("no report {id}")))?;
                if report.state != expected {
                    return Err(StoreError::Conflict(format!(
                        "the report is {} now, not {expected}; reload it",
                        report.state
                    )));
                }
                let to = step.apply(report.state).map_err(StoreError::Conflict)?;
                if step.needs_comment() && comment.as_deref().is_none_or(|c| c.trim().is_empty()) {
                    return Err(StoreError::Conflict(
                        "returning a report needs a comment saying why".into(),
                    ));
                }
                // One statement: approving locks the row (trigger), so everything it
                // records is written together with the new state.
                tx.execute(
                    "UPDATE reports SET state = ?2, comment = coalesce(?3, comment),
                         updated_by = ?4, updated_at = ?5,
                         submitted_by = CASE WHEN ?6 = 'submit' THEN ?7 ELSE submitted_by END,
                         verified_by = CASE WHEN ?6 = 'verify' THEN ?7
                                            WHEN ?6 = 'return' THEN NULL ELSE verified_by END,
                         approved_by = CASE WHEN ?6 = 'approve' THEN ?7 ELSE approved_by END
                     WHERE id = ?1",
                    params![
                        id,
                        to.as_str(),
                        comment,
                        by_name,
                        now_text(),
                        step.as_str(),
                        by_id
                    ],
                )
                .map_err(db_err)?;
                report_by_id(tx, id)?.ok_or_else(|| StoreError::NotFound(format!("no report {id}")))
            })
        })
        .await
    }

    async fn reopen_report(
        &self,
        id: i64,
        by: &str,
        reason: &str,
        audit: Change,
    ) -> StoreResult<Report> {
        let by = by.to_owned();
        let reason = reason.trim().to_owned();
        self.with_conn(move |c| {
            let mut audit = audit;
            audit.new = json(&serde_json::json!({ "reason": reason }));
            audited(c, audit, |tx| {
                if reason.is_empty() {
                    return Err(StoreError::Conflict(
                        "reopening an approved report needs a reason".into(),
                    ));
                }
                let report = report_by_id(tx, id)?
                    .ok_or_else(|| StoreError::NotFound(format!("no report {id}")))?;
                if report.state != ReportState::Approved {
                    return Err(StoreError::Conflict(format!(
                        "only an approved report can be reopened; this one is {}",
                        report.state
                    )));
                }
                if newest(tx, &report.key)?.map(|n| n.id) != Some(id) {
                    return Err(StoreError::Conflict(
                        "a newer revision of this report exists".into(),
                    ));
                }
                let at = now_text();
                tx.execute(
                    "INSERT INTO reports (methodology, period, unit_level, unit_code, revision,
                                          state, comment, updated_by, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, 'draft', ?6, ?7, ?8)",
                    params![
                        report.key.methodology,
                        report.key.period,
                        report.key.level.as_str(),
                        report.key.unit,
                        report.revision + 1,
                        reason,
                        by,
                        at
                    ],
                )
                .map_err(db_err)?;
                let new_id = tx.last_insert_rowid();
                tx.execute(
                    "INSERT INTO report_values (report_id, code, value, note, updated_by, updated_at)
                     SELECT ?1, code, value, note, updated_by, updated_at
                     FROM report_values WHERE report_id = ?2",
                    params![new_id, id],
                )
                .map_err(db_err)?;
                report_by_id(tx, new_id)?
                    .ok_or_else(|| StoreError::Database("the new revision vanished".into()))
            })
        })
        .await
    }

    async fn add_evidence(
        &self,
        report_id: i64,
        file: NewEvidence,
        by: &str,
        audit: Change,
    ) -> StoreResult<Evidence> {
        let by = by.to_owned();
        self.with_conn(move |c| {
            let sha = sha256_hex(&file.content);
            let mut audit = audit;
            audit.new = json(&serde_json::json!({
                "file_name": file.file_name, "sha256": sha, "size": file.content.len(),
                "element": file.element,
            }));
            audited(c, audit, |tx| {
                editable(tx, report_id)?;
                let at = now_text();
                tx.execute(
                    "INSERT INTO report_evidence (report_id, element, file_name, media_type, size,
                                                  sha256, content, uploaded_by, uploaded_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                    params![
                        report_id,
                        file.element,
                        file.file_name,
                        file.media_type,
                        file.content.len() as i64,
                        sha,
                        file.content,
                        by,
                        at
                    ],
                )
                .map_err(db_err)?;
                touch(tx, report_id, &by, &at)?;
                tx.query_row(
                    &format!("SELECT {EVIDENCE_COLUMNS} FROM report_evidence WHERE id = ?1"),
                    [tx.last_insert_rowid()],
                    evidence_from_row,
                )
                .map_err(db_err)
            })
        })
        .await
    }

    async fn remove_evidence(&self, evidence_id: i64, audit: Change) -> StoreResult<()> {
        self.with_conn(move |c| {
            audited(c, audit, |tx| {
                let report_id: i64 = tx
                    .query_row(
                        "SELECT report_id FROM report_evidence WHERE id = ?1",
                        [evidence_id],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(db_err)?
                    .ok_or_else(|| {
                        StoreError::NotFound(format!("no evidence file {evidence_id}"))
                    })?;
                editable(tx, report_id)?;
                tx.execute("DELETE FROM report_evidence WHERE id = ?1", [evidence_id])
                    .map_err(db_err)?;
                Ok(())
            })
        })
        .await
    }

    async fn evidence(&self, report_id: i64) -> StoreResult<Vec<Evidence>> {
        self.with_conn(move |c| evidence_of(c, report_id)).await
    }

    async fn evidence_content(&self, evidence_id: i64) -> StoreResult<Option<(Evidence, Vec<u8>)>> {
        self.with_conn(move |c| {
            c.query_row(
                &format!("SELECT {EVIDENCE_COLUMNS}, content FROM report_evidence WHERE id = ?1"),
                [evidence_id],
                |r| Ok((evidence_from_row(r)?, r.get::<_, Vec<u8>>(9)?)),
            )
            .optional()
            .map_err(db_err)
        })
        .await
    }

    async fn approved_reports(
        &self,
        methodology: &str,
        period: &str,
    ) -> StoreResult<Vec<ApprovedReport>> {
        let (m, p) = (methodology.to_owned(), period.to_owned());
        self.with_conn(move |c| {
            let reports: Vec<Report> = {
                let mut st = c
                    .prepare(&format!(
                        "SELECT {REPORT_COLUMNS} FROM reports r
                         WHERE methodology = ?1 AND period = ?2 AND state = 'approved'
                           AND revision = (SELECT max(revision) FROM reports x
                                           WHERE x.methodology = r.methodology AND x.period = r.period
                                             AND x.unit_level = r.unit_level AND x.unit_code = r.unit_code
                                             AND x.state = 'approved')
                         ORDER BY unit_level, unit_code"
                    ))
                    .map_err(db_err)?;
                st.query_map(params![m, p], report_from_row)
                    .and_then(|rows| rows.collect())
                    .map_err(db_err)?
            };
            reports
                .into_iter()
                .map(|report| {
                    Ok(ApprovedReport {
                        values: values_of(c, report.id)?,
                        evidence: evidence_of(c, report.id)?,
                        report,
                    })
                })
                .collect()
        })
        .await
    }

    async fn publish_edition(&self, edition: &NewEdition, audit: Change) -> StoreResult<Edition> {
        let edition = edition.clone();
        self.with_conn(move |c| {
            let mut audit = audit;
            audit.new = json(&serde_json::json!({
                "slug": edition.slug, "methodology": edition.methodology,
                "methodology_version": edition.methodology_version, "period": edition.period,
                "map": edition.map, "kind": edition.kind,
                "payload_sha256": sha256_hex(edition.payload.as_bytes()),
            }));
            audited_as(c, audit, |tx| {
                let e = insert_edition(tx, &edition, &now_text())?;
                let object = format!("edition:{}", e.id);
                Ok((e, Some(object)))
            })
        })
        .await
    }

    async fn ensure_edition(&self, edition: &NewEdition) -> StoreResult<bool> {
        let edition = edition.clone();
        self.with_conn(move |c| {
            let tx = c
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(db_err)?;
            let exists: bool = tx
                .query_row(
                    "SELECT EXISTS (SELECT 1 FROM editions WHERE slug = ?1)",
                    [&edition.slug],
                    |r| r.get(0),
                )
                .map_err(db_err)?;
            if exists {
                return Ok(false);
            }
            let e = insert_edition(&tx, &edition, &now_text())?;
            let mut change = Change::new(
                edition.published_by.clone(),
                "edition.load",
                format!("edition:{}", e.id),
            );
            change.new = json(&serde_json::json!({
                "slug": e.slug, "kind": e.kind,
                "payload_sha256": sha256_hex(e.payload.as_bytes()),
            }));
            append(&tx, change)?;
            tx.commit().map_err(db_err)?;
            Ok(true)
        })
        .await
    }

    async fn editions(&self) -> StoreResult<Vec<Edition>> {
        self.with_conn(|c| {
            let mut st = c
                .prepare(&format!(
                    "SELECT {} FROM editions ORDER BY period DESC, methodology, map DESC, id DESC",
                    EDITION_COLUMNS.replace("payload", "'' AS payload")
                ))
                .map_err(db_err)?;
            st.query_map([], edition_from_row)
                .and_then(|rows| rows.collect())
                .map_err(db_err)
        })
        .await
    }

    async fn edition(&self, id: i64) -> StoreResult<Option<Edition>> {
        self.with_conn(move |c| {
            c.query_row(
                &format!("SELECT {EDITION_COLUMNS} FROM editions WHERE id = ?1"),
                [id],
                edition_from_row,
            )
            .optional()
            .map_err(db_err)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hand-run SQL on the database file cannot change an approved report, its values or
    /// evidence, nor an edition: the V10 triggers refuse it underneath dxhub. (The same
    /// for PostgreSQL is in the conformance suite.)
    #[tokio::test]
    async fn hand_run_sql_cannot_change_what_was_approved() {
        let dir = crate::TestDir::new("reports");
        let path = dir.db();
        let store = SqliteStore::open(&path).await.unwrap();
        let key = ReportKey {
            methodology: "dti-province-2022".into(),
            period: "2024".into(),
            level: UnitLevel::Province,
            unit: "01".into(),
        };
        let change = || Change::new("cli", "test", "report");
        let r = store.open_report(&key, "cli", change()).await.unwrap();
        let value = ValueChange {
            code: "a".into(),
            value: Some(1.5),
            note: None,
        };
        store
            .set_report_values(r.id, &[value], "cli", change())
            .await
            .unwrap();
        let file = NewEvidence {
            element: None,
            file_name: "qd.pdf".into(),
            media_type: "application/pdf".into(),
            content: b"%PDF-1.7".to_vec(),
        };
        store
            .add_evidence(r.id, file, "cli", change())
            .await
            .unwrap();
        for (from, step) in [
            (ReportState::Draft, Transition::Submit),
            (ReportState::Submitted, Transition::Verify),
            (ReportState::Verified, Transition::Approve),
        ] {
            store
                .transition_report(r.id, from, step, (1, "cli"), None, change())
                .await
                .unwrap();
        }
        let edition = NewEdition {
            slug: "e".into(),
            methodology: key.methodology.clone(),
            methodology_version: 1,
            period: "2024".into(),
            map: "63".into(),
            kind: "demo".into(),
            title_vi: "e".into(),
            title_en: "e".into(),
            payload: "{}".into(),
            published_by: "cli".into(),
        };
        assert!(store.ensure_edition(&edition).await.unwrap());
        let approved = store.report(r.id).await.unwrap();

        let db = Connection::open(&path).unwrap();
        for sql in [
            "UPDATE reports SET comment = 'changed' WHERE id = ?1",
            "UPDATE reports SET state = 'draft' WHERE id = ?1",
            "DELETE FROM reports WHERE id = ?1",
            "UPDATE report_values SET value = value + 1 WHERE report_id = ?1",
            "DELETE FROM report_values WHERE report_id = ?1",
            "INSERT INTO report_values (report_id, code, value, updated_by, updated_at)
             VALUES (?1, 'z', 1, 'sql', 'now')",
            "UPDATE report_evidence SET content = x'00' WHERE report_id = ?1",
            "DELETE FROM report_evidence WHERE report_id = ?1",
            "UPDATE editions SET title_en = 'changed' WHERE ?1 > 0",
            "DELETE FROM editions WHERE ?1 > 0",
        ] {
            let err = db.execute(sql, [r.id]).expect_err(sql).to_string();
            assert!(
                err.contains("locked") || err.contains("never"),
                "{sql}: {err}"
            );
        }
        // Nor can a draft's values be moved into the approved revision (V11).
        let other = ReportKey {
            unit: "02".into(),
            ..key.clone()
        };
        let draft = store.open_report(&other, "cli", change()).await.unwrap();
        let value = ValueChange {
            code: "b".into(),
            value: Some(0.5),
            note: None,
        };
        store
            .set_report_values(draft.id, &[value], "cli", change())
            .await
            .unwrap();
        let err = db
            .execute(
                "UPDATE report_values SET report_id = ?1 WHERE report_id = ?2",
                [r.id, draft.id],
            )
            .expect_err("moving values into an approved revision")
            .to_string();
        assert!(err.contains("locked"), "{err}");
        drop(db);
        assert_eq!(store.report_values(r.id).await.unwrap().len(), 1);
        assert_eq!(store.report(r.id).await.unwrap(), approved);
        assert_eq!(store.report_values(r.id).await.unwrap()[0].value, 1.5);
        assert_eq!(store.evidence(r.id).await.unwrap().len(), 1);
        assert_eq!(store.editions().await.unwrap().len(), 1);
        drop(store);
    }
}
