//! Domain types of the dossier-sync feed: one validated snapshot of one dossier.
//!
//! A [`DossierSnapshot`] can only be obtained from the readers of this crate (or built
//! by hand by code that takes responsibility for the spec's rules); every field already
//! satisfies `shared/spec/dossier-sync.md`. Strings are [`ShortStr`] (inline up to 30
//! bytes) and codes are fixed-size digit arrays, so a snapshot owns no heap memory in
//! the common case.

use std::fmt;

use jiff::Timestamp;
use serde::Serialize;

pub use crate::text::ShortStr;

/// A code of exactly `N` ASCII digits (`"01"`, `"00391"`), stored without allocation.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DigitCode<const N: usize>([u8; N]);

/// GSO province code: exactly 2 digits.
pub type ProvinceCode = DigitCode<2>;
/// GSO commune code: exactly 5 digits.
pub type CommuneCode = DigitCode<5>;

impl<const N: usize> DigitCode<N> {
    /// Accepts exactly `N` ASCII digits.
    #[inline]
    pub fn parse(s: &str) -> Option<Self> {
        Self::parse_bytes(s.as_bytes())
    }

    /// Accepts exactly `N` ASCII digits.
    #[inline(always)]
    pub fn parse_bytes(b: &[u8]) -> Option<Self> {
        let b: &[u8; N] = b.try_into().ok()?;
        if !b.iter().all(u8::is_ascii_digit) {
            return None;
        }
        Some(DigitCode(*b))
    }

    /// The code as a string slice.
    #[inline]
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("digit codes are ASCII")
    }

    /// The code's ASCII digits.
    #[inline]
    pub fn as_bytes(&self) -> &[u8; N] {
        &self.0
    }
}

impl<const N: usize> fmt::Debug for DigitCode<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl<const N: usize> fmt::Display for DigitCode<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<const N: usize> Serialize for DigitCode<N> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// How a dossier was submitted.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Online,
    Direct,
    Postal,
}

impl Channel {
    /// All values, in the spec's order.
    pub const ALL: [Channel; 3] = [Channel::Online, Channel::Direct, Channel::Postal];

    /// The exact lowercase spelling used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Online => "online",
            Channel::Direct => "direct",
            Channel::Postal => "postal",
        }
    }

    /// Exact, case-sensitive parse of the wire spelling.
    #[inline]
    pub fn parse(s: &str) -> Option<Channel> {
        match s {
            "online" => Some(Channel::Online),
            "direct" => Some(Channel::Direct),
            "postal" => Some(Channel::Postal),
            _ => None,
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The current state of a dossier.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Received,
    Processing,
    Completed,
    Rejected,
    Cancelled,
}

impl Status {
    /// All values, in the spec's order.
    pub const ALL: [Status; 5] = [
        Status::Received,
        Status::Processing,
        Status::Completed,
        Status::Rejected,
        Status::Cancelled,
    ];

    /// The exact lowercase spelling used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Received => "received",
            Status::Processing => "processing",
            Status::Completed => "completed",
            Status::Rejected => "rejected",
            Status::Cancelled => "cancelled",
        }
    }

    /// Exact, case-sensitive parse of the wire spelling.
    #[inline]
    pub fn parse(s: &str) -> Option<Status> {
        match s {
            "received" => Some(Status::Received),
            "processing" => Some(Status::Processing),
            "completed" => Some(Status::Completed),
            "rejected" => Some(Status::Rejected),
            "cancelled" => Some(Status::Cancelled),
            _ => None,
        }
    }

    /// Whether the spec requires `completed_at` for this status (completed, rejected);
    /// for every other status it must be absent.
    #[inline]
    pub fn requires_completed_at(self) -> bool {
        matches!(self, Status::Completed | Status::Rejected)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One validated snapshot of one dossier (one line of a dossier-sync feed).
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
pub struct DossierSnapshot {
    /// The sending system; `(source, dossier_id)` is the dossier's key. 1–32 characters.
    pub source: ShortStr,
    /// Id of the dossier at its source. 1–64 characters.
    pub dossier_id: ShortStr,
    /// Increases with every change of the dossier at its source; `0..=i64::MAX`.
    pub version: u64,
    /// National procedure code, e.g. `1.001612`.
    pub service_code: ShortStr,
    pub province_code: ProvinceCode,
    pub commune_code: Option<CommuneCode>,
    pub channel: Channel,
    pub end_to_end: bool,
    pub status: Status,
    pub received_at: Timestamp,
    pub due_at: Option<Timestamp>,
    /// Present exactly when `status` is completed or rejected.
    pub completed_at: Option<Timestamp>,
    /// Fee charged, in đồng; `0` when the feed leaves it out. `0..=i64::MAX`.
    pub fee_vnd: u64,
    /// `false` when the feed leaves it out.
    pub paid_online: bool,
}

impl DossierSnapshot {
    /// The dossier's key, `(source, dossier_id)`.
    pub fn key(&self) -> (&str, &str) {
        (self.source.as_str(), self.dossier_id.as_str())
    }

    /// The newest-snapshot rule: `self` replaces `stored` (same key) only when its
    /// version is strictly greater. Equal versions are re-sends: the first one to
    /// arrive stays, as in the DuckDB baseline (`ORDER BY version DESC, rowid`).
    #[inline]
    pub fn supersedes(&self, stored: &DossierSnapshot) -> bool {
        self.version > stored.version
    }

    /// Completed and on time: `status = completed` and `completed_at <= due_at`.
    /// A completed dossier without `due_at` is *not* on time (SQL: `NULL` is not true).
    #[inline]
    pub fn completed_on_time(&self) -> bool {
        completed_on_time(self.status, self.completed_at, self.due_at)
    }
}

/// [`DossierSnapshot::completed_on_time`] from the three fields it reads.
#[inline]
pub fn completed_on_time(
    status: Status,
    completed_at: Option<Timestamp>,
    due_at: Option<Timestamp>,
) -> bool {
    status == Status::Completed && matches!((completed_at, due_at), (Some(c), Some(d)) if c <= d)
}
