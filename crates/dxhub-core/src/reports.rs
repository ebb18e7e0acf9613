//! Reported values and their workflow: a province or ministry fills in the values of one
//! methodology for one period (a *report*), submits it; a reviewer verifies it or returns
//! it with a comment; a second person approves it, and an approved report is locked.
//!
//! A correction after approval never edits the approved report: reopening it starts a new
//! *revision* (a draft holding a copy of the approved values), and the approved revision
//! stays as it was. Scores use each unit's newest approved revision; a published edition
//! keeps a copy of the values it used, so later revisions never change it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::units::UnitLevel;

/// Where a report stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportState {
    /// Being filled in by the unit; values and evidence may change.
    Draft,
    /// Sent for review; nothing may change until a reviewer acts.
    Submitted,
    /// Sent back by a reviewer with a comment; the unit may change it again.
    Returned,
    /// Checked by a reviewer; waits for approval by another person.
    Verified,
    /// Approved: locked for ever (a correction is a new revision).
    Approved,
}

impl ReportState {
    /// Every state, in workflow order.
    pub const ALL: [ReportState; 5] = [
        ReportState::Draft,
        ReportState::Submitted,
        ReportState::Returned,
        ReportState::Verified,
        ReportState::Approved,
    ];

    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            ReportState::Draft => "draft",
            ReportState::Submitted => "submitted",
            ReportState::Returned => "returned",
            ReportState::Verified => "verified",
            ReportState::Approved => "approved",
        }
    }

    /// Vietnamese and English labels.
    pub fn label(self) -> (&'static str, &'static str) {
        match self {
            ReportState::Draft => ("Bản nháp", "Draft"),
            ReportState::Submitted => ("Đã gửi", "Submitted"),
            ReportState::Returned => ("Trả lại", "Returned"),
            ReportState::Verified => ("Đã thẩm định", "Verified"),
            ReportState::Approved => ("Đã phê duyệt", "Approved"),
        }
    }

    /// Whether the unit may change values and evidence in this state.
    pub fn editable(self) -> bool {
        matches!(self, ReportState::Draft | ReportState::Returned)
    }
}

impl fmt::Display for ReportState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ReportState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ReportState::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "'{s}' is not a report state; expected draft, submitted, returned, verified or approved"
                )
            })
    }
}

/// A step of the workflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transition {
    /// The unit sends its draft (or returned report) for review.
    Submit,
    /// A reviewer sends it back with a comment.
    Return,
    /// A reviewer confirms the values and evidence.
    Verify,
    /// A second reviewer (or an administrator) approves and locks it.
    Approve,
}

impl Transition {
    /// Every transition.
    pub const ALL: [Transition; 4] = [
        Transition::Submit,
        Transition::Return,
        Transition::Verify,
        Transition::Approve,
    ];

    /// The wire name (`submit`, `return`, `verify`, `approve`).
    pub fn as_str(self) -> &'static str {
        match self {
            Transition::Submit => "submit",
            Transition::Return => "return",
            Transition::Verify => "verify",
            Transition::Approve => "approve",
        }
    }

    /// Vietnamese and English labels for buttons.
    pub fn label(self) -> (&'static str, &'static str) {
        match self {
            Transition::Submit => ("Gửi thẩm định", "Submit for review"),
            Transition::Return => ("Trả lại", "Return"),
            Transition::Verify => ("Xác nhận đã thẩm định", "Verify"),
            Transition::Approve => ("Phê duyệt", "Approve"),
        }
    }

    /// The states this step may start from, and where it leads.
    pub fn from_states(self) -> &'static [ReportState] {
        match self {
            Transition::Submit => &[ReportState::Draft, ReportState::Returned],
            Transition::Return => &[ReportState::Submitted, ReportState::Verified],
            Transition::Verify => &[ReportState::Submitted],
            Transition::Approve => &[ReportState::Verified],
        }
    }

    /// The state after this step.
    pub fn to_state(self) -> ReportState {
        match self {
            Transition::Submit => ReportState::Submitted,
            Transition::Return => ReportState::Returned,
            Transition::Verify => ReportState::Verified,
            Transition::Approve => ReportState::Approved,
        }
    }

    /// Whether the step needs a comment (a return must say why).
    pub fn needs_comment(self) -> bool {
        self == Transition::Return
    }

    /// The state after taking this step from `from`, or why it cannot be taken.
    pub fn apply(self, from: ReportState) -> Result<ReportState, String> {
        if self.from_states().contains(&from) {
            Ok(self.to_state())
        } else {
            Err(format!(
                "a report that is {from} cannot be {}ed",
                match self {
                    Transition::Submit => "submitt",
                    Transition::Return => "return",
                    Transition::Verify => "verifi",
                    Transition::Approve => "approv",
                }
            ))
        }
    }
}

impl FromStr for Transition {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Transition::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| {
                format!("'{s}' is not a workflow step; expected submit, return, verify or approve")
            })
    }
}

/// What a report is about: one methodology, one period, one unit.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ReportKey {
    /// Methodology id, e.g. `dti-province-2022`.
    pub methodology: String,
    /// Period in the engine's notation: `2025`, `2025-Q3`, `2025-07`.
    pub period: String,
    /// Province or ministry.
    pub level: UnitLevel,
    /// The unit's code (2 digits for a province, letters for a ministry).
    pub unit: String,
}

impl ReportKey {
    /// The audit object name, e.g. `report:dti-province-2022/2025/province/24`.
    pub fn object(&self) -> String {
        format!(
            "report:{}/{}/{}/{}",
            self.methodology,
            self.period,
            self.level.as_str(),
            self.unit
        )
    }
}

/// The most an evidence file may weigh.
pub const EVIDENCE_MAX_BYTES: usize = 10 * 1024 * 1024;

/// The kinds of evidence file accepted, by content, with their media type.
pub const EVIDENCE_KINDS: [(&str, &str); 9] = [
    ("pdf", "application/pdf"),
    ("png", "image/png"),
    ("jpg", "image/jpeg"),
    ("jpeg", "image/jpeg"),
    ("webp", "image/webp"),
    (
        "docx",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ),
    (
        "xlsx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ),
    (
        "pptx",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    ),
    ("odt", "application/vnd.oasis.opendocument.text"),
];

/// Checks an evidence file by its name and its first bytes (never by what the client
/// claims) and returns its media type, or why it is refused.
pub fn evidence_media_type(file_name: &str, bytes: &[u8]) -> Result<&'static str, String> {
    if bytes.is_empty() {
        return Err(format!("'{file_name}' is empty"));
    }
    if bytes.len() > EVIDENCE_MAX_BYTES {
        return Err(format!(
            "'{file_name}' is {} bytes; evidence files may be at most {} MiB",
            bytes.len(),
            EVIDENCE_MAX_BYTES / (1024 * 1024)
        ));
    }
    let ext = file_name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    let Some(&(_, media)) = EVIDENCE_KINDS.iter().find(|(e, _)| *e == ext) else {
        return Err(format!(
            "'{file_name}' is not an accepted kind of file; accepted: PDF, PNG, JPEG, WebP, DOCX, XLSX, PPTX, ODT"
        ));
    };
    let magic_ok = match ext.as_str() {
        "pdf" => bytes.starts_with(b"%PDF-"),
        "png" => bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
        "jpg" | "jpeg" => bytes.starts_with(b"\xff\xd8\xff"),
        "webp" => bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP",
        // Office Open XML and OpenDocument files are ZIP archives.
        _ => bytes.starts_with(b"PK\x03\x04"),
    };
    if magic_ok {
        Ok(media)
    } else {
        Err(format!(
            "'{file_name}' does not contain what its name says (.{ext}); it may be damaged or renamed"
        ))
    }
}

/// The SHA-256 of a file's bytes, lowercase hex, as evidence checksums are stored.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Checks a reported value: a finite number.
pub fn check_value(code: &str, value: f64) -> Result<f64, String> {
    if value.is_finite() {
        Ok(value)
    } else {
        Err(format!("{code}: the value must be a number"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_workflow_goes_one_way_and_locks() {
        use ReportState::*;
        use Transition::*;
        assert_eq!(Submit.apply(Draft), Ok(Submitted));
        assert_eq!(Verify.apply(Submitted), Ok(Verified));
        assert_eq!(Approve.apply(Verified), Ok(Approved));
        assert_eq!(Return.apply(Submitted), Ok(Returned));
        assert_eq!(Return.apply(Verified), Ok(Returned));
        assert_eq!(Submit.apply(Returned), Ok(Submitted));
        for t in Transition::ALL {
            assert!(t.apply(Approved).is_err(), "{t:?} from approved");
        }
        assert!(Approve.apply(Submitted).is_err());
        assert!(Verify.apply(Draft).is_err());
        assert_eq!(
            Approve.apply(Draft).unwrap_err(),
            "a report that is draft cannot be approved"
        );
        assert!(Draft.editable() && Returned.editable());
        assert!(!Submitted.editable() && !Verified.editable() && !Approved.editable());
        for s in ReportState::ALL {
            assert_eq!(s.as_str().parse::<ReportState>(), Ok(s));
        }
    }

    #[test]
    fn evidence_is_checked_by_content() {
        assert_eq!(
            evidence_media_type("qd.pdf", b"%PDF-1.7 ..."),
            Ok("application/pdf")
        );
        assert!(
            evidence_media_type("qd.pdf", b"MZ\x90\x00")
                .unwrap_err()
                .contains("does not contain")
        );
        assert!(
            evidence_media_type("run.exe", b"MZ")
                .unwrap_err()
                .contains("not an accepted kind")
        );
        assert!(
            evidence_media_type("a.png", b"")
                .unwrap_err()
                .contains("empty")
        );
        let big = vec![b'%'; EVIDENCE_MAX_BYTES + 1];
        assert!(
            evidence_media_type("a.pdf", &big)
                .unwrap_err()
                .contains("at most")
        );
        assert_eq!(
            evidence_media_type("Bao cao.DOCX", b"PK\x03\x04rest"),
            Ok(EVIDENCE_KINDS[5].1)
        );
    }
}
