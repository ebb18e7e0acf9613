//! The indicator engine: methodologies as versioned data (TOML), a formula language over
//! data elements and indicators, evaluation with provenance, aggregation up the unit
//! hierarchy and over time, scores and ranks, what-if, re-expression on another map and
//! Monte Carlo rank-stability bands. Pure: no IO, no database, no web.
//!
//! ```
//! use dxhub_index::{Values, score, shipped_by_id};
//! let m = shipped_by_id("dti-province-2022").unwrap();
//! let mut values = Values::new();
//! for i in m.main_indicators() {
//!     values.entry("X".to_owned()).or_default().insert(i.code.clone(), 0.5);
//! }
//! let scores = score(&m, &values).unwrap();
//! assert_eq!(format!("{:.4}", scores[0].score), "0.5000");
//! ```

pub mod eval;
pub mod formula;
pub mod methodology;
pub mod period;
pub mod score;

pub use eval::{
    EvalError, Input, Output, Provenance, aggregate_time, aggregate_units, evaluate, main_values,
};
pub use methodology::{
    AppliesTo, Definition, Display, Element, Group, HierarchyAgg, Indicator, LoadError, Measure,
    Methodology, Scale, Source, TimeAgg, ValueKind, load, shipped, shipped_by_id, shipped_ids,
};
pub use period::{Period, PeriodKind, PeriodParseError};
pub use score::{
    BandOptions, Points, RankBand, ReexpressError, ScoreError, UnitScore, Values, Weighting,
    points, rank_bands, ranks, reexpress, score, score_with, what_if,
};
