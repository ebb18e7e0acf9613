//! Evaluation with provenance: data-element values per (unit, period) in, every indicator's
//! value out; and aggregation of element values up the unit hierarchy and over time, as
//! each element declares.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::methodology::{Definition, HierarchyAgg, Measure, Methodology, Source, TimeAgg};
use crate::period::{Period, PeriodKind};

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Provenance {
    /// Measured automatically from a feed.
    Measured {
        /// The feed (e.g. the source system of the dossier feed).
        feed: String,
        /// The public-service measure.
        measure: Measure,
    },
    /// Reported by a person, with evidence files.
    Reported {
        /// Who reported it.
        by: String,
        /// SHA-256 (lowercase hex) of each evidence file.
        evidence: Vec<String>,
    },
    /// Computed from other values: element or indicator codes; for aggregates,
    /// `unit:code` (hierarchy) or `period:code` (time) entries.
    Computed {
        /// What it was computed from.
        from: Vec<String>,
    },
    /// Taken from a publication.
    Published {
        /// The publication (URL or citation).
        source: String,
    },
}

/// One data-element value of one unit in one period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Input {
    /// The unit's code.
    pub unit: String,
    /// The period.
    pub period: Period,
    /// The data element's code.
    pub element: String,
    /// The value.
    pub value: f64,
    /// Where it came from.
    pub provenance: Provenance,
}

/// One indicator value of one unit in one period; `None` when missing (an input was
/// missing, or a `ratio(.., .., null)` had a zero denominator).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Output {
    /// The unit's code.
    pub unit: String,
    /// The period.
    pub period: Period,
    /// The indicator's code.
    pub indicator: String,
    /// The value, if any.
    pub value: Option<f64>,
    /// Always [`Provenance::Computed`], listing the codes the value was computed from.
    pub provenance: Provenance,
}

/// Evaluation or aggregation cannot go on.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EvalError {
    /// An input names an element the methodology does not have.
    #[error("unit {unit}, {period}: unknown data element '{element}'")]
    UnknownElement {
        /// Unit code.
        unit: String,
        /// Period.
        period: Period,
        /// Element code.
        element: String,
    },
    /// Two inputs for the same (unit, period, element).
    #[error("unit {unit}, {period}: data element '{element}' given twice")]
    Duplicate {
        /// Unit code.
        unit: String,
        /// Period.
        period: Period,
        /// Element code.
        element: String,
    },
    /// A measured input for an element bound to another measure, or a reported element.
    #[error(
        "unit {unit}, {period}: '{element}' is {expected}, but the value was measured as {got}"
    )]
    WrongMeasure {
        /// Unit code.
        unit: String,
        /// Period.
        period: Period,
        /// Element code.
        element: String,
        /// What the element declares.
        expected: String,
        /// The measure of the input.
        got: Measure,
    },
    /// A plain `/` met a zero denominator.
    #[error(
        "indicator '{indicator}', unit {unit}, {period}: division by zero (use ratio(a, b, on_zero) to declare what a zero denominator gives)"
    )]
    DivisionByZero {
        /// Indicator code.
        indicator: String,
        /// Unit code.
        unit: String,
        /// Period.
        period: Period,
    },
    /// A weighted mean up the hierarchy lacks the weight of a child unit.
    #[error("unit {unit}, {period}: '{element}' is weighted by '{weight}', which has no value")]
    MissingWeight {
        /// Child unit code.
        unit: String,
        /// Period.
        period: Period,
        /// Element code.
        element: String,
        /// Weight element code.
        weight: String,
    },
    /// The weights of a weighted mean sum to zero.
    #[error("unit {unit}, {period}: the weights of '{element}' sum to zero")]
    ZeroWeights {
        /// Parent unit code.
        unit: String,
        /// Period.
        period: Period,
        /// Element code.
        element: String,
    },
    /// Time aggregation to a period finer than an input's, or of periods of mixed kinds.
    #[error("unit {unit}: '{element}' for {period} cannot be aggregated to {target:?}: {reason}")]
    BadPeriod {
        /// Unit code.
        unit: String,
        /// The input's period.
        period: Period,
        /// Element code.
        element: String,
        /// The target kind.
        target: PeriodKind,
        /// Why.
        reason: String,
    },
}

/// Checks inputs against the methodology: known elements, no duplicates, measures match.
fn check_inputs(m: &Methodology, inputs: &[Input]) -> Result<(), EvalError> {
    let mut seen = std::collections::BTreeSet::new();
    for i in inputs {
        let Some(el) = m.element(&i.element) else {
            return Err(EvalError::UnknownElement {
                unit: i.unit.clone(),
                period: i.period,
                element: i.element.clone(),
            });
        };
        if !seen.insert((&i.unit, i.period, &i.element)) {
            return Err(EvalError::Duplicate {
                unit: i.unit.clone(),
                period: i.period,
                element: i.element.clone(),
            });
        }
        if let Provenance::Measured { measure, .. } = &i.provenance
            && el.source != Source::Measured(*measure)
        {
            return Err(EvalError::WrongMeasure {
                unit: i.unit.clone(),
                period: i.period,
                element: i.element.clone(),
                expected: match el.source {
                    Source::Reported => "reported".to_owned(),
                    Source::Measured(x) => format!("measured as {x}"),
                },
                got: *measure,
            });
        }
    }
    Ok(())
}

/// Evaluates every indicator for every (unit, period) that has at least one input.
/// Outputs are ordered by unit, period, then indicator evaluation order.
pub fn evaluate(m: &Methodology, inputs: &[Input]) -> Result<Vec<Output>, EvalError> {
    check_inputs(m, inputs)?;
    let mut cells: BTreeMap<(&str, Period), BTreeMap<&str, f64>> = BTreeMap::new();
    for i in inputs {
        cells
            .entry((i.unit.as_str(), i.period))
            .or_default()
            .insert(i.element.as_str(), i.value);
    }
    let mut out = Vec::new();
    for ((unit, period), elements) in cells {
        let mut computed: BTreeMap<&str, Option<f64>> = BTreeMap::new();
        for ind in m.evaluation_order() {
            let (value, from) = match &ind.definition {
                Definition::Entered => (
                    elements.get(ind.code.as_str()).copied(),
                    vec![ind.code.clone()],
                ),
                Definition::Formula { expr, .. } => {
                    let lookup = |r: &str| match computed.get(r) {
                        Some(v) => *v,
                        None => elements.get(r).copied(),
                    };
                    let value = expr.eval(&lookup).map_err(|_| EvalError::DivisionByZero {
                        indicator: ind.code.clone(),
                        unit: unit.to_owned(),
                        period,
                    })?;
                    let from = expr.references().into_iter().map(str::to_owned).collect();
                    (value, from)
                }
            };
            computed.insert(ind.code.as_str(), value);
            out.push(Output {
                unit: unit.to_owned(),
                period,
                indicator: ind.code.clone(),
                value,
                provenance: Provenance::Computed { from },
            });
        }
    }
    Ok(out)
}

/// The main-indicator values of one period, per unit (missing values left out), ready for
/// [`crate::score()`].
pub fn main_values(m: &Methodology, outputs: &[Output], period: Period) -> crate::Values {
    let mut values = crate::Values::new();
    for o in outputs {
        if o.period != period || !m.indicator(&o.indicator).is_some_and(|i| i.main) {
            continue;
        }
        if let Some(v) = o.value {
            values
                .entry(o.unit.clone())
                .or_default()
                .insert(o.indicator.clone(), v);
        }
    }
    values
}

type Groups<'a> = BTreeMap<(String, Period, &'a str), Vec<&'a Input>>;

/// Aggregates element values of child units into their parents (`parent_of`: child code →
/// parent code), as each element declares (`sum`, `mean`, `weighted_mean` by another
/// element of the same child and period). Inputs of units without a parent are left out.
/// Provenance lists `child:element` for every contribution.
pub fn aggregate_units(
    m: &Methodology,
    inputs: &[Input],
    parent_of: &BTreeMap<String, String>,
) -> Result<Vec<Input>, EvalError> {
    check_inputs(m, inputs)?;
    let by_key: BTreeMap<(&str, Period, &str), f64> = inputs
        .iter()
        .map(|i| ((i.unit.as_str(), i.period, i.element.as_str()), i.value))
        .collect();
    let mut groups: Groups = BTreeMap::new();
    for i in inputs {
        if let Some(parent) = parent_of.get(&i.unit) {
            groups
                .entry((parent.clone(), i.period, i.element.as_str()))
                .or_default()
                .push(i);
        }
    }
    let mut out = Vec::new();
    for ((parent, period, element), members) in groups {
        let el = m.element(element).expect("checked");
        let n = members.len() as f64;
        let value = match &el.hierarchy {
            HierarchyAgg::Sum => members.iter().map(|i| i.value).sum(),
            HierarchyAgg::Mean => members.iter().map(|i| i.value).sum::<f64>() / n,
            HierarchyAgg::WeightedMean(weight) => {
                let (mut num, mut den) = (0.0, 0.0);
                for i in &members {
                    let Some(&w) = by_key.get(&(i.unit.as_str(), period, weight.as_str())) else {
                        return Err(EvalError::MissingWeight {
                            unit: i.unit.clone(),
                            period,
                            element: element.to_owned(),
                            weight: weight.clone(),
                        });
                    };
                    num += w * i.value;
                    den += w;
                }
                if den == 0.0 {
                    return Err(EvalError::ZeroWeights {
                        unit: parent,
                        period,
                        element: element.to_owned(),
                    });
                }
                num / den
            }
        };
        let from = members
            .iter()
            .map(|i| format!("{}:{element}", i.unit))
            .collect();
        out.push(Input {
            unit: parent,
            period,
            element: element.to_owned(),
            value,
            provenance: Provenance::Computed { from },
        });
    }
    Ok(out)
}

/// Aggregates element values into periods of kind `to` (months into quarters or years,
/// quarters into years), as each element declares (`sum`, `mean`, `last`). An input
/// coarser than `to`, or inputs of different kinds falling in one target period, are errors.
/// Provenance lists `period:element` for every contribution.
pub fn aggregate_time(
    m: &Methodology,
    inputs: &[Input],
    to: PeriodKind,
) -> Result<Vec<Input>, EvalError> {
    check_inputs(m, inputs)?;
    let mut groups: Groups = BTreeMap::new();
    for i in inputs {
        let bad = |reason: &str| EvalError::BadPeriod {
            unit: i.unit.clone(),
            period: i.period,
            element: i.element.clone(),
            target: to,
            reason: reason.to_owned(),
        };
        let target = i
            .period
            .within(to)
            .ok_or_else(|| bad("the input is coarser than the target"))?;
        let group = groups
            .entry((i.unit.clone(), target, i.element.as_str()))
            .or_default();
        if group
            .first()
            .is_some_and(|f| f.period.kind() != i.period.kind())
        {
            return Err(bad("periods of different lengths would be counted twice"));
        }
        group.push(i);
    }
    let mut out = Vec::new();
    for ((unit, period, element), mut members) in groups {
        members.sort_by_key(|i| i.period);
        let el = m.element(element).expect("checked");
        let values = members.iter().map(|i| i.value);
        let value = match el.time {
            TimeAgg::Sum => values.sum(),
            TimeAgg::Mean => values.sum::<f64>() / members.len() as f64,
            TimeAgg::Last => members.last().map(|i| i.value).unwrap_or_default(),
        };
        let from = members
            .iter()
            .map(|i| format!("{}:{element}", i.period))
            .collect();
        out.push(Input {
            unit,
            period,
            element: element.to_owned(),
            value,
            provenance: Provenance::Computed { from },
        });
    }
    Ok(out)
}
