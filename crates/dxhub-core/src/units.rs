//! Administrative units through time: provinces, districts, communes and ministries, each
//! version valid over a date range, joined by lineage edges across reorganisations.
//!
//! A code alone is not an identity. Province `24` is Bắc Giang until 2025-06-30 and the new
//! Bắc Ninh from 2025-07-01, and commune codes are reused the same way, so a unit version is
//! identified by its level, code and the first day it is valid ([`UnitKey`]).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::date::Date;

/// The first day of the two-tier, 34-province map (Nghị quyết 202/2025/QH15).
pub const REORG_2025: Date = jiff::civil::date(2025, 7, 1);

/// The earliest representable validity: used for versions whose start predates the
/// records dxhub holds ("valid since before our data").
pub const ORIGIN: Date = jiff::civil::date(1, 1, 1);

/// The tier of an administrative unit, or a ministry-level body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UnitLevel {
    /// Province or centrally-run city (tỉnh, thành phố trực thuộc trung ương).
    Province,
    /// District (huyện, quận, thị xã, thành phố thuộc tỉnh); abolished on 2025-07-01.
    District,
    /// Commune, ward or special zone (xã, phường, thị trấn, đặc khu).
    Commune,
    /// Ministry or ministry-level agency (bộ, cơ quan ngang bộ).
    Ministry,
}

impl UnitLevel {
    /// All levels, in hierarchy order.
    pub const ALL: [UnitLevel; 4] = [
        UnitLevel::Province,
        UnitLevel::District,
        UnitLevel::Commune,
        UnitLevel::Ministry,
    ];

    /// The lowercase English name used in URLs, JSON and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            UnitLevel::Province => "province",
            UnitLevel::District => "district",
            UnitLevel::Commune => "commune",
            UnitLevel::Ministry => "ministry",
        }
    }

    /// The level a code of this shape names: GSO codes have 2 (province), 3 (district)
    /// or 5 (commune) digits; ministries have short upper-case letter codes.
    pub fn of_code(code: &str) -> Option<UnitLevel> {
        let digits = code.bytes().all(|b| b.is_ascii_digit());
        match code.len() {
            2 if digits => Some(UnitLevel::Province),
            3 if digits => Some(UnitLevel::District),
            5 if digits => Some(UnitLevel::Commune),
            2..=12 if code.bytes().all(|b| b.is_ascii_uppercase()) => Some(UnitLevel::Ministry),
            _ => None,
        }
    }
}

impl fmt::Display for UnitLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A level name that is not one of `province`, `district`, `commune`, `ministry`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a unit level; expected one of province, district, commune, ministry")]
pub struct UnknownLevel(pub String);

impl FromStr for UnitLevel {
    type Err = UnknownLevel;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        UnitLevel::ALL
            .into_iter()
            .find(|l| l.as_str() == s)
            .ok_or_else(|| UnknownLevel(s.to_owned()))
    }
}

/// A syntactically valid unit code: 2, 3 or 5 ASCII digits (GSO), or 2–12 upper-case
/// ASCII letters (ministry).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct UnitCode(String);

/// A code that has the shape of no unit code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "'{0}' is not a unit code; expected 2 digits (province), 3 (district), 5 (commune) \
     or 2–12 capital letters (ministry)"
)]
pub struct InvalidCode(pub String);

impl UnitCode {
    /// Checks the shape of `code`.
    pub fn parse(code: &str) -> Result<UnitCode, InvalidCode> {
        match UnitLevel::of_code(code) {
            Some(_) => Ok(UnitCode(code.to_owned())),
            None => Err(InvalidCode(code.to_owned())),
        }
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The level the code's shape names.
    pub fn level(&self) -> UnitLevel {
        // Construction guarantees the shape is one of the known ones.
        UnitLevel::of_code(&self.0).unwrap_or(UnitLevel::Ministry)
    }
}

impl TryFrom<String> for UnitCode {
    type Error = InvalidCode;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        UnitCode::parse(&s)
    }
}

impl From<UnitCode> for String {
    fn from(c: UnitCode) -> String {
        c.0
    }
}

impl fmt::Display for UnitCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The identity of one unit version: level, code and first valid day.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UnitKey {
    /// The unit's tier.
    pub level: UnitLevel,
    /// Its code (reused across versions).
    pub code: String,
    /// First day valid; [`ORIGIN`] when it predates our records.
    pub valid_from: Date,
}

/// One version of an administrative unit or ministry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unit {
    /// Code, unique among the units of the same level valid on the same day.
    pub code: String,
    /// Official name, e.g. "Tỉnh Bắc Ninh", "Phường Ba Đình".
    pub name: String,
    /// Name without the type word, e.g. "Bắc Ninh", where one is known.
    pub short_name: Option<String>,
    /// The unit's type as written in Vietnamese (Tỉnh, Thành phố Trung ương, Xã, Phường …).
    pub kind: String,
    /// Tier.
    pub level: UnitLevel,
    /// Code of the direct parent valid on the same days (province of a district, district
    /// of a commune before 2025-07-01, province of a commune from then on).
    pub parent: Option<String>,
    /// Code of the province the unit lies in (itself for a province; none for a ministry).
    pub province: Option<String>,
    /// First day valid; `None` when it predates the records dxhub holds.
    pub valid_from: Option<Date>,
    /// Last day valid (inclusive); `None` while still valid.
    pub valid_to: Option<Date>,
}

impl Unit {
    /// Whether this version is in force on `day`.
    pub fn valid_on(&self, day: Date) -> bool {
        self.valid_from.is_none_or(|f| f <= day) && self.valid_to.is_none_or(|t| day <= t)
    }

    /// The version's identity.
    pub fn key(&self) -> UnitKey {
        UnitKey {
            level: self.level,
            code: self.code.clone(),
            valid_from: self.valid_from.unwrap_or(ORIGIN),
        }
    }
}

/// Whether the whole of the older unit went into the newer one, or only part of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LineageKind {
    /// The whole territory (or remit) of the old unit became part of the new one.
    Full,
    /// Only part of the old unit went into the new one; the rest went elsewhere.
    Partial,
}

impl LineageKind {
    /// The lowercase name used in JSON and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            LineageKind::Full => "full",
            LineageKind::Partial => "partial",
        }
    }

    /// The kind of a chain of edges: full only when every link is full.
    pub fn then(self, next: LineageKind) -> LineageKind {
        if self == LineageKind::Full && next == LineageKind::Full {
            LineageKind::Full
        } else {
            LineageKind::Partial
        }
    }
}

impl FromStr for LineageKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "full" => Ok(LineageKind::Full),
            "partial" => Ok(LineageKind::Partial),
            other => Err(format!(
                "'{other}' is not a lineage kind; expected full or partial"
            )),
        }
    }
}

/// A reorganisation step: (part of) `from` became (part of) `to` on `to`'s first day.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LineageEdge {
    /// The older version.
    pub from: UnitKey,
    /// The newer version.
    pub to: UnitKey,
    /// Whether all of `from` went into `to`.
    pub kind: LineageKind,
}

/// A unit reached by following lineage edges, with the kind of the whole chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineageEntry {
    /// The unit version reached.
    #[serde(flatten)]
    pub unit: Unit,
    /// `full` if every step of some chain to it is full, `partial` otherwise.
    pub kind: LineageKind,
    /// How many reorganisations away it is (1 = directly).
    pub steps: u32,
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn level_of_code_shape() {
        assert_eq!(UnitLevel::of_code("24"), Some(UnitLevel::Province));
        assert_eq!(UnitLevel::of_code("001"), Some(UnitLevel::District));
        assert_eq!(UnitLevel::of_code("00004"), Some(UnitLevel::Commune));
        assert_eq!(UnitLevel::of_code("BTC"), Some(UnitLevel::Ministry));
        for bad in ["", "1", "0001", "123456", "ab", "B1", "Ｂ"] {
            assert_eq!(UnitLevel::of_code(bad), None, "{bad}");
            assert!(UnitCode::parse(bad).is_err());
        }
    }

    #[test]
    fn levels_round_trip_and_reject_unknown() {
        for l in UnitLevel::ALL {
            assert_eq!(l.as_str().parse::<UnitLevel>().unwrap(), l);
        }
        let e = "Province".parse::<UnitLevel>().unwrap_err();
        assert!(e.to_string().contains("'Province'"));
    }

    #[test]
    fn validity_is_inclusive_and_open_ended() {
        let u = Unit {
            code: "24".into(),
            name: "Tỉnh Bắc Giang".into(),
            short_name: None,
            kind: "Tỉnh".into(),
            level: UnitLevel::Province,
            parent: None,
            province: Some("24".into()),
            valid_from: None,
            valid_to: Some(date(2025, 6, 30)),
        };
        assert!(u.valid_on(date(1990, 1, 1)));
        assert!(u.valid_on(date(2025, 6, 30)));
        assert!(!u.valid_on(REORG_2025));
        assert_eq!(u.key().valid_from, ORIGIN);
    }

    #[test]
    fn chain_kind_is_full_only_when_all_links_are() {
        use LineageKind::*;
        assert_eq!(Full.then(Full), Full);
        assert_eq!(Full.then(Partial), Partial);
        assert_eq!(Partial.then(Full), Partial);
    }
}
