//! Calendar dates as the domain uses them: civil dates in Vietnam's time zone.

use std::fmt;

/// A civil (calendar) date; the domain never needs a time of day for validity.
pub type Date = jiff::civil::Date;

/// Why a date given by a user could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct DateError {
    /// The text that was given.
    pub input: String,
}

impl fmt::Display for DateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "'{}' is not a valid date; expected YYYY-MM-DD, e.g. 2025-07-01",
            self.input
        )
    }
}

/// Parses a strict `YYYY-MM-DD` date (no time, no offset), rejecting impossible dates
/// such as 2025-02-30.
pub fn parse_date(input: &str) -> Result<Date, DateError> {
    let err = || DateError {
        input: input.to_owned(),
    };
    let bytes = input.as_bytes();
    if bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
        return Err(err());
    }
    let digits = |r: std::ops::Range<usize>| -> Result<i16, DateError> {
        let part = &input[r];
        if !part.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err());
        }
        part.parse().map_err(|_| err())
    };
    let (y, m, d) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
    let month = i8::try_from(m).map_err(|_| err())?;
    let day = i8::try_from(d).map_err(|_| err())?;
    Date::new(y, month, day).map_err(|_| err())
}

/// Today's date in Asia/Ho_Chi_Minh, the date the programme's figures are kept in.
pub fn today_in_vietnam() -> Date {
    // Vietnam has used UTC+7 without daylight saving since 1975, so a fixed offset is
    // exact and does not depend on a time-zone database being installed.
    jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::offset(7)))
        .date()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_strict_dates() {
        assert_eq!(
            parse_date("2025-07-01").unwrap(),
            jiff::civil::date(2025, 7, 1)
        );
        for bad in [
            "2025-7-1",
            "2025-02-30",
            "20250701",
            "2025-07-01T00:00",
            "",
            "abcd-ef-gh",
            "+025-07-01",
        ] {
            assert!(parse_date(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn error_names_the_input_and_the_format() {
        let e = parse_date("2025-13-01").unwrap_err();
        assert!(e.to_string().contains("2025-13-01"));
        assert!(e.to_string().contains("YYYY-MM-DD"));
    }
}
