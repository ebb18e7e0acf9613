//! The CSV hot path: parses and validates one plain line in a single pass over its
//! bytes, with no allocation and no UTF-8 re-validation.
//!
//! It accepts only the common case — every cell unquoted and printable ASCII, every
//! value valid — and answers `None` for anything else, in which case the reader runs the
//! general path ([`crate::csv`]), which handles quoting, non-ASCII text and produces the
//! precise rejection reason. So this module never has to word an error, and the two
//! paths cannot disagree on what is valid: a property test checks that whatever this
//! path accepts, the general path accepts identically.

use jiff::Timestamp;

use crate::buffer::MAX_LINE_BYTES;
use crate::fields::{DOSSIER_ID_MAX, FIELD_COUNT, Field, MAX_INTEGER, SOURCE_MAX};
use crate::snapshot::{Channel, DigitCode, DossierSnapshot, ShortStr, Status};
use crate::text::INLINE_CAPACITY;
use crate::timestamp::{DateCache, days_from_civil, days_in_month, parse_rfc3339_cached};

/// Per-file state of the fast path: the column layout and the date caches.
#[derive(Clone, Debug)]
pub(crate) struct FastParser {
    /// `col_of_field[f.index()]` is the column holding field `f`.
    col_of_field: [usize; FIELD_COUNT],
    canonical: bool,
    /// Scratch for lines whose columns are not in the spec's order.
    reordered: Vec<u8>,
    times: Timestamps,
}

/// Timestamps parsed the fast way: the two usual shapes with a few word operations and a
/// table of validated dates, any other through the full RFC 3339 parser (with a cache of
/// its last date). What it accepts, and the instant, are exactly [`crate::timestamp::parse_rfc3339`]'s
/// (a property test checks it).
#[derive(Clone, Debug)]
pub(crate) struct Timestamps {
    dates: DateTable,
    general: DateCache,
}

impl Timestamps {
    pub(crate) fn new() -> Timestamps {
        Timestamps {
            dates: DateTable::new(),
            general: DateCache::new(),
        }
    }

    /// The timestamp that is exactly `b`; `None` if it is not a valid one.
    #[inline]
    pub(crate) fn whole(&mut self, b: &[u8]) -> Option<Timestamp> {
        match b.len() {
            25 => self.with_offset(b),
            20 => self.utc(b),
            _ => None,
        }
        .or_else(|| parse_rfc3339_cached(b, &mut self.general).ok())
    }
}

impl Clone for DateTable {
    fn clone(&self) -> DateTable {
        DateTable(self.0.clone())
    }
}

impl std::fmt::Debug for DateTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DateTable")
    }
}

/// End of the cell starting at `p`: the index of the next `,` or the line's end.
#[inline(always)]
fn cell_end(line: &[u8], p: usize) -> usize {
    let mut i = p;
    while i < line.len() && line[i] != b',' {
        i += 1;
    }
    i
}

/// A printable-ASCII string cell of 1..=max bytes (bytes = characters for ASCII);
/// returns its end. Scans 8 bytes at a time (SWAR): per word, one mask of commas and
/// one of bytes that send the line to the general path (controls, DEL, non-ASCII,
/// quotes); the cell is good if no such byte comes before its comma.
#[inline(always)]
fn text(line: &[u8], p: usize, max: usize) -> Option<usize> {
    let mut i = p;
    while i + 8 <= line.len() {
        let w = load8(line, i);
        let hi = w & rep(0x80);
        let w7 = w & rep(0x7f); // no byte above 0x7f: the additions below cannot carry
        let low = !w7.wrapping_add(rep(0x60)) & rep(0x80); // < 0x20
        let del = w7.wrapping_add(rep(0x01)) & rep(0x80); // == 0x7f
        let quote = !(w7 ^ rep(b'"')).wrapping_add(rep(0x7f)) & rep(0x80);
        let comma = !(w7 ^ rep(b',')).wrapping_add(rep(0x7f)) & rep(0x80) & !hi;
        let bad = hi | low | del | quote;
        if comma != 0 {
            let before = (1u64 << comma.trailing_zeros()) - 1;
            if bad & before != 0 {
                return None;
            }
            let end = i + (comma.trailing_zeros() / 8) as usize;
            let len = end - p;
            return if len == 0 || len > max {
                None
            } else {
                Some(end)
            };
        }
        if bad != 0 || i - p >= max {
            return None;
        }
        i += 8;
    }
    while i < line.len() {
        let b = line[i];
        if b == b',' {
            break;
        }
        if !(0x20..0x7f).contains(&b) || b == b'"' {
            return None;
        }
        i += 1;
    }
    let len = i - p;
    if len == 0 || len > max {
        return None;
    }
    Some(i)
}

/// The `ShortStr` of a validated ASCII cell `line[start..end]`.
#[inline(always)]
pub(crate) fn short(line: &[u8], (start, end): (usize, usize)) -> ShortStr {
    let len = end - start;
    match line.get(start..start + INLINE_CAPACITY) {
        Some(w) if len <= INLINE_CAPACITY => {
            ShortStr::from_ascii_window(w.try_into().expect("window length"), len)
        }
        _ => ShortStr::from_ascii(&line[start..end]),
    }
}

/// An integer cell; at most 18 digits (cannot exceed `i64::MAX`; longer ones take the
/// general path).
#[inline(always)]
pub(crate) fn integer(line: &[u8], p: usize) -> Option<(u64, usize)> {
    let mut i = p;
    let mut v = 0u64;
    while i < line.len() {
        let d = line[i].wrapping_sub(b'0');
        if d > 9 {
            break;
        }
        // Wrapping: more than 18 digits is refused below, before `v` is used.
        v = v.wrapping_mul(10).wrapping_add(d as u64);
        i += 1;
    }
    let n = i - p;
    if n == 0 || n > 18 {
        return None;
    }
    debug_assert!(v <= MAX_INTEGER);
    Some((v, i))
}

#[inline(always)]
fn code<const N: usize>(line: &[u8], p: usize) -> Option<(DigitCode<N>, usize)> {
    Some((DigitCode::<N>::parse_bytes(line.get(p..p + N)?)?, p + N))
}

/// Whether `word` is at `p` (the terminator is checked by the caller). Fixed-size so
/// that the comparison compiles to a few integer compares, not a `memcmp` call.
#[inline(always)]
pub(crate) fn word<const N: usize>(line: &[u8], p: usize, word: &[u8; N]) -> Option<usize> {
    let at: &[u8; N] = line.get(p..p + N)?.try_into().ok()?;
    if at == word { Some(p + N) } else { None }
}

#[inline(always)]
pub(crate) fn boolean(line: &[u8], p: usize) -> Option<(bool, usize)> {
    match line.get(p)? {
        b't' => Some((true, word(line, p, b"true")?)),
        b'f' => Some((false, word(line, p, b"false")?)),
        _ => None,
    }
}

#[inline(always)]
pub(crate) fn channel(line: &[u8], p: usize) -> Option<(Channel, usize)> {
    match line.get(p)? {
        b'o' => Some((Channel::Online, word(line, p, b"online")?)),
        b'd' => Some((Channel::Direct, word(line, p, b"direct")?)),
        b'p' => Some((Channel::Postal, word(line, p, b"postal")?)),
        _ => None,
    }
}

#[inline(always)]
pub(crate) fn status(line: &[u8], p: usize) -> Option<(Status, usize)> {
    match (line.get(p)?, line.get(p + 2)?) {
        (b'r', b'c') => Some((Status::Received, word(line, p, b"received")?)),
        (b'r', b'j') => Some((Status::Rejected, word(line, p, b"rejected")?)),
        (b'p', _) => Some((Status::Processing, word(line, p, b"processing")?)),
        (b'c', b'm') => Some((Status::Completed, word(line, p, b"completed")?)),
        (b'c', b'n') => Some((Status::Cancelled, word(line, p, b"cancelled")?)),
        _ => None,
    }
}

pub(crate) const fn rep(b: u8) -> u64 {
    0x0101_0101_0101_0101 * b as u64
}

#[inline(always)]
pub(crate) fn load8(b: &[u8], i: usize) -> u64 {
    u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"))
}

/// SWAR check of 8 bytes: the bytes selected by `digits` (0xff each) must be ASCII
/// digits, the others must equal `seps`. Returns the word with digits turned into
/// their values (0–9) and the other bytes zeroed.
#[inline(always)]
fn digits8(w: u64, digits: u64, seps: u64) -> Option<u64> {
    if w & !digits != seps {
        return None;
    }
    let x = (w ^ rep(b'0')) & digits;
    // A byte above 9 gets its high bit set by adding 0x76 (digits stay ≤ 0x7f).
    if (x.wrapping_add(rep(0x76)) | x) & rep(0x80) != 0 {
        return None;
    }
    Some(x)
}

#[inline(always)]
fn byte(x: u64, k: u32) -> u32 {
    ((x >> (8 * k)) & 0xff) as u32
}

/// `YYYY-MM-` : digits in bytes 0–3 and 5–6, `-` in 4 and 7.
const DATE_DIGITS: u64 = 0x00ff_ff00_ffff_ffff;
const DATE_SEPS: u64 = 0x2d00_002d_0000_0000;
/// `DDThh:mm` : digits in 0–1, 3–4, 6–7, `T` in 2, `:` in 5.
const DT_DIGITS: u64 = 0xffff_00ff_ff00_ffff;
const DT_SEPS: u64 = 0x0000_3a00_0054_0000;
/// `ss±hh:mm` : digits in 0–1, 3–4, 6–7, a sign in 2 (checked apart), `:` in 5.
const SO_DIGITS: u64 = DT_DIGITS;
const SO_SEPS: u64 = 0x0000_3a00_0000_0000;
const SIGN_BYTE: u64 = 0x0000_0000_00ff_0000;

/// A direct-mapped cache of validated dates (`YYYY-MM-DD` → day number). A year of
/// feed has a few hundred distinct dates, so nearly every look-up hits.
#[derive(Clone, Copy)]
struct DateSlot {
    ymd: u64,
    dd: u16,
    days: i32,
}

const DATE_SLOTS: usize = 1024;

struct DateTable(Box<[DateSlot; DATE_SLOTS]>);

impl DateTable {
    fn new() -> DateTable {
        // `ymd == 0` never matches: a date's first 8 bytes are digits and dashes.
        DateTable(Box::new(
            [DateSlot {
                ymd: 0,
                dd: 0,
                days: 0,
            }; DATE_SLOTS],
        ))
    }

    /// Day number of the date whose first 8 bytes are `ymd` (`YYYY-MM-`) and whose
    /// day-of-month digits are `dd` (`DD`); `None` if it is not a valid date.
    #[inline(always)]
    fn days(&mut self, ymd: u64, dd: u16) -> Option<i64> {
        let h = (ymd ^ (dd as u64).rotate_left(29)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let slot = &mut self.0[(h >> 54) as usize];
        if slot.ymd == ymd && slot.dd == dd {
            return Some(slot.days as i64);
        }
        let x = digits8(ymd, DATE_DIGITS, DATE_SEPS)?;
        let year = byte(x, 0) * 1000 + byte(x, 1) * 100 + byte(x, 2) * 10 + byte(x, 3);
        let month = byte(x, 5) * 10 + byte(x, 6);
        let d0 = (dd & 0xff) as u8;
        let d1 = (dd >> 8) as u8;
        if !d0.is_ascii_digit() || !d1.is_ascii_digit() {
            return None;
        }
        let day = (d0 - b'0') as u32 * 10 + (d1 - b'0') as u32;
        if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year as i64, month) {
            return None;
        }
        let days = days_from_civil(year as i64, month, day);
        *slot = DateSlot {
            ymd,
            dd,
            days: days as i32,
        };
        Some(days)
    }
}

impl FastParser {
    /// The two usual shapes, `YYYY-MM-DDThh:mm:ss±hh:mm` and `…:ssZ`, parsed with a few
    /// word operations; any other shape (fraction, `t`, space, `z`) goes through the
    /// full RFC 3339 parser.
    #[inline(always)]
    fn timestamp(&mut self, line: &[u8], p: usize) -> Option<(Timestamp, usize)> {
        let b = &line[p..];
        if let Some(t) = self.times.with_offset(b) {
            return Some((t, p + 25));
        }
        if let Some(t) = self.times.utc(b) {
            return Some((t, p + 20));
        }
        let end = cell_end(line, p);
        let t = parse_rfc3339_cached(&line[p..end], &mut self.times.general).ok()?;
        Some((t, end))
    }
}

impl Timestamps {
    /// `YYYY-MM-DDThh:mm:ss±hh:mm` followed by a comma or the end of the line.
    #[inline(always)]
    fn with_offset(&mut self, b: &[u8]) -> Option<Timestamp> {
        if b.len() < 25 || !matches!(b.get(25), None | Some(b',')) || b[16] != b':' {
            return None;
        }
        let w_so = load8(b, 17);
        let sign = (w_so & SIGN_BYTE) >> 16;
        if sign != b'+' as u64 && sign != b'-' as u64 {
            return None;
        }
        let w_dt = load8(b, 8);
        let x_dt = digits8(w_dt, DT_DIGITS, DT_SEPS)?;
        let x_so = digits8(w_so & !SIGN_BYTE, SO_DIGITS, SO_SEPS)?;
        let days = self.dates.days(load8(b, 0), (w_dt & 0xffff) as u16)?;
        let (h, m) = (
            byte(x_dt, 3) * 10 + byte(x_dt, 4),
            byte(x_dt, 6) * 10 + byte(x_dt, 7),
        );
        let sec = byte(x_so, 0) * 10 + byte(x_so, 1);
        let (oh, om) = (
            byte(x_so, 3) * 10 + byte(x_so, 4),
            byte(x_so, 6) * 10 + byte(x_so, 7),
        );
        if h > 23 || m > 59 || sec > 60 || oh > 23 || om > 59 {
            return None;
        }
        let off = (oh * 3600 + om * 60) as i64;
        let off = if sign == b'-' as u64 { -off } else { off };
        // A leap second (:60) is clamped to :59, as jiff does.
        let secs = days * 86_400 + (h * 3600 + m * 60 + sec.min(59)) as i64 - off;
        Timestamp::new(secs, 0).ok()
    }

    /// `YYYY-MM-DDThh:mm:ssZ` followed by a comma or the end of the line.
    #[inline(always)]
    fn utc(&mut self, b: &[u8]) -> Option<Timestamp> {
        if b.len() < 20 || !matches!(b.get(20), None | Some(b',')) || b[19] != b'Z' || b[16] != b':'
        {
            return None;
        }
        let w_dt = load8(b, 8);
        let x_dt = digits8(w_dt, DT_DIGITS, DT_SEPS)?;
        let (s0, s1) = (b[17].wrapping_sub(b'0'), b[18].wrapping_sub(b'0'));
        if s0 > 9 || s1 > 9 {
            return None;
        }
        let days = self.dates.days(load8(b, 0), (w_dt & 0xffff) as u16)?;
        let (h, m) = (
            byte(x_dt, 3) * 10 + byte(x_dt, 4),
            byte(x_dt, 6) * 10 + byte(x_dt, 7),
        );
        let sec = s0 as u32 * 10 + s1 as u32;
        if h > 23 || m > 59 || sec > 60 {
            return None;
        }
        let secs = days * 86_400 + (h * 3600 + m * 60 + sec.min(59)) as i64;
        Timestamp::new(secs, 0).ok()
    }
}

#[inline(always)]
fn is_empty_cell(line: &[u8], p: usize) -> bool {
    p == line.len() || line[p] == b','
}

impl FastParser {
    pub fn new(col_of_field: [usize; FIELD_COUNT]) -> FastParser {
        FastParser {
            col_of_field,
            canonical: col_of_field.iter().enumerate().all(|(i, &c)| i == c),
            reordered: Vec::new(),
            times: Timestamps::new(),
        }
    }

    /// The snapshot of a plain, valid line (no line break, `\r` removed); `None` when
    /// the line needs the general path (quotes, non-ASCII, or any fault).
    #[cfg(test)]
    pub fn parse(&mut self, line: &[u8]) -> Option<DossierSnapshot> {
        let mut out = Vec::with_capacity(1);
        self.parse_into(line, &mut out)
            .then(|| out.pop().expect("pushed"))
    }

    /// Like [`FastParser::parse`], pushing the snapshot onto `out` (built in place, which
    /// saves copying it) and answering whether the line was taken.
    #[inline]
    pub fn parse_into(&mut self, line: &[u8], out: &mut Vec<DossierSnapshot>) -> bool {
        if self.canonical {
            self.parse_canonical::<false>(line, |s| out.push(s))
                .is_some()
        } else {
            // Rare: a header in another order. Rebuild the line in the spec's order and
            // parse that.
            let mut cells = [(0usize, 0usize); FIELD_COUNT];
            let mut n = 0usize;
            let mut start = 0usize;
            for k in memchr::memchr_iter(b',', line) {
                let Some(c) = cells.get_mut(n) else {
                    return false;
                };
                *c = (start, k);
                n += 1;
                start = k + 1;
            }
            if n + 1 != FIELD_COUNT {
                return false;
            }
            cells[n] = (start, line.len());
            let mut reordered = std::mem::take(&mut self.reordered);
            reordered.clear();
            for f in Field::ALL {
                let (a, b) = cells[self.col_of_field[f.index()]];
                if f.index() > 0 {
                    reordered.push(b',');
                }
                reordered.extend_from_slice(&line[a..b]);
            }
            let ok = self
                .parse_canonical::<false>(&reordered, |s| out.push(s))
                .is_some();
            self.reordered = reordered;
            ok
        }
    }

    /// Parses the line at the start of `data` (the reader's buffer) without looking for
    /// its end first: the last cell must be followed by `\n` or `\r\n`. Returns the
    /// bytes consumed, line break included; `None` if the line needs the usual way
    /// (another column order, a fault, the end of the buffer, an overlong line).
    #[inline]
    pub fn parse_in_buffer(
        &mut self,
        data: &[u8],
        out: &mut Vec<DossierSnapshot>,
    ) -> Option<usize> {
        self.parse_in_buffer_with(data, |s| out.push(s))
    }

    /// [`FastParser::parse_in_buffer`], handing the snapshot to `emit` (which is not
    /// called when the line needs the usual way): a caller that checks and encodes each
    /// snapshot at once takes it where it was built, with no copy into a vector.
    #[inline(always)]
    pub fn parse_in_buffer_with(
        &mut self,
        data: &[u8],
        emit: impl FnOnce(DossierSnapshot),
    ) -> Option<usize> {
        if !self.canonical {
            return None;
        }
        self.parse_canonical::<true>(data, emit)
    }

    /// The fast path proper, for lines in the spec's column order: straight-line code,
    /// one field after the other, each cell checked to end at a comma. With `IN_BUFFER`
    /// the line's end is found after the last cell (`\n` or `\r\n`); otherwise `line`
    /// is exactly the line, and an overlong line (which the reader rejects as such) is
    /// left to the usual way. Hands the snapshot to `emit` and returns the bytes consumed.
    #[inline(always)]
    fn parse_canonical<const IN_BUFFER: bool>(
        &mut self,
        line: &[u8],
        emit: impl FnOnce(DossierSnapshot),
    ) -> Option<usize> {
        // Cell `k` must end at `e` with a comma; returns the next cell's start.
        let next = |e: usize| -> Option<usize> {
            if line.get(e) == Some(&b',') {
                Some(e + 1)
            } else {
                None
            }
        };
        let p = 0;
        let e = text(line, p, DOSSIER_ID_MAX)?;
        let id = (p, e);
        let p = next(e)?;
        let e = text(line, p, SOURCE_MAX)?;
        let src = (p, e);
        let p = next(e)?;
        let (version, e) = integer(line, p)?;
        let p = next(e)?;
        let e = text(line, p, usize::MAX)?;
        let svc = (p, e);
        let p = next(e)?;
        let (province_code, e) = code::<2>(line, p)?;
        let p = next(e)?;
        let (commune_code, e) = if is_empty_cell(line, p) {
            (None, p)
        } else {
            let (v, e) = code::<5>(line, p)?;
            (Some(v), e)
        };
        let p = next(e)?;
        let (channel_v, e) = channel(line, p)?;
        let p = next(e)?;
        let (end_to_end, e) = boolean(line, p)?;
        let p = next(e)?;
        let (status_v, e) = status(line, p)?;
        let p = next(e)?;
        let (received_at, e) = self.timestamp(line, p)?;
        let p = next(e)?;
        let (due_at, e) = if is_empty_cell(line, p) {
            (None, p)
        } else {
            let (v, e) = self.timestamp(line, p)?;
            (Some(v), e)
        };
        let p = next(e)?;
        let (completed_at, e) = if is_empty_cell(line, p) {
            (None, p)
        } else {
            let (v, e) = self.timestamp(line, p)?;
            (Some(v), e)
        };
        let p = next(e)?;
        let (fee_vnd, e) = if is_empty_cell(line, p) {
            (0, p)
        } else {
            integer(line, p)?
        };
        let p = next(e)?;
        let last_is_empty = if IN_BUFFER {
            matches!(line.get(p), Some(b'\n' | b'\r'))
        } else {
            p == line.len()
        };
        let (paid_online, e) = if last_is_empty {
            (false, p)
        } else {
            boolean(line, p)?
        };
        let consumed = if IN_BUFFER {
            match (line.get(e), line.get(e + 1)) {
                (Some(b'\n'), _) => e + 1,
                (Some(b'\r'), Some(b'\n')) => e + 2,
                _ => return None,
            }
        } else if e == line.len() {
            e
        } else {
            return None;
        };
        if status_v.requires_completed_at() != completed_at.is_some()
            || (IN_BUFFER && consumed - 1 > MAX_LINE_BYTES)
        {
            return None;
        }
        emit(DossierSnapshot {
            source: short(line, src),
            dossier_id: short(line, id),
            version,
            service_code: short(line, svc),
            province_code,
            commune_code,
            channel: channel_v,
            end_to_end,
            status: status_v,
            received_at,
            due_at,
            completed_at,
            fee_vnd,
            paid_online,
        });
        Some(consumed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::csv::parse_csv_line;
    use crate::timestamp::parse_rfc3339;
    use proptest::prelude::*;

    const GOOD: &str = "G79-250701-00000005,dvcqg,3,1.011353,79,26878,online,true,completed,2025-07-01T07:45:58+07:00,2025-07-11T07:45:58+07:00,2025-07-02T10:00:00+07:00,150000,true";

    fn canonical() -> FastParser {
        FastParser::new(std::array::from_fn(|i| i))
    }

    #[test]
    fn accepts_a_typical_line_like_the_general_path() {
        let fast = canonical().parse(GOOD.as_bytes()).expect("fast path");
        assert_eq!(Ok(fast), parse_csv_line(GOOD));
    }

    /// Candidate values per field, valid and not, chosen to hit every branch of both
    /// paths.
    fn candidates(field: usize) -> Vec<String> {
        let ts = [
            "2025-07-01T08:30:00+07:00",
            "2025-07-01T01:30:00Z",
            "2025-07-01t08:30:00z",
            "2025-07-01 08:30:00-01:30",
            "2025-07-01T08:30:00.123+07:00",
            "2024-02-29T23:59:60+07:00",
            "2025-02-29T00:00:00Z",
            "2025-07-01T08:30:00",
            "2025-13-01T00:00:00Z",
            "2025-07-01T24:00:00Z",
            "2025-07-01T08:30:00+24:00",
            "2025-07-01T08:30:00+07:60",
            "9999-12-31T23:59:59-23:00",
            "2025-07-01X08:30:00+07:00",
            "2025-07-01T08:30:00+07:00x",
            "\"2025-07-01T08:30:00+07:00\"",
            "",
        ];
        let v: Vec<&str> = match field {
            0 => vec![
                "G79-250701-00000005",
                "x",
                &"a".repeat(64),
                &"a".repeat(65),
                "",
                "Hà",
                "a\"b",
                "\"q,r\"",
                "a\tb",
                "a b",
                "a\u{7f}",
                &"b".repeat(31),
                "\"\"",
            ]
            .into_iter()
            .map(|s| Box::leak(s.to_string().into_boxed_str()) as &str)
            .collect(),
            1 => vec![
                "dvcqg",
                "hcc-79",
                &"s".repeat(32),
                &"s".repeat(33),
                "",
                "ü",
                "\u{85}",
            ]
            .into_iter()
            .map(|s| Box::leak(s.to_string().into_boxed_str()) as &str)
            .collect(),
            2 | 12 => vec![
                "0",
                "1",
                "18",
                "999999999999999999",
                "9223372036854775807",
                "9223372036854775808",
                "-3",
                "v3",
                "",
                "01",
                "1e3",
                " 1",
                "\"7\"",
            ],
            3 => vec!["1.001612", "", "x", "1.001612 ", "\"1,2\""],
            4 => vec!["01", "79", "7A", "123", "", "00", "\"01\""],
            5 => vec!["", "00391", "0039", "003911", "a0391"],
            6 => vec![
                "online",
                "direct",
                "postal",
                "ONLINE",
                "fax",
                "",
                "onlinex",
                "\"online\"",
            ],
            7 | 13 => vec!["true", "false", "yes", "", "TRUE", "truex", "fals"],
            8 => vec![
                "received",
                "processing",
                "completed",
                "rejected",
                "cancelled",
                "Completed",
                "",
                "complete",
                "receive",
                "rejectedd",
            ],
            9..=11 => ts.to_vec(),
            _ => unreachable!(),
        };
        v.into_iter().map(String::from).collect()
    }

    /// Timestamps of the usual shapes with digits anywhere in range or just out of it,
    /// and now and then one byte replaced or the string cut.
    fn timestamp_strategy() -> impl Strategy<Value = String> {
        let two = |hi: u32| (0..=hi).prop_map(|v| format!("{v:02}"));
        (
            (1990u32..2031).prop_map(|y| y.to_string()),
            two(13),
            two(32),
            two(25),
            two(61),
            two(61),
            0..4usize,
            (two(25), two(61)),
            proptest::option::weighted(
                0.2,
                (
                    0..26usize,
                    proptest::sample::select(b"0-:T+Zz .x9".to_vec()),
                ),
            ),
            proptest::option::weighted(0.1, 0..26usize),
        )
            .prop_map(|(y, mo, d, h, mi, s, zone, (oh, om), swap, cut)| {
                let zone = match zone {
                    0 => "Z".to_string(),
                    1 => format!("+{oh}:{om}"),
                    2 => format!("-{oh}:{om}"),
                    _ => format!(".5+{oh}:{om}"),
                };
                let mut b = format!("{y}-{mo}-{d}T{h}:{mi}:{s}{zone}").into_bytes();
                if let Some((at, byte)) = swap
                    && at < b.len()
                {
                    b[at] = byte;
                }
                if let Some(cut) = cut {
                    b.truncate(cut);
                }
                String::from_utf8(b).expect("ASCII")
            })
    }

    fn line_strategy() -> impl Strategy<Value = String> {
        let cells: Vec<BoxedStrategy<String>> = (0..FIELD_COUNT)
            .map(|f| {
                let c = candidates(f);
                // Mostly valid values (the first few) so whole lines are often valid.
                let good = c.len().min(2);
                prop_oneof![
                    4 => (0..good).prop_map({ let c = c.clone(); move |i| c[i].clone() }),
                    1 => (0..c.len()).prop_map(move |i| c[i].clone()),
                ]
                .boxed()
            })
            .collect();
        (cells, 0..8usize).prop_map(|(mut cells, shape)| {
            match shape {
                0 => {
                    cells.pop();
                }
                1 => cells.push("extra".into()),
                _ => {}
            }
            cells.join(",")
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        /// A timestamp taken whole gives what the RFC 3339 parser gives, valid or not,
        /// with one table of dates kept over many (so that cached dates are hit too).
        #[test]
        fn whole_timestamps_agree_with_the_rfc3339_parser(
            stamps in proptest::collection::vec(timestamp_strategy(), 1..40),
        ) {
            let mut times = Timestamps::new();
            for t in stamps.iter().chain(&stamps) {
                prop_assert_eq!(times.whole(t.as_bytes()), parse_rfc3339(t.as_bytes()).ok(), "{}", t);
            }
        }

        /// Whatever the fast path accepts, the general path accepts identically.
        #[test]
        fn fast_path_agrees_with_the_general_path(line in line_strategy()) {
            if let Some(fast) = canonical().parse(line.as_bytes()) {
                prop_assert_eq!(Ok(fast), parse_csv_line(&line), "{}", line);
            }
        }

        /// Parsing straight out of a buffer (the line's end found after the last cell)
        /// gives the same as parsing the line alone.
        #[test]
        fn in_buffer_parsing_agrees(line in line_strategy(), crlf in any::<bool>(), next in "[a-z,\n]{0,12}") {
            let mut buf = line.clone().into_bytes();
            buf.extend_from_slice(if crlf { b"\r\n" } else { b"\n" });
            buf.extend_from_slice(next.as_bytes());
            let mut out = Vec::new();
            let got = canonical().parse_in_buffer(&buf, &mut out);
            match canonical().parse(line.as_bytes()) {
                Some(s) => {
                    prop_assert_eq!(got, Some(line.len() + if crlf { 2 } else { 1 }));
                    prop_assert_eq!(out, vec![s]);
                }
                None => prop_assert!(got.is_none() && out.is_empty()),
            }
            // Without its line break (the end of the buffer) a line is never taken.
            prop_assert_eq!(canonical().parse_in_buffer(line.as_bytes(), &mut Vec::new()), None);
        }

        /// The same with the columns in another order.
        #[test]
        fn permuted_columns_parse_the_same(line in line_strategy(), seed in any::<u64>()) {
            let cells: Vec<&str> = line.split(',').collect();
            if cells.len() != FIELD_COUNT || line.contains('"') {
                return Ok(());
            }
            // A permutation: file column j holds field perm[j].
            let mut perm: Vec<usize> = (0..FIELD_COUNT).collect();
            let mut x = seed | 1;
            for i in (1..FIELD_COUNT).rev() {
                x ^= x << 13; x ^= x >> 7; x ^= x << 17;
                perm.swap(i, (x % (i as u64 + 1)) as usize);
            }
            let mut col_of_field = [0usize; FIELD_COUNT];
            for (col, &f) in perm.iter().enumerate() {
                col_of_field[f] = col;
            }
            let permuted: Vec<&str> = perm.iter().map(|&f| cells[f]).collect();
            let mut p = FastParser::new(col_of_field);
            prop_assert_eq!(p.parse(permuted.join(",").as_bytes()), canonical().parse(line.as_bytes()));
        }
    }

    /// The word-at-a-time timestamp parser and its date table agree with the strict
    /// parser on many random values (one parser instance: the cache hits and collides).
    #[test]
    fn fast_timestamps_agree_with_the_strict_parser() {
        let mut p = canonical();
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        for _ in 0..300_000 {
            let y = if next(4) == 0 {
                next(10_000)
            } else {
                2020 + next(8)
            };
            let (mo, d) = (next(14), next(33));
            let (h, mi, s) = (next(26), next(62), next(62));
            let off = match next(4) {
                0 => "Z".to_string(),
                1 => format!("+{:02}:{:02}", next(25), next(61)),
                2 => format!("-{:02}:{:02}", next(25), next(61)),
                _ => "+07:00".to_string(),
            };
            let t = format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}{off}");
            let line = format!("{t},rest");
            let fast = p.timestamp(line.as_bytes(), 0).map(|(ts, end)| {
                assert_eq!(end, t.len(), "{t}");
                ts
            });
            assert_eq!(fast, parse_rfc3339(t.as_bytes()).ok(), "{t}");
        }
    }

    #[test]
    fn text_scan_stops_at_the_first_comma_and_rejects_odd_bytes() {
        for (cell, ok) in [
            ("abcdefghijklmnopqrstuvwxyz", true),
            ("abcdefgh", true),
            ("abcdefg\u{1}", false),
            ("abcdefghijklmno\"", false),
            ("abcdefghijklmnoé", false),
            ("abcdefghijklmno\u{7f}", false),
        ] {
            let line = format!("{cell},zzzzzzzzzzzzzzzz");
            assert_eq!(
                text(line.as_bytes(), 0, 64),
                ok.then_some(cell.len()),
                "{cell:?}"
            );
        }
        // Odd bytes after the comma belong to the next cell.
        assert_eq!(
            text("ab,\u{1}\u{1}\u{1}\u{1}\u{1}\u{1}\u{1}".as_bytes(), 0, 64),
            Some(2)
        );
        assert_eq!(text("abc,é".as_bytes(), 0, 64), Some(3));
        assert_eq!(text(b",abc", 0, 64), None);
        assert_eq!(text(b"abc", 0, 2), None);
    }
}
