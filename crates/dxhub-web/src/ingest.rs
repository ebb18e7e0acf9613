//! Checks of dossier snapshots against the administrative map: a `province_code` or
//! `commune_code` must name a unit valid on the day (in Viet Nam) the dossier was received.
//! Used by both the HTTP ingestion endpoint and `dxhub import dossiers`.

use dxhub_core::units::UnitLevel;
use dxhub_ingest::DossierSnapshot;
use dxhub_reference::ReferenceData;

/// Validity ranges of every province and commune code, as day numbers (days since
/// 1970-01-01), inclusive. Codes are digits, so each table is indexed by the code's value
/// (100 province codes, 100,000 commune codes): a check is two array lookups, which
/// matters at millions of lines per import.
#[derive(Debug, PartialEq, Eq)]
pub struct UnitCalendar {
    provinces: Vec<Vec<(i32, i32)>>,
    communes: Vec<Vec<(i32, i32)>>,
}

impl Default for UnitCalendar {
    fn default() -> Self {
        UnitCalendar {
            provinces: vec![Vec::new(); 100],
            communes: vec![Vec::new(); 100_000],
        }
    }
}

/// The value of a code of `N` ASCII digits.
fn code_index<const N: usize>(code: &[u8]) -> Option<usize> {
    if code.len() != N || !code.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(code.iter().fold(0, |n, &d| n * 10 + usize::from(d - b'0')))
}

/// The ranges of a code in a table; `None` for a code no unit ever had.
fn ranges_of<'a, const N: usize>(
    table: &'a [Vec<(i32, i32)>],
    code: &[u8],
) -> Option<&'a Vec<(i32, i32)>> {
    code_index::<N>(code)
        .and_then(|i| table.get(i))
        .filter(|rs| !rs.is_empty())
}

fn day_number(d: jiff::civil::Date) -> i32 {
    let epoch = jiff::civil::date(1970, 1, 1);
    (d - epoch).get_days()
}

fn ranges_cover(ranges: Option<&Vec<(i32, i32)>>, day: i32) -> Option<bool> {
    ranges.map(|rs| rs.iter().any(|(a, b)| *a <= day && day <= *b))
}

impl UnitCalendar {
    /// Builds the calendar from reference data.
    pub fn from_reference(data: &ReferenceData) -> UnitCalendar {
        let mut cal = UnitCalendar::default();
        for u in &data.units {
            cal.add(u.level, &u.code, u.valid_from, u.valid_to);
        }
        cal
    }

    /// Adds the validity of one unit (other levels than province and commune are ignored).
    fn add(
        &mut self,
        level: UnitLevel,
        code: &str,
        from: Option<dxhub_core::Date>,
        to: Option<dxhub_core::Date>,
    ) {
        let range = (
            from.map(day_number).unwrap_or(i32::MIN),
            to.map(day_number).unwrap_or(i32::MAX),
        );
        let slot = match level {
            UnitLevel::Province => code_index::<2>(code.as_bytes()).map(|i| &mut self.provinces[i]),
            UnitLevel::Commune => code_index::<5>(code.as_bytes()).map(|i| &mut self.communes[i]),
            _ => None,
        };
        if let Some(ranges) = slot {
            ranges.push(range);
        }
    }

    /// The calendar of the data shipped in the binary, built from its code columns alone
    /// ([`dxhub_reference::embedded_unit_codes`]): every import builds it before its first
    /// batch, and the full reference build would take tens of milliseconds.
    pub fn embedded() -> &'static UnitCalendar {
        static CAL: std::sync::OnceLock<UnitCalendar> = std::sync::OnceLock::new();
        CAL.get_or_init(|| match dxhub_reference::embedded_unit_codes() {
            Ok(codes) => {
                let mut cal = UnitCalendar::default();
                for u in &codes {
                    cal.add(u.level, &u.code, u.valid_from, u.valid_to);
                }
                cal
            }
            Err(e) => {
                tracing::error!(error = %e, "embedded reference data is invalid");
                UnitCalendar::default()
            }
        })
    }

    /// `Err((field, reason))` when a code names no unit valid on the day received.
    pub fn check(&self, s: &DossierSnapshot) -> Result<(), (&'static str, String)> {
        let offset = dxhub_ingest::indicators::hcm_offset_seconds(s.received_at.as_second());
        let day = (s.received_at.as_second() + i64::from(offset)).div_euclid(86_400) as i32;
        let date = || {
            s.received_at
                .to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::Offset::constant(7)))
                .date()
        };
        match ranges_cover(
            ranges_of::<2>(&self.provinces, s.province_code.as_bytes()),
            day,
        ) {
            Some(true) => {}
            Some(false) => {
                return Err((
                    "province_code",
                    format!(
                        "province_code: {} names no province valid on {} (the day received_at falls on in Viet Nam)",
                        s.province_code,
                        date()
                    ),
                ));
            }
            None => {
                return Err((
                    "province_code",
                    format!("province_code: {} is not a province code", s.province_code),
                ));
            }
        }
        if let Some(c) = &s.commune_code {
            match ranges_cover(ranges_of::<5>(&self.communes, c.as_bytes()), day) {
                Some(true) => {}
                Some(false) => {
                    return Err((
                        "commune_code",
                        format!("commune_code: {c} names no commune valid on {}", date()),
                    ));
                }
                None => {
                    return Err((
                        "commune_code",
                        format!("commune_code: {c} is not a commune code"),
                    ));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The calendar built from the code columns is the one the full reference build gives.
    #[test]
    fn embedded_calendar_matches_the_full_reference_build() {
        let full = ReferenceData::embedded().expect("embedded reference data parses");
        assert_eq!(
            UnitCalendar::embedded(),
            &UnitCalendar::from_reference(&full)
        );
    }
}
