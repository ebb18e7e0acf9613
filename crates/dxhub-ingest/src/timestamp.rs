//! A strict, allocation-free RFC 3339 timestamp parser (the feed's timestamp type).
//!
//! jiff's general parser accepts much more than RFC 3339 (offsets without minutes,
//! basic format, bracketed zones) and costs several times more per call; the feed has up
//! to three timestamps per line, so this parser is hand-written. Tests check it against
//! jiff on every form both accept.
//!
//! Accepted: `YYYY-MM-DD` `T` (or `t`, or a space, as RFC 3339 §5.6 allows)
//! `hh:mm:ss`, an optional fraction `.d…` of 1–9 digits, then `Z`/`z` or `±hh:mm`
//! (hours 00–23, minutes 00–59). Years 0000–9999. A leap second `:60` is accepted and
//! clamped to `:59`, as jiff does. A date-time without an offset is an error of its own
//! kind ([`TimestampError::NoOffset`]) because it is the most common mistake.

use std::fmt;

use jiff::Timestamp;

/// Why a value is not an RFC 3339 timestamp.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum TimestampError {
    /// Not of the shape `YYYY-MM-DDThh:mm:ss[.f]±hh:mm`.
    Syntax,
    /// A well-formed date and time but no `Z` or `±hh:mm` after it.
    NoOffset,
    /// Month or day out of range (`2025-13-45`, `2025-02-29`).
    Date,
    /// Hour, minute or second out of range.
    Time,
    /// The offset is not `Z` or `±hh:mm` with hours 00–23 and minutes 00–59.
    Offset,
    /// More than 9 fractional digits (nanosecond precision is the limit).
    Fraction,
    /// Outside the range jiff can represent.
    Range,
}

impl TimestampError {
    /// A short English phrase to follow the quoted value, e.g. `has no UTC offset`.
    pub fn phrase(self) -> &'static str {
        match self {
            TimestampError::Syntax => {
                "is not an RFC 3339 timestamp (like 2025-07-01T08:30:00+07:00)"
            }
            TimestampError::NoOffset => "has no UTC offset",
            TimestampError::Date => "has an invalid date",
            TimestampError::Time => "has an invalid time of day",
            TimestampError::Offset => "has an invalid UTC offset (expected Z or ±hh:mm)",
            TimestampError::Fraction => "has more than 9 fractional digits",
            TimestampError::Range => "is out of the supported range",
        }
    }
}

impl fmt::Display for TimestampError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.phrase())
    }
}

impl std::error::Error for TimestampError {}

#[inline(always)]
fn digit(b: u8) -> Option<u32> {
    let d = b.wrapping_sub(b'0');
    if d < 10 { Some(d as u32) } else { None }
}

#[inline(always)]
fn two(b: &[u8], i: usize) -> Option<u32> {
    Some(digit(b[i])? * 10 + digit(b[i + 1])?)
}

/// Whether `y` is a leap year in the proleptic Gregorian calendar.
#[inline]
pub fn is_leap_year(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

/// Number of days in month `m` (1–12) of year `y`.
#[inline]
pub fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap_year(y) => 29,
        _ => 28,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
#[inline]
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The proleptic Gregorian `(year, month, day)` of a day number (days since 1970-01-01).
#[inline]
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Remembers the last date seen (`YYYY-MM-DD`) and its day number. Feeds are ordered by
/// delivery time, so consecutive lines mostly share their dates; a hit skips the date's
/// validation and calendar arithmetic.
#[derive(Clone, Copy, Debug)]
pub struct DateCache {
    key: [u8; 10],
    days: i64,
}

impl Default for DateCache {
    fn default() -> DateCache {
        DateCache::new()
    }
}

impl DateCache {
    /// An empty cache (its key can never match a valid date).
    pub const fn new() -> DateCache {
        DateCache {
            key: [0; 10],
            days: 0,
        }
    }
}

/// Parses an RFC 3339 timestamp (see the module documentation for the exact grammar).
pub fn parse_rfc3339(b: &[u8]) -> Result<Timestamp, TimestampError> {
    parse_rfc3339_cached(b, &mut DateCache::new())
}

/// [`parse_rfc3339`] with a cache of the last date, for parsing many values in a row.
#[inline]
pub fn parse_rfc3339_cached(b: &[u8], cache: &mut DateCache) -> Result<Timestamp, TimestampError> {
    if b.len() < 19 {
        return Err(TimestampError::Syntax);
    }
    if b[13] != b':' || b[16] != b':' || !matches!(b[10], b'T' | b't' | b' ') {
        return Err(TimestampError::Syntax);
    }
    let hour = two(b, 11).ok_or(TimestampError::Syntax)?;
    let minute = two(b, 14).ok_or(TimestampError::Syntax)?;
    let mut second = two(b, 17).ok_or(TimestampError::Syntax)?;
    let date: &[u8; 10] = b[..10].try_into().expect("length checked");
    let cached = *date == cache.key;
    let (year, month, day) = if cached {
        (0, 1, 1) // already validated when it was cached
    } else {
        if b[4] != b'-' || b[7] != b'-' {
            return Err(TimestampError::Syntax);
        }
        let year = (|| Some(two(b, 0)? * 100 + two(b, 2)?))().ok_or(TimestampError::Syntax)?;
        let month = two(b, 5).ok_or(TimestampError::Syntax)?;
        let day = two(b, 8).ok_or(TimestampError::Syntax)?;
        (year, month, day)
    };

    let mut i = 19;
    let mut nanos: u32 = 0;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let n = i - start;
        if n == 0 {
            return Err(TimestampError::Syntax);
        }
        if n > 9 {
            return Err(TimestampError::Fraction);
        }
        for &c in &b[start..i] {
            nanos = nanos * 10 + (c - b'0') as u32;
        }
        nanos *= 10u32.pow((9 - n) as u32);
    }

    let offset: i64 = match b.get(i) {
        None => {
            // A complete date-time: check it is otherwise valid so that the error names
            // the real problem, then report the missing offset.
            check_date_time(year, month, day, hour, minute, second)?;
            return Err(TimestampError::NoOffset);
        }
        Some(b'Z' | b'z') => {
            if i + 1 != b.len() {
                return Err(TimestampError::Syntax);
            }
            0
        }
        Some(&sign @ (b'+' | b'-')) => {
            let rest = &b[i + 1..];
            if rest.len() != 5 || rest[2] != b':' {
                return Err(TimestampError::Offset);
            }
            let oh = two(rest, 0).ok_or(TimestampError::Offset)?;
            let om = two(rest, 3).ok_or(TimestampError::Offset)?;
            if oh > 23 || om > 59 {
                return Err(TimestampError::Offset);
            }
            let secs = (oh * 3600 + om * 60) as i64;
            if sign == b'-' { -secs } else { secs }
        }
        Some(_) => return Err(TimestampError::Syntax),
    };
    check_date_time(year, month, day, hour, minute, second)?;
    if second == 60 {
        second = 59;
    }
    let days = if cached {
        cache.days
    } else {
        let days = days_from_civil(year as i64, month, day);
        *cache = DateCache { key: *date, days };
        days
    };
    let secs = days * 86_400 + (hour * 3600 + minute * 60 + second) as i64 - offset;
    Timestamp::new(secs, nanos as i32).map_err(|_| TimestampError::Range)
}

#[inline]
fn check_date_time(
    year: u32,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
) -> Result<(), TimestampError> {
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year as i64, month) {
        return Err(TimestampError::Date);
    }
    if hour > 23 || minute > 59 || second > 60 {
        return Err(TimestampError::Time);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p(s: &str) -> Result<Timestamp, TimestampError> {
        parse_rfc3339(s.as_bytes())
    }

    #[test]
    fn accepts_the_rfc_3339_forms() {
        let cases = [
            ("2025-07-01T08:30:00+07:00", "2025-07-01T01:30:00Z"),
            ("2025-07-01T01:30:00Z", "2025-07-01T01:30:00Z"),
            ("2025-07-01t01:30:00z", "2025-07-01T01:30:00Z"),
            ("2025-07-01 01:30:00Z", "2025-07-01T01:30:00Z"),
            ("2025-07-01T01:30:00.5Z", "2025-07-01T01:30:00.5Z"),
            (
                "2025-07-01T01:30:00.123456789-00:00",
                "2025-07-01T01:30:00.123456789Z",
            ),
            ("2024-02-29T23:59:59-23:59", "2024-03-01T23:58:59Z"),
            ("1969-12-31T23:59:59.5Z", "1969-12-31T23:59:59.5Z"),
            ("0000-01-01T00:00:00Z", "0000-01-01T00:00:00Z"),
            ("9999-12-30T22:00:00Z", "9999-12-30T22:00:00Z"),
            ("2016-12-31T23:59:60Z", "2016-12-31T23:59:59Z"),
        ];
        for (input, want) in cases {
            let got = p(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(got, want.parse::<Timestamp>().unwrap(), "{input}");
        }
    }

    #[test]
    fn rejects_everything_else_with_the_right_kind() {
        use TimestampError::*;
        let cases = [
            ("2025-07-01T08:30:00", NoOffset),
            ("2025-07-01T08:30:00.25", NoOffset),
            ("2025-13-45T25:00:00+07:00", Date),
            ("2025-13-45T25:00:00", Date),
            ("2025-02-29T00:00:00Z", Date),
            ("2025-04-31T00:00:00Z", Date),
            ("2025-04-00T00:00:00Z", Date),
            ("2025-07-01T24:00:00Z", Time),
            ("2025-07-01T23:60:00Z", Time),
            ("2025-07-01T23:59:61Z", Time),
            ("2025-07-01T08:30:00+0700", Offset),
            ("2025-07-01T08:30:00+07", Offset),
            ("2025-07-01T08:30:00+24:00", Offset),
            ("2025-07-01T08:30:00+07:60", Offset),
            ("2025-07-01T08:30:00+07:00 ", Offset),
            ("2025-07-01T08:30:00Z ", Syntax),
            ("2025-07-01T08:30:00.Z", Syntax),
            ("2025-07-01T08:30:00.1234567890Z", Fraction),
            ("14/03/2025 09:00", Syntax),
            ("2025-07-01", Syntax),
            ("", Syntax),
            ("2025-07-01T08:30Z", Syntax),
            ("2025-7-01T08:30:00Z", Syntax),
            ("+2025-07-01T08:30:00Z", Syntax),
            ("2025-07-01X08:30:00Z", Syntax),
            ("2025-07-01T08:30:00 +07:00", Syntax),
            ("9999-12-31T23:59:59-23:00", Range),
            ("9999-12-31T23:59:59Z", Range), // jiff's maximum is 9999-12-30T22:00:00.999999999Z
        ];
        for (input, want) in cases {
            assert_eq!(p(input), Err(want), "{input}");
        }
    }

    #[test]
    fn civil_conversions_round_trip() {
        for z in -800_000..800_000i64 {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
            assert!(d >= 1 && d <= days_in_month(y, m));
        }
    }

    proptest! {
        /// Every valid RFC 3339 value parses to the same instant as jiff's parser.
        #[test]
        fn agrees_with_jiff(
            y in 0u32..=9999, mo in 1u32..=12, d in 1u32..=31, h in 0u32..=23,
            mi in 0u32..=59, s in 0u32..=60, frac in proptest::option::of((1usize..=9, 0u32..1_000_000_000)),
            off in proptest::option::of((any::<bool>(), 0u32..=23, 0u32..=59)),
            sep in prop_oneof![Just('T'), Just('t'), Just(' ')],
        ) {
            let mut text = format!("{y:04}-{mo:02}-{d:02}{sep}{h:02}:{mi:02}:{s:02}");
            if let Some((n, f)) = frac {
                let digits = format!("{f:09}");
                text.push('.');
                text.push_str(&digits[..n]);
            }
            match off {
                None => text.push('Z'),
                Some((neg, oh, om)) => {
                    text.push_str(&format!("{}{oh:02}:{om:02}", if neg { '-' } else { '+' }))
                }
            }
            let mine = p(&text);
            let theirs = text.parse::<Timestamp>();
            if d > days_in_month(y as i64, mo) {
                prop_assert_eq!(mine, Err(TimestampError::Date));
                prop_assert!(theirs.is_err());
            } else {
                match (mine, theirs) {
                    (Ok(a), Ok(b)) => prop_assert_eq!(a, b, "{}", text),
                    (Err(TimestampError::Range), Err(_)) => {}
                    (a, b) => prop_assert!(false, "{}: mine {:?}, jiff {:?}", text, a, b),
                }
            }
        }

        /// Arbitrary short byte strings never panic, and whatever this parser accepts
        /// jiff accepts too, as the same instant.
        #[test]
        fn never_panics_and_accepts_nothing_jiff_rejects(s in "[0-9T:Zz+. -]{0,40}") {
            if let Ok(t) = p(&s) {
                prop_assert_eq!(Ok(t), s.parse::<Timestamp>().map_err(|_| ()), "{}", s);
            }
        }
    }
}
