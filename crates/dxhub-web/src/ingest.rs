//! Checks of dossier snapshots against the administrative map: a `province_code` or
//! `commune_code` must name a unit valid on the day (in Viet Nam) the dossier was received.
//! Used by both the HTTP ingestion endpoint and `dxhub import dossiers`.

use std::collections::HashMap;

use dxhub_core::units::UnitLevel;
use dxhub_ingest::DossierSnapshot;
use dxhub_reference::ReferenceData;

/// Validity ranges of every province and commune code, as day numbers (days since
/// 1970-01-01), inclusive.
#[derive(Debug, Default)]
pub struct UnitCalendar {
    provinces: HashMap<[u8; 2], Vec<(i32, i32)>>,
    communes: HashMap<[u8; 5], Vec<(i32, i32)>>,
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
            let from = u.valid_from.map(day_number).unwrap_or(i32::MIN);
            let to = u.valid_to.map(day_number).unwrap_or(i32::MAX);
            match u.level {
                UnitLevel::Province => {
                    if let Ok(code) = <[u8; 2]>::try_from(u.code.as_bytes()) {
                        cal.provinces.entry(code).or_default().push((from, to));
                    }
                }
                UnitLevel::Commune => {
                    if let Ok(code) = <[u8; 5]>::try_from(u.code.as_bytes()) {
                        cal.communes.entry(code).or_default().push((from, to));
                    }
                }
                _ => {}
            }
        }
        cal
    }

    /// The calendar of the data shipped in the binary.
    pub fn embedded() -> &'static UnitCalendar {
        static CAL: std::sync::OnceLock<UnitCalendar> = std::sync::OnceLock::new();
        CAL.get_or_init(|| match ReferenceData::embedded() {
            Ok(d) => UnitCalendar::from_reference(&d),
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
        match ranges_cover(self.provinces.get(s.province_code.as_bytes()), day) {
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
            match ranges_cover(self.communes.get(c.as_bytes()), day) {
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
