//! Public-service indicators per province × month: pure, incremental aggregation of the
//! newest dossier snapshots (no IO).
//!
//! # What is computed — identical to the DuckDB baseline
//!
//! The reference is `shared/bench/baseline_duckdb.py` (the table `compare_duckdb.py`
//! checks dxhub against, row for row). Read against it, the semantics are:
//!
//! - **Newest snapshot per `(source, dossier_id)`**: `row_number() OVER (PARTITION BY
//!   source, dossier_id ORDER BY version DESC, rowid) = 1` — the highest version wins and
//!   among equal versions the *first to arrive* (lowest `rowid`). That is the spec's rule
//!   "a snapshot whose version is ≤ the stored one changes nothing"
//!   ([`DossierSnapshot::supersedes`]).
//! - **Rejected lines**: DuckDB's `read_csv` (strict, `auto_detect = false`) aborts the
//!   whole load on the first malformed line, so the baseline only ever runs on clean
//!   feeds (`gen_dossiers.py` with the default `--bad-rate 0`). dxhub drops rejected
//!   lines and aggregates the rest; on a clean feed both see the same rows.
//! - **Key**: `province_code` and `strftime(timezone('Asia/Ho_Chi_Minh', received_at),
//!   '%Y-%m')`. Vietnam has used a fixed +07:00 without DST since 13 June 1975; earlier
//!   instants use the historical offsets of tzdata (which DuckDB's ICU also uses), see
//!   [`hcm_offset_seconds`] — checked against DuckDB at the transitions.
//! - **One row per key with at least one dossier** (`GROUP BY`): a cell whose count of
//!   received dossiers falls back to 0 disappears. Rows are sorted by province code, then
//!   month (`ORDER BY province_code, month`, both compared as strings).
//! - `received` = `count(*)`; `online` = `channel = 'online'`; `end_to_end` =
//!   `end_to_end`; `completed` = `status = 'completed'` (rejected dossiers are *not*
//!   completed).
//! - `completed_on_time` = `status = 'completed' AND completed_at <= due_at`. A completed
//!   dossier **without `due_at` is not on time** (`NULL` is not true), which is also what
//!   the spec's "on time = `completed_at <= due_at`" says. Equal instants are on time.
//! - `online_payments` = `count(*) FILTER (WHERE paid_online)`; `online_payment_vnd` =
//!   `coalesce(sum(fee_vnd) FILTER (WHERE paid_online), 0)`. An absent fee is `NULL` in
//!   DuckDB and adds nothing to the sum; here it is 0: the same total. An absent
//!   `paid_online` is `NULL` there (not counted) and `false` here: the same count.
//! - `services_online` = `count(DISTINCT service_code) FILTER (WHERE channel = 'online')`:
//!   0 when the cell has no online dossier.
//!
//! The output format is [`CSV_HEADER`] with `month` as `YYYY-MM` and plain integers
//! ([`write_csv`]), the same text `baseline_duckdb.py --out` writes. The golden test
//! (`tests/golden.rs`) compares against a table produced by DuckDB itself.
//!
//! Differences that cannot show on data the baseline accepts: DuckDB keeps timestamps to
//! the microsecond, dxhub to the nanosecond (only matters if `completed_at` and
//! `due_at` differ by less than a microsecond); `fee_vnd` sums are modulo 2⁶⁴ here
//! (above 1.8·10¹⁹ đồng per cell), unbounded in DuckDB.
//!
//! # Incremental upkeep
//!
//! Each newest snapshot contributes a [`Contribution`] to exactly one cell. When a
//! dossier's stored snapshot is replaced by a newer version, its old contribution is
//! subtracted from the old snapshot's cell and the new one added to the new cell —
//! possibly another province or month, since a later version may correct
//! `province_code` or `received_at`. All counters are sums, so that is exact.
//! `services_online` is a distinct count, which cannot be maintained from the count
//! alone: each cell keeps, per service code, how many of its dossiers are online; the
//! indicator is the number of services whose count is above zero.
//! [`Aggregates::apply`] does this in memory; [`Delta`] collects the change of a whole
//! batch for a store to write in one go.

// FxHash rather than SipHash: these maps are updated once per changed dossier, and their
// keys (cells, service codes) come from authenticated feeds.
use rustc_hash::FxHashMap as HashMap;
use std::collections::hash_map::Entry;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::io::{self, Write};

use jiff::Timestamp;

use crate::snapshot::{Channel, DossierSnapshot, ProvinceCode, ShortStr, Status};
use crate::timestamp::civil_from_days;

/// Header of the indicator table, exactly as the DuckDB baseline writes it.
pub const CSV_HEADER: &str = "province_code,month,received,online,end_to_end,completed,completed_on_time,online_payments,online_payment_vnd,services_online";

/// Local mean time of Ho Chi Minh City (7:06:30), tzdata's offset before 1911.
const HCM_LMT: i32 = 7 * 3600 + 6 * 60 + 30;

/// tzdata's transitions of `Asia/Ho_Chi_Minh`: from this Unix second on, this offset.
const HCM_TRANSITIONS: [(i64, i32); 8] = [
    (-1_851_577_590, 7 * 3600), // 1911-05-01 00:00 local
    (-852_105_600, 8 * 3600),   // 1943-01-01 00:00 local
    (-782_643_600, 9 * 3600),   // 1945-03-15 00:00 local
    (-767_869_200, 7 * 3600),   // 1945-09-02 00:00 local (was +09 until 1945-09-01 24:00)
    (-718_095_600, 8 * 3600),   // 1947-04-01 01:00 local
    (-457_772_400, 7 * 3600),   // 1955-07-01 00:00 local
    (-315_648_000, 8 * 3600),   // 1960-01-01 00:00 local
    (171_820_800, 7 * 3600),    // 1975-06-13 00:00 local; +07:00 ever since
];

/// UTC offset of Asia/Ho_Chi_Minh, in seconds, at a Unix second. `+25200` (+07:00) for
/// every instant since 1975-06-12T16:00:00Z.
#[inline]
pub fn hcm_offset_seconds(unix_second: i64) -> i32 {
    let last = HCM_TRANSITIONS[HCM_TRANSITIONS.len() - 1];
    if unix_second >= last.0 {
        return last.1;
    }
    let mut offset = HCM_LMT;
    for (at, off) in HCM_TRANSITIONS {
        if unix_second < at {
            break;
        }
        offset = off;
    }
    offset
}

/// A calendar month (`YYYY-MM`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct YearMonth {
    pub year: i16,
    /// 1–12.
    pub month: u8,
}

impl YearMonth {
    /// The month (Asia/Ho_Chi_Minh) in which an instant falls.
    #[inline]
    pub fn of(ts: Timestamp) -> YearMonth {
        let mut secs = ts.as_second();
        if ts.subsec_nanosecond() < 0 {
            secs -= 1; // floor: -0.5 s is in the second before 0
        }
        let local = secs + hcm_offset_seconds(secs) as i64;
        let day = local.div_euclid(86_400);
        LAST_MONTH.with(|last| {
            let (from, to, month) = last.get();
            if from <= day && day < to {
                return month;
            }
            let (y, m, d) = civil_from_days(day);
            let month = YearMonth {
                year: y as i16,
                month: m as u8,
            };
            let from = day - i64::from(d - 1);
            last.set((from, from + days_in_month(y, m), month));
            month
        })
    }
}

thread_local! {
    /// The days (from 1970-01-01) of the month [`YearMonth::of`] found last on this thread,
    /// as a half-open range, and that month: merging a batch reads the month of every
    /// final, in key order, and most sources' ids start with the day received, so most
    /// finals fall in the month of the one before (empty at first).
    static LAST_MONTH: std::cell::Cell<(i64, i64, YearMonth)> =
        const { std::cell::Cell::new((0, 0, YearMonth { year: 1970, month: 1 })) };
}

/// Days in month `m` (1–12) of year `y` (proleptic Gregorian).
fn days_in_month(y: i64, m: u32) -> i64 {
    match m {
        2 if y % 4 == 0 && (y % 100 != 0 || y % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

impl YearMonth {
    /// Reads the `YYYY-MM` text that [`Display`](fmt::Display) writes (how stores keep it).
    pub fn parse(s: &str) -> Option<YearMonth> {
        let (y, m) = s.split_once('-')?;
        Some(YearMonth {
            year: y.parse().ok()?,
            month: m.parse().ok()?,
        })
    }
}

impl fmt::Display for YearMonth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

impl fmt::Debug for YearMonth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The key of an indicator cell. Orders by province, then month.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct CellKey {
    pub province_code: ProvinceCode,
    pub month: YearMonth,
}

impl CellKey {
    /// The cell a snapshot counts in.
    #[inline]
    pub fn of(s: &DossierSnapshot) -> CellKey {
        CellKey {
            province_code: s.province_code,
            month: YearMonth::of(s.received_at),
        }
    }
}

/// The additive counters of one cell (all but `services_online`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, Debug)]
pub struct Cell {
    pub received: u64,
    pub online: u64,
    pub end_to_end: u64,
    pub completed: u64,
    pub completed_on_time: u64,
    pub online_payments: u64,
    /// Sum of `fee_vnd` over paid-online dossiers (modulo 2⁶⁴, see the module docs).
    pub online_payment_vnd: u64,
}

impl Cell {
    /// What one (newest) snapshot adds to its cell.
    #[inline]
    pub fn contribution(s: &DossierSnapshot) -> Cell {
        Cell::of_parts(
            s.channel,
            s.end_to_end,
            s.status,
            s.completed_at,
            s.due_at,
            s.paid_online,
            s.fee_vnd,
        )
    }

    /// [`Cell::contribution`] from the fields it depends on.
    #[inline]
    pub fn of_parts(
        channel: Channel,
        end_to_end: bool,
        status: Status,
        completed_at: Option<Timestamp>,
        due_at: Option<Timestamp>,
        paid_online: bool,
        fee_vnd: u64,
    ) -> Cell {
        Cell {
            received: 1,
            online: (channel == Channel::Online) as u64,
            end_to_end: end_to_end as u64,
            completed: (status == Status::Completed) as u64,
            completed_on_time: crate::snapshot::completed_on_time(status, completed_at, due_at)
                as u64,
            online_payments: paid_online as u64,
            online_payment_vnd: if paid_online { fee_vnd } else { 0 },
        }
    }

    /// Adds another cell's counters.
    #[inline]
    pub fn add(&mut self, o: &Cell) {
        self.received += o.received;
        self.online += o.online;
        self.end_to_end += o.end_to_end;
        self.completed += o.completed;
        self.completed_on_time += o.completed_on_time;
        self.online_payments += o.online_payments;
        self.online_payment_vnd = self.online_payment_vnd.wrapping_add(o.online_payment_vnd);
    }

    /// Subtracts counters that were added before (panics in debug builds if they were
    /// not: that is a bookkeeping bug of the caller).
    #[inline]
    pub fn sub(&mut self, o: &Cell) {
        self.received -= o.received;
        self.online -= o.online;
        self.end_to_end -= o.end_to_end;
        self.completed -= o.completed;
        self.completed_on_time -= o.completed_on_time;
        self.online_payments -= o.online_payments;
        self.online_payment_vnd = self.online_payment_vnd.wrapping_sub(o.online_payment_vnd);
    }
}

/// Everything a newest snapshot contributes to the indicators — all a store needs to
/// keep per dossier (besides its key and version) to maintain them incrementally.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Contribution {
    pub key: CellKey,
    pub cell: Cell,
    /// The dossier's service code when it was submitted online (it then counts towards
    /// `services_online`); `None` otherwise.
    pub online_service: Option<ShortStr>,
}

impl Contribution {
    #[inline]
    pub fn of(s: &DossierSnapshot) -> Contribution {
        Contribution {
            key: CellKey::of(s),
            cell: Cell::contribution(s),
            online_service: (s.channel == Channel::Online).then(|| s.service_code.clone()),
        }
    }

    /// The same, with the service code borrowed.
    #[inline]
    pub fn as_ref(&self) -> ContributionRef<'_> {
        ContributionRef {
            key: self.key,
            cell: self.cell,
            online_service: self.online_service.as_ref().map(|s| s.as_bytes()),
        }
    }
}

/// A [`Contribution`] whose service code is borrowed (from the encoded fields it was read
/// from, see [`crate::codec::contribution_ref`]): merging a batch reads one for every final
/// that wins and every stored snapshot it replaces, and copies a code only when a cell
/// counts a service for the first time.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ContributionRef<'a> {
    pub key: CellKey,
    pub cell: Cell,
    /// The service code's bytes, UTF-8 (whoever makes one checks that): merging looks it
    /// up by them, without checking them again.
    pub online_service: Option<&'a [u8]>,
}

impl ContributionRef<'_> {
    pub fn to_owned(&self) -> Contribution {
        Contribution {
            key: self.key,
            cell: self.cell,
            online_service: self
                .online_service
                .map(|b| ShortStr::new(std::str::from_utf8(b).expect("checked to be UTF-8"))),
        }
    }
}

/// One row of the indicator table.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct IndicatorRow {
    pub key: CellKey,
    pub cell: Cell,
    pub services_online: u64,
}

impl IndicatorRow {
    /// The row as a CSV line (no line break), in [`CSV_HEADER`]'s column order.
    pub fn csv_line(&self) -> String {
        let c = &self.cell;
        format!(
            "{},{},{},{},{},{},{},{},{},{}",
            self.key.province_code,
            self.key.month,
            c.received,
            c.online,
            c.end_to_end,
            c.completed,
            c.completed_on_time,
            c.online_payments,
            c.online_payment_vnd,
            self.services_online
        )
    }
}

/// Writes the indicator table as CSV, header first, exactly as the DuckDB baseline does.
pub fn write_csv<W: Write>(rows: &[IndicatorRow], mut out: W) -> io::Result<()> {
    writeln!(out, "{CSV_HEADER}")?;
    for r in rows {
        writeln!(out, "{}", r.csv_line())?;
    }
    Ok(())
}

#[derive(Clone, Default, Debug, PartialEq, Eq)]
struct CellState {
    cell: Cell,
    /// Online dossiers per service code; only codes with a count above zero are kept.
    online_services: HashMap<ShortStr, u64>,
}

/// The indicator table in memory, maintained incrementally.
#[derive(Clone, Default, Debug, PartialEq, Eq)]
pub struct Aggregates {
    cells: HashMap<CellKey, CellState>,
}

impl Aggregates {
    pub fn new() -> Aggregates {
        Aggregates::default()
    }

    /// From-scratch computation over the newest snapshot of each dossier (each dossier
    /// must appear once).
    pub fn from_latest<'a, I: IntoIterator<Item = &'a DossierSnapshot>>(latest: I) -> Aggregates {
        let mut a = Aggregates::new();
        for s in latest {
            a.add(&Contribution::of(s));
        }
        a
    }

    /// Adds a contribution (a dossier's newest snapshot, seen for the first time).
    pub fn add(&mut self, c: &Contribution) {
        let state = self.cells.entry(c.key).or_default();
        state.cell.add(&c.cell);
        if let Some(svc) = &c.online_service {
            *state.online_services.entry(svc.clone()).or_insert(0) += 1;
        }
    }

    /// Removes a contribution added before.
    pub fn remove(&mut self, c: &Contribution) {
        let Entry::Occupied(mut e) = self.cells.entry(c.key) else {
            debug_assert!(
                false,
                "removing a contribution from an empty cell {:?}",
                c.key
            );
            return;
        };
        let state = e.get_mut();
        state.cell.sub(&c.cell);
        if let Some(svc) = &c.online_service
            && let Some(n) = state.online_services.get_mut(svc.as_str())
        {
            *n -= 1;
            if *n == 0 {
                state.online_services.remove(svc.as_str());
            }
        }
        if state.cell.received == 0 {
            debug_assert!(state.online_services.is_empty());
            e.remove();
        }
    }

    /// Replaces a dossier's contribution: subtracts `old` (if any) and adds `new`.
    pub fn replace(&mut self, old: Option<&Contribution>, new: &Contribution) {
        if let Some(o) = old {
            self.remove(o);
        }
        self.add(new);
    }

    /// Applies the newest-snapshot rule to one dossier: `old` is the stored snapshot of
    /// the same key (if any), `new` the incoming one. If `new` does not supersede `old`
    /// (version ≤ stored) nothing changes and `false` is returned; otherwise the old
    /// contribution is subtracted (from its own cell) and the new one added.
    pub fn apply(&mut self, old: Option<&DossierSnapshot>, new: &DossierSnapshot) -> bool {
        if let Some(o) = old {
            if !new.supersedes(o) {
                return false;
            }
            self.remove(&Contribution::of(o));
        }
        self.add(&Contribution::of(new));
        true
    }

    /// Adds a batch's [`Delta`].
    pub fn merge(&mut self, delta: &Delta) {
        for (key, d) in &delta.cells {
            let state = self.cells.entry(*key).or_default();
            let c = &mut state.cell;
            c.received = c.received.wrapping_add_signed(d.received);
            c.online = c.online.wrapping_add_signed(d.online);
            c.end_to_end = c.end_to_end.wrapping_add_signed(d.end_to_end);
            c.completed = c.completed.wrapping_add_signed(d.completed);
            c.completed_on_time = c.completed_on_time.wrapping_add_signed(d.completed_on_time);
            c.online_payments = c.online_payments.wrapping_add_signed(d.online_payments);
            c.online_payment_vnd = c
                .online_payment_vnd
                .wrapping_add(d.online_payment_vnd as u64);
            for (svc, &n) in &d.online_services {
                let e = state.online_services.entry(svc.clone()).or_insert(0);
                *e = e.wrapping_add_signed(n);
                if *e == 0 {
                    state.online_services.remove(svc.as_str());
                }
            }
            if state.cell.received == 0 {
                self.cells.remove(key);
            }
        }
    }

    /// Number of cells (rows).
    pub fn len(&self) -> usize {
        self.cells.len()
    }

    pub fn is_empty(&self) -> bool {
        self.cells.is_empty()
    }

    /// The row of one cell, if it has any dossier.
    pub fn get(&self, key: &CellKey) -> Option<IndicatorRow> {
        self.cells.get(key).map(|s| IndicatorRow {
            key: *key,
            cell: s.cell,
            services_online: s.online_services.len() as u64,
        })
    }

    /// Online dossiers per service code in one cell (what a store keeps to maintain
    /// `services_online`).
    pub fn online_services(&self, key: &CellKey) -> impl Iterator<Item = (&str, u64)> {
        self.cells
            .get(key)
            .into_iter()
            .flat_map(|s| s.online_services.iter().map(|(k, &v)| (k.as_str(), v)))
    }

    /// The indicator table, sorted by province code then month.
    pub fn rows(&self) -> Vec<IndicatorRow> {
        let mut rows: Vec<IndicatorRow> = self
            .cells
            .iter()
            .map(|(key, s)| IndicatorRow {
                key: *key,
                cell: s.cell,
                services_online: s.online_services.len() as u64,
            })
            .collect();
        rows.sort_unstable_by_key(|r| r.key);
        rows
    }
}

/// Signed change of one cell over a batch.
#[derive(Clone, Default, Debug, PartialEq, Eq)]
pub struct CellDelta {
    pub received: i64,
    pub online: i64,
    pub end_to_end: i64,
    pub completed: i64,
    pub completed_on_time: i64,
    pub online_payments: i64,
    pub online_payment_vnd: i128,
    /// Change of the online-dossier count per service code (zero entries dropped).
    /// hashbrown's map, so that merging can look a code up by its bytes ([`Code`]).
    pub online_services: hashbrown::HashMap<ShortStr, i64, rustc_hash::FxBuildHasher>,
}

/// A service code's bytes (UTF-8), looked up in a map of [`ShortStr`]s without making one
/// (or checking the bytes again): it hashes as the `ShortStr` of them does.
struct Code<'a>(&'a [u8]);

impl Hash for Code<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        crate::text::hash_str_bytes(self.0, state);
    }
}

impl hashbrown::Equivalent<ShortStr> for Code<'_> {
    fn equivalent(&self, key: &ShortStr) -> bool {
        self.0 == key.as_bytes()
    }
}

impl CellDelta {
    /// The seven additive changes as stores write them, in the table's column order
    /// (received, online, end_to_end, completed, completed_on_time, online_payments,
    /// online_payment_vnd); `None` when the fee change does not fit in 64 bits.
    pub fn counters(&self) -> Option<[i64; 7]> {
        Some([
            self.received,
            self.online,
            self.end_to_end,
            self.completed,
            self.completed_on_time,
            self.online_payments,
            i64::try_from(self.online_payment_vnd).ok()?,
        ])
    }

    fn is_zero(&self) -> bool {
        self.received == 0
            && self.online == 0
            && self.end_to_end == 0
            && self.completed == 0
            && self.completed_on_time == 0
            && self.online_payments == 0
            && self.online_payment_vnd == 0
            && self.online_services.is_empty()
    }

    fn add(&mut self, c: ContributionRef<'_>, sign: i64) {
        self.add_counters(&c.cell, sign);
        if let Some(svc) = c.online_service {
            // Most changes are to a service the cell already counts: no copy of the code.
            match self.online_services.get_mut(&Code(svc)) {
                Some(e) => {
                    *e += sign;
                    if *e == 0 {
                        self.online_services.remove(&Code(svc));
                    }
                }
                None => {
                    let code = std::str::from_utf8(svc).expect("checked to be UTF-8");
                    self.online_services.insert(ShortStr::new(code), sign);
                }
            }
        }
    }

    fn add_counters(&mut self, x: &Cell, sign: i64) {
        self.received += sign * x.received as i64;
        self.online += sign * x.online as i64;
        self.end_to_end += sign * x.end_to_end as i64;
        self.completed += sign * x.completed as i64;
        self.completed_on_time += sign * x.completed_on_time as i64;
        self.online_payments += sign * x.online_payments as i64;
        self.online_payment_vnd += sign as i128 * x.online_payment_vnd as i128;
    }
}

/// The net change a batch of replacements makes to the indicator cells, for a store to
/// apply in one write per touched cell (and per touched `(cell, service)` pair).
#[derive(Clone, Default, Debug)]
pub struct Delta {
    /// The touched cells, in the order first touched.
    cells: Vec<(CellKey, CellDelta)>,
    /// Where each touched cell is in `cells`.
    index: HashMap<CellKey, usize>,
    /// The cell touched last. A batch is merged in key order, and most sources' ids start
    /// with the day received, so most changes fall in the cell of the one before: found
    /// without hashing.
    last: usize,
}

/// Deltas are equal when they change the same cells by the same amounts, whatever the
/// order the changes came in (and cells whose changes cancelled out).
impl PartialEq for Delta {
    fn eq(&self, other: &Delta) -> bool {
        self.cells() == other.cells()
    }
}

impl Eq for Delta {}

impl Delta {
    pub fn new() -> Delta {
        Delta::default()
    }

    /// Records that a dossier's contribution changed from `old` (if it had one) to `new`.
    pub fn replace(&mut self, old: Option<&Contribution>, new: &Contribution) {
        self.replace_ref(old.map(Contribution::as_ref), new.as_ref());
    }

    /// [`Delta::replace`] with borrowed service codes.
    pub fn replace_ref(&mut self, old: Option<ContributionRef<'_>>, new: ContributionRef<'_>) {
        if old == Some(new) {
            // Most changes of a dossier (received, then processing …) change no indicator.
            return;
        }
        if let Some(o) = old
            && o.key == new.key
            && o.online_service == new.online_service
        {
            // Most others stay in their cell and service: only the counters change.
            let d = self.entry(new.key);
            d.add_counters(&o.cell, -1);
            d.add_counters(&new.cell, 1);
            return;
        }
        if let Some(o) = old {
            self.entry(o.key).add(o, -1);
        }
        self.entry(new.key).add(new, 1);
    }

    /// Like [`Aggregates::apply`]: ignores `new` unless it supersedes `old`.
    pub fn apply(&mut self, old: Option<&DossierSnapshot>, new: &DossierSnapshot) -> bool {
        if old.is_some_and(|o| !new.supersedes(o)) {
            return false;
        }
        self.replace(old.map(Contribution::of).as_ref(), &Contribution::of(new));
        true
    }

    fn entry(&mut self, key: CellKey) -> &mut CellDelta {
        if self.cells.get(self.last).is_none_or(|(k, _)| *k != key) {
            let cells = &mut self.cells;
            self.last = *self.index.entry(key).or_insert_with(|| {
                cells.push((key, CellDelta::default()));
                cells.len() - 1
            });
        }
        &mut self.cells[self.last].1
    }

    /// The touched cells and their net change, sorted by key; cells whose changes
    /// cancelled out are left out.
    pub fn cells(&self) -> Vec<(CellKey, &CellDelta)> {
        let mut v: Vec<(CellKey, &CellDelta)> = self
            .cells
            .iter()
            .filter(|(_, d)| !d.is_zero())
            .map(|(k, d)| (*k, d))
            .collect();
        v.sort_unstable_by_key(|(k, _)| *k);
        v
    }

    pub fn is_empty(&self) -> bool {
        self.cells.iter().all(|(_, d)| d.is_zero())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn month_is_taken_in_ho_chi_minh_time() {
        let cases = [
            ("2025-07-31T16:59:59Z", "2025-07"),
            ("2025-07-31T17:00:00Z", "2025-08"),
            ("2025-12-31T17:00:00Z", "2026-01"),
            ("2025-08-01T00:00:00+07:00", "2025-08"),
            ("2025-07-31T23:59:59.999999999+07:00", "2025-07"),
            // Offsets confirmed with DuckDB 2.0 (ICU) at tzdata's transitions.
            ("1975-06-12T16:59:59Z", "1975-06"),
            ("1959-12-31T15:59:59Z", "1959-12"),
            ("1959-12-31T16:00:00Z", "1960-01"),
            ("1906-06-30T16:53:29Z", "1906-06"),
            ("1906-06-30T16:53:30Z", "1906-07"),
            // +08:00 from 1960 to 1975; a negative instant with a fraction is floored.
            ("1969-12-31T15:59:59.5Z", "1969-12"),
            ("1969-12-31T16:00:00Z", "1970-01"),
        ];
        for (t, want) in cases {
            assert_eq!(YearMonth::of(ts(t)).to_string(), want, "{t}");
        }
    }

    #[test]
    fn months_of_instants_in_any_order_are_the_calendar_months() {
        // Every ~5.5 hours from 1890 to 2112, each followed now and then by an instant far
        // away: month after month, leap days and century years, and jumps in between
        // (the month last found is remembered).
        let month = |t: i64| {
            let offset = jiff::tz::Offset::from_seconds(hcm_offset_seconds(t)).unwrap();
            let date = Timestamp::from_second(t)
                .unwrap()
                .to_zoned(jiff::tz::TimeZone::fixed(offset))
                .date();
            YearMonth {
                year: date.year(),
                month: date.month() as u8,
            }
        };
        let mut t = -2_524_000_000i64;
        let mut k = 0i64;
        while t < 4_500_000_000 {
            assert_eq!(
                YearMonth::of(Timestamp::from_second(t).unwrap()),
                month(t),
                "at {t}"
            );
            k += 1;
            if k % 97 == 0 {
                let far = 4_500_000_000 - (t + 2_524_000_000) - 1;
                assert_eq!(
                    YearMonth::of(Timestamp::from_second(far).unwrap()),
                    month(far),
                    "at {far}"
                );
            }
            t += 20_011;
        }
    }

    #[test]
    fn offsets_match_the_system_tz_database() {
        let Ok(tz) = jiff::tz::TimeZone::get("Asia/Ho_Chi_Minh") else {
            eprintln!("SKIPPED: no tz database with Asia/Ho_Chi_Minh on this machine");
            return;
        };
        let mut t = -3_000_000_000i64;
        while t < 4_000_000_000 {
            let want = tz.to_offset(Timestamp::from_second(t).unwrap()).seconds();
            assert_eq!(hcm_offset_seconds(t), want, "at {t}");
            t += 3_599;
        }
        for (at, _) in HCM_TRANSITIONS {
            for t in [at - 1, at, at + 1] {
                let want = tz.to_offset(Timestamp::from_second(t).unwrap()).seconds();
                assert_eq!(hcm_offset_seconds(t), want, "at {t}");
            }
        }
    }
}
