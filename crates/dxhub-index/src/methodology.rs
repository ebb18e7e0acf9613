//! Methodologies as versioned data: the TOML file format (see METHODOLOGY.md), loading with
//! located errors, and the methodologies shipped in the binary.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::formula::{self, Expr};

/// The kind of unit a methodology assesses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AppliesTo {
    /// Provinces and centrally-run cities.
    Province,
    /// Ministries and ministry-level agencies.
    Ministry,
}

/// How a score is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Display {
    /// A 0–1 ratio: Σ value × points / total points (as DTI is published).
    Ratio,
    /// Points: Σ value × points (as index 766 is published).
    Points,
}

/// The score scale.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scale {
    /// The sum of the points of all indicators.
    pub total_points: f64,
    /// How the score is shown.
    pub display: Display,
}

/// A named public-service measure from the dossier feed that a measured element binds to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Measure {
    /// Dossiers received.
    Received,
    /// Dossiers received online.
    Online,
    /// Dossiers handled online end to end.
    EndToEnd,
    /// Dossiers completed.
    Completed,
    /// Dossiers completed on or before their due time.
    CompletedOnTime,
    /// Dossiers paid online.
    OnlinePayments,
    /// Amount paid online, in VND.
    OnlinePaymentVnd,
    /// Distinct services that received an online dossier.
    ServicesOnline,
}

impl Measure {
    /// Every measure, in declaration order.
    pub const ALL: [Measure; 8] = [
        Measure::Received,
        Measure::Online,
        Measure::EndToEnd,
        Measure::Completed,
        Measure::CompletedOnTime,
        Measure::OnlinePayments,
        Measure::OnlinePaymentVnd,
        Measure::ServicesOnline,
    ];

    /// The name used in methodology files.
    pub fn as_str(&self) -> &'static str {
        match self {
            Measure::Received => "received",
            Measure::Online => "online",
            Measure::EndToEnd => "end_to_end",
            Measure::Completed => "completed",
            Measure::CompletedOnTime => "completed_on_time",
            Measure::OnlinePayments => "online_payments",
            Measure::OnlinePaymentVnd => "online_payment_vnd",
            Measure::ServicesOnline => "services_online",
        }
    }
}

impl fmt::Display for Measure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What kind of number a data element holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ValueKind {
    /// A share on 0–1.
    Ratio,
    /// A count.
    Count,
    /// An amount in VND.
    Vnd,
    /// Any other number.
    Number,
}

/// Where a data element's values come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// Entered by an officer, with evidence.
    Reported,
    /// Computed automatically from a public-service measure.
    Measured(Measure),
}

/// How values of child units combine into their parent's value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HierarchyAgg {
    /// The sum.
    Sum,
    /// The plain mean.
    Mean,
    /// The mean weighted by another element's values (its code).
    WeightedMean(String),
}

/// How values of shorter periods combine into a longer period's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeAgg {
    /// The sum.
    Sum,
    /// The plain mean.
    Mean,
    /// The value of the latest period.
    Last,
}

/// A data element: a measured or reported quantity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Element {
    /// Stable code.
    pub code: String,
    /// Vietnamese name.
    pub name_vi: String,
    /// English name.
    pub name_en: String,
    /// What kind of number it holds.
    pub kind: ValueKind,
    /// Reported or measured.
    pub source: Source,
    /// Aggregation up the unit hierarchy.
    pub hierarchy: HierarchyAgg,
    /// Aggregation over time.
    pub time: TimeAgg,
    /// Whether it was declared implicitly by an `entered` indicator.
    pub implicit: bool,
}

/// How an indicator gets its value.
#[derive(Debug, Clone, PartialEq)]
pub enum Definition {
    /// The value is the reported data element with the indicator's own code.
    Entered,
    /// A formula (source text and parsed form).
    Formula {
        /// The formula as written.
        text: String,
        /// The parsed formula.
        expr: Expr,
    },
}

/// An indicator.
#[derive(Debug, Clone, PartialEq)]
pub struct Indicator {
    /// Stable code.
    pub code: String,
    /// Vietnamese name.
    pub name_vi: String,
    /// English name.
    pub name_en: String,
    /// The group (pillar) code, if any.
    pub group: Option<String>,
    /// Points (0 = not scored).
    pub points: f64,
    /// Whether it is a main indicator (the level DTI publishes and the CLI reads).
    pub main: bool,
    /// Number of component indicators behind it, where known (metadata).
    pub components: Option<u32>,
    /// How its value is obtained.
    pub definition: Definition,
    /// Free-text note (interpretations, assumptions).
    pub note: Option<String>,
}

/// A group of indicators (a pillar).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Group {
    /// Stable code.
    pub code: String,
    /// Vietnamese name.
    pub name_vi: String,
    /// English name.
    pub name_en: String,
    /// Declared points of the group (checked against its indicators), if given.
    pub points: Option<f64>,
}

/// A loaded, validated methodology.
#[derive(Debug, Clone, PartialEq)]
pub struct Methodology {
    /// Stable id, e.g. `dti-province-2022`.
    pub id: String,
    /// Version; any change in the file is a new version.
    pub version: u32,
    /// Vietnamese name.
    pub name_vi: String,
    /// English name.
    pub name_en: String,
    /// Legal basis (decision number and date).
    pub legal_basis: String,
    /// Where the figures come from.
    pub sources: Vec<String>,
    /// Notes: interpretations and assumptions, stated.
    pub notes: Vec<String>,
    /// The unit level it assesses.
    pub applies_to: AppliesTo,
    /// The score scale.
    pub scale: Scale,
    /// Number of component indicators in the whole framework, where known (metadata).
    pub components_total: Option<u32>,
    /// Groups (pillars), in file order.
    pub groups: Vec<Group>,
    /// Data elements, in file order (implicit ones after the declared ones).
    pub elements: Vec<Element>,
    /// Indicators, in file order.
    pub indicators: Vec<Indicator>,
    /// Indicator indices in an order where every formula's inputs come first.
    pub(crate) order: Vec<usize>,
    /// The file text it was loaded from.
    pub text: String,
}

impl Methodology {
    /// The indicator with this code.
    pub fn indicator(&self, code: &str) -> Option<&Indicator> {
        self.indicators.iter().find(|i| i.code == code)
    }

    /// The data element with this code.
    pub fn element(&self, code: &str) -> Option<&Element> {
        self.elements.iter().find(|e| e.code == code)
    }

    /// The main indicators, in file order.
    pub fn main_indicators(&self) -> impl Iterator<Item = &Indicator> {
        self.indicators.iter().filter(|i| i.main)
    }

    /// The indicators with points, in file order.
    pub fn scored_indicators(&self) -> impl Iterator<Item = &Indicator> {
        self.indicators.iter().filter(|i| i.points > 0.0)
    }

    /// The data elements an indicator's value depends on, directly or through other
    /// indicators, in file order (for tracing a value back to its inputs' provenance).
    pub fn elements_behind(&self, indicator: &str) -> Vec<&Element> {
        let mut seen = std::collections::BTreeSet::new();
        let mut todo = vec![indicator];
        while let Some(code) = todo.pop() {
            if !seen.insert(code) {
                continue;
            }
            if let Some(Indicator {
                definition: Definition::Formula { expr, .. },
                ..
            }) = self.indicator(code)
            {
                todo.extend(expr.references());
            }
        }
        self.elements
            .iter()
            .filter(|e| seen.contains(e.code.as_str()))
            .collect()
    }

    /// Indicators in evaluation order (every formula's inputs first).
    pub fn evaluation_order(&self) -> impl Iterator<Item = &Indicator> {
        self.order.iter().map(|&i| &self.indicators[i])
    }
}

/// A methodology file that cannot be loaded: file, line (when known), TOML key and reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError {
    /// The file name given to [`load`].
    pub file: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// The TOML key, e.g. `indicators[3].formula` (empty for syntax errors).
    pub key: String,
    /// What is wrong.
    pub reason: String,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if !self.key.is_empty() {
            write!(f, ": {}", self.key)?;
        }
        write!(f, ": {}", self.reason)
    }
}

impl std::error::Error for LoadError {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    id: Spanned<String>,
    version: Spanned<i64>,
    name_vi: String,
    name_en: String,
    legal_basis: String,
    #[serde(default)]
    sources: Vec<String>,
    #[serde(default)]
    notes: Vec<String>,
    applies_to: AppliesTo,
    scale: Spanned<Scale>,
    #[serde(default)]
    components_total: Option<u32>,
    #[serde(default)]
    groups: Vec<RawGroup>,
    #[serde(default)]
    elements: Vec<RawElement>,
    #[serde(default)]
    indicators: Vec<RawIndicator>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGroup {
    code: Spanned<String>,
    name_vi: String,
    name_en: String,
    points: Option<Spanned<f64>>,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum RawHierarchy {
    Sum,
    Mean,
    WeightedMean,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum RawSource {
    Reported,
    Measured,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawElement {
    code: Spanned<String>,
    name_vi: String,
    name_en: String,
    kind: ValueKind,
    source: Spanned<RawSource>,
    measure: Option<Measure>,
    hierarchy: Spanned<RawHierarchy>,
    weight: Option<Spanned<String>>,
    time: TimeAgg,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIndicator {
    code: Spanned<String>,
    name_vi: String,
    name_en: String,
    group: Option<Spanned<String>>,
    points: Spanned<f64>,
    #[serde(default)]
    main: bool,
    components: Option<u32>,
    formula: Option<Spanned<String>>,
    #[serde(default)]
    entered: Option<Spanned<bool>>,
    note: Option<String>,
}

struct Ctx<'a> {
    file: &'a str,
    text: &'a str,
}

impl Ctx<'_> {
    fn line(&self, offset: usize) -> usize {
        self.text[..offset.min(self.text.len())]
            .bytes()
            .filter(|&b| b == b'\n')
            .count()
            + 1
    }
    fn err<T>(
        &self,
        span: std::ops::Range<usize>,
        key: impl Into<String>,
        reason: impl Into<String>,
    ) -> Result<T, LoadError> {
        Err(LoadError {
            file: self.file.to_owned(),
            line: Some(self.line(span.start)),
            key: key.into(),
            reason: reason.into(),
        })
    }

    /// Refuses an invalid code, or one already in `taken`.
    fn code<'a>(
        &self,
        code: &Spanned<String>,
        key: String,
        what: &str,
        mut taken: impl Iterator<Item = &'a String>,
    ) -> Result<(), LoadError> {
        let c = code.get_ref();
        if what != "group" && !is_name(c) {
            return self.err(
                code.span(),
                key,
                format!("'{c}' cannot be used in formulas: use a letter or '_' first, then letters, digits or '_'"),
            );
        }
        if !is_code(c) {
            return self.err(code.span(), key, format!("'{c}' is not a valid code"));
        }
        if taken.any(|x| x == c) {
            return self.err(code.span(), key, format!("duplicate {what} code '{c}'"));
        }
        Ok(())
    }
}

fn is_code(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
        && !matches!(
            s,
            "and" | "or" | "null" | "missing" | "min" | "max" | "if" | "ratio"
        )
}

/// Whether `s` can be referred to in a formula: `[A-Za-z_][A-Za-z0-9_]*`.
fn is_name(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn same_points(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

/// Loads and validates a methodology from TOML text; `file` names it in errors.
pub fn load(file: &str, text: &str) -> Result<Methodology, LoadError> {
    let cx = Ctx { file, text };
    let raw: RawFile = toml::from_str(text).map_err(|e| LoadError {
        file: file.to_owned(),
        line: e.span().map(|s| cx.line(s.start)),
        key: String::new(),
        reason: e.message().trim().to_owned(),
    })?;

    if !is_code(raw.id.get_ref()) {
        cx.err(
            raw.id.span(),
            "id",
            "must be a non-empty code of letters, digits, '_', '-' or '.'",
        )?;
    }
    let version = *raw.version.get_ref();
    let Ok(version) = u32::try_from(version) else {
        return cx.err(raw.version.span(), "version", "must be a positive integer");
    };
    if version == 0 {
        cx.err(raw.version.span(), "version", "must be a positive integer")?;
    }
    let scale = *raw.scale.get_ref();
    if !scale.total_points.is_finite() || scale.total_points <= 0.0 {
        cx.err(raw.scale.span(), "scale.total_points", "must be positive")?;
    }

    // Groups.
    let mut groups = Vec::new();
    for (i, g) in raw.groups.iter().enumerate() {
        let code = g.code.get_ref();
        cx.code(
            &g.code,
            format!("groups[{i}].code"),
            "group",
            groups.iter().map(|x: &Group| &x.code),
        )?;
        groups.push(Group {
            code: code.clone(),
            name_vi: g.name_vi.clone(),
            name_en: g.name_en.clone(),
            points: g.points.as_ref().map(|p| *p.get_ref()),
        });
    }

    // Declared elements.
    let mut elements: Vec<Element> = Vec::new();
    for (i, e) in raw.elements.iter().enumerate() {
        let code = e.code.get_ref();
        let key = |f: &str| format!("elements[{i}].{f}");
        cx.code(
            &e.code,
            key("code"),
            "element",
            elements.iter().map(|x| &x.code),
        )?;
        let source = match (e.source.get_ref(), e.measure) {
            (RawSource::Reported, None) => Source::Reported,
            (RawSource::Measured, Some(m)) => Source::Measured(m),
            (RawSource::Reported, Some(_)) => {
                return cx.err(
                    e.source.span(),
                    key("measure"),
                    "a reported element has no measure",
                );
            }
            (RawSource::Measured, None) => {
                let known: Vec<&str> = Measure::ALL.iter().map(Measure::as_str).collect();
                return cx.err(
                    e.source.span(),
                    key("measure"),
                    format!(
                        "a measured element needs a measure (one of {})",
                        known.join(", ")
                    ),
                );
            }
        };
        let hierarchy = match (e.hierarchy.get_ref(), &e.weight) {
            (RawHierarchy::Sum, None) => HierarchyAgg::Sum,
            (RawHierarchy::Mean, None) => HierarchyAgg::Mean,
            (RawHierarchy::WeightedMean, Some(w)) => {
                HierarchyAgg::WeightedMean(w.get_ref().clone())
            }
            (RawHierarchy::WeightedMean, None) => {
                return cx.err(
                    e.hierarchy.span(),
                    key("weight"),
                    "weighted_mean needs 'weight', the code of the element to weight by",
                );
            }
            (_, Some(w)) => {
                return cx.err(
                    w.span(),
                    key("weight"),
                    "'weight' is only for hierarchy = \"weighted_mean\"",
                );
            }
        };
        elements.push(Element {
            code: code.clone(),
            name_vi: e.name_vi.clone(),
            name_en: e.name_en.clone(),
            kind: e.kind,
            source,
            hierarchy,
            time: e.time,
            implicit: false,
        });
    }
    for (i, e) in raw.elements.iter().enumerate() {
        if let Some(w) = &e.weight
            && !elements.iter().any(|x| &x.code == w.get_ref())
        {
            cx.err(
                w.span(),
                format!("elements[{i}].weight"),
                format!("unknown element '{}'", w.get_ref()),
            )?;
        }
    }

    // Indicators.
    let mut indicators: Vec<Indicator> = Vec::new();
    let mut implicit = Vec::new();
    for (i, ind) in raw.indicators.iter().enumerate() {
        let code = ind.code.get_ref();
        let key = |f: &str| format!("indicators[{i}].{f}");
        cx.code(
            &ind.code,
            key("code"),
            "indicator",
            indicators.iter().map(|x| &x.code),
        )?;
        let points = *ind.points.get_ref();
        if !points.is_finite() || points < 0.0 {
            cx.err(ind.points.span(), key("points"), "points must be 0 or more")?;
        }
        if let Some(g) = &ind.group
            && !groups.iter().any(|x| &x.code == g.get_ref())
        {
            cx.err(
                g.span(),
                key("group"),
                format!("unknown group '{}'", g.get_ref()),
            )?;
        }
        let entered = ind.entered.as_ref().is_some_and(|e| *e.get_ref());
        let definition = match (&ind.formula, entered) {
            (Some(f), false) => {
                let expr = formula::parse(f.get_ref()).map_err(|pe| LoadError {
                    file: file.to_owned(),
                    line: Some(cx.line(f.span().start)),
                    key: key("formula"),
                    reason: pe.to_string(),
                })?;
                Definition::Formula {
                    text: f.get_ref().clone(),
                    expr,
                }
            }
            (None, true) => {
                if elements.iter().any(|x| &x.code == code) {
                    cx.err(
                        ind.code.span(),
                        key("code"),
                        format!("'{code}' is entered directly, so it declares its own element; an element with that code is already declared"),
                    )?;
                }
                implicit.push(Element {
                    code: code.clone(),
                    name_vi: ind.name_vi.clone(),
                    name_en: ind.name_en.clone(),
                    kind: ValueKind::Ratio,
                    source: Source::Reported,
                    hierarchy: HierarchyAgg::Mean,
                    time: TimeAgg::Last,
                    implicit: true,
                });
                Definition::Entered
            }
            (Some(f), true) => {
                return cx.err(
                    f.span(),
                    key("formula"),
                    "give either a formula or entered = true, not both",
                );
            }
            (None, false) => {
                return cx.err(
                    ind.code.span(),
                    key("formula"),
                    "needs a formula or entered = true",
                );
            }
        };
        indicators.push(Indicator {
            code: code.clone(),
            name_vi: ind.name_vi.clone(),
            name_en: ind.name_en.clone(),
            group: ind.group.as_ref().map(|g| g.get_ref().clone()),
            points,
            main: ind.main,
            components: ind.components,
            definition,
            note: ind.note.clone(),
        });
    }
    for (i, e) in raw.elements.iter().enumerate() {
        if indicators.iter().any(|x| &x.code == e.code.get_ref()) {
            cx.err(
                e.code.span(),
                format!("elements[{i}].code"),
                format!("'{}' is also an indicator code", e.code.get_ref()),
            )?;
        }
    }
    elements.extend(implicit);

    // References and cycles.
    let index: BTreeMap<&str, usize> = indicators
        .iter()
        .enumerate()
        .map(|(i, x)| (x.code.as_str(), i))
        .collect();
    let mut deps: Vec<Vec<usize>> = vec![Vec::new(); indicators.len()];
    for (i, ind) in indicators.iter().enumerate() {
        let Definition::Formula { expr, .. } = &ind.definition else {
            continue;
        };
        let span = raw.indicators[i]
            .formula
            .as_ref()
            .map(Spanned::span)
            .unwrap_or_default();
        for r in expr.references() {
            if let Some(&j) = index.get(r) {
                deps[i].push(j);
            } else if elements.iter().all(|e| e.code != r) {
                cx.err(
                    span.clone(),
                    format!("indicators[{i}].formula"),
                    format!(
                        "unknown reference '{r}' (not an element or indicator of this methodology)"
                    ),
                )?;
            }
        }
    }
    let order = topological(&deps).map_err(|cycle| {
        let first = cycle[0];
        let names: Vec<&str> = cycle.iter().map(|&i| indicators[i].code.as_str()).collect();
        LoadError {
            file: file.to_owned(),
            line: Some(cx.line(raw.indicators[first].code.span().start)),
            key: format!("indicators[{first}].formula"),
            reason: format!(
                "formulas form a cycle: {} -> {}",
                names.join(" -> "),
                names[0]
            ),
        }
    })?;

    // Points.
    let total: f64 = indicators.iter().map(|i| i.points).sum();
    if !same_points(total, scale.total_points) {
        cx.err(
            raw.scale.span(),
            "scale.total_points",
            format!(
                "the indicators' points sum to {total}, not {}",
                scale.total_points
            ),
        )?;
    }
    for (gi, g) in groups.iter().enumerate() {
        let Some(declared) = g.points else { continue };
        let sum: f64 = indicators
            .iter()
            .filter(|i| i.group.as_deref() == Some(g.code.as_str()))
            .map(|i| i.points)
            .sum();
        if !same_points(sum, declared) {
            let span = raw.groups[gi]
                .points
                .as_ref()
                .map(Spanned::span)
                .unwrap_or_default();
            cx.err(
                span,
                format!("groups[{gi}].points"),
                format!("the group's indicators' points sum to {sum}, not {declared}"),
            )?;
        }
    }
    Ok(Methodology {
        id: raw.id.into_inner(),
        version,
        name_vi: raw.name_vi,
        name_en: raw.name_en,
        legal_basis: raw.legal_basis,
        sources: raw.sources,
        notes: raw.notes,
        applies_to: raw.applies_to,
        scale,
        components_total: raw.components_total,
        groups,
        elements,
        indicators,
        order,
        text: text.to_owned(),
    })
}

/// Orders nodes so each comes after its dependencies; on a cycle, returns its nodes.
fn topological(deps: &[Vec<usize>]) -> Result<Vec<usize>, Vec<usize>> {
    // 0 = unvisited, 1 = on the stack, 2 = done.
    let mut state = vec![0u8; deps.len()];
    let mut order = Vec::with_capacity(deps.len());
    let mut stack: Vec<usize> = Vec::new();
    fn visit(
        n: usize,
        deps: &[Vec<usize>],
        state: &mut [u8],
        stack: &mut Vec<usize>,
        order: &mut Vec<usize>,
    ) -> Result<(), Vec<usize>> {
        match state[n] {
            2 => return Ok(()),
            1 => {
                let from = stack.iter().position(|&x| x == n).unwrap_or(0);
                return Err(stack[from..].to_vec());
            }
            _ => {}
        }
        state[n] = 1;
        stack.push(n);
        for &d in &deps[n] {
            visit(d, deps, state, stack, order)?;
        }
        stack.pop();
        state[n] = 2;
        order.push(n);
        Ok(())
    }
    for n in 0..deps.len() {
        visit(n, deps, &mut state, &mut stack, &mut order)?;
    }
    Ok(order)
}

/// The methodologies shipped in the binary: (file name, text).
const SHIPPED: [(&str, &str); 3] = [
    (
        "dti-province-2022.toml",
        include_str!("../methodologies/dti-province-2022.toml"),
    ),
    (
        "dti-province-2025.toml",
        include_str!("../methodologies/dti-province-2025.toml"),
    ),
    (
        "index-766.toml",
        include_str!("../methodologies/index-766.toml"),
    ),
];

/// Every shipped methodology, loaded once (they are tested to load).
pub fn shipped() -> Vec<Methodology> {
    static LOADED: std::sync::LazyLock<Vec<Methodology>> = std::sync::LazyLock::new(|| {
        SHIPPED
            .iter()
            .map(|(file, text)| {
                load(file, text).unwrap_or_else(|e| panic!("shipped methodology: {e}"))
            })
            .collect()
    });
    LOADED.clone()
}

/// The shipped methodology with this id.
pub fn shipped_by_id(id: &str) -> Option<Methodology> {
    shipped().into_iter().find(|m| m.id == id)
}

/// The ids of the shipped methodologies.
pub fn shipped_ids() -> Vec<String> {
    shipped().into_iter().map(|m| m.id).collect()
}
