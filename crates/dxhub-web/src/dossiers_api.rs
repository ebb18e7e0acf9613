//! `POST /api/v1/dossiers`: a portal pushes dossier snapshots (CSV or NDJSON, as
//! shared/spec/dossier-sync.md says) with its API key. Bad lines are answered with their
//! line, field and reason; the rest is applied.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use dxhub_core::auth::{Action, Capability, Decision, authorize};
use dxhub_ingest::{DossierReader, Format, Rejection};
use serde::Serialize;
use utoipa::ToSchema;

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::ingest::UnitCalendar;

/// Snapshots per batch handed to the group commit
/// ([`GroupCommit`](crate::group_commit::GroupCommit)), which stores it with the batches of
/// concurrent requests in one transaction.
const BATCH: usize = 10_000;

/// A rejected line.
#[derive(Debug, Serialize, ToSchema)]
pub struct RejectedLine {
    /// 1-based line of the body (the CSV header is line 1).
    pub line: u64,
    /// The field at fault, when one is.
    pub field: Option<String>,
    /// Why.
    pub reason: String,
}

/// What the batch did.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct IngestSummary {
    /// Data lines read.
    pub lines: u64,
    /// Snapshots that changed the store.
    pub applied: u64,
    /// Snapshots not newer than the stored version.
    pub stale: u64,
    /// Lines rejected.
    pub rejected: u64,
    /// Each rejected line.
    pub rejections: Vec<RejectedLine>,
}

/// Receives dossier snapshots.
#[utoipa::path(
    post, path = "/api/v1/dossiers", tag = "public-services",
    request_body(content = String, description = "dossier-sync feed", content_type = "text/csv"),
    responses(
        (status = 200, description = "Applied; rejected lines listed", body = IngestSummary),
        (status = 400, description = "The body is not a feed (e.g. a wrong CSV header)", body = ErrorBody),
        (status = 401, description = "No valid API key", body = ErrorBody),
        (status = 403, description = "The key may not ingest dossiers", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn ingest(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<IngestSummary>, ApiError> {
    // The key must be allowed to ingest dossiers at all; each line's source is checked below.
    let allowed = |source: &str| {
        authorize(
            &caller.principal,
            &Action::Ingest {
                capability: Capability::IngestDossiers,
                source,
            },
        )
    };
    match allowed("") {
        Decision::NeedsSignIn => {
            return Err(ApiError::Unauthorized(
                "send an API key as Authorization: Bearer".into(),
            ));
        }
        _ => {
            if let dxhub_core::auth::Principal::System { capabilities, .. } = &caller.principal {
                if !capabilities.contains(&Capability::IngestDossiers) {
                    return Err(ApiError::Forbidden(
                        "this key may not ingest dossiers".into(),
                    ));
                }
            } else {
                return Err(ApiError::Forbidden(
                    "dossiers are pushed by systems with an API key".into(),
                ));
            }
        }
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let format = Format::detect(None, content_type, &body[..body.len().min(4096)]);
    let mut reader =
        DossierReader::new(&body[..], format).map_err(|e| ApiError::bad("body", e.to_string()))?;
    let calendar = UnitCalendar::embedded();
    // Batches go through the group commit, shared with concurrent requests.
    let writer = state.dossier_writer();
    let mut summary = IngestSummary::default();
    let mut batch = Vec::with_capacity(BATCH.min(1024));
    let reject = |summary: &mut IngestSummary, r: Rejection| {
        summary.rejected += 1;
        summary.rejections.push(RejectedLine {
            line: r.line,
            field: r.field,
            reason: r.reason,
        });
    };
    loop {
        let item = reader.next();
        let line = reader.lines_read();
        match item {
            None => break,
            Some(Err(e)) => return Err(ApiError::bad("body", e.to_string())),
            Some(Ok(Err(r))) => {
                summary.lines += 1;
                reject(&mut summary, r);
            }
            Some(Ok(Ok(s))) => {
                summary.lines += 1;
                if allowed(s.source.as_str()) != Decision::Allow {
                    let reason = format!(
                        "source: this key may not send source \"{}\"",
                        s.source.as_str()
                    );
                    reject(
                        &mut summary,
                        Rejection {
                            line,
                            field: Some("source".into()),
                            reason,
                        },
                    );
                } else if let Err((field, reason)) = calendar.check(&s) {
                    reject(
                        &mut summary,
                        Rejection {
                            line,
                            field: Some(field.into()),
                            reason,
                        },
                    );
                } else {
                    batch.push(s);
                }
            }
        }
        if batch.len() >= BATCH {
            let counts = writer.ingest(std::mem::take(&mut batch)).await?;
            summary.applied += counts.applied;
            summary.stale += counts.stale;
        }
    }
    if !batch.is_empty() {
        let counts = writer.ingest(batch).await?;
        summary.applied += counts.applied;
        summary.stale += counts.stale;
    }
    Ok(Json(summary))
}
