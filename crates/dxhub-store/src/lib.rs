//! The storage interface of dxhub: what every backend (SQLite, PostgreSQL) must do, in
//! domain types, with one error type. No driver type crosses this interface.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use async_trait::async_trait;
use dxhub_core::Date;
use dxhub_core::accounts::{
    ApiKey, NewApiKey, NewUser, Session, ThrottlePolicy, UnitContact, User,
};
use dxhub_core::audit::{AuditEntry, Change};
use dxhub_core::units::{LineageEntry, Unit, UnitKey, UnitLevel};
use dxhub_reference::ReferenceData;

pub mod reports;
pub use reports::{
    ApprovedReport, Edition, Evidence, NewEdition, NewEvidence, Report, ReportFilter, ReportStore,
    ReportedValue, ValueChange,
};

/// Why a store operation failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The database could not be reached or opened.
    #[error("cannot open the database: {0}")]
    Connect(String),
    /// Bringing the schema up to date failed.
    #[error("database migration failed: {0}")]
    Migration(String),
    /// The database refused a query or the connection broke.
    #[error("database error: {0}")]
    Database(String),
    /// The stored data contradicts an invariant (a bug or a hand-edited database).
    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),
    /// A unique value is taken (e.g. an e-mail address).
    #[error("{0}")]
    Conflict(String),
    /// The object to change does not exist.
    #[error("{0}")]
    NotFound(String),
}

/// A damaged dossier block is damaged stored data.
impl From<dxhub_ingest::blocks::BlockError> for StoreError {
    fn from(e: dxhub_ingest::blocks::BlockError) -> Self {
        StoreError::Corrupt(e.to_string())
    }
}

/// Unreadable or impossible per-service counts are damaged stored data.
impl From<dxhub_ingest::services::ServiceCountsError> for StoreError {
    fn from(e: dxhub_ingest::services::ServiceCountsError) -> Self {
        StoreError::Corrupt(e.to_string())
    }
}

/// Shorthand for store results.
pub type StoreResult<T> = Result<T, StoreError>;

/// Which units to list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitFilter {
    /// Only this level; all levels when `None`.
    pub level: Option<UnitLevel>,
    /// Only versions valid on this day.
    pub at: Date,
    /// Only units whose direct parent or province has this code (valid on `at`).
    pub parent: Option<String>,
}

/// The predecessors and successors of a unit version, following every reorganisation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lineage {
    /// Older versions that became (part of) this one, nearest first, then by code.
    pub predecessors: Vec<LineageEntry>,
    /// Newer versions that (part of) this one became, nearest first, then by code.
    pub successors: Vec<LineageEntry>,
}

/// What loading the reference data did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReferenceLoad {
    /// This version was already in the store; nothing was written.
    AlreadyLoaded,
    /// Units and lineage edges written (inserted or updated), in one transaction.
    Loaded {
        /// Unit versions written.
        units: usize,
        /// Lineage edges written.
        edges: usize,
    },
}

/// Administrative units through time.
#[async_trait]
pub trait UnitStore: Send + Sync {
    /// The version of the reference data last loaded, if any.
    async fn reference_version(&self) -> StoreResult<Option<String>>;

    /// Loads (or updates to) a version of the reference data, all or nothing. Loading a
    /// version already loaded writes nothing; a newer version updates units in place by
    /// their identity (level, code, first valid day) and adds new edges.
    async fn load_reference(&self, data: &ReferenceData) -> StoreResult<ReferenceLoad>;

    /// Units matching the filter, ordered by level then code.
    async fn units(&self, filter: &UnitFilter) -> StoreResult<Vec<Unit>>;

    /// The version of the unit with this code valid on `at` (of this level, when given).
    async fn unit_at(
        &self,
        code: &str,
        level: Option<UnitLevel>,
        at: Date,
    ) -> StoreResult<Option<Unit>>;

    /// Every version ever stored under this code (of this level, when given), oldest first.
    async fn unit_versions(&self, code: &str, level: Option<UnitLevel>) -> StoreResult<Vec<Unit>>;

    /// The predecessors and successors of one unit version, transitively.
    async fn lineage(&self, key: &UnitKey) -> StoreResult<Lineage>;
}

/// Which audit entries to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Only entries whose actor contains this text.
    pub actor: Option<String>,
    /// Only entries whose action starts with this text.
    pub action: Option<String>,
    /// Only entries whose object starts with this text.
    pub object: Option<String>,
    /// Only entries at or after this time (RFC 3339 text, compared as text in UTC).
    pub since: Option<String>,
    /// Only entries before this time.
    pub until: Option<String>,
    /// At most this many, newest first; all when `None`.
    pub limit: Option<u32>,
}

/// Accounts, sessions, sign-in throttling, API keys, unit contacts and the audit trail.
/// Every method that changes something takes the [`Change`] to record and writes it in the
/// same transaction, so no change is ever unaudited.
#[async_trait]
pub trait AccountStore: Send + Sync {
    /// Creates an account; `Conflict` if the e-mail is taken. The audit entry's object is
    /// set to `user:<id>` once the id exists, so every entry of an account names it alike.
    async fn create_user(&self, user: &NewUser, audit: Change) -> StoreResult<User>;
    /// The account with this id.
    async fn user(&self, id: i64) -> StoreResult<Option<User>>;
    /// The account with this e-mail (any case).
    async fn user_by_email(&self, email: &str) -> StoreResult<Option<User>>;
    /// The account linked to this OpenID Connect `issuer subject`.
    async fn user_by_oidc_subject(&self, subject: &str) -> StoreResult<Option<User>>;
    /// All accounts, by e-mail.
    async fn users(&self) -> StoreResult<Vec<User>>;
    /// Replaces an account's password hash and ends its sessions.
    async fn set_password(&self, user_id: i64, hash: &str, audit: Change) -> StoreResult<()>;
    /// Links an OpenID Connect identity to an account.
    async fn link_oidc_subject(
        &self,
        user_id: i64,
        subject: &str,
        audit: Change,
    ) -> StoreResult<()>;

    /// Records a new session under the SHA-256 of its token.
    async fn create_session(
        &self,
        token_hash: &str,
        session: &Session,
        audit: Change,
    ) -> StoreResult<()>;
    /// The live session (not expired at `now`, Unix seconds) and its enabled account.
    async fn session(&self, token_hash: &str, now: i64) -> StoreResult<Option<(User, Session)>>;
    /// Ends a session.
    async fn delete_session(&self, token_hash: &str, audit: Change) -> StoreResult<()>;

    /// Until when (Unix seconds) sign-in is locked for any of these throttle keys.
    async fn login_locked_until(&self, keys: &[String], now: i64) -> StoreResult<Option<i64>>;
    /// Counts a failed sign-in against each key and locks per the policy; returns the
    /// lock's end, if any, and records the failure in the audit trail.
    async fn record_login_failure(
        &self,
        keys: &[String],
        now: i64,
        policy: ThrottlePolicy,
        audit: Change,
    ) -> StoreResult<Option<i64>>;
    /// Forgets the failures of these keys after a successful sign-in.
    async fn clear_login_failures(&self, keys: &[String]) -> StoreResult<()>;

    /// Creates an API key; the audit entry's object is set to `key:<id>`.
    async fn create_key(&self, key: &NewApiKey, audit: Change) -> StoreResult<ApiKey>;
    /// The key with this id.
    async fn key(&self, id: i64) -> StoreResult<Option<ApiKey>>;
    /// All keys, newest first.
    async fn keys(&self) -> StoreResult<Vec<ApiKey>>;
    /// Notes that a key was used (RFC 3339 time).
    async fn touch_key(&self, id: i64, at: &str) -> StoreResult<()>;
    /// Revokes a key; `NotFound` if there is none, no change if already revoked.
    async fn revoke_key(&self, id: i64, audit: Change) -> StoreResult<ApiKey>;

    /// The contact of a unit version (contacts belong to a version: the old Bắc Giang and
    /// the new Bắc Ninh share code 24 but not their office).
    async fn unit_contact(&self, unit: &UnitKey) -> StoreResult<Option<UnitContact>>;
    /// Sets the contact of a unit version.
    async fn set_unit_contact(
        &self,
        unit: &UnitKey,
        contact: &UnitContact,
        audit: Change,
    ) -> StoreResult<()>;

    /// Records a change that is not a stored object of its own (e.g. a sign-out).
    async fn append_audit(&self, audit: Change) -> StoreResult<AuditEntry>;
    /// Audit entries matching the filter, newest first.
    async fn audit_entries(&self, filter: &AuditFilter) -> StoreResult<Vec<AuditEntry>>;
    /// Every audit entry in chain order, and the recorded head (last seq and hash).
    async fn audit_chain(&self) -> StoreResult<(Vec<AuditEntry>, Option<(i64, String)>)>;
}

/// What storing a batch of dossier snapshots did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IngestCounts {
    /// Snapshots newer than what was stored (in arrival order): they changed the store.
    pub applied: u64,
    /// Snapshots whose version was not above the stored one: they changed nothing.
    pub stale: u64,
}

impl IngestCounts {
    /// The counts of each part of a resolved batch, in order.
    pub fn per_part(r: &dxhub_ingest::Resolution) -> Vec<IngestCounts> {
        r.parts
            .iter()
            .map(|&(applied, stale)| IngestCounts { applied, stale })
            .collect()
    }
}

impl std::ops::AddAssign for IngestCounts {
    /// Totals over several batches.
    fn add_assign(&mut self, other: IngestCounts) {
        self.applied += other.applied;
        self.stale += other.stale;
    }
}

/// Which indicator cells to read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IndicatorQuery {
    /// Only this province (2-digit code).
    pub province: Option<String>,
    /// Only months from this one (`YYYY-MM`), inclusive.
    pub from_month: Option<String>,
    /// Only months up to this one (`YYYY-MM`), inclusive.
    pub to_month: Option<String>,
}

/// How indicator rows are grouped: by province or for the whole nation, per month,
/// quarter or year.
///
/// Nation rows carry the unit code [`NATION`] (`VN`). Periods are written `YYYY-MM`
/// (month), `YYYY-Qn` (quarter) or `YYYY` (year). The additive counters are summed over
/// the group; `services_online` is the number of distinct service codes with an online
/// dossier anywhere in the group (never a sum).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Grouping {
    #[default]
    ProvinceMonth,
    NationMonth,
    ProvinceQuarter,
    NationQuarter,
    ProvinceYear,
    NationYear,
}

/// The unit code of nation-wide rows.
pub const NATION: &str = "VN";

/// The length of a grouping's periods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PeriodKind {
    Month,
    Quarter,
    Year,
}

impl PeriodKind {
    /// The column name of the period (`month`, `quarter`, `year`).
    pub fn column(self) -> &'static str {
        match self {
            PeriodKind::Month => "month",
            PeriodKind::Quarter => "quarter",
            PeriodKind::Year => "year",
        }
    }

    /// The period a `YYYY-MM` month falls in, in this kind's notation.
    pub fn of_month(self, month: &str) -> String {
        match self {
            PeriodKind::Month => month.to_owned(),
            PeriodKind::Year => month.get(..4).unwrap_or(month).to_owned(),
            PeriodKind::Quarter => {
                let m: u32 = month.get(5..7).and_then(|m| m.parse().ok()).unwrap_or(1);
                format!("{}-Q{}", month.get(..4).unwrap_or(month), m.div_ceil(3))
            }
        }
    }
}

impl Grouping {
    pub const ALL: [Grouping; 6] = [
        Grouping::ProvinceMonth,
        Grouping::NationMonth,
        Grouping::ProvinceQuarter,
        Grouping::NationQuarter,
        Grouping::ProvinceYear,
        Grouping::NationYear,
    ];

    /// The CLI name, e.g. `province-month`.
    pub fn as_str(self) -> &'static str {
        match self {
            Grouping::ProvinceMonth => "province-month",
            Grouping::NationMonth => "nation-month",
            Grouping::ProvinceQuarter => "province-quarter",
            Grouping::NationQuarter => "nation-quarter",
            Grouping::ProvinceYear => "province-year",
            Grouping::NationYear => "nation-year",
        }
    }

    pub fn parse(s: &str) -> Option<Grouping> {
        Grouping::ALL.into_iter().find(|g| g.as_str() == s)
    }

    /// Whether rows are nation-wide (unit [`NATION`]) rather than per province.
    pub fn nation(self) -> bool {
        matches!(
            self,
            Grouping::NationMonth | Grouping::NationQuarter | Grouping::NationYear
        )
    }

    /// Sets each grouped row's `services_online`: the distinct services with an online
    /// dossier in the group, from the stored per-service counts of the cells the rows were
    /// summed from (`province_code`, `month`, the text of
    /// [`dxhub_ingest::services::ServiceCounts`]). A province × month row is one cell and
    /// keeps the count it has.
    pub fn set_services_online<I>(self, rows: &mut [GroupedRow], cells: I) -> StoreResult<()>
    where
        I: IntoIterator<Item = (String, String, String)>,
    {
        if self == Grouping::ProvinceMonth {
            return Ok(());
        }
        let services = self.services_online(cells)?;
        for row in rows {
            row.services_online = services
                .get(&(row.unit.clone(), row.period.clone()))
                .copied()
                .unwrap_or(0);
        }
        Ok(())
    }

    /// The distinct services with an online dossier per group (unit, period); see
    /// [`Grouping::set_services_online`]. Groups without any are absent.
    fn services_online<I>(self, cells: I) -> StoreResult<HashMap<(String, String), u64>>
    where
        I: IntoIterator<Item = (String, String, String)>,
    {
        let mut groups: HashMap<(String, String), HashSet<String>> = HashMap::new();
        for (province, month, text) in cells {
            let counts = dxhub_ingest::services::ServiceCounts::parse(Some(&text))?;
            let unit = if self.nation() {
                NATION.to_owned()
            } else {
                province
            };
            let set = groups
                .entry((unit, self.period().of_month(&month)))
                .or_default();
            set.extend(counts.services().map(str::to_owned));
        }
        Ok(groups
            .into_iter()
            .map(|(k, v)| (k, v.len() as u64))
            .collect())
    }

    pub fn period(self) -> PeriodKind {
        match self {
            Grouping::ProvinceMonth | Grouping::NationMonth => PeriodKind::Month,
            Grouping::ProvinceQuarter | Grouping::NationQuarter => PeriodKind::Quarter,
            Grouping::ProvinceYear | Grouping::NationYear => PeriodKind::Year,
        }
    }

    /// The grouping with the given scope and period length.
    pub fn of(nation: bool, period: PeriodKind) -> Grouping {
        match (nation, period) {
            (false, PeriodKind::Month) => Grouping::ProvinceMonth,
            (true, PeriodKind::Month) => Grouping::NationMonth,
            (false, PeriodKind::Quarter) => Grouping::ProvinceQuarter,
            (true, PeriodKind::Quarter) => Grouping::NationQuarter,
            (false, PeriodKind::Year) => Grouping::ProvinceYear,
            (true, PeriodKind::Year) => Grouping::NationYear,
        }
    }
}

/// One grouped indicator row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupedRow {
    /// A 2-digit province code, or [`NATION`].
    pub unit: String,
    /// `YYYY-MM`, `YYYY-Qn` or `YYYY`, after the grouping.
    pub period: String,
    pub cell: dxhub_ingest::Cell,
    /// Distinct service codes with an online dossier in the group.
    pub services_online: u64,
}

/// Groups province × month rows in memory, given the online service codes of each row's
/// cell (the reference the stores' SQL grouping is checked against).
pub fn group_rows<'a>(
    rows: impl IntoIterator<Item = (&'a dxhub_ingest::IndicatorRow, Vec<String>)>,
    by: Grouping,
) -> Vec<GroupedRow> {
    use std::collections::{BTreeMap, BTreeSet};
    let mut groups: BTreeMap<(String, String), (dxhub_ingest::Cell, BTreeSet<String>)> =
        BTreeMap::new();
    for (r, services) in rows {
        let unit = if by.nation() {
            NATION.to_owned()
        } else {
            r.key.province_code.as_str().to_owned()
        };
        let g = groups
            .entry((unit, by.period().of_month(&r.key.month.to_string())))
            .or_default();
        g.0.add(&r.cell);
        g.1.extend(services);
    }
    groups
        .into_iter()
        .map(|((unit, period), (cell, services))| GroupedRow {
            unit,
            period,
            cell,
            services_online: services.len() as u64,
        })
        .collect()
}

/// Dossier snapshots (the newest per `(source, dossier_id)`) and the public-service
/// indicators per province × month kept up to date with them.
#[async_trait]
pub trait DossierStore: Send + Sync {
    /// Stores a batch of validated snapshots, in arrival order, all or nothing: each
    /// replaces the stored snapshot of its dossier only if its version is higher, and the
    /// indicator cells change in the same transaction.
    async fn ingest_dossiers(
        &self,
        batch: Vec<dxhub_ingest::DossierSnapshot>,
    ) -> StoreResult<IngestCounts> {
        self.ingest_keyed(Arc::new(dxhub_ingest::KeyedBatch::new(batch)))
            .await
    }

    /// [`DossierStore::ingest_dossiers`] for a batch already reduced to one snapshot per
    /// key (callers with a spare core build the [`dxhub_ingest::KeyedBatch`] there). The
    /// store only reads the batch and drops its handle before answering, so the caller
    /// can take the batch back ([`Arc::into_inner`]) and reuse its buffers
    /// ([`dxhub_ingest::BatchBuilder::recycle`]).
    async fn ingest_keyed(
        &self,
        batch: Arc<dxhub_ingest::KeyedBatch>,
    ) -> StoreResult<IngestCounts> {
        let mut total = IngestCounts::default();
        for part in self.ingest_parts(batch).await? {
            total += part;
        }
        Ok(total)
    }

    /// [`DossierStore::ingest_keyed`] answering with the counts of each part of the batch
    /// (see [`dxhub_ingest::BatchBuilder::next_part`]), in order: one transaction takes
    /// several senders' lines, and each sender learns what its own lines did.
    async fn ingest_parts(
        &self,
        batch: Arc<dxhub_ingest::KeyedBatch>,
    ) -> StoreResult<Vec<IngestCounts>>;

    /// Work the store would otherwise do later, in the caller's idle time: an importer
    /// calls it while it waits for its last batch. SQLite copies the pages committed so far
    /// from its write-ahead log into the database (which closing the connection would
    /// otherwise do after the last batch, with nothing else left to overlap). The default
    /// does nothing.
    async fn settle(&self) -> StoreResult<()> {
        Ok(())
    }

    /// Indicator rows, sorted by province then month.
    async fn indicator_rows(
        &self,
        query: &IndicatorQuery,
    ) -> StoreResult<Vec<dxhub_ingest::IndicatorRow>>;

    /// Indicator rows grouped as `by` says (the query's filters apply to the underlying
    /// province × month cells), sorted by unit then period.
    async fn grouped_indicator_rows(
        &self,
        query: &IndicatorQuery,
        by: Grouping,
    ) -> StoreResult<Vec<GroupedRow>>;

    /// How many dossiers are stored.
    async fn dossier_count(&self) -> StoreResult<u64>;
}

/// A complete dxhub store: every role trait joined.
#[async_trait]
pub trait Store: UnitStore + AccountStore + DossierStore + ReportStore {
    /// The backend's name for logs ("sqlite", "postgres").
    fn backend(&self) -> &'static str;

    /// Checks that the database answers.
    async fn ping(&self) -> StoreResult<()>;
}

/// Orders lineage entries the way the interface promises: nearest first, then by level
/// and code. Backends call this so both return identical lists.
pub fn sort_lineage(entries: &mut [LineageEntry]) {
    entries.sort_by(|a, b| {
        (a.steps, a.unit.level, &a.unit.code, a.unit.valid_from).cmp(&(
            b.steps,
            b.unit.level,
            &b.unit.code,
            b.unit.valid_from,
        ))
    });
}
