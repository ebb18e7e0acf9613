//! Streaming reader of the NDJSON encoding of the dossier-sync feed.
//!
//! Decisions (the spec leaves them open):
//!
//! - Each non-empty line must be one JSON object; the first line is line 1. A `\r`
//!   before the `\n` is dropped. Completely empty lines are skipped (counted as lines,
//!   never rejected); a line of spaces is not empty and is rejected as invalid JSON.
//! - Keys are the spec's field names, exactly. An unknown key rejects the line
//!   (`unknown field "foo"`), so does a key given twice.
//! - `null` is the same as an absent key; for a required field both give
//!   `<field> is required`.
//! - Types are the spec's: strings, codes, enumerations and timestamps must be JSON
//!   strings (`"province_code": 79` is rejected: `79` is not a string); `version` and
//!   `fee_vnd` must be JSON integers — the string `"12"` is **rejected**, as are `-3`,
//!   `1.5` and `1e3` — and at most `i64::MAX`; booleans must be JSON `true`/`false`
//!   (the string `"true"` is rejected). An empty JSON string is not an absent value
//!   (that is what `null` is for) and is rejected.
//! - Invalid UTF-8 rejects the line, as in CSV.
//!
//! Values are validated by the same functions as CSV cells ([`crate::fields`]), so the
//! two encodings accept and reject the same values. Strings are borrowed from the line
//! where JSON allows (no escapes), so parsing allocates nothing per line in the common
//! case besides what `ShortStr` needs for long values.

use std::borrow::Cow;
use std::fmt;
use std::io::Read;

use serde::Deserializer;
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::buffer::{Buffer, MAX_LINE_BYTES};
use crate::csv::{too_long, utf8_error};
use crate::error::{IngestError, Rejection};
use crate::fast::{
    Timestamps, boolean, channel as fast_channel, integer, load8, rep, short,
    status as fast_status, word,
};
use crate::fields::{
    self, DOSSIER_ID_MAX, FIELD_COUNT, Field, FieldError, MAX_INTEGER, Parts, Quoted, SOURCE_MAX,
};
use crate::snapshot::{DigitCode, DossierSnapshot};

/// One JSON value as far as validation needs to know it.
#[derive(Debug)]
enum Val<'a> {
    Absent,
    Null,
    Bool(bool),
    UInt(u64),
    NegInt(i64),
    Float(f64),
    Str(Cow<'a, str>),
    Array,
    Object,
}

impl fmt::Display for Val<'_> {
    /// The value as it would appear in JSON (arrays and objects summarised).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Val::Absent => f.write_str("(absent)"),
            Val::Null => f.write_str("null"),
            Val::Bool(b) => write!(f, "{b}"),
            Val::UInt(v) => write!(f, "{v}"),
            Val::NegInt(v) => write!(f, "{v}"),
            Val::Float(v) => write!(f, "{v:?}"),
            Val::Str(s) => write!(f, "{}", Quoted(s)),
            Val::Array => f.write_str("an array"),
            Val::Object => f.write_str("an object"),
        }
    }
}

struct ValVisitor;

impl<'de> Visitor<'de> for ValVisitor {
    type Value = Val<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<Val<'de>, E> {
        Ok(Val::Null)
    }
    fn visit_none<E>(self) -> Result<Val<'de>, E> {
        Ok(Val::Null)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Val<'de>, E> {
        Ok(Val::Bool(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Val<'de>, E> {
        Ok(Val::UInt(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Val<'de>, E> {
        Ok(if v >= 0 {
            Val::UInt(v as u64)
        } else {
            Val::NegInt(v)
        })
    }
    fn visit_f64<E>(self, v: f64) -> Result<Val<'de>, E> {
        Ok(Val::Float(v))
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Val<'de>, E> {
        Ok(Val::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Val<'de>, E> {
        Ok(Val::Str(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Val<'de>, E> {
        Ok(Val::Str(Cow::Owned(v)))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Val<'de>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Val::Array)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Val<'de>, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Val::Object)
    }
}

struct ValSeed;

impl<'de> DeserializeSeed<'de> for ValSeed {
    type Value = Val<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Val<'de>, D::Error> {
        d.deserialize_any(ValVisitor)
    }
}

/// A key: one of the fields, or an unknown name.
enum Key<'a> {
    Known(Field),
    Unknown(Cow<'a, str>),
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Key<'de>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
        Ok(match Field::from_name(v) {
            Some(f) => Key::Known(f),
            None => Key::Unknown(Cow::Borrowed(v)),
        })
    }
    fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
        Ok(match Field::from_name(v) {
            Some(f) => Key::Known(f),
            None => Key::Unknown(Cow::Owned(v.to_owned())),
        })
    }
}

struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Key<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Key<'de>, D::Error> {
        d.deserialize_str(KeyVisitor)
    }
}

/// The raw members of one line's object.
struct Raw<'a> {
    vals: [Val<'a>; FIELD_COUNT],
    unknown: Option<Cow<'a, str>>,
    duplicate: Option<Field>,
}

struct RawVisitor;

impl<'de> Visitor<'de> for RawVisitor {
    type Value = Raw<'de>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Raw<'de>, A::Error> {
        let mut raw = Raw {
            vals: std::array::from_fn(|_| Val::Absent),
            unknown: None,
            duplicate: None,
        };
        while let Some(key) = map.next_key_seed(KeySeed)? {
            match key {
                Key::Known(f) => {
                    let v = map.next_value_seed(ValSeed)?;
                    let slot = &mut raw.vals[f.index()];
                    if !matches!(slot, Val::Absent) {
                        raw.duplicate.get_or_insert(f);
                    }
                    *slot = v;
                }
                Key::Unknown(name) => {
                    map.next_value::<IgnoredAny>()?;
                    raw.unknown.get_or_insert(name);
                }
            }
        }
        Ok(raw)
    }
}

fn json_error(e: serde_json::Error) -> FieldError {
    let mut msg = e.to_string();
    if let Some(i) = msg.rfind(" at line ") {
        msg.truncate(i);
    }
    // serde_json reports column 0 when it has no position (type errors of the whole
    // value).
    let at = match e.column() {
        0 => String::new(),
        c => format!(" (at column {c})"),
    };
    FieldError::line(format!("the line is not a valid JSON object: {msg}{at}"))
}

/// Parses one NDJSON line (without its line break) into a snapshot. (For many lines, a
/// [`JsonParser`] is faster: it keeps a table of the dates it has seen.)
pub fn parse_json_line(line: &[u8]) -> Result<DossierSnapshot, FieldError> {
    JsonParser::new().parse(line)
}

/// Parses NDJSON lines one after the other (see [`parse_json_line`]), keeping what makes
/// the next line faster: a table of the dates seen (see [`Timestamps`]).
#[derive(Clone, Debug)]
pub struct JsonParser {
    times: Timestamps,
}

impl Default for JsonParser {
    fn default() -> JsonParser {
        JsonParser::new()
    }
}

impl JsonParser {
    pub fn new() -> JsonParser {
        JsonParser {
            times: Timestamps::new(),
        }
    }

    /// Parses one NDJSON line (without its line break) into a snapshot.
    pub fn parse(&mut self, line: &[u8]) -> Result<DossierSnapshot, FieldError> {
        if let Some(parsed) = self.parse_direct(line) {
            return parsed;
        }
        let text = std::str::from_utf8(line).map_err(|e| utf8_error(line, e))?;
        if let Some(vals) = scan_flat_object(text) {
            return from_json_values(&vals, &mut self.times);
        }
        // Anything the scanner does not take (escapes, nesting, other numbers, unknown or
        // repeated keys, invalid JSON) goes through serde_json, which also words the errors.
        parse_json_general(text, &mut self.times)
    }
}

impl JsonParser {
    /// The fastest path: a flat object of the usual shape parsed straight into a snapshot,
    /// in one pass over its bytes. It takes only what it can tell is valid on the spot —
    /// each field once, strings of printable ASCII without escapes, integers without
    /// leading zeros, fraction or exponent, every required field present and every value
    /// valid — and answers `None` for anything else, which the scanner and serde paths then
    /// parse (and word the errors of). A line it takes is ASCII, hence UTF-8. The only
    /// error it gives is the record rule on `completed_at`, checked as the other paths check
    /// it once every field is valid. A property test checks that it agrees with serde.
    fn parse_direct(&mut self, b: &[u8]) -> Option<Result<DossierSnapshot, FieldError>> {
        let mut seen = 0u32;
        // The field read last (the first is expected after the last of all).
        let mut last = FIELD_COUNT - 1;
        let (mut dossier_id, mut source, mut service_code) = (None, None, None);
        let (mut version, mut fee_vnd) = (None, None);
        let (mut province_code, mut commune_code) = (None, None);
        let (mut channel, mut status) = (None, None);
        let (mut end_to_end, mut paid_online) = (None, None);
        let (mut received_at, mut due_at, mut completed_at) = (None, None, None);
        let mut i = skip_ws(b, 0);
        if b.get(i) != Some(&b'{') {
            return None;
        }
        i = skip_ws(b, i + 1);
        loop {
            if b.get(i) != Some(&b'"') {
                return None;
            }
            let ks = i + 1;
            // Portals write the fields in the spec's order: the one after the last, or
            // the one after that (an absent optional field), is tried first.
            let (field, ke) = match [1, 2]
                .into_iter()
                .map(|k| Field::ALL[(last + k) % FIELD_COUNT])
                .find_map(|f| Some((f, key_at(b, ks, f)?)))
            {
                Some(found) => found,
                None => {
                    let (_, ke) = plain_string(b, ks)?;
                    (Field::from_name_bytes(&b[ks..ke])?, ke)
                }
            };
            last = field.index();
            let bit = 1u32 << field.index();
            if seen & bit != 0 {
                return None;
            }
            seen |= bit;
            i = skip_ws(b, ke + 1);
            if b.get(i) != Some(&b':') {
                return None;
            }
            i = skip_ws(b, i + 1);
            if b.get(i) == Some(&b'n') {
                // `null` is an absent value: required fields are missed below.
                i = word(b, i, b"null")?;
            } else {
                // A value read (and where it ends) goes to its field.
                fn set<T>(slot: &mut Option<T>, (v, end): (T, usize)) -> usize {
                    *slot = Some(v);
                    end
                }
                // A string's content, from its opening quote; where the value ends.
                let text = |max| ascii_string(b, i, max).map(|(s, e)| (short(b, (s, e)), e + 1));
                let code = |n| {
                    let (s, e) = ascii_string(b, i, n)?;
                    Some((b.get(s..e)?, e + 1))
                };
                i = match field {
                    Field::DossierId => set(&mut dossier_id, text(DOSSIER_ID_MAX)?),
                    Field::Source => set(&mut source, text(SOURCE_MAX)?),
                    Field::ServiceCode => set(&mut service_code, text(usize::MAX)?),
                    Field::ProvinceCode => {
                        let (digits, end) = code(2)?;
                        set(
                            &mut province_code,
                            (DigitCode::<2>::parse_bytes(digits)?, end),
                        )
                    }
                    Field::CommuneCode => {
                        let (digits, end) = code(5)?;
                        set(
                            &mut commune_code,
                            (DigitCode::<5>::parse_bytes(digits)?, end),
                        )
                    }
                    Field::Channel => {
                        let (s, e) = ascii_string(b, i, 8)?;
                        let (c, end) = fast_channel(b, s)?;
                        set(&mut channel, (c, (end == e).then_some(e + 1)?))
                    }
                    Field::Status => {
                        let (s, e) = ascii_string(b, i, 16)?;
                        let (v, end) = fast_status(b, s)?;
                        set(&mut status, (v, (end == e).then_some(e + 1)?))
                    }
                    Field::EndToEnd => set(&mut end_to_end, boolean(b, i)?),
                    Field::PaidOnline => set(&mut paid_online, boolean(b, i)?),
                    Field::Version => set(&mut version, json_integer(b, i)?),
                    Field::FeeVnd => set(&mut fee_vnd, json_integer(b, i)?),
                    Field::ReceivedAt | Field::DueAt | Field::CompletedAt => {
                        let (s, e) = ascii_string(b, i, 64)?;
                        let slot = match field {
                            Field::ReceivedAt => &mut received_at,
                            Field::DueAt => &mut due_at,
                            _ => &mut completed_at,
                        };
                        set(slot, (self.times.whole(&b[s..e])?, e + 1))
                    }
                };
            }
            // A value ends at white space, a comma or the closing brace (`truex`, `1.5`
            // and `1e3` do not).
            i = skip_ws(b, i);
            match b.get(i) {
                Some(b',') => i = skip_ws(b, i + 1),
                Some(b'}') if skip_ws(b, i + 1) == b.len() => break,
                _ => return None,
            }
        }
        Some(
            Parts {
                source: source?,
                dossier_id: dossier_id?,
                version: version?,
                service_code: service_code?,
                province_code: province_code?,
                commune_code,
                channel: channel?,
                end_to_end: end_to_end?,
                status: status?,
                received_at: received_at?,
                due_at,
                completed_at,
                fee_vnd: fee_vnd.unwrap_or(0),
                paid_online: paid_online.unwrap_or(false),
            }
            .finish(),
        )
    }
}

/// A JSON string at `i` (its opening quote) of 1..=`max` bytes of printable ASCII with no
/// escape: `(start, end)` of its content, `end` at the closing quote.
#[inline]
fn ascii_string(b: &[u8], i: usize, max: usize) -> Option<(usize, usize)> {
    if b.get(i) != Some(&b'"') {
        return None;
    }
    let s = i + 1;
    let end = string_stop::<true>(b, s)?;
    (b[end] == b'"' && end > s && end - s <= max).then_some((s, end))
}

/// The end of field `f`'s name if it is at `ks` and followed by a quote.
#[inline]
fn key_at(b: &[u8], ks: usize, f: Field) -> Option<usize> {
    let end = ks + f.name().len();
    (b.get(end) == Some(&b'"') && Field::from_name_bytes(b.get(ks..end)?) == Some(f)).then_some(end)
}

/// A JSON integer at `i`: 0, or digits without a leading zero, at most 18 of them (larger
/// ones may pass `i64::MAX` and go the general way). The CSV fast path's digits, without
/// the leading zero JSON forbids.
#[inline]
fn json_integer(b: &[u8], i: usize) -> Option<(u64, usize)> {
    let (v, end) = integer(b, i)?;
    (end - i == 1 || b[i] != b'0').then_some((v, end))
}

fn parse_json_general(text: &str, times: &mut Timestamps) -> Result<DossierSnapshot, FieldError> {
    let mut de = serde_json::Deserializer::from_str(text);
    let raw = de.deserialize_map(RawVisitor).map_err(json_error)?;
    de.end().map_err(json_error)?;
    if let Some(name) = raw.unknown {
        return Err(FieldError {
            field: None,
            reason: format!("unknown field {}", Quoted(&name)),
        });
    }
    if let Some(f) = raw.duplicate {
        return Err(FieldError::new(f, format!("{f} is given more than once")));
    }
    from_json_values(&raw.vals, times)
}

#[inline(always)]
fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\n' | b'\r') {
        i += 1;
    }
    i
}

/// The content of a JSON string starting after its opening quote at `i`, if it has no
/// escape and no control character: `(start, end)` with `end` at the closing quote.
#[inline]
fn plain_string(b: &[u8], i: usize) -> Option<(usize, usize)> {
    let k = string_stop::<false>(b, i)?;
    (b[k] == b'"').then_some((i, k))
}

/// Where the string content starting at `i` stops: the first quote, backslash or control
/// character (and, with `ASCII`, DEL or non-ASCII byte); `None` if the line ends first.
/// Looks at 8 bytes at a time.
#[inline]
fn string_stop<const ASCII: bool>(b: &[u8], i: usize) -> Option<usize> {
    let mut j = i;
    while j + 8 <= b.len() {
        let w = load8(b, j);
        // The classic "has zero byte" test, for `w ^ c` and for bytes below 0x20: each
        // flags the first such byte exactly (flags above it may be false), which is
        // all that is read. Non-ASCII bytes (high bit set) are never flagged by them.
        let zero = |x: u64| x.wrapping_sub(rep(1)) & !x & rep(0x80);
        let mut stop = zero(w ^ rep(b'"'))
            | zero(w ^ rep(b'\\'))
            | (w.wrapping_sub(rep(0x20)) & !w & rep(0x80));
        if ASCII {
            stop |= zero(w ^ rep(0x7f)) | (w & rep(0x80));
        }
        if stop != 0 {
            return Some(j + (stop.trailing_zeros() / 8) as usize);
        }
        j += 8;
    }
    let k = b
        .get(j..)?
        .iter()
        .position(|&c| c == b'"' || c == b'\\' || c < 0x20 || (ASCII && c >= 0x7f))?;
    Some(j + k)
}

/// The fast path of NDJSON: one flat object whose keys are known fields, each given
/// once, and whose values are escape-free strings, non-negative integers without
/// fraction or exponent, booleans or null. This is what portals send; it is scanned in
/// one pass without serde. `None` hands the line to the general path. The scanner
/// accepts only valid JSON and yields exactly what the general path would (a property
/// test checks it).
fn scan_flat_object(line: &str) -> Option<[Val<'_>; FIELD_COUNT]> {
    let b = line.as_bytes();
    let mut vals: [Val<'_>; FIELD_COUNT] = std::array::from_fn(|_| Val::Absent);
    let mut i = skip_ws(b, 0);
    if b.get(i) != Some(&b'{') {
        return None;
    }
    i = skip_ws(b, i + 1);
    if b.get(i) == Some(&b'}') {
        return (skip_ws(b, i + 1) == b.len()).then_some(vals);
    }
    loop {
        if b.get(i) != Some(&b'"') {
            return None;
        }
        let (ks, ke) = plain_string(b, i + 1)?;
        let field = Field::from_name_bytes(&b[ks..ke])?;
        i = skip_ws(b, ke + 1);
        if b.get(i) != Some(&b':') {
            return None;
        }
        i = skip_ws(b, i + 1);
        let (v, next) = match *b.get(i)? {
            b'"' => {
                let (s, e) = plain_string(b, i + 1)?;
                (Val::Str(Cow::Borrowed(&line[s..e])), e + 1)
            }
            b't' if b[i..].starts_with(b"true") => (Val::Bool(true), i + 4),
            b'f' if b[i..].starts_with(b"false") => (Val::Bool(false), i + 5),
            b'n' if b[i..].starts_with(b"null") => (Val::Null, i + 4),
            b'0' => {
                if b.get(i + 1).is_some_and(u8::is_ascii_digit) {
                    return None; // a leading zero is not JSON
                }
                (Val::UInt(0), i + 1)
            }
            b'1'..=b'9' => {
                let mut j = i;
                let mut v: u64 = 0;
                while j < b.len() && b[j].is_ascii_digit() {
                    v = v.checked_mul(10)?.checked_add((b[j] - b'0') as u64)?;
                    j += 1;
                }
                (Val::UInt(v), j)
            }
            _ => return None,
        };
        // A number must end here (no fraction or exponent); `truex` is not JSON either.
        if matches!(
            b.get(next),
            Some(b'.' | b'e' | b'E' | b'a'..=b'z' | b'0'..=b'9')
        ) {
            return None;
        }
        let slot = &mut vals[field.index()];
        if !matches!(slot, Val::Absent) {
            return None;
        }
        *slot = v;
        i = skip_ws(b, next);
        match b.get(i) {
            Some(b',') => i = skip_ws(b, i + 1),
            Some(b'}') => return (skip_ws(b, i + 1) == b.len()).then_some(vals),
            _ => return None,
        }
    }
}

fn wrong_type(field: Field, v: &Val<'_>, what: &str) -> FieldError {
    match v {
        Val::Str(s) => FieldError::new(
            field,
            format!("{field}: {} is a string, not {what}", Quoted(s)),
        ),
        _ => FieldError::new(field, format!("{field}: {v} is not {what}")),
    }
}

/// The string of a string-typed field; `None` when absent or null.
#[inline]
fn opt_str<'v>(field: Field, v: &'v Val<'_>) -> Result<Option<&'v str>, FieldError> {
    match v {
        Val::Absent | Val::Null => Ok(None),
        Val::Str(s) if s.is_empty() => Err(FieldError::value(field, "", "must not be empty")),
        Val::Str(s) => Ok(Some(s)),
        other => Err(wrong_type(field, other, "a string")),
    }
}

#[inline]
fn req_str<'v>(field: Field, v: &'v Val<'_>) -> Result<&'v str, FieldError> {
    opt_str(field, v)?.ok_or_else(|| FieldError::missing(field))
}

#[inline]
fn opt_int(field: Field, v: &Val<'_>) -> Result<Option<u64>, FieldError> {
    match v {
        Val::Absent | Val::Null => Ok(None),
        Val::UInt(x) if *x <= MAX_INTEGER => Ok(Some(*x)),
        Val::UInt(x) => Err(FieldError::new(
            field,
            format!("{field}: {x} is larger than {MAX_INTEGER}"),
        )),
        Val::NegInt(_) | Val::Float(_) | Val::Bool(_) | Val::Array | Val::Object => Err(
            FieldError::new(field, format!("{field}: {v} is not an integer ≥ 0")),
        ),
        Val::Str(_) => Err(wrong_type(field, v, "an integer")),
    }
}

#[inline]
fn opt_bool(field: Field, v: &Val<'_>) -> Result<Option<bool>, FieldError> {
    match v {
        Val::Absent | Val::Null => Ok(None),
        Val::Bool(b) => Ok(Some(*b)),
        other => Err(wrong_type(field, other, "true or false")),
    }
}

/// The snapshot of a line's values (`times` parses the timestamps; one that is not in a
/// usual shape, or not valid, goes through [`fields::timestamp`], which words the error).
fn from_json_values(
    v: &[Val<'_>; FIELD_COUNT],
    times: &mut Timestamps,
) -> Result<DossierSnapshot, FieldError> {
    let mut timestamp = |field: Field, s: &str| match times.whole(s.as_bytes()) {
        Some(t) => Ok(t),
        None => fields::timestamp(field, s),
    };
    let at = |f: Field| &v[f.index()];
    let dossier_id = fields::text(
        Field::DossierId,
        req_str(Field::DossierId, at(Field::DossierId))?,
        Some(DOSSIER_ID_MAX),
    )?;
    let source = fields::text(
        Field::Source,
        req_str(Field::Source, at(Field::Source))?,
        Some(fields::SOURCE_MAX),
    )?;
    let version = opt_int(Field::Version, at(Field::Version))?
        .ok_or_else(|| FieldError::missing(Field::Version))?;
    let service_code = fields::text(
        Field::ServiceCode,
        req_str(Field::ServiceCode, at(Field::ServiceCode))?,
        None,
    )?;
    let province_code = fields::code::<2>(
        Field::ProvinceCode,
        req_str(Field::ProvinceCode, at(Field::ProvinceCode))?,
    )?;
    let commune_code: Option<DigitCode<5>> =
        match opt_str(Field::CommuneCode, at(Field::CommuneCode))? {
            None => None,
            Some(s) => Some(fields::code::<5>(Field::CommuneCode, s)?),
        };
    let channel = fields::channel(req_str(Field::Channel, at(Field::Channel))?)?;
    let end_to_end = opt_bool(Field::EndToEnd, at(Field::EndToEnd))?
        .ok_or_else(|| FieldError::missing(Field::EndToEnd))?;
    let status = fields::status(req_str(Field::Status, at(Field::Status))?)?;
    let received_at = timestamp(
        Field::ReceivedAt,
        req_str(Field::ReceivedAt, at(Field::ReceivedAt))?,
    )?;
    let due_at = match opt_str(Field::DueAt, at(Field::DueAt))? {
        None => None,
        Some(s) => Some(timestamp(Field::DueAt, s)?),
    };
    let completed_at = match opt_str(Field::CompletedAt, at(Field::CompletedAt))? {
        None => None,
        Some(s) => Some(timestamp(Field::CompletedAt, s)?),
    };
    let fee_vnd = opt_int(Field::FeeVnd, at(Field::FeeVnd))?.unwrap_or(0);
    let paid_online = opt_bool(Field::PaidOnline, at(Field::PaidOnline))?.unwrap_or(false);
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

/// A streaming reader of a dossier-sync NDJSON file over any [`Read`].
///
/// Memory is one 2 MiB buffer whatever the file size. Use [`NdjsonReader::next_batch`]
/// or iterate (one item per data line).
pub struct NdjsonReader<R> {
    buf: Buffer<R>,
    data_lines: u64,
    parser: JsonParser,
}

impl<R: Read> NdjsonReader<R> {
    pub fn new(reader: R) -> Result<NdjsonReader<R>, IngestError> {
        NdjsonReader::from_buffer(Buffer::new(reader))
    }

    pub(crate) fn from_buffer(mut buf: Buffer<R>) -> Result<NdjsonReader<R>, IngestError> {
        buf.skip_bom()?;
        Ok(NdjsonReader {
            buf,
            data_lines: 0,
            parser: JsonParser::new(),
        })
    }

    pub(crate) fn buffer_mut(&mut self) -> &mut Buffer<R> {
        &mut self.buf
    }

    /// Physical lines consumed so far, empty lines included.
    pub fn lines_read(&self) -> u64 {
        self.buf.line
    }

    /// Data lines handed out so far: snapshots plus rejections.
    pub fn records_read(&self) -> u64 {
        self.data_lines
    }

    /// Parses up to `max` data lines, appending valid snapshots to `snapshots` and bad
    /// lines to `rejections`. Returns how many data lines were handled; `0` means the
    /// end of the file.
    pub fn next_batch(
        &mut self,
        snapshots: &mut Vec<DossierSnapshot>,
        rejections: &mut Vec<Rejection>,
        max: usize,
    ) -> Result<usize, IngestError> {
        let mut n = 0usize;
        while n < max {
            let eof = self.buf.eof;
            let data = &self.buf.buf[self.buf.start..self.buf.end];
            let mut pos = 0usize;
            let mut line = self.buf.line;
            let mut need_more = false;
            while n < max {
                let rest = &data[pos..];
                let (l, advance) = match memchr::memchr(b'\n', rest) {
                    Some(k) => (&rest[..k], k + 1),
                    None if !eof => {
                        need_more = true;
                        break;
                    }
                    None if rest.is_empty() => break,
                    None => (rest, rest.len()),
                };
                line += 1;
                pos += advance;
                if l.len() > MAX_LINE_BYTES {
                    n += 1;
                    rejections.push(Rejection::whole_line(line, too_long()));
                    continue;
                }
                let l = l.strip_suffix(b"\r").unwrap_or(l);
                if l.is_empty() {
                    continue;
                }
                n += 1;
                match self.parser.parse(l) {
                    Ok(s) => snapshots.push(s),
                    Err(e) => rejections.push(Rejection::new(line, e)),
                }
            }
            self.buf.start += pos;
            self.buf.line = line;
            if !need_more {
                break;
            }
            if self.buf.pending() > MAX_LINE_BYTES {
                let line = self.buf.line + 1;
                self.buf.skip_line()?;
                n += 1;
                rejections.push(Rejection::whole_line(line, too_long()));
                continue;
            }
            self.buf.fill()?;
        }
        self.data_lines += n as u64;
        Ok(n)
    }
}

impl<R: Read> Iterator for NdjsonReader<R> {
    type Item = Result<Result<DossierSnapshot, Rejection>, IngestError>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut s = Vec::with_capacity(1);
        let mut r = Vec::new();
        match self.next_batch(&mut s, &mut r, 1) {
            Err(e) => Some(Err(e)),
            Ok(0) => None,
            Ok(_) => Some(Ok(match s.pop() {
                Some(snap) => Ok(snap),
                None => Err(r.pop().expect("one line was handled")),
            })),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn member() -> impl Strategy<Value = String> {
        let keys = prop_oneof![
            8 => proptest::sample::select(Field::ALL.map(|f| f.name()).to_vec()),
            1 => Just("foo"),
            1 => Just("versi\\u006fn"),
        ];
        let values = proptest::sample::select(vec![
            "\"G79-1\"",
            "\"dvcqg\"",
            "\"1.001612\"",
            "\"79\"",
            "\"00391\"",
            "\"online\"",
            "\"completed\"",
            "\"received\"",
            "\"2025-07-01T08:30:00+07:00\"",
            "\"2025-07-02T08:30:00Z\"",
            "true",
            "false",
            "null",
            "0",
            "7",
            "150000",
            "007",
            "-3",
            "1.5",
            "1e3",
            "18446744073709551615",
            "18446744073709551616",
            "9223372036854775808",
            "\"a\\\"b\"",
            "\"tab\\tx\"",
            "[1]",
            "{\"a\":1}",
            "truex",
            "\"\"",
            "\"Hà\"",
            "nul",
            "\"unterminated",
        ]);
        let ws = proptest::sample::select(vec!["", " ", "\t", "  \r "]);
        (keys, values, ws.clone(), ws).prop_map(|(k, v, a, b)| format!("\"{k}\"{a}:{b}{v}"))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]

        /// Whatever the scanner takes, serde_json parses to the same result.
        #[test]
        fn scanner_agrees_with_serde(
            members in proptest::collection::vec(member(), 0..18),
            base in any::<bool>(),
            tail in proptest::sample::select(vec!["", " ", "x", ",", "}"]),
        ) {
            let mut m = members;
            if base {
                // Start from a valid record so that valid lines come up often.
                let mut all: Vec<String> = [
                    ("dossier_id", "\"G1\""), ("source", "\"dvcqg\""), ("version", "3"),
                    ("service_code", "\"1.1\""), ("province_code", "\"79\""), ("channel", "\"online\""),
                    ("end_to_end", "true"), ("status", "\"received\""),
                    ("received_at", "\"2025-07-01T08:30:00+07:00\""),
                ].iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
                all.truncate(9 - m.len().min(9));
                m.extend(all);
            }
            let line = format!("{{{}}}{tail}", m.join(","));
            // And whatever the direct path takes, serde parses to the same result.
            if let Some(direct) = JsonParser::new().parse_direct(line.as_bytes()) {
                prop_assert_eq!(direct, parse_json_general(&line, &mut Timestamps::new()), "{}", line);
            }
            if let Some(vals) = scan_flat_object(&line) {
                let mut t = Timestamps::new();
                prop_assert_eq!(from_json_values(&vals, &mut t), parse_json_general(&line, &mut Timestamps::new()), "{}", line);
            }
        }
    }

    #[test]
    fn each_field_name_is_found_where_it_is() {
        for f in Field::ALL {
            let key = format!("{}\"", f.name());
            assert_eq!(key_at(key.as_bytes(), 0, f), Some(key.len() - 1), "{f}");
            assert_eq!(key_at(&key.as_bytes()[..key.len() - 1], 0, f), None, "{f}");
            for g in Field::ALL.into_iter().filter(|&g| g != f) {
                assert_eq!(key_at(key.as_bytes(), 0, g), None, "{f} as {g}");
            }
        }
    }

    #[test]
    fn the_scanner_takes_the_usual_shape() {
        let line = r#"{"dossier_id":"G1","source":"dvcqg","version":3,"service_code":"1.1","province_code":"79","channel":"online","end_to_end":true,"status":"received","received_at":"2025-07-01T08:30:00+07:00","fee_vnd":0,"paid_online":false}"#;
        assert!(scan_flat_object(line).is_some());
        let mut p = JsonParser::new();
        assert!(p.parse_direct(line.as_bytes()).is_some_and(|r| r.is_ok()));
        for other in [
            line.replace('3', "03"),
            line.replace("G1", "G\\u0031"),
            line.replace("G1", "Gà"),
            line.replace("\"79\"", "79"),
            line.replace("true", "\"true\""),
            line.replace("}", ",\"fee_vnd\":1}"),
            format!("{line} x"),
        ] {
            assert!(p.parse_direct(other.as_bytes()).is_none(), "{other}");
        }
        assert!(p.parse_direct(format!(" {line} \t").as_bytes()).is_some());
        // The record rule is the one error it gives, as the other paths give it.
        let completed = line.replace("\"received\"", "\"completed\"");
        assert_eq!(
            p.parse_direct(completed.as_bytes()),
            Some(parse_json_general(&completed, &mut Timestamps::new()))
        );
        assert!(
            p.parse_direct(completed.as_bytes())
                .is_some_and(|r| r.is_err())
        );
        assert!(scan_flat_object(&line.replace('3', "03")).is_none());
        assert!(scan_flat_object(&line.replace("G1", "G\\u0031")).is_none());
        assert!(scan_flat_object(&format!("{line} x")).is_none());
        assert!(scan_flat_object(&format!(" {line} \t")).is_some());
    }
}
