//! Domain types and pure rules of dxhub. No IO, no async, no database or HTTP types.

pub mod accounts;
pub mod audit;
pub mod auth;
pub mod date;
pub mod reports;
pub mod units;

pub use date::{Date, parse_date};
pub use units::{
    LineageEdge, LineageEntry, LineageKind, ORIGIN, REORG_2025, Unit, UnitCode, UnitKey, UnitLevel,
};
