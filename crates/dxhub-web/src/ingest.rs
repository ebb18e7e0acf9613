//! Checks of dossier snapshots against the administrative map: a `province_code` or
//! `commune_code` must name a unit valid on the day (in Viet Nam) the dossier was received.
//! Used by both the HTTP ingestion endpoint and `dxhub import dossiers`.

use dxhub_core::units::UnitLevel;
use dxhub_ingest::DossierSnapshot;
use dxhub_reference::ReferenceData;

/// Validity ranges of every province and commune code, as day numbers (days since
/// 1970-01-01), inclusive. Codes are digits, so each table is indexed by the code's value
/// (100 province codes, 100,000 commune codes): a check is one array lookup for most
/// codes, which matters at millions of lines per import.
#[derive(Debug, PartialEq, Eq)]
pub struct UnitCalendar {
    provinces: CodeTable<2>,
    communes: CodeTable<5>,
}

impl Default for UnitCalendar {
    fn default() -> Self {
        CalendarBuilder::default().finish()
    }
}

/// The ranges of the codes of `N` digits in one flat array: those of the code of value `i`
/// are `ranges[start[i]..start[i + 1]]`. Two small arrays (400 KB of offsets for the
/// communes) rather than a vector per code, so the lookups of millions of lines stay in
/// cache. `cells` answers most lookups alone (see [`Validity`]): one load, where the ranges
/// would take a second that misses the cache as well.
#[derive(Debug, PartialEq, Eq)]
struct CodeTable<const N: usize> {
    start: Vec<u32>,
    ranges: Vec<(i32, i32)>,
    cells: Vec<u32>,
    /// The first day of the current map: the day most codes valid to this day became
    /// valid from, leaving out those valid forever (2025-07-01 for the communes;
    /// `i32::MIN` if every code valid to this day always was, `i32::MAX` if none is).
    era: i32,
    /// A bit per code: set if the code has been valid without a break since `era` or
    /// before, and still is. A line received on `era` or later with such a code needs no
    /// other lookup: 12.5 KB for the communes, which stay in the cache where the cells'
    /// 400 KB do not (the load of a commune's cell missed it on most lines).
    current: Vec<u64>,
}

/// A code's validity in 32 bits: [`Validity::NONE`] (no unit ever had the code),
/// [`Validity::SEVERAL`] (look in the ranges), or one range of days — overlapping and
/// adjacent ranges are one — with its first day plus 2 in the high half (1: unbounded) and
/// its last day in the low half (`u16::MAX`: unbounded). Days from 1970 to 2149 fit; a
/// range beyond them is left to the ranges.
struct Validity;

impl Validity {
    const NONE: u32 = 0;
    const SEVERAL: u32 = 1;

    /// The cell of one range, if it fits.
    fn of((from, to): (i32, i32)) -> Option<u32> {
        let from = if from == i32::MIN {
            1
        } else {
            u16::try_from(from.checked_add(2)?)
                .ok()
                .filter(|&f| f >= 2)?
        };
        let to = if to == i32::MAX {
            u16::MAX
        } else {
            u16::try_from(to).ok().filter(|&t| t < u16::MAX)?
        };
        Some(u32::from(from) << 16 | u32::from(to))
    }

    /// Whether a one-range cell covers `day`.
    #[inline]
    fn covers(cell: u32, day: i32) -> bool {
        let (from, to) = ((cell >> 16) as i32, (cell & 0xffff) as i32);
        (from == 1 || day >= from - 2) && (to == 0xffff || day <= to)
    }
}

/// Ranges as few as cover the same days: sorted, with overlapping and adjacent ones joined.
fn joined(mut ranges: Vec<(i32, i32)>) -> Vec<(i32, i32)> {
    ranges.sort_unstable();
    let mut out: Vec<(i32, i32)> = Vec::with_capacity(ranges.len());
    for (a, b) in ranges {
        match out.last_mut() {
            Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

impl<const N: usize> CodeTable<N> {
    /// The table of `(code, range)` entries, each code's ranges in the order given.
    fn new(mut entries: Vec<(usize, (i32, i32))>) -> Self {
        entries.sort_by_key(|(code, _)| *code);
        let codes = 10usize.pow(N as u32);
        let mut start = Vec::with_capacity(codes + 1);
        let mut at = 0;
        for code in 0..=codes {
            while at < entries.len() && entries[at].0 < code {
                at += 1;
            }
            start.push(at as u32);
        }
        let ranges: Vec<(i32, i32)> = entries.into_iter().map(|(_, r)| r).collect();
        // Per code, its ranges joined.
        let valid: Vec<Vec<(i32, i32)>> = start
            .windows(2)
            .map(|w| joined(ranges[w[0] as usize..w[1] as usize].to_vec()))
            .collect();
        let cells = valid
            .iter()
            .map(|rs| match rs[..] {
                [] => Validity::NONE,
                [one] => Validity::of(one).unwrap_or(Validity::SEVERAL),
                _ => Validity::SEVERAL,
            })
            .collect();
        // Since when each code has been valid without a break, if it still is (joined
        // ranges are sorted and apart: an open one is the last).
        let since: Vec<Option<i32>> = valid
            .iter()
            .map(|rs| rs.last().filter(|r| r.1 == i32::MAX).map(|r| r.0))
            .collect();
        // The era starts on the day most such codes became valid (codes valid forever
        // count whatever it is).
        let mut starts: std::collections::HashMap<i32, usize> = std::collections::HashMap::new();
        for &day in since.iter().flatten() {
            *starts.entry(day).or_default() += 1;
        }
        let forever = starts.remove(&i32::MIN).is_some();
        let era = starts
            .into_iter()
            .max_by_key(|&(day, n)| (n, std::cmp::Reverse(day)))
            .map(|(day, _)| day)
            .or(forever.then_some(i32::MIN))
            .unwrap_or(i32::MAX);
        let mut current = vec![0u64; codes.div_ceil(64)];
        for (i, since) in since.iter().enumerate() {
            if since.is_some_and(|d| d <= era) {
                current[i / 64] |= 1 << (i % 64);
            }
        }
        CodeTable {
            start,
            ranges,
            cells,
            era,
            current,
        }
    }

    /// Whether a unit had the code on `day`; `None` for a code no unit ever had.
    #[inline]
    fn covers(&self, code: &[u8], day: i32) -> Option<bool> {
        let i = code_index::<N>(code)?;
        if day >= self.era
            && self
                .current
                .get(i / 64)
                .is_some_and(|w| w >> (i % 64) & 1 == 1)
        {
            return Some(true);
        }
        match *self.cells.get(i)? {
            Validity::NONE => None,
            Validity::SEVERAL => ranges_cover(self.ranges_of(code), day),
            cell => Some(Validity::covers(cell, day)),
        }
    }

    /// The ranges of a code in the table; `None` for a code no unit ever had.
    fn ranges_of(&self, code: &[u8]) -> Option<&[(i32, i32)]> {
        let i = code_index::<N>(code)?;
        let (from, to) = (*self.start.get(i)?, *self.start.get(i + 1)?);
        (from < to).then(|| &self.ranges[from as usize..to as usize])
    }
}

/// The value of a code of `N` ASCII digits.
fn code_index<const N: usize>(code: &[u8]) -> Option<usize> {
    if code.len() != N || !code.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(code.iter().fold(0, |n, &d| n * 10 + usize::from(d - b'0')))
}

fn day_number(d: jiff::civil::Date) -> i32 {
    let epoch = jiff::civil::date(1970, 1, 1);
    (d - epoch).get_days()
}

fn ranges_cover(ranges: Option<&[(i32, i32)]>, day: i32) -> Option<bool> {
    ranges.map(|rs| rs.iter().any(|(a, b)| *a <= day && day <= *b))
}

/// Collects units' validity for a [`UnitCalendar`].
#[derive(Default)]
struct CalendarBuilder {
    provinces: Vec<(usize, (i32, i32))>,
    communes: Vec<(usize, (i32, i32))>,
}

impl CalendarBuilder {
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
        match level {
            UnitLevel::Province => {
                if let Some(i) = code_index::<2>(code.as_bytes()) {
                    self.provinces.push((i, range));
                }
            }
            UnitLevel::Commune => {
                if let Some(i) = code_index::<5>(code.as_bytes()) {
                    self.communes.push((i, range));
                }
            }
            _ => {}
        }
    }

    fn finish(self) -> UnitCalendar {
        UnitCalendar {
            provinces: CodeTable::new(self.provinces),
            communes: CodeTable::new(self.communes),
        }
    }
}

/// A unit's level, code and validity (`None`: unbounded), as a calendar needs them.
type UnitValidity<'a> = (
    UnitLevel,
    &'a str,
    Option<dxhub_core::Date>,
    Option<dxhub_core::Date>,
);

impl UnitCalendar {
    /// Builds the calendar from units' validity (other levels than province and commune
    /// are ignored).
    fn of_units<'a>(units: impl IntoIterator<Item = UnitValidity<'a>>) -> UnitCalendar {
        let mut cal = CalendarBuilder::default();
        for (level, code, from, to) in units {
            cal.add(level, code, from, to);
        }
        cal.finish()
    }

    /// Builds the calendar from reference data.
    pub fn from_reference(data: &ReferenceData) -> UnitCalendar {
        UnitCalendar::of_units(
            data.units
                .iter()
                .map(|u| (u.level, u.code.as_str(), u.valid_from, u.valid_to)),
        )
    }

    /// The calendar of the data shipped in the binary, built from its code columns alone
    /// ([`dxhub_reference::embedded_unit_codes`]): every import builds it before its first
    /// batch, and the full reference build would take tens of milliseconds.
    pub fn embedded() -> &'static UnitCalendar {
        static CAL: std::sync::OnceLock<UnitCalendar> = std::sync::OnceLock::new();
        CAL.get_or_init(|| match dxhub_reference::embedded_unit_codes() {
            Ok(codes) => UnitCalendar::of_units(
                codes
                    .iter()
                    .map(|u| (u.level, u.code.as_str(), u.valid_from, u.valid_to)),
            ),
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
        match self.provinces.covers(s.province_code.as_bytes(), day) {
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
            match self.communes.covers(c.as_bytes(), day) {
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

    fn snapshot(province: &str, commune: &str, received: &str) -> DossierSnapshot {
        let text = format!(
            "dossier_id,source,version,service_code,province_code,commune_code,channel,end_to_end,status,received_at,due_at,completed_at,fee_vnd,paid_online\n\
             D1,dvcqg,1,1.000001,{province},{commune},online,true,received,{received},,,0,false\n"
        );
        let (mut v, rejected, _) =
            dxhub_ingest::parse_all(text.as_bytes(), dxhub_ingest::Format::Csv).expect("parses");
        assert!(rejected.is_empty(), "{rejected:?}");
        v.pop().expect("one snapshot")
    }

    /// Codes are checked against the day received in Viet Nam: 24 is a province on both
    /// maps, 00001 a commune of the old map only, 11948 one of the new map only, and 00004
    /// a commune on both (two different communes).
    #[test]
    fn codes_are_valid_on_their_maps_days_only() {
        let cal = UnitCalendar::embedded();
        let field = |p, c, at| cal.check(&snapshot(p, c, at)).map_err(|(f, _)| f);
        assert_eq!(field("24", "", "2025-06-30T23:59:59+07:00"), Ok(()));
        assert_eq!(field("24", "", "2025-07-01T00:00:00+07:00"), Ok(()));
        assert_eq!(field("01", "00001", "2025-06-30T23:59:59+07:00"), Ok(()));
        // 2025-06-30T17:00Z is already 1 July in Viet Nam.
        assert_eq!(
            field("01", "00001", "2025-06-30T17:00:00Z"),
            Err("commune_code")
        );
        assert_eq!(field("01", "00004", "2025-06-30T16:59:59Z"), Ok(()));
        assert_eq!(field("01", "00004", "2025-06-30T17:00:00Z"), Ok(()));
        assert_eq!(field("31", "11948", "2025-06-30T17:00:00Z"), Ok(()));
        assert_eq!(
            field("31", "11948", "2025-06-30T16:59:59Z"),
            Err("commune_code")
        );
        assert_eq!(
            field("99", "", "2025-07-01T00:00:00+07:00"),
            Err("province_code")
        );
        // Hà Giang (02) merged into Tuyên Quang: no province 02 after the reorganisation.
        assert_eq!(
            field("02", "", "2025-07-01T00:00:00+07:00"),
            Err("province_code")
        );
        assert_eq!(
            field("01", "99999", "2025-07-01T00:00:00+07:00"),
            Err("commune_code")
        );
    }

    /// A code's cell answers as its ranges do, for any ranges: one or several, joined or
    /// apart, bounded or not, inside the days a cell holds or beyond them.
    #[test]
    fn cells_answer_as_the_ranges_do() {
        let (min, max) = (i32::MIN, i32::MAX);
        let cases: Vec<Vec<(i32, i32)>> = vec![
            vec![],
            vec![(min, max)],
            vec![(min, 20269)],
            vec![(20270, max)],
            vec![(min, 20269), (20270, max)],
            vec![(20270, max), (min, 20269)],
            vec![(100, 200), (150, 300)],
            vec![(100, 200), (202, 300)],
            vec![(0, 0)],
            vec![(-5, 10)],
            vec![(10, 65_534)],
            vec![(10, 65_535)],
            vec![(65_533, max)],
            vec![(65_534, max)],
            vec![(min, -1)],
            vec![(20270, max)],
            vec![(20270, max)],
            vec![(20250, 20260), (20270, max)],
            vec![(20260, max)],
            vec![(20280, max)],
        ];
        let entries: Vec<(usize, (i32, i32))> = cases
            .iter()
            .enumerate()
            .flat_map(|(code, rs)| rs.iter().map(move |&r| (code, r)))
            .collect();
        let table = CodeTable::<2>::new(entries);
        // Most codes valid to this day became valid on day 20270.
        assert_eq!(table.era, 20_270);
        for (code, rs) in cases.iter().enumerate() {
            let code = format!("{code:02}");
            for day in [
                min, -6, -5, -1, 0, 1, 9, 10, 99, 100, 200, 201, 202, 300, 301, 20_269, 20_270,
                65_532, 65_533, 65_534, 65_535, 65_536, max, 20_250, 20_259, 20_260, 20_261,
                20_279, 20_280, 20_281,
            ] {
                let want = (!rs.is_empty()).then(|| rs.iter().any(|(a, b)| *a <= day && day <= *b));
                assert_eq!(
                    table.covers(code.as_bytes(), day),
                    want,
                    "{code} {rs:?} {day}"
                );
            }
        }
        // And for every code of the shipped calendar, around the reorganisation (whose
        // first day, 2025-07-01, starts the communes' current map).
        let cal = UnitCalendar::embedded();
        assert_eq!(cal.communes.era, 20_270);
        for i in 0..100_000 {
            let code = format!("{i:05}");
            for day in [0, 20_269, 20_270, 20_271, 40_000] {
                assert_eq!(
                    cal.communes.covers(code.as_bytes(), day),
                    ranges_cover(cal.communes.ranges_of(code.as_bytes()), day),
                    "{code} {day}"
                );
            }
        }
    }

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
