//! The storage interface of dxhub: what every backend (SQLite, PostgreSQL) must do, in
//! domain types, with one error type. No driver type crosses this interface.

use async_trait::async_trait;
use dxhub_core::Date;
use dxhub_core::units::{LineageEntry, Unit, UnitKey, UnitLevel};
use dxhub_reference::ReferenceData;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
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

/// A complete dxhub store: every role trait joined.
#[async_trait]
pub trait Store: UnitStore {
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
