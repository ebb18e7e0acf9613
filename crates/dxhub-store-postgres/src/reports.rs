//! Reports, reported values, evidence files and published editions in PostgreSQL. Each
//! change is one transaction that takes the audit advisory lock and ends with its audit
//! entry, so the workflow step is applied only if the row is still in the state the caller
//! saw, even with several processes; triggers (V10) lock approved revisions and editions
//! underneath.

use async_trait::async_trait;
use dxhub_core::audit::{Change, now_text};
use dxhub_core::reports::{ReportKey, ReportState, Transition, check_value, sha256_hex};
use dxhub_core::units::UnitLevel;
use dxhub_store::{
    ApprovedReport, Edition, Evidence, NewEdition, NewEvidence, Report, ReportFilter, ReportStore,
    ReportedValue, StoreError, StoreResult, ValueChange,
};
use serde_json::json;
use tokio_postgres::types::ToSql;
use tokio_postgres::{GenericClient, Row};

use crate::accounts::{begin, commit_audited, corrupt, unique_violation};
use crate::{PostgresStore, db_err};

const REPORT_COLUMNS: &str = "id, methodology, period, unit_level, unit_code, revision, state, \
     comment, updated_by, updated_at, submitted_by, verified_by, approved_by";

fn report_from_row(r: &Row) -> StoreResult<Report> {
    let level: String = r.try_get(3).map_err(db_err)?;
    let state: String = r.try_get(6).map_err(db_err)?;
    Ok(Report {
        id: r.try_get(0).map_err(db_err)?,
        key: ReportKey {
            methodology: r.try_get(1).map_err(db_err)?,
            period: r.try_get(2).map_err(db_err)?,
            level: level.parse::<UnitLevel>().map_err(corrupt)?,
            unit: r.try_get(4).map_err(db_err)?,
        },
        revision: r.try_get(5).map_err(db_err)?,
        state: state.parse::<ReportState>().map_err(corrupt)?,
        comment: r.try_get(7).map_err(db_err)?,
        updated_by: r.try_get(8).map_err(db_err)?,
        updated_at: r.try_get(9).map_err(db_err)?,
        submitted_by: r.try_get(10).map_err(db_err)?,
        verified_by: r.try_get(11).map_err(db_err)?,
        approved_by: r.try_get(12).map_err(db_err)?,
    })
}

const EVIDENCE_COLUMNS: &str =
    "id, report_id, element, file_name, media_type, size, sha256, uploaded_by, uploaded_at";

fn evidence_from_row(r: &Row) -> StoreResult<Evidence> {
    Ok(Evidence {
        id: r.try_get(0).map_err(db_err)?,
        report_id: r.try_get(1).map_err(db_err)?,
        element: r.try_get(2).map_err(db_err)?,
        file_name: r.try_get(3).map_err(db_err)?,
        media_type: r.try_get(4).map_err(db_err)?,
        size: r.try_get(5).map_err(db_err)?,
        sha256: r.try_get(6).map_err(db_err)?,
        uploaded_by: r.try_get(7).map_err(db_err)?,
        uploaded_at: r.try_get(8).map_err(db_err)?,
    })
}

const EDITION_COLUMNS: &str = "id, slug, methodology, methodology_version, period, map, kind, \
     title_vi, title_en, payload, published_at, published_by";

fn edition_from_row(r: &Row) -> StoreResult<Edition> {
    Ok(Edition {
        id: r.try_get(0).map_err(db_err)?,
        slug: r.try_get(1).map_err(db_err)?,
        methodology: r.try_get(2).map_err(db_err)?,
        methodology_version: r.try_get(3).map_err(db_err)?,
        period: r.try_get(4).map_err(db_err)?,
        map: r.try_get(5).map_err(db_err)?,
        kind: r.try_get(6).map_err(db_err)?,
        title_vi: r.try_get(7).map_err(db_err)?,
        title_en: r.try_get(8).map_err(db_err)?,
        payload: r.try_get(9).map_err(db_err)?,
        published_at: r.try_get(10).map_err(db_err)?,
        published_by: r.try_get(11).map_err(db_err)?,
    })
}

/// Runs `sql` and maps every row it returns.
async fn rows<T>(
    c: &impl GenericClient,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
    map: fn(&Row) -> StoreResult<T>,
) -> StoreResult<Vec<T>> {
    let rows = c.query(sql, params).await.map_err(db_err)?;
    rows.iter().map(map).collect()
}

/// Runs `sql` and maps the row it returns, if any.
async fn row<T>(
    c: &impl GenericClient,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
    map: fn(&Row) -> StoreResult<T>,
) -> StoreResult<Option<T>> {
    let row = c.query_opt(sql, params).await.map_err(db_err)?;
    row.as_ref().map(map).transpose()
}

async fn report_by_id(c: &impl GenericClient, id: i64) -> StoreResult<Option<Report>> {
    row(
        c,
        &format!("SELECT {REPORT_COLUMNS} FROM reports WHERE id = $1"),
        &[&id],
        report_from_row,
    )
    .await
}

fn no_report(id: i64) -> StoreError {
    StoreError::NotFound(format!("no report {id}"))
}

/// The revision `id`, or `NotFound`.
async fn existing(c: &impl GenericClient, id: i64) -> StoreResult<Report> {
    report_by_id(c, id).await?.ok_or_else(|| no_report(id))
}

async fn newest(c: &impl GenericClient, key: &ReportKey) -> StoreResult<Option<Report>> {
    row(
        c,
        &format!(
            "SELECT {REPORT_COLUMNS} FROM reports
             WHERE methodology = $1 AND period = $2 AND unit_level = $3 AND unit_code = $4
             ORDER BY revision DESC LIMIT 1"
        ),
        &[
            &key.methodology,
            &key.period,
            &key.level.as_str(),
            &key.unit,
        ],
        report_from_row,
    )
    .await
}

fn value_from_row(r: &Row) -> StoreResult<ReportedValue> {
    Ok(ReportedValue {
        code: r.try_get(0).map_err(db_err)?,
        value: r.try_get(1).map_err(db_err)?,
        note: r.try_get(2).map_err(db_err)?,
        updated_by: r.try_get(3).map_err(db_err)?,
        updated_at: r.try_get(4).map_err(db_err)?,
    })
}

async fn values_of(c: &impl GenericClient, id: i64) -> StoreResult<Vec<ReportedValue>> {
    rows(
        c,
        "SELECT code, value, note, updated_by, updated_at FROM report_values
         WHERE report_id = $1 ORDER BY code",
        &[&id],
        value_from_row,
    )
    .await
}

async fn evidence_of(c: &impl GenericClient, id: i64) -> StoreResult<Vec<Evidence>> {
    rows(
        c,
        &format!("SELECT {EVIDENCE_COLUMNS} FROM report_evidence WHERE report_id = $1 ORDER BY id"),
        &[&id],
        evidence_from_row,
    )
    .await
}

fn newer_revision() -> StoreError {
    StoreError::Conflict("a newer revision of this report exists".into())
}

/// The revision `id` if it is the newest of its report and may be edited; `Conflict`
/// naming why not otherwise.
async fn editable(c: &impl GenericClient, id: i64) -> StoreResult<Report> {
    let report = existing(c, id).await?;
    if !report.state.editable() {
        return Err(StoreError::Conflict(format!(
            "the report is {}; only a draft or returned report can be changed",
            report.state
        )));
    }
    match newest(c, &report.key).await? {
        Some(n) if n.id == report.id => Ok(report),
        _ => Err(newer_revision()),
    }
}

async fn touch(c: &impl GenericClient, id: i64, by: &str, at: &str) -> StoreResult<()> {
    c.execute(
        "UPDATE reports SET updated_by = $2, updated_at = $3 WHERE id = $1",
        &[&id, &by, &at],
    )
    .await
    .map_err(db_err)?;
    Ok(())
}

async fn insert_edition(c: &impl GenericClient, e: &NewEdition, at: &str) -> StoreResult<Edition> {
    let row = c
        .query_one(
            &format!(
                "INSERT INTO editions (slug, methodology, methodology_version, period, map, kind,
                                       title_vi, title_en, payload, published_at, published_by)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                 RETURNING {EDITION_COLUMNS}"
            ),
            &[
                &e.slug,
                &e.methodology,
                &e.methodology_version,
                &e.period,
                &e.map,
                &e.kind,
                &e.title_vi,
                &e.title_en,
                &e.payload,
                &at,
                &e.published_by,
            ],
        )
        .await
        .map_err(|err| {
            if unique_violation(&err) {
                StoreError::Conflict(format!("an edition named '{}' exists already", e.slug))
            } else {
                db_err(err)
            }
        })?;
    edition_from_row(&row)
}

/// Audit content (JSON text), as the SQLite store writes it.
fn json_text(v: serde_json::Value) -> Option<String> {
    Some(v.to_string())
}

/// Values as the audit trail records them: `[code, value, note]` triples.
fn value_triples<'a>(
    values: impl Iterator<Item = (&'a str, Option<f64>, Option<&'a str>)>,
) -> Option<String> {
    json_text(json!(values.collect::<Vec<_>>()))
}

#[async_trait]
impl ReportStore for PostgresStore {
    async fn current_report(&self, key: &ReportKey) -> StoreResult<Option<Report>> {
        let client = self.client().await?;
        newest(&**client, key).await
    }

    async fn open_report(&self, key: &ReportKey, by: &str, audit: Change) -> StoreResult<Report> {
        let mut client = self.client().await?;
        if let Some(r) = newest(&**client, key).await? {
            return Ok(r);
        }
        let tx = begin(&mut client).await?;
        // Another process may have opened it between the read and the lock; the unique
        // key then keeps this insert from adding a second revision 1.
        let created = row(
            &*tx,
            &format!(
                "INSERT INTO reports (methodology, period, unit_level, unit_code, revision,
                                      state, updated_by, updated_at)
                 VALUES ($1, $2, $3, $4, 1, 'draft', $5, $6)
                 ON CONFLICT (methodology, period, unit_level, unit_code, revision) DO NOTHING
                 RETURNING {REPORT_COLUMNS}"
            ),
            &[
                &key.methodology,
                &key.period,
                &key.level.as_str(),
                &key.unit,
                &by,
                &now_text(),
            ],
            report_from_row,
        )
        .await?;
        let Some(created) = created else {
            return newest(&*tx, key)
                .await?
                .ok_or_else(|| StoreError::Database("the opened report vanished".into()));
        };
        let audit = Change {
            new: serde_json::to_string(key).ok(),
            ..audit
        };
        commit_audited(tx, audit).await?;
        Ok(created)
    }

    async fn report(&self, id: i64) -> StoreResult<Option<Report>> {
        let client = self.client().await?;
        report_by_id(&**client, id).await
    }

    async fn reports(&self, f: &ReportFilter) -> StoreResult<Vec<Report>> {
        let client = self.client().await?;
        rows(
            &**client,
            &format!(
                "SELECT {REPORT_COLUMNS} FROM reports r
                 WHERE ($1::text IS NULL OR methodology = $1) AND ($2::text IS NULL OR period = $2)
                   AND ($3::text IS NULL OR state = $3)
                   AND ($4::text[] IS NULL OR unit_code = ANY ($4))
                   AND revision = (SELECT max(revision) FROM reports x
                                   WHERE x.methodology = r.methodology AND x.period = r.period
                                     AND x.unit_level = r.unit_level AND x.unit_code = r.unit_code)
                 ORDER BY methodology, period, unit_level, unit_code"
            ),
            &[
                &f.methodology,
                &f.period,
                &f.state.map(|s| s.as_str()),
                &f.units,
            ],
            report_from_row,
        )
        .await
    }

    async fn report_revisions(&self, key: &ReportKey) -> StoreResult<Vec<Report>> {
        let client = self.client().await?;
        rows(
            &**client,
            &format!(
                "SELECT {REPORT_COLUMNS} FROM reports
                 WHERE methodology = $1 AND period = $2 AND unit_level = $3 AND unit_code = $4
                 ORDER BY revision"
            ),
            &[
                &key.methodology,
                &key.period,
                &key.level.as_str(),
                &key.unit,
            ],
            report_from_row,
        )
        .await
    }

    async fn report_values(&self, id: i64) -> StoreResult<Vec<ReportedValue>> {
        let client = self.client().await?;
        values_of(&**client, id).await
    }

    async fn set_report_values(
        &self,
        id: i64,
        changes: &[ValueChange],
        by: &str,
        audit: Change,
    ) -> StoreResult<Report> {
        for ch in changes {
            if let Some(v) = ch.value {
                check_value(&ch.code, v).map_err(StoreError::Conflict)?;
            }
        }
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        editable(&*tx, id).await?;
        let old: Vec<ReportedValue> = values_of(&*tx, id)
            .await?
            .into_iter()
            .filter(|v| changes.iter().any(|c| c.code == v.code))
            .collect();
        let audit = Change {
            old: value_triples(
                old.iter()
                    .map(|v| (v.code.as_str(), Some(v.value), v.note.as_deref())),
            ),
            new: value_triples(
                changes
                    .iter()
                    .map(|v| (v.code.as_str(), v.value, v.note.as_deref())),
            ),
            ..audit
        };
        let at = now_text();
        for ch in changes {
            match ch.value {
                Some(v) => {
                    tx.execute(
                        "INSERT INTO report_values (report_id, code, value, note, updated_by, updated_at)
                         VALUES ($1, $2, $3, $4, $5, $6)
                         ON CONFLICT (report_id, code) DO UPDATE SET value = excluded.value,
                             note = excluded.note, updated_by = excluded.updated_by,
                             updated_at = excluded.updated_at",
                        &[&id, &ch.code, &v, &ch.note, &by, &at],
                    )
                    .await
                }
                None => {
                    tx.execute(
                        "DELETE FROM report_values WHERE report_id = $1 AND code = $2",
                        &[&id, &ch.code],
                    )
                    .await
                }
            }
            .map_err(db_err)?;
        }
        touch(&*tx, id, by, &at).await?;
        let updated = existing(&*tx, id).await?;
        commit_audited(tx, audit).await?;
        Ok(updated)
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
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        let report = existing(&*tx, id).await?;
        if report.state != expected {
            return Err(StoreError::Conflict(format!(
                "the report is {} now, not {expected}; reload it",
                report.state
            )));
        }
        let to = step.apply(report.state).map_err(StoreError::Conflict)?;
        if step.needs_comment() && comment.is_none_or(|c| c.trim().is_empty()) {
            return Err(StoreError::Conflict(
                "returning a report needs a comment saying why".into(),
            ));
        }
        // One statement: approving locks the row (trigger), so everything it records is
        // written together with the new state. The state condition makes it a
        // compare-and-set even without the lock.
        let updated = row(
            &*tx,
            &format!(
                "UPDATE reports SET state = $2, comment = coalesce($3, comment),
                     updated_by = $4, updated_at = $5,
                     submitted_by = CASE WHEN $6 = 'submit' THEN $7 ELSE submitted_by END,
                     verified_by = CASE WHEN $6 = 'verify' THEN $7
                                        WHEN $6 = 'return' THEN NULL ELSE verified_by END,
                     approved_by = CASE WHEN $6 = 'approve' THEN $7 ELSE approved_by END
                 WHERE id = $1 AND state = $8
                 RETURNING {REPORT_COLUMNS}"
            ),
            &[
                &id,
                &to.as_str(),
                &comment,
                &by.1,
                &now_text(),
                &step.as_str(),
                &by.0,
                &expected.as_str(),
            ],
            report_from_row,
        )
        .await?
        .ok_or_else(|| StoreError::Conflict("the report changed meanwhile; reload it".into()))?;
        let audit = Change {
            old: json_text(json!({ "state": expected })),
            ..audit
        };
        commit_audited(tx, audit).await?;
        Ok(updated)
    }

    async fn reopen_report(
        &self,
        id: i64,
        by: &str,
        reason: &str,
        audit: Change,
    ) -> StoreResult<Report> {
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(StoreError::Conflict(
                "reopening an approved report needs a reason".into(),
            ));
        }
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        let report = existing(&*tx, id).await?;
        if report.state != ReportState::Approved {
            return Err(StoreError::Conflict(format!(
                "only an approved report can be reopened; this one is {}",
                report.state
            )));
        }
        if newest(&*tx, &report.key).await?.map(|n| n.id) != Some(id) {
            return Err(newer_revision());
        }
        let created = row(
            &*tx,
            &format!(
                "INSERT INTO reports (methodology, period, unit_level, unit_code, revision,
                                      state, comment, updated_by, updated_at)
                 VALUES ($1, $2, $3, $4, $5, 'draft', $6, $7, $8)
                 RETURNING {REPORT_COLUMNS}"
            ),
            &[
                &report.key.methodology,
                &report.key.period,
                &report.key.level.as_str(),
                &report.key.unit,
                &(report.revision + 1),
                &reason,
                &by,
                &now_text(),
            ],
            report_from_row,
        )
        .await?
        .ok_or_else(|| StoreError::Database("the new revision vanished".into()))?;
        tx.execute(
            "INSERT INTO report_values (report_id, code, value, note, updated_by, updated_at)
             SELECT $1, code, value, note, updated_by, updated_at
             FROM report_values WHERE report_id = $2",
            &[&created.id, &id],
        )
        .await
        .map_err(db_err)?;
        let audit = Change {
            new: json_text(json!({ "reason": reason })),
            ..audit
        };
        commit_audited(tx, audit).await?;
        Ok(created)
    }

    async fn add_evidence(
        &self,
        report_id: i64,
        file: NewEvidence,
        by: &str,
        audit: Change,
    ) -> StoreResult<Evidence> {
        let sha = sha256_hex(&file.content);
        let size = file.content.len() as i64;
        let audit = Change {
            new: json_text(json!({
                "file_name": file.file_name, "sha256": sha, "size": file.content.len(),
                "element": file.element,
            })),
            ..audit
        };
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        editable(&*tx, report_id).await?;
        let at = now_text();
        let added = row(
            &*tx,
            &format!(
                "INSERT INTO report_evidence (report_id, element, file_name, media_type, size,
                                              sha256, content, uploaded_by, uploaded_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                 RETURNING {EVIDENCE_COLUMNS}"
            ),
            &[
                &report_id,
                &file.element,
                &file.file_name,
                &file.media_type,
                &size,
                &sha,
                &file.content,
                &by,
                &at,
            ],
            evidence_from_row,
        )
        .await?
        .ok_or_else(|| StoreError::Database("the new evidence file vanished".into()))?;
        touch(&*tx, report_id, by, &at).await?;
        commit_audited(tx, audit).await?;
        Ok(added)
    }

    async fn remove_evidence(&self, evidence_id: i64, audit: Change) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        let report_id: i64 = tx
            .query_opt(
                "SELECT report_id FROM report_evidence WHERE id = $1",
                &[&evidence_id],
            )
            .await
            .map_err(db_err)?
            .ok_or_else(|| StoreError::NotFound(format!("no evidence file {evidence_id}")))?
            .try_get(0)
            .map_err(db_err)?;
        editable(&*tx, report_id).await?;
        tx.execute("DELETE FROM report_evidence WHERE id = $1", &[&evidence_id])
            .await
            .map_err(db_err)?;
        commit_audited(tx, audit).await?;
        Ok(())
    }

    async fn evidence(&self, report_id: i64) -> StoreResult<Vec<Evidence>> {
        let client = self.client().await?;
        evidence_of(&**client, report_id).await
    }

    async fn evidence_content(&self, evidence_id: i64) -> StoreResult<Option<(Evidence, Vec<u8>)>> {
        let client = self.client().await?;
        row(
            &**client,
            &format!("SELECT {EVIDENCE_COLUMNS}, content FROM report_evidence WHERE id = $1"),
            &[&evidence_id],
            |r| Ok((evidence_from_row(r)?, r.try_get(9).map_err(db_err)?)),
        )
        .await
    }

    async fn approved_reports(
        &self,
        methodology: &str,
        period: &str,
    ) -> StoreResult<Vec<ApprovedReport>> {
        let client = self.client().await?;
        let reports = rows(
            &**client,
            &format!(
                "SELECT {REPORT_COLUMNS} FROM reports r
                 WHERE methodology = $1 AND period = $2 AND state = 'approved'
                   AND revision = (SELECT max(revision) FROM reports x
                                   WHERE x.methodology = r.methodology AND x.period = r.period
                                     AND x.unit_level = r.unit_level AND x.unit_code = r.unit_code
                                     AND x.state = 'approved')
                 ORDER BY unit_level, unit_code"
            ),
            &[&methodology, &period],
            report_from_row,
        )
        .await?;
        let mut out = Vec::with_capacity(reports.len());
        for report in reports {
            out.push(ApprovedReport {
                values: values_of(&**client, report.id).await?,
                evidence: evidence_of(&**client, report.id).await?,
                report,
            });
        }
        Ok(out)
    }

    async fn publish_edition(&self, edition: &NewEdition, audit: Change) -> StoreResult<Edition> {
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        let e = insert_edition(&*tx, edition, &now_text()).await?;
        let audit = Change {
            object: format!("edition:{}", e.id),
            new: json_text(json!({
                "slug": edition.slug, "methodology": edition.methodology,
                "methodology_version": edition.methodology_version, "period": edition.period,
                "map": edition.map, "kind": edition.kind,
                "payload_sha256": sha256_hex(edition.payload.as_bytes()),
            })),
            ..audit
        };
        commit_audited(tx, audit).await?;
        Ok(e)
    }

    async fn ensure_edition(&self, edition: &NewEdition) -> StoreResult<bool> {
        let mut client = self.client().await?;
        // The audit lock serialises loaders: the second sees the first one's edition.
        let tx = begin(&mut client).await?;
        let exists: bool = tx
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM editions WHERE slug = $1)",
                &[&edition.slug],
            )
            .await
            .map_err(db_err)?
            .try_get(0)
            .map_err(db_err)?;
        if exists {
            return Ok(false);
        }
        let e = insert_edition(&*tx, edition, &now_text()).await?;
        let mut change = Change::new(
            edition.published_by.clone(),
            "edition.load",
            format!("edition:{}", e.id),
        );
        change.new = json_text(json!({
            "slug": e.slug, "kind": e.kind,
            "payload_sha256": sha256_hex(e.payload.as_bytes()),
        }));
        commit_audited(tx, change).await?;
        Ok(true)
    }

    async fn editions(&self) -> StoreResult<Vec<Edition>> {
        let client = self.client().await?;
        rows(
            &**client,
            &format!(
                "SELECT {} FROM editions ORDER BY period DESC, methodology, map DESC, id DESC",
                EDITION_COLUMNS.replace("payload", "'' AS payload")
            ),
            &[],
            edition_from_row,
        )
        .await
    }

    async fn edition(&self, id: i64) -> StoreResult<Option<Edition>> {
        let client = self.client().await?;
        row(
            &**client,
            &format!("SELECT {EDITION_COLUMNS} FROM editions WHERE id = $1"),
            &[&id],
            edition_from_row,
        )
        .await
    }
}
