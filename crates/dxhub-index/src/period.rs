//! Reporting periods: a month (`2026-03`), a quarter (`2026-Q1`) or a year (`2026`).

use std::fmt;
use std::str::FromStr;

/// How fine a period is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PeriodKind {
    /// A calendar month.
    Month,
    /// A calendar quarter.
    Quarter,
    /// A calendar year.
    Year,
}

/// A reporting period. Ordered by start, then by length (a month before its quarter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Period {
    /// A month, 1..=12.
    Month {
        /// The year.
        year: i32,
        /// The month, 1..=12.
        month: u8,
    },
    /// A quarter, 1..=4.
    Quarter {
        /// The year.
        year: i32,
        /// The quarter, 1..=4.
        quarter: u8,
    },
    /// A year.
    Year(i32),
}

impl Period {
    /// The period's kind.
    pub fn kind(&self) -> PeriodKind {
        match self {
            Period::Month { .. } => PeriodKind::Month,
            Period::Quarter { .. } => PeriodKind::Quarter,
            Period::Year(_) => PeriodKind::Year,
        }
    }

    /// The year the period lies in.
    pub fn year(&self) -> i32 {
        match *self {
            Period::Month { year, .. } | Period::Quarter { year, .. } | Period::Year(year) => year,
        }
    }

    /// First and last month (1..=12) covered.
    fn months(&self) -> (u8, u8) {
        match *self {
            Period::Month { month, .. } => (month, month),
            Period::Quarter { quarter, .. } => (quarter * 3 - 2, quarter * 3),
            Period::Year(_) => (1, 12),
        }
    }

    /// The period of kind `kind` that contains this one, or `None` when `kind` is finer
    /// than this period.
    pub fn within(&self, kind: PeriodKind) -> Option<Period> {
        if kind < self.kind() {
            return None;
        }
        let year = self.year();
        Some(match kind {
            PeriodKind::Month => *self,
            PeriodKind::Quarter => Period::Quarter {
                year,
                quarter: self.months().0.div_ceil(3),
            },
            PeriodKind::Year => Period::Year(year),
        })
    }

    /// Whether `other` lies inside this period (a period contains itself).
    pub fn contains(&self, other: &Period) -> bool {
        other.within(self.kind()) == Some(*self)
    }
}

impl PartialOrd for Period {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Period {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.year(), self.months().0, self.kind()).cmp(&(
            other.year(),
            other.months().0,
            other.kind(),
        ))
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Period::Month { year, month } => write!(f, "{year:04}-{month:02}"),
            Period::Quarter { year, quarter } => write!(f, "{year:04}-Q{quarter}"),
            Period::Year(year) => write!(f, "{year:04}"),
        }
    }
}

/// A text that is not a period.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a period (expected YYYY, YYYY-Qn or YYYY-MM)")]
pub struct PeriodParseError(pub String);

impl FromStr for Period {
    type Err = PeriodParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || PeriodParseError(s.to_owned());
        let digits = |t: &str, n: usize| t.len() == n && t.bytes().all(|b| b.is_ascii_digit());
        let (y, rest) = s.split_at(s.len().min(4));
        if !digits(y, 4) {
            return Err(bad());
        }
        let year: i32 = y.parse().map_err(|_| bad())?;
        if rest.is_empty() {
            return Ok(Period::Year(year));
        }
        let rest = rest.strip_prefix('-').ok_or_else(bad)?;
        if let Some(q) = rest.strip_prefix('Q') {
            let quarter: u8 = q.parse().map_err(|_| bad())?;
            if !digits(q, 1) || !(1..=4).contains(&quarter) {
                return Err(bad());
            }
            return Ok(Period::Quarter { year, quarter });
        }
        let month: u8 = rest.parse().map_err(|_| bad())?;
        if !digits(rest, 2) || !(1..=12).contains(&month) {
            return Err(bad());
        }
        Ok(Period::Month { year, month })
    }
}

impl serde::Serialize for Period {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Period {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_display_round_trip() {
        for s in ["2026-03", "2026-Q1", "2026", "2025-12", "2024-Q4"] {
            let p: Period = s.parse().unwrap();
            assert_eq!(p.to_string(), s);
        }
        assert_eq!(
            "2026-03".parse::<Period>().unwrap(),
            Period::Month {
                year: 2026,
                month: 3
            }
        );
        for bad in [
            "2026-13", "2026-Q5", "2026-3", "26", "2026-", "2026-Q", "x", "2026-00",
        ] {
            assert!(bad.parse::<Period>().is_err(), "{bad}");
        }
    }

    #[test]
    fn containment_and_order() {
        let m: Period = "2026-05".parse().unwrap();
        assert_eq!(
            m.within(PeriodKind::Quarter).unwrap().to_string(),
            "2026-Q2"
        );
        assert_eq!(m.within(PeriodKind::Year).unwrap().to_string(), "2026");
        let q: Period = "2026-Q2".parse().unwrap();
        assert_eq!(q.within(PeriodKind::Month), None);
        assert!(q.contains(&m));
        assert!(!q.contains(&"2026-07".parse().unwrap()));
        let mut ps: Vec<Period> = ["2026", "2026-02", "2026-Q1", "2025-12"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        ps.sort();
        let shown: Vec<String> = ps.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["2025-12", "2026-Q1", "2026", "2026-02"]);
    }
}
