//! Scores and ranks, what-if, re-expression on another map, and Monte Carlo rank-stability
//! bands.

use std::collections::BTreeMap;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::methodology::{Display, Methodology};

/// Indicator values per unit: unit code → indicator code → value.
pub type Values = BTreeMap<String, BTreeMap<String, f64>>;

/// Points per indicator code (the scored ones; absent = 0).
pub type Points = BTreeMap<String, f64>;

/// One unit's score and rank.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnitScore {
    /// Unit code.
    pub unit: String,
    /// The score: a 0–1 ratio or points, as the methodology displays it.
    pub score: f64,
    /// Rank by descending score rounded to 4 decimals; ties share a rank (1, 2, 2, 4).
    pub rank: u32,
    /// The unit's values of the methodology's main and scored indicators that were given.
    pub values: BTreeMap<String, f64>,
    /// Scored indicators without a value (each counted as 0), in file order.
    pub missing: Vec<String>,
}

/// Scoring input that does not fit the methodology.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ScoreError {
    /// A value or points for an indicator the methodology does not have.
    #[error("unknown indicator '{code}' (methodology {methodology})")]
    UnknownIndicator {
        /// The code.
        code: String,
        /// The methodology id.
        methodology: String,
    },
    /// Points that are negative or not finite.
    #[error("points of '{0}' must be a finite number of 0 or more")]
    BadPoints(String),
    /// Overridden points that are all zero.
    #[error("no indicator has points")]
    NoPoints,
}

/// The methodology's own points of its scored indicators.
pub fn points(m: &Methodology) -> Points {
    m.scored_indicators()
        .map(|i| (i.code.clone(), i.points))
        .collect()
}

/// The key ranks compare: the score rounded to 4 decimals, as published.
fn rank_key(score: f64) -> i64 {
    (score * 10_000.0).round() as i64
}

/// Ranks by descending score rounded to 4 decimals; equal rounded scores share the best
/// rank, the next rank skips (1, 2, 2, 4). `ranks(s)[i]` is the rank of `s[i]`.
pub fn ranks(scores: &[f64]) -> Vec<u32> {
    let keys: Vec<i64> = scores.iter().map(|&s| rank_key(s)).collect();
    let mut sorted = keys.clone();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    keys.iter()
        .map(|k| sorted.partition_point(|s| s > k) as u32 + 1)
        .collect()
}

/// Scores every unit with the methodology's points; sorted by rank, then unit code.
pub fn score(m: &Methodology, values: &Values) -> Result<Vec<UnitScore>, ScoreError> {
    score_with(m, values, &points(m))
}

/// A dense scoring problem: units × scored indicators.
struct Matrix {
    units: Vec<String>,
    codes: Vec<String>,
    /// `values[u * codes.len() + k]`, 0 where missing.
    values: Vec<f64>,
    points: Vec<f64>,
    ratio: bool,
}

impl Matrix {
    fn scores(&self, points: &[f64], out: &mut Vec<f64>) {
        let k = self.codes.len();
        let total: f64 = points.iter().sum();
        out.clear();
        out.extend(
            self.values
                .chunks(k.max(1))
                .take(self.units.len())
                .map(|row| {
                    let s: f64 = row.iter().zip(points).map(|(v, p)| v * p).sum();
                    if self.ratio { s / total } else { s }
                }),
        );
        if k == 0 {
            out.resize(self.units.len(), 0.0);
        }
    }
}

fn check(m: &Methodology, values: &Values, points: &Points) -> Result<(), ScoreError> {
    let unknown = |code: &String| ScoreError::UnknownIndicator {
        code: code.clone(),
        methodology: m.id.clone(),
    };
    for (code, p) in points {
        m.indicator(code).ok_or_else(|| unknown(code))?;
        if !p.is_finite() || *p < 0.0 {
            return Err(ScoreError::BadPoints(code.clone()));
        }
    }
    if !points.values().any(|p| *p > 0.0) {
        return Err(ScoreError::NoPoints);
    }
    for row in values.values() {
        for code in row.keys() {
            m.indicator(code).ok_or_else(|| unknown(code))?;
        }
    }
    Ok(())
}

fn matrix(m: &Methodology, values: &Values, points: &Points) -> Matrix {
    let codes: Vec<String> = m
        .indicators
        .iter()
        .filter(|i| points.get(&i.code).is_some_and(|p| *p > 0.0))
        .map(|i| i.code.clone())
        .collect();
    let mut flat = Vec::with_capacity(values.len() * codes.len());
    for row in values.values() {
        flat.extend(codes.iter().map(|c| row.get(c).copied().unwrap_or(0.0)));
    }
    Matrix {
        units: values.keys().cloned().collect(),
        points: codes.iter().map(|c| points[c]).collect(),
        codes,
        values: flat,
        ratio: m.scale.display == Display::Ratio,
    }
}

/// Scores every unit with the given points (indicator code → points; indicators not named
/// get 0). A ratio methodology divides by the sum of these points (= total points when they
/// are the methodology's own). Sorted by rank, then unit code.
pub fn score_with(
    m: &Methodology,
    values: &Values,
    points: &Points,
) -> Result<Vec<UnitScore>, ScoreError> {
    check(m, values, points)?;
    let mx = matrix(m, values, points);
    let mut scores = Vec::new();
    mx.scores(&mx.points, &mut scores);
    let rank = ranks(&scores);
    let mut out: Vec<UnitScore> = values
        .iter()
        .zip(scores.iter().zip(&rank))
        .map(|((unit, row), (&score, &rank))| UnitScore {
            unit: unit.clone(),
            score,
            rank,
            values: row.clone(),
            missing: mx
                .codes
                .iter()
                .filter(|c| !row.contains_key(*c))
                .cloned()
                .collect(),
        })
        .collect();
    out.sort_by(|a, b| a.rank.cmp(&b.rank).then_with(|| a.unit.cmp(&b.unit)));
    Ok(out)
}

/// What-if: points overridden for some indicators (others keep the methodology's) and
/// values overridden for some units and indicators; nothing is stored.
pub fn what_if(
    m: &Methodology,
    values: &Values,
    points_override: &Points,
    values_override: &Values,
) -> Result<Vec<UnitScore>, ScoreError> {
    let mut p = points(m);
    p.extend(points_override.iter().map(|(k, v)| (k.clone(), *v)));
    let mut v = values.clone();
    for (unit, row) in values_override {
        v.entry(unit.clone())
            .or_default()
            .extend(row.iter().map(|(k, x)| (k.clone(), *x)));
    }
    score_with(m, &v, &p)
}

/// How predecessors' values are combined when re-expressing on another map.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Weighting {
    /// The plain mean (the rule used when DTI 2024 was ranked on the 34-province map).
    Mean,
    /// The mean weighted by the mapping's weights (e.g. population).
    Weighted,
}

/// A mapping that cannot be applied.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ReexpressError {
    /// A new unit without predecessors.
    #[error("unit {0} has no predecessors")]
    NoPredecessors(String),
    /// A predecessor without values.
    #[error("unit {new}: predecessor {old} has no values")]
    UnknownUnit {
        /// The new unit.
        new: String,
        /// The predecessor.
        old: String,
    },
    /// Weights that are negative, not finite, or sum to zero.
    #[error("unit {0}: weights must be 0 or more and not all 0")]
    BadWeights(String),
}

/// Re-expresses values on another map: each new unit (key of `mapping`) gets, per
/// indicator, the mean of its predecessors' values (plain or weighted by the mapping's
/// weights). An indicator that some predecessor lacks is left out for the new unit (and is
/// then reported missing when scored).
pub fn reexpress(
    values: &Values,
    mapping: &BTreeMap<String, Vec<(String, f64)>>,
    weighting: Weighting,
) -> Result<Values, ReexpressError> {
    let mut out = Values::new();
    for (new, preds) in mapping {
        if preds.is_empty() {
            return Err(ReexpressError::NoPredecessors(new.clone()));
        }
        let mut rows = Vec::with_capacity(preds.len());
        for (old, w) in preds {
            let row = values.get(old).ok_or_else(|| ReexpressError::UnknownUnit {
                new: new.clone(),
                old: old.clone(),
            })?;
            let w = match weighting {
                Weighting::Mean => 1.0,
                Weighting::Weighted => *w,
            };
            if !w.is_finite() || w < 0.0 {
                return Err(ReexpressError::BadWeights(new.clone()));
            }
            rows.push((row, w));
        }
        let total: f64 = rows.iter().map(|(_, w)| w).sum();
        if total <= 0.0 {
            return Err(ReexpressError::BadWeights(new.clone()));
        }
        let first = rows[0].0;
        let mut merged = BTreeMap::new();
        for code in first.keys() {
            let parts: Option<f64> = rows
                .iter()
                .map(|(row, w)| row.get(code).map(|v| v * w))
                .sum();
            if let Some(sum) = parts {
                merged.insert(code.clone(), sum / total);
            }
        }
        out.insert(new.clone(), merged);
    }
    Ok(out)
}

/// Settings of the Monte Carlo rank-stability bands.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BandOptions {
    /// Each scored indicator's points are multiplied by a uniform factor in
    /// [1 − spread, 1 + spread].
    pub spread: f64,
    /// Number of draws.
    pub draws: usize,
    /// Seed of the random generator (ChaCha8): same seed, same bands.
    pub seed: u64,
}

impl Default for BandOptions {
    fn default() -> Self {
        BandOptions {
            spread: 0.2,
            draws: 1000,
            seed: 2022,
        }
    }
}

/// A unit's rank and its spread under perturbed points.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RankBand {
    /// Unit code.
    pub unit: String,
    /// Rank with the methodology's own points.
    pub rank: u32,
    /// 5th-percentile rank over the draws (the best end of the band).
    pub p5: u32,
    /// Median rank over the draws.
    pub median: u32,
    /// 95th-percentile rank over the draws (the worst end of the band).
    pub p95: u32,
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[u32], q: f64) -> u32 {
    let idx = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[idx]
}

/// Monte Carlo rank-stability bands: each draw perturbs each scored indicator's points by
/// its own uniform factor in [1 − spread, 1 + spread], scores and ranks all units; each
/// unit gets its 5th, 50th and 95th percentile rank. Reproducible for a seed. Sorted like
/// [`score`].
pub fn rank_bands(
    m: &Methodology,
    values: &Values,
    opts: &BandOptions,
) -> Result<Vec<RankBand>, ScoreError> {
    let base = points(m);
    check(m, values, &base)?;
    let mx = matrix(m, values, &base);
    let n = mx.units.len();
    let draws = opts.draws.max(1);
    let spread = opts.spread.clamp(0.0, 1.0);
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    let mut per_unit: Vec<Vec<u32>> = vec![Vec::with_capacity(draws); n];
    let mut p = mx.points.clone();
    let mut scores = Vec::with_capacity(n);
    for _ in 0..draws {
        for (pi, base) in p.iter_mut().zip(&mx.points) {
            let f = if spread > 0.0 {
                rng.gen_range(1.0 - spread..=1.0 + spread)
            } else {
                1.0
            };
            *pi = base * f;
        }
        mx.scores(&p, &mut scores);
        for (u, r) in ranks(&scores).into_iter().enumerate() {
            per_unit[u].push(r);
        }
    }
    mx.scores(&mx.points, &mut scores);
    let base_rank = ranks(&scores);
    let mut out: Vec<RankBand> = per_unit
        .into_iter()
        .enumerate()
        .map(|(u, mut rs)| {
            rs.sort_unstable();
            RankBand {
                unit: mx.units[u].clone(),
                rank: base_rank[u],
                p5: percentile(&rs, 0.05),
                median: percentile(&rs, 0.5),
                p95: percentile(&rs, 0.95),
            }
        })
        .collect();
    out.sort_by(|a, b| a.rank.cmp(&b.rank).then_with(|| a.unit.cmp(&b.unit)));
    Ok(out)
}
