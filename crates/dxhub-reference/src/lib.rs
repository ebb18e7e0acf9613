//! Reference data shipped inside the binary (administrative units before and after the
//! 2025 reorganisation, their lineage, ministries, province boundaries), parsed into
//! domain types. Sources and licences: `data/reference/SOURCES.md`, `data/ministries/SOURCES.md`.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use dxhub_core::Date;
use dxhub_core::date::parse_date;
use dxhub_core::units::{LineageEdge, LineageKind, ORIGIN, REORG_2025, Unit, UnitKey, UnitLevel};
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// One embedded source file: its path under `data/` (for error messages) and its text.
struct Source {
    path: &'static str,
    text: &'static str,
}

macro_rules! source {
    ($path:literal) => {
        Source {
            path: $path,
            text: include_str!(concat!("../../../data/", $path)),
        }
    };
}

const PROVINCES_63: Source = source!("reference/admin_units/pre2025/provinces_63.csv");
const DISTRICTS_696: Source = source!("reference/admin_units/pre2025/districts_696.csv");
const COMMUNES_10047: Source = source!("reference/admin_units/pre2025/communes_10047.csv");
const PROVINCES_34: Source = source!("reference/admin_units/post2025/provinces_34.csv");
const COMMUNES_3321: Source = source!("reference/admin_units/post2025/communes_3321.csv");
const PROVINCE_MERGER: Source =
    source!("reference/admin_units/mapping/province_merger_63_to_34.csv");
const COMMUNE_MAPPING: Source = source!("reference/admin_units/mapping/commune_old_to_new.csv");
const MINISTRIES: Source = source!("ministries/ministries.csv");
const MINISTRY_LINEAGE: Source = source!("ministries/lineage.csv");

/// Province boundaries of the 63-province map (valid until 2025-06-30), GeoJSON.
pub const GEO_PROVINCES_63: &str =
    include_str!("../../../data/reference/geo/vn_provinces_63_pre2025.geojson");
/// Province boundaries of the 34-province map (valid from 2025-07-01), GeoJSON.
pub const GEO_PROVINCES_34: &str =
    include_str!("../../../data/reference/geo/vn_provinces_34_post2025.geojson");

/// The published DTI 2022 provincial ranking (rank of all 63 provinces, totals of the top
/// five), from dti.gov.vn via `data/reference/dti` (see its SOURCES.md).
pub const DTI_2022_RANKING: &str =
    include_str!("../../../data/reference/dti/dti_2022_province_ranking.csv");

/// The 2025 merger of the 63 provinces into 34: `old_code,old_name,new_code,new_name,…`.
pub const PROVINCE_MERGER_63_TO_34: &str =
    include_str!("../../../data/reference/admin_units/mapping/province_merger_63_to_34.csv");

/// Where the DTI 2022 ranking was published.
pub const DTI_2022_SOURCE: &str = "https://dti.gov.vn/xep-hang-2022 (Bộ Thông tin và Truyền thông)";

/// The attribution shown wherever the boundaries are drawn.
pub const GEO_ATTRIBUTION: &str = "Ranh giới tỉnh: Open Development Vietnam (qua TaliaCao/Vietnam-Shape-Map, MIT); mã và tên: GSO";

const ALL_SOURCES: [&Source; 9] = [
    &PROVINCES_63,
    &DISTRICTS_696,
    &COMMUNES_10047,
    &PROVINCES_34,
    &COMMUNES_3321,
    &PROVINCE_MERGER,
    &COMMUNE_MAPPING,
    &MINISTRIES,
    &MINISTRY_LINEAGE,
];

/// A located problem in the reference data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}, line {line}: {reason}")]
pub struct ReferenceError {
    /// File under `data/`.
    pub file: String,
    /// 1-based line number (the header is line 1).
    pub line: u64,
    /// What is wrong.
    pub reason: String,
}

/// Everything the reference loader puts into a store.
#[derive(Debug, Clone)]
pub struct ReferenceData {
    /// A digest of every source file; a store that has loaded this version skips loading.
    pub version: String,
    /// Every unit version.
    pub units: Vec<Unit>,
    /// Every lineage edge, old → new.
    pub lineage: Vec<LineageEdge>,
}

impl ReferenceData {
    /// Parses the data embedded in the binary.
    pub fn embedded() -> Result<ReferenceData, ReferenceError> {
        Builder::default().build()
    }

    /// The units of one level valid on `day`, in code order.
    pub fn units_at(&self, level: UnitLevel, day: Date) -> Vec<&Unit> {
        let mut v: Vec<&Unit> = self
            .units
            .iter()
            .filter(|u| u.level == level && u.valid_on(day))
            .collect();
        v.sort_by(|a, b| a.code.cmp(&b.code));
        v
    }
}

/// The version of the embedded data, without parsing it (a digest of the files): lets a
/// restart see that the store is up to date in milliseconds.
pub fn embedded_version() -> String {
    version_digest()
}

fn version_digest() -> String {
    let mut h = Sha256::new();
    for s in ALL_SOURCES {
        h.update(s.path.as_bytes());
        h.update([0]);
        h.update(s.text.as_bytes());
        h.update([0]);
    }
    let digest = h.finalize();
    digest.iter().take(12).map(|b| format!("{b:02x}")).collect()
}

fn rows<T: for<'de> Deserialize<'de>>(src: &Source) -> Result<Vec<(u64, T)>, ReferenceError> {
    let mut reader = csv::ReaderBuilder::new().from_reader(src.text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| located(src, 1, e.to_string()))?
        .clone();
    let mut out = Vec::new();
    for rec in reader.records() {
        let rec = rec.map_err(|e| {
            let line = e.position().map(|p| p.line()).unwrap_or(0);
            located(src, line, e.to_string())
        })?;
        let line = rec.position().map(|p| p.line()).unwrap_or(0);
        let row = rec
            .deserialize(Some(&headers))
            .map_err(|e| located(src, line, e.to_string()))?;
        out.push((line, row));
    }
    Ok(out)
}

fn located(src: &Source, line: u64, reason: impl Into<String>) -> ReferenceError {
    ReferenceError {
        file: src.path.to_owned(),
        line,
        reason: reason.into(),
    }
}

fn opt_date(src: &Source, line: u64, field: &str, v: &str) -> Result<Option<Date>, ReferenceError> {
    if v.is_empty() {
        return Ok(None);
    }
    parse_date(v)
        .map(Some)
        .map_err(|e| located(src, line, format!("{field}: {e}")))
}

#[derive(Deserialize)]
struct Province63 {
    code: String,
    name: String,
    short_name: String,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Deserialize)]
struct District {
    code: String,
    name: String,
    #[serde(rename = "type")]
    kind: String,
    province_code: String,
}

#[derive(Deserialize)]
struct Commune63 {
    code: String,
    name: String,
    #[serde(rename = "type")]
    kind: String,
    district_code: String,
    province_code: String,
}

#[derive(Deserialize)]
struct Province34 {
    code: String,
    name: String,
    short_name: String,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Deserialize)]
struct Commune34 {
    code: String,
    name: String,
    #[serde(rename = "type")]
    kind: String,
    province_code: String,
}

#[derive(Deserialize)]
struct ProvinceMerge {
    old_code: String,
    new_code: String,
}

#[derive(Deserialize)]
struct CommuneMap {
    old_level: String,
    old_code: String,
    new_code: String,
    merge_type: String,
}

#[derive(Deserialize)]
struct Ministry {
    code: String,
    name: String,
    short_name: String,
    #[serde(rename = "type")]
    kind: String,
    valid_from: String,
    valid_to: String,
}

#[derive(Deserialize)]
struct MinistryEdge {
    old_code: String,
    old_valid_from: String,
    new_code: String,
    new_valid_from: String,
    merge_type: String,
}

/// The last day of the 63-province map.
fn last_old_day() -> Date {
    REORG_2025.yesterday().unwrap_or(REORG_2025)
}

/// The map a unit file describes: the one before the 2025 reorganisation or the one after.
#[derive(Clone, Copy)]
enum Map {
    Before2025,
    After2025,
}

impl Map {
    /// `(valid_from, valid_to)` of every unit of the map (`None`: unbounded).
    fn validity(self) -> (Option<Date>, Option<Date>) {
        match self {
            Map::Before2025 => (None, Some(last_old_day())),
            Map::After2025 => (Some(REORG_2025), None),
        }
    }
}

/// A province or commune code and the days it is valid, inclusive (`None`: unbounded).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct UnitCode {
    pub level: UnitLevel,
    pub code: String,
    pub valid_from: Option<Date>,
    pub valid_to: Option<Date>,
}

/// The files of province and commune units, with their level and map.
const UNIT_CODE_FILES: [(&Source, UnitLevel, Map); 4] = [
    (&PROVINCES_63, UnitLevel::Province, Map::Before2025),
    (&COMMUNES_10047, UnitLevel::Commune, Map::Before2025),
    (&PROVINCES_34, UnitLevel::Province, Map::After2025),
    (&COMMUNES_3321, UnitLevel::Commune, Map::After2025),
];

/// Every province and commune code of the embedded data with the days it is valid: the
/// same units as [`ReferenceData::embedded`] holds, read from the `code` column alone (no
/// names, lineage or cross-checks), in a millisecond or two rather than the tens a full
/// build takes. Checking a feed needs only this, at the start of every import.
pub fn embedded_unit_codes() -> Result<Vec<UnitCode>, ReferenceError> {
    let mut out = Vec::new();
    for (src, level, map) in UNIT_CODE_FILES {
        let (valid_from, valid_to) = map.validity();
        let mut reader = csv::ReaderBuilder::new().from_reader(src.text.as_bytes());
        let column = reader
            .byte_headers()
            .map_err(|e| located(src, 1, e.to_string()))?
            .iter()
            .position(|h| h == b"code")
            .ok_or_else(|| located(src, 1, "no code column"))?;
        let mut record = csv::ByteRecord::new();
        loop {
            match reader.read_byte_record(&mut record) {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) => {
                    let line = e.position().map(|p| p.line()).unwrap_or(0);
                    return Err(located(src, line, e.to_string()));
                }
            }
            let line = record.position().map(|p| p.line()).unwrap_or(0);
            let code = record
                .get(column)
                .and_then(|c| std::str::from_utf8(c).ok())
                .filter(|c| UnitLevel::of_code(c) == Some(level))
                .ok_or_else(|| located(src, line, format!("code is not a {level} code")))?;
            out.push(UnitCode {
                level,
                code: code.to_owned(),
                valid_from,
                valid_to,
            });
        }
    }
    Ok(out)
}

#[derive(Default)]
struct Builder {
    units: Vec<Unit>,
    lineage: Vec<LineageEdge>,
    /// Every key added, to reject duplicates and dangling edges.
    keys: BTreeSet<UnitKey>,
}

impl Builder {
    fn add(&mut self, src: &Source, line: u64, unit: Unit) -> Result<(), ReferenceError> {
        if UnitLevel::of_code(&unit.code) != Some(unit.level) {
            return Err(located(
                src,
                line,
                format!("code '{}' is not a {} code", unit.code, unit.level),
            ));
        }
        if !self.keys.insert(unit.key()) {
            return Err(located(
                src,
                line,
                format!("{} {} appears twice", unit.level, unit.code),
            ));
        }
        self.units.push(unit);
        Ok(())
    }

    fn edge(
        &mut self,
        src: &Source,
        line: u64,
        from: UnitKey,
        to: UnitKey,
        kind: &str,
    ) -> Result<(), ReferenceError> {
        for k in [&from, &to] {
            if !self.keys.contains(k) {
                return Err(located(
                    src,
                    line,
                    format!(
                        "{} {} (valid from {}) is not a known unit",
                        k.level, k.code, k.valid_from
                    ),
                ));
            }
        }
        let kind: LineageKind = kind
            .parse()
            .map_err(|e: String| located(src, line, format!("merge_type: {e}")))?;
        self.lineage.push(LineageEdge { from, to, kind });
        Ok(())
    }

    fn build(mut self) -> Result<ReferenceData, ReferenceError> {
        let (_, old_end) = Map::Before2025.validity();
        let (new_start, _) = Map::After2025.validity();
        let old_key = |level, code: &str| UnitKey {
            level,
            code: code.to_owned(),
            valid_from: ORIGIN,
        };
        let new_key = |level, code: &str| UnitKey {
            level,
            code: code.to_owned(),
            valid_from: REORG_2025,
        };

        for (line, p) in rows::<Province63>(&PROVINCES_63)? {
            let unit = Unit {
                province: Some(p.code.clone()),
                code: p.code,
                name: p.name,
                short_name: Some(p.short_name),
                kind: p.kind,
                level: UnitLevel::Province,
                parent: None,
                valid_from: None,
                valid_to: old_end,
            };
            self.add(&PROVINCES_63, line, unit)?;
        }
        for (line, d) in rows::<District>(&DISTRICTS_696)? {
            if !self
                .keys
                .contains(&old_key(UnitLevel::Province, &d.province_code))
            {
                return Err(located(
                    &DISTRICTS_696,
                    line,
                    format!("province_code '{}' is unknown", d.province_code),
                ));
            }
            let unit = Unit {
                code: d.code,
                name: d.name,
                short_name: None,
                kind: d.kind,
                level: UnitLevel::District,
                parent: Some(d.province_code.clone()),
                province: Some(d.province_code),
                valid_from: None,
                valid_to: old_end,
            };
            self.add(&DISTRICTS_696, line, unit)?;
        }
        for (line, c) in rows::<Commune63>(&COMMUNES_10047)? {
            if !self
                .keys
                .contains(&old_key(UnitLevel::District, &c.district_code))
            {
                return Err(located(
                    &COMMUNES_10047,
                    line,
                    format!("district_code '{}' is unknown", c.district_code),
                ));
            }
            let unit = Unit {
                code: c.code,
                name: c.name,
                short_name: None,
                kind: c.kind,
                level: UnitLevel::Commune,
                parent: Some(c.district_code),
                province: Some(c.province_code),
                valid_from: None,
                valid_to: old_end,
            };
            self.add(&COMMUNES_10047, line, unit)?;
        }
        for (line, p) in rows::<Province34>(&PROVINCES_34)? {
            let unit = Unit {
                province: Some(p.code.clone()),
                code: p.code,
                name: p.name,
                short_name: Some(p.short_name),
                kind: p.kind,
                level: UnitLevel::Province,
                parent: None,
                valid_from: new_start,
                valid_to: None,
            };
            self.add(&PROVINCES_34, line, unit)?;
        }
        for (line, c) in rows::<Commune34>(&COMMUNES_3321)? {
            if !self
                .keys
                .contains(&new_key(UnitLevel::Province, &c.province_code))
            {
                return Err(located(
                    &COMMUNES_3321,
                    line,
                    format!("province_code '{}' is unknown", c.province_code),
                ));
            }
            let unit = Unit {
                code: c.code,
                name: c.name,
                short_name: None,
                kind: c.kind,
                level: UnitLevel::Commune,
                parent: Some(c.province_code.clone()),
                province: Some(c.province_code),
                valid_from: new_start,
                valid_to: None,
            };
            self.add(&COMMUNES_3321, line, unit)?;
        }

        for (line, m) in rows::<ProvinceMerge>(&PROVINCE_MERGER)? {
            // The 2025 resolutions merged whole provinces: every old province lies entirely
            // inside its new one.
            self.edge(
                &PROVINCE_MERGER,
                line,
                old_key(UnitLevel::Province, &m.old_code),
                new_key(UnitLevel::Province, &m.new_code),
                "full",
            )?;
        }

        // District → new commune edges are derived from their communes' edges below; the
        // mapping file itself names the five island districts that had no communes.
        let district_of: HashMap<String, String> = self
            .units
            .iter()
            .filter(|u| u.level == UnitLevel::Commune && u.valid_to == old_end)
            .filter_map(|u| Some((u.code.clone(), u.parent.clone()?)))
            .collect();
        let mut district_targets: BTreeMap<String, BTreeMap<String, LineageKind>> = BTreeMap::new();
        let mut seen_pairs = BTreeSet::new();
        for (line, m) in rows::<CommuneMap>(&COMMUNE_MAPPING)? {
            let level: UnitLevel =
                m.old_level
                    .parse()
                    .map_err(|e: dxhub_core::units::UnknownLevel| {
                        located(&COMMUNE_MAPPING, line, format!("old_level: {e}"))
                    })?;
            if !seen_pairs.insert((level, m.old_code.clone(), m.new_code.clone())) {
                return Err(located(
                    &COMMUNE_MAPPING,
                    line,
                    format!("{} → {} appears twice", m.old_code, m.new_code),
                ));
            }
            self.edge(
                &COMMUNE_MAPPING,
                line,
                old_key(level, &m.old_code),
                new_key(UnitLevel::Commune, &m.new_code),
                &m.merge_type,
            )?;
            if level == UnitLevel::Commune
                && let Some(district) = district_of.get(&m.old_code)
            {
                let kind = self
                    .lineage
                    .last()
                    .map(|e| e.kind)
                    .unwrap_or(LineageKind::Partial);
                let entry = district_targets
                    .entry(district.clone())
                    .or_default()
                    .entry(m.new_code.clone())
                    .or_insert(kind);
                *entry = entry.then(kind);
            }
        }
        for (district, targets) in district_targets {
            // A district went wholly into a new commune only when that commune is its only
            // successor and every one of its communes went there whole.
            let only = targets.len() == 1;
            for (new_code, kind) in targets {
                let kind = if only { kind } else { LineageKind::Partial };
                self.lineage.push(LineageEdge {
                    from: old_key(UnitLevel::District, &district),
                    to: new_key(UnitLevel::Commune, &new_code),
                    kind,
                });
            }
        }

        for (line, m) in rows::<Ministry>(&MINISTRIES)? {
            let unit = Unit {
                code: m.code,
                name: m.name,
                short_name: Some(m.short_name),
                kind: m.kind,
                level: UnitLevel::Ministry,
                parent: None,
                province: None,
                valid_from: opt_date(&MINISTRIES, line, "valid_from", &m.valid_from)?,
                valid_to: opt_date(&MINISTRIES, line, "valid_to", &m.valid_to)?,
            };
            self.add(&MINISTRIES, line, unit)?;
        }
        for (line, e) in rows::<MinistryEdge>(&MINISTRY_LINEAGE)? {
            let key = |code: &str, from: &str| -> Result<UnitKey, ReferenceError> {
                Ok(UnitKey {
                    level: UnitLevel::Ministry,
                    code: code.to_owned(),
                    valid_from: opt_date(&MINISTRY_LINEAGE, line, "valid_from", from)?
                        .unwrap_or(ORIGIN),
                })
            };
            let (from, to) = (
                key(&e.old_code, &e.old_valid_from)?,
                key(&e.new_code, &e.new_valid_from)?,
            );
            self.edge(&MINISTRY_LINEAGE, line, from, to, &e.merge_type)?;
        }

        Ok(ReferenceData {
            version: version_digest(),
            units: self.units,
            lineage: self.lineage,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn data() -> ReferenceData {
        ReferenceData::embedded().expect("embedded reference data parses")
    }

    #[test]
    fn counts_on_both_sides_of_the_reorganisation() {
        let d = data();
        let before = date(2025, 6, 30);
        let after = date(2025, 7, 1);
        assert_eq!(d.units_at(UnitLevel::Province, before).len(), 63);
        assert_eq!(d.units_at(UnitLevel::Province, after).len(), 34);
        assert_eq!(d.units_at(UnitLevel::District, before).len(), 696);
        assert_eq!(d.units_at(UnitLevel::District, after).len(), 0);
        assert_eq!(d.units_at(UnitLevel::Commune, before).len(), 10_047);
        assert_eq!(d.units_at(UnitLevel::Commune, after).len(), 3_321);
        assert_eq!(d.units_at(UnitLevel::Ministry, date(2025, 2, 28)).len(), 22);
        assert_eq!(d.units_at(UnitLevel::Ministry, date(2025, 3, 1)).len(), 17);
    }

    /// The lean code list holds exactly the provinces and communes of the full build.
    #[test]
    fn unit_codes_are_the_provinces_and_communes_of_the_full_build() {
        let mut full: Vec<UnitCode> = data()
            .units
            .into_iter()
            .filter(|u| matches!(u.level, UnitLevel::Province | UnitLevel::Commune))
            .map(|u| UnitCode {
                level: u.level,
                code: u.code,
                valid_from: u.valid_from,
                valid_to: u.valid_to,
            })
            .collect();
        let mut lean = embedded_unit_codes().expect("the unit files parse");
        full.sort();
        lean.sort();
        assert_eq!(lean.len(), 63 + 10_047 + 34 + 3_321);
        assert_eq!(lean, full);
    }

    #[test]
    fn code_24_is_two_different_provinces() {
        let d = data();
        let name = |day| {
            d.units_at(UnitLevel::Province, day)
                .into_iter()
                .find(|u| u.code == "24")
                .map(|u| u.name.clone())
        };
        assert_eq!(name(date(2025, 6, 30)).as_deref(), Some("Tỉnh Bắc Giang"));
        assert_eq!(name(date(2025, 7, 1)).as_deref(), Some("Tỉnh Bắc Ninh"));
    }

    #[test]
    fn every_old_province_and_commune_has_a_successor() {
        let d = data();
        let has_succ: BTreeSet<&UnitKey> = d.lineage.iter().map(|e| &e.from).collect();
        for u in &d.units {
            if matches!(u.level, UnitLevel::Province | UnitLevel::Commune) && u.valid_to.is_some() {
                assert!(
                    has_succ.contains(&u.key()),
                    "{} {} has no successor",
                    u.level,
                    u.code
                );
            }
        }
    }

    #[test]
    fn split_communes_have_only_partial_successors() {
        let d = data();
        let mut by_old: BTreeMap<&UnitKey, Vec<LineageKind>> = BTreeMap::new();
        for e in d
            .lineage
            .iter()
            .filter(|e| e.from.level == UnitLevel::Commune)
        {
            by_old.entry(&e.from).or_default().push(e.kind);
        }
        let split: Vec<_> = by_old.values().filter(|k| k.len() >= 2).collect();
        assert_eq!(
            split.len(),
            460,
            "SOURCES.md: 460 old communes split over ≥2 new ones"
        );
        assert!(
            split
                .iter()
                .all(|ks| ks.iter().all(|k| *k == LineageKind::Partial))
        );
    }

    #[test]
    fn version_is_stable() {
        assert_eq!(data().version, data().version);
        assert_eq!(data().version.len(), 24);
    }
}
