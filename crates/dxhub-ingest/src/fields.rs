//! The feed's fields and the validation rule of each, shared by the CSV and NDJSON readers.
//!
//! Every rule of `shared/spec/dossier-sync.md` lives here once: string lengths and
//! control characters, digit codes, integers, booleans, enumerations, timestamps, the
//! defaults of the optional fields and the `completed_at` rule. The readers only turn
//! their encoding into "absent or text" (CSV) or "absent or JSON scalar" (NDJSON) and
//! call these functions, so both encodings reject exactly the same values with the
//! same reasons.

use std::fmt;

use jiff::Timestamp;

use crate::snapshot::{Channel, CommuneCode, DossierSnapshot, ProvinceCode, ShortStr, Status};
use crate::timestamp::parse_rfc3339;

/// One field of the feed.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub enum Field {
    DossierId,
    Source,
    Version,
    ServiceCode,
    ProvinceCode,
    CommuneCode,
    Channel,
    EndToEnd,
    Status,
    ReceivedAt,
    DueAt,
    CompletedAt,
    FeeVnd,
    PaidOnline,
}

/// Number of fields (and of CSV columns).
pub const FIELD_COUNT: usize = 14;

impl Field {
    /// All fields, in the spec's (and the generator's CSV header's) order.
    pub const ALL: [Field; FIELD_COUNT] = [
        Field::DossierId,
        Field::Source,
        Field::Version,
        Field::ServiceCode,
        Field::ProvinceCode,
        Field::CommuneCode,
        Field::Channel,
        Field::EndToEnd,
        Field::Status,
        Field::ReceivedAt,
        Field::DueAt,
        Field::CompletedAt,
        Field::FeeVnd,
        Field::PaidOnline,
    ];

    /// The field's name on the wire (CSV header, JSON key).
    pub fn name(self) -> &'static str {
        match self {
            Field::DossierId => "dossier_id",
            Field::Source => "source",
            Field::Version => "version",
            Field::ServiceCode => "service_code",
            Field::ProvinceCode => "province_code",
            Field::CommuneCode => "commune_code",
            Field::Channel => "channel",
            Field::EndToEnd => "end_to_end",
            Field::Status => "status",
            Field::ReceivedAt => "received_at",
            Field::DueAt => "due_at",
            Field::CompletedAt => "completed_at",
            Field::FeeVnd => "fee_vnd",
            Field::PaidOnline => "paid_online",
        }
    }

    /// The field with this exact (case-sensitive) name.
    #[inline]
    pub fn from_name(name: &str) -> Option<Field> {
        Field::from_name_bytes(name.as_bytes())
    }

    /// [`Field::from_name`] on bytes: dispatches on length and a letter or two, then
    /// checks the whole name (this runs for every key of every NDJSON line).
    #[inline]
    pub fn from_name_bytes(b: &[u8]) -> Option<Field> {
        // Each name compared as a fixed-size array (a few word compares, no `memcmp`
        // call): NDJSON lines name every field they carry.
        fn is<const N: usize>(b: &[u8], name: &[u8; N]) -> bool {
            <&[u8; N]>::try_from(b).is_ok_and(|a| a == name)
        }
        let f = match (b.len(), *b.first()?) {
            (10, b'd') if is(b, b"dossier_id") => Field::DossierId,
            (6, b's') if is(b, b"source") => Field::Source,
            (6, b's') if is(b, b"status") => Field::Status,
            (7, b'v') if is(b, b"version") => Field::Version,
            (12, b's') if is(b, b"service_code") => Field::ServiceCode,
            (13, b'p') if is(b, b"province_code") => Field::ProvinceCode,
            (12, b'c') if is(b, b"commune_code") => Field::CommuneCode,
            (12, b'c') if is(b, b"completed_at") => Field::CompletedAt,
            (7, b'c') if is(b, b"channel") => Field::Channel,
            (10, b'e') if is(b, b"end_to_end") => Field::EndToEnd,
            (11, b'r') if is(b, b"received_at") => Field::ReceivedAt,
            (6, b'd') if is(b, b"due_at") => Field::DueAt,
            (7, b'f') if is(b, b"fee_vnd") => Field::FeeVnd,
            (11, b'p') if is(b, b"paid_online") => Field::PaidOnline,
            _ => return None,
        };
        debug_assert_eq!(f.name().as_bytes(), b);
        Some(f)
    }

    /// Position in [`Field::ALL`].
    #[inline]
    pub fn index(self) -> usize {
        self as usize
    }

    /// Whether the spec requires the field (`completed_at` is conditionally required and
    /// counts as optional here).
    pub fn is_required(self) -> bool {
        !matches!(
            self,
            Field::CommuneCode
                | Field::DueAt
                | Field::CompletedAt
                | Field::FeeVnd
                | Field::PaidOnline
        )
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A value that breaks the spec, with a plain-English reason that starts with the
/// field's name (`version: "-3" is not an integer ≥ 0`).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct FieldError {
    /// The field at fault; `None` for faults of the whole line.
    pub field: Option<Field>,
    pub reason: String,
}

impl FieldError {
    pub(crate) fn new(field: Field, reason: String) -> FieldError {
        FieldError {
            field: Some(field),
            reason,
        }
    }

    pub(crate) fn line(reason: String) -> FieldError {
        FieldError {
            field: None,
            reason,
        }
    }

    /// `field: <quoted value> <phrase>`.
    pub(crate) fn value(field: Field, value: &str, phrase: &str) -> FieldError {
        FieldError::new(field, format!("{field}: {} {phrase}", Quoted(value)))
    }

    pub(crate) fn missing(field: Field) -> FieldError {
        FieldError::new(field, format!("{field} is required"))
    }
}

/// Longest value quoted in full in a reason; longer ones are cut (a reason must stay a
/// readable line even when the value is a megabyte of garbage).
const QUOTE_MAX_CHARS: usize = 80;

/// Displays a value as a Rust/JSON-like quoted string, escaping control characters and
/// cutting very long values.
pub(crate) struct Quoted<'a>(pub &'a str);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.char_indices().nth(QUOTE_MAX_CHARS) {
            None => write!(f, "{:?}", self.0),
            Some((cut, _)) => {
                let shown = format!("{:?}", &self.0[..cut]);
                write!(
                    f,
                    "{}…\" ({} characters)",
                    &shown[..shown.len() - 1],
                    self.0.chars().count()
                )
            }
        }
    }
}

/// Largest integer the feed may carry. The spec says "fits in 64 bits"; every store
/// of the platform (SQLite, PostgreSQL) and the DuckDB baseline hold it in a signed
/// 64-bit column, so the limit is `i64::MAX`, not `u64::MAX`.
pub const MAX_INTEGER: u64 = i64::MAX as u64;

#[inline]
fn is_plain_ascii_text(b: &[u8]) -> bool {
    // Printable ASCII only: no C0 controls, no DEL, nothing ≥ 0x80 (which takes the
    // slow, char-aware path).
    b.iter().all(|&c| (0x20..0x7f).contains(&c))
}

/// A string field: 1..=`max_chars` characters, no control characters (C0, DEL, C1).
#[inline]
pub fn text(field: Field, s: &str, max_chars: Option<usize>) -> Result<ShortStr, FieldError> {
    let b = s.as_bytes();
    if b.is_empty() {
        return Err(FieldError::missing(field));
    }
    if is_plain_ascii_text(b) {
        if let Some(max) = max_chars
            && b.len() > max
        {
            return Err(too_long(field, s, max));
        }
        return Ok(ShortStr::new(s));
    }
    let mut n = 0usize;
    for c in s.chars() {
        if c.is_control() {
            return Err(FieldError::value(field, s, "contains a control character"));
        }
        n += 1;
    }
    if let Some(max) = max_chars
        && n > max
    {
        return Err(too_long(field, s, max));
    }
    Ok(ShortStr::new(s))
}

fn too_long(field: Field, s: &str, max: usize) -> FieldError {
    FieldError::value(field, s, &format!("is longer than {max} characters"))
}

/// A code of exactly `N` digits.
#[inline]
pub fn code<const N: usize>(
    field: Field,
    s: &str,
) -> Result<crate::snapshot::DigitCode<N>, FieldError> {
    crate::snapshot::DigitCode::<N>::parse(s)
        .ok_or_else(|| FieldError::value(field, s, &format!("is not a {N}-digit code")))
}

/// An integer: decimal digits only (no sign, no exponent, no spaces), `≤ i64::MAX`.
#[inline]
pub fn integer(field: Field, s: &str) -> Result<u64, FieldError> {
    let b = s.as_bytes();
    if b.is_empty() {
        return Err(FieldError::missing(field));
    }
    let mut v: u64 = 0;
    for &c in b {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return Err(not_integer(field, s));
        }
        v = match v.checked_mul(10).and_then(|v| v.checked_add(d as u64)) {
            Some(v) => v,
            None => return Err(too_large(field, s)),
        };
    }
    if v > MAX_INTEGER {
        return Err(too_large(field, s));
    }
    Ok(v)
}

pub(crate) fn not_integer(field: Field, s: &str) -> FieldError {
    FieldError::value(field, s, "is not an integer ≥ 0")
}

pub(crate) fn too_large(field: Field, s: &str) -> FieldError {
    FieldError::value(field, s, &format!("is larger than {MAX_INTEGER}"))
}

/// A CSV boolean: exactly `true` or `false`.
#[inline]
pub fn boolean(field: Field, s: &str) -> Result<bool, FieldError> {
    match s {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(FieldError::value(field, s, "is not true or false")),
    }
}

/// The `channel` enumeration (exact lowercase).
#[inline]
pub fn channel(s: &str) -> Result<Channel, FieldError> {
    Channel::parse(s)
        .ok_or_else(|| FieldError::value(Field::Channel, s, "is not one of online, direct, postal"))
}

/// The `status` enumeration (exact lowercase).
#[inline]
pub fn status(s: &str) -> Result<Status, FieldError> {
    Status::parse(s).ok_or_else(|| {
        FieldError::value(
            Field::Status,
            s,
            "is not one of received, processing, completed, rejected, cancelled",
        )
    })
}

/// An RFC 3339 timestamp with an explicit offset.
#[inline]
pub fn timestamp(field: Field, s: &str) -> Result<Timestamp, FieldError> {
    parse_rfc3339(s.as_bytes()).map_err(|e| FieldError::value(field, s, e.phrase()))
}

/// Field values after per-field validation, before the whole-record rules.
pub(crate) struct Parts {
    pub source: ShortStr,
    pub dossier_id: ShortStr,
    pub version: u64,
    pub service_code: ShortStr,
    pub province_code: ProvinceCode,
    pub commune_code: Option<CommuneCode>,
    pub channel: Channel,
    pub end_to_end: bool,
    pub status: Status,
    pub received_at: Timestamp,
    pub due_at: Option<Timestamp>,
    pub completed_at: Option<Timestamp>,
    pub fee_vnd: u64,
    pub paid_online: bool,
}

impl Parts {
    /// Applies the record-level rule (`completed_at` present exactly for completed and
    /// rejected dossiers) and builds the snapshot.
    #[inline]
    pub(crate) fn finish(self) -> Result<DossierSnapshot, FieldError> {
        match (
            self.status.requires_completed_at(),
            self.completed_at.is_some(),
        ) {
            (true, false) => {
                return Err(FieldError::new(
                    Field::CompletedAt,
                    format!("completed_at is required when status is {}", self.status),
                ));
            }
            (false, true) => {
                return Err(FieldError::new(
                    Field::CompletedAt,
                    format!("completed_at must be absent when status is {}", self.status),
                ));
            }
            _ => {}
        }
        Ok(DossierSnapshot {
            source: self.source,
            dossier_id: self.dossier_id,
            version: self.version,
            service_code: self.service_code,
            province_code: self.province_code,
            commune_code: self.commune_code,
            channel: self.channel,
            end_to_end: self.end_to_end,
            status: self.status,
            received_at: self.received_at,
            due_at: self.due_at,
            completed_at: self.completed_at,
            fee_vnd: self.fee_vnd,
            paid_online: self.paid_online,
        })
    }
}

/// Maximum lengths of the string fields, in characters (`service_code` has none in the
/// spec; a line is in any case at most [`crate::MAX_LINE_BYTES`] long).
pub(crate) const DOSSIER_ID_MAX: usize = 64;
pub(crate) const SOURCE_MAX: usize = 32;

/// Builds a snapshot from CSV cells already mapped to fields (`cells[f.index()]`); an
/// empty cell is an absent value. Fields are checked in the spec's order and the first
/// fault is reported.
#[inline]
pub(crate) fn from_text_cells(cells: &[&str; FIELD_COUNT]) -> Result<DossierSnapshot, FieldError> {
    let cell = |f: Field| cells[f.index()];
    let opt = |f: Field| {
        let c = cells[f.index()];
        if c.is_empty() { None } else { Some(c) }
    };
    let dossier_id = text(
        Field::DossierId,
        cell(Field::DossierId),
        Some(DOSSIER_ID_MAX),
    )?;
    let source = text(Field::Source, cell(Field::Source), Some(SOURCE_MAX))?;
    let version = integer(Field::Version, cell(Field::Version))?;
    let service_code = text(Field::ServiceCode, cell(Field::ServiceCode), None)?;
    let province_code = required(Field::ProvinceCode, opt(Field::ProvinceCode))
        .and_then(|s| code::<2>(Field::ProvinceCode, s))?;
    let commune_code = match opt(Field::CommuneCode) {
        None => None,
        Some(s) => Some(code::<5>(Field::CommuneCode, s)?),
    };
    let channel = required(Field::Channel, opt(Field::Channel)).and_then(channel)?;
    let end_to_end = required(Field::EndToEnd, opt(Field::EndToEnd))
        .and_then(|s| boolean(Field::EndToEnd, s))?;
    let status = required(Field::Status, opt(Field::Status)).and_then(status)?;
    let received_at = required(Field::ReceivedAt, opt(Field::ReceivedAt))
        .and_then(|s| timestamp(Field::ReceivedAt, s))?;
    let due_at = match opt(Field::DueAt) {
        None => None,
        Some(s) => Some(timestamp(Field::DueAt, s)?),
    };
    let completed_at = match opt(Field::CompletedAt) {
        None => None,
        Some(s) => Some(timestamp(Field::CompletedAt, s)?),
    };
    let fee_vnd = match opt(Field::FeeVnd) {
        None => 0,
        Some(s) => integer(Field::FeeVnd, s)?,
    };
    let paid_online = match opt(Field::PaidOnline) {
        None => false,
        Some(s) => boolean(Field::PaidOnline, s)?,
    };
    Parts {
        source,
        dossier_id,
        version,
        service_code,
        province_code,
        commune_code,
        channel,
        end_to_end,
        status,
        received_at,
        due_at,
        completed_at,
        fee_vnd,
        paid_online,
    }
    .finish()
}

#[inline]
fn required(field: Field, v: Option<&str>) -> Result<&str, FieldError> {
    v.ok_or_else(|| FieldError::missing(field))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_indices_follow_the_spec_order() {
        for (i, f) in Field::ALL.into_iter().enumerate() {
            assert_eq!(f.index(), i);
            assert_eq!(Field::from_name(f.name()), Some(f));
            // Every one-letter change of a name is no name.
            for k in 0..f.name().len() {
                let mut b = f.name().as_bytes().to_vec();
                b[k] = b'x';
                assert_eq!(Field::from_name_bytes(&b), None, "{f}");
            }
        }
        for bad in ["Version", "", "d", "statu", "status_", "commune_codes"] {
            assert_eq!(Field::from_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn quoted_values_are_escaped_and_cut() {
        assert_eq!(Quoted("-3").to_string(), "\"-3\"");
        assert_eq!(Quoted("a\u{1}b").to_string(), "\"a\\u{1}b\"");
        let long = "x".repeat(200);
        assert_eq!(
            Quoted(&long).to_string(),
            format!("\"{}…\" (200 characters)", "x".repeat(80))
        );
    }
}
