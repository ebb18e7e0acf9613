//! The storage interface of reported values (reports, their revisions, values and evidence
//! files) and of published editions. The workflow rules live in
//! [`dxhub_core::reports`]; a backend applies a step only if the report is still in the
//! state the caller saw, in one transaction with its audit entry.

use async_trait::async_trait;
use dxhub_core::audit::Change;
use dxhub_core::reports::{ReportKey, ReportState, Transition};
use serde::{Deserialize, Serialize};

use crate::StoreResult;

/// One revision of a unit's report for a methodology and period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Row id (one per revision).
    pub id: i64,
    /// Methodology, period and unit.
    pub key: ReportKey,
    /// 1 for the first revision; a correction after approval starts the next one.
    pub revision: i64,
    /// Where it stands.
    pub state: ReportState,
    /// The reviewer's comment of the last return, or the reason of a reopening.
    pub comment: Option<String>,
    /// Who last changed a value or the state (`user:ID email`).
    pub updated_by: String,
    /// When (audit-trail time format).
    pub updated_at: String,
    /// Account id of who submitted it last.
    pub submitted_by: Option<i64>,
    /// Account id of who verified it.
    pub verified_by: Option<i64>,
    /// Account id of who approved it.
    pub approved_by: Option<i64>,
}

/// One reported value of a report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportedValue {
    /// The data element or directly entered indicator code.
    pub code: String,
    /// The value, on the scale the methodology declares.
    pub value: f64,
    /// The unit's explanation, if any.
    pub note: Option<String>,
    /// Who entered it.
    pub updated_by: String,
    /// When.
    pub updated_at: String,
}

/// A value to write: `None` clears it.
#[derive(Debug, Clone, PartialEq)]
pub struct ValueChange {
    /// Element code.
    pub code: String,
    /// New value, or `None` to remove it.
    pub value: Option<f64>,
    /// Note.
    pub note: Option<String>,
}

/// An evidence file attached to a report (its bytes are read separately).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// Row id.
    pub id: i64,
    /// The report revision it belongs to.
    pub report_id: i64,
    /// The element it supports, or `None` for the whole report.
    pub element: Option<String>,
    /// File name as uploaded.
    pub file_name: String,
    /// Media type found from its content.
    pub media_type: String,
    /// Size in bytes.
    pub size: i64,
    /// SHA-256 of the content, lowercase hex.
    pub sha256: String,
    /// Who uploaded it.
    pub uploaded_by: String,
    /// When.
    pub uploaded_at: String,
}

/// An evidence file to attach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvidence {
    /// The element it supports, if one.
    pub element: Option<String>,
    /// File name.
    pub file_name: String,
    /// Media type (checked by content beforehand).
    pub media_type: String,
    /// The bytes.
    pub content: Vec<u8>,
}

/// Which reports to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReportFilter {
    /// Only this methodology.
    pub methodology: Option<String>,
    /// Only this period.
    pub period: Option<String>,
    /// Only these unit codes.
    pub units: Option<Vec<String>>,
    /// Only reports in this state.
    pub state: Option<ReportState>,
}

/// The approved values of one unit for a methodology and period (its newest approved
/// revision), with the evidence of that revision.
#[derive(Debug, Clone, PartialEq)]
pub struct ApprovedReport {
    /// The approved revision.
    pub report: Report,
    /// Its values.
    pub values: Vec<ReportedValue>,
    /// Its evidence files.
    pub evidence: Vec<Evidence>,
}

/// A published edition: scores and ranks frozen with the methodology and values used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Edition {
    /// Row id.
    pub id: i64,
    /// A stable name unique among editions, e.g. `dti-province-2022/2022/63`.
    pub slug: String,
    /// Methodology id.
    pub methodology: String,
    /// Methodology version used.
    pub methodology_version: i64,
    /// Period (e.g. `2024`).
    pub period: String,
    /// The map the units belong to: `63` (before 2025-07-01) or `34`.
    pub map: String,
    /// `computed` (from values in dxhub), `historical` (as published elsewhere) or `demo`.
    pub kind: String,
    /// Vietnamese title.
    pub title_vi: String,
    /// English title.
    pub title_en: String,
    /// The frozen content (JSON): methodology text, values with provenance, scores, ranks.
    pub payload: String,
    /// When published.
    pub published_at: String,
    /// Who published it.
    pub published_by: String,
}

/// An edition to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEdition {
    /// Stable unique name.
    pub slug: String,
    /// Methodology id.
    pub methodology: String,
    /// Methodology version.
    pub methodology_version: i64,
    /// Period.
    pub period: String,
    /// `63` or `34`.
    pub map: String,
    /// `computed`, `historical` or `demo`.
    pub kind: String,
    /// Titles.
    pub title_vi: String,
    /// English title.
    pub title_en: String,
    /// Frozen content (JSON).
    pub payload: String,
    /// Publisher (`user:ID email`, `cli`, `reference`).
    pub published_by: String,
}

/// Reports, reported values, evidence and editions.
#[async_trait]
pub trait ReportStore: Send + Sync {
    /// The newest revision of the report for `key`, if one was ever started.
    async fn current_report(&self, key: &ReportKey) -> StoreResult<Option<Report>>;
    /// The newest revision for `key`, starting revision 1 as a draft if there is none.
    async fn open_report(&self, key: &ReportKey, by: &str, audit: Change) -> StoreResult<Report>;
    /// A revision by id.
    async fn report(&self, id: i64) -> StoreResult<Option<Report>>;
    /// Newest revisions matching the filter, by methodology, period, level, unit.
    async fn reports(&self, filter: &ReportFilter) -> StoreResult<Vec<Report>>;
    /// Every revision of a report, oldest first.
    async fn report_revisions(&self, key: &ReportKey) -> StoreResult<Vec<Report>>;
    /// The values of a revision, by code.
    async fn report_values(&self, id: i64) -> StoreResult<Vec<ReportedValue>>;
    /// Writes values of an editable revision, all or nothing; `Conflict` when the revision
    /// is no longer editable (submitted, verified, approved) or not the newest.
    async fn set_report_values(
        &self,
        id: i64,
        changes: &[ValueChange],
        by: &str,
        audit: Change,
    ) -> StoreResult<Report>;
    /// Takes a workflow step if the revision is still in `expected` state; `Conflict`
    /// otherwise (someone acted first, or the step does not apply).
    async fn transition_report(
        &self,
        id: i64,
        expected: ReportState,
        step: Transition,
        by: (i64, &str),
        comment: Option<&str>,
        audit: Change,
    ) -> StoreResult<Report>;
    /// Starts the next revision of an approved, newest revision: a draft holding a copy
    /// of its values, with the reason as comment. The approved revision is unchanged.
    async fn reopen_report(
        &self,
        id: i64,
        by: &str,
        reason: &str,
        audit: Change,
    ) -> StoreResult<Report>;
    /// Attaches an evidence file to an editable revision.
    async fn add_evidence(
        &self,
        report_id: i64,
        file: NewEvidence,
        by: &str,
        audit: Change,
    ) -> StoreResult<Evidence>;
    /// Removes an evidence file from an editable revision.
    async fn remove_evidence(&self, evidence_id: i64, audit: Change) -> StoreResult<()>;
    /// The evidence files of a revision, oldest first.
    async fn evidence(&self, report_id: i64) -> StoreResult<Vec<Evidence>>;
    /// One evidence file and its bytes.
    async fn evidence_content(&self, evidence_id: i64) -> StoreResult<Option<(Evidence, Vec<u8>)>>;
    /// For each unit, its newest approved revision for this methodology and period.
    async fn approved_reports(
        &self,
        methodology: &str,
        period: &str,
    ) -> StoreResult<Vec<ApprovedReport>>;

    /// Publishes an edition; `Conflict` if the slug is taken. Editions never change.
    async fn publish_edition(&self, edition: &NewEdition, audit: Change) -> StoreResult<Edition>;
    /// Loads an edition that comes with dxhub (a historical ranking, demo data) unless its
    /// slug is already there; returns whether it was written.
    async fn ensure_edition(&self, edition: &NewEdition) -> StoreResult<bool>;
    /// Every edition, newest period first, without payloads (empty string).
    async fn editions(&self) -> StoreResult<Vec<Edition>>;
    /// One edition with its payload.
    async fn edition(&self, id: i64) -> StoreResult<Option<Edition>>;
}
