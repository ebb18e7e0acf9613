//! Scores and ranks from what the store holds: each unit's newest approved report plus the
//! measured public-service values, evaluated by the engine (`dxhub-index`), on the map of
//! the period (63 provinces until 2025-06-30, 34 after). The result is an
//! [`EditionPayload`]: what a ranking page renders, and what publishing freezes.

use std::collections::BTreeMap;

use dxhub_core::units::UnitLevel;
use dxhub_index::{
    AppliesTo, Input, Measure, Methodology, Period, PeriodKind, Provenance, Source, UnitScore,
    Values,
};
use dxhub_store::{Grouping, IndicatorQuery, PeriodKind as StorePeriod, Store, StoreError};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;

/// The first day of the 34-province map.
pub fn reorganisation() -> jiff::civil::Date {
    dxhub_core::REORG_2025
}

/// The last day of a period.
pub fn period_end(p: &Period) -> jiff::civil::Date {
    let y = p.year() as i16;
    jiff::civil::date(y, months_of(p).1 as i8, 1).last_of_month()
}

/// The first and last month (1–12) of a period.
fn months_of(p: &Period) -> (u8, u8) {
    match *p {
        Period::Month { month, .. } => (month, month),
        Period::Quarter { quarter, .. } => (quarter * 3 - 2, quarter * 3),
        Period::Year(_) => (1, 12),
    }
}

/// The map a period's units belong to: `63` before the 2025 reorganisation, else `34`.
pub fn map_of(p: &Period) -> &'static str {
    if period_end(p) < reorganisation() {
        "63"
    } else {
        "34"
    }
}

/// A main indicator as an edition shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndicatorInfo {
    /// Code.
    pub code: String,
    /// Vietnamese name.
    pub name_vi: String,
    /// English name.
    pub name_en: String,
    /// Points (0 = not scored).
    pub points: f64,
}

/// One unit's row of an edition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EditionRow {
    /// Unit code.
    pub unit: String,
    /// Unit name.
    pub name: String,
    /// Score, when known (a historical edition may only publish ranks).
    pub score: Option<f64>,
    /// Rank.
    pub rank: Option<u32>,
    /// Main-indicator values.
    pub values: BTreeMap<String, f64>,
    /// Scored indicators without a value (counted as 0).
    pub missing: Vec<String>,
    /// Where each main-indicator value came from.
    pub provenance: BTreeMap<String, Vec<Provenance>>,
}

/// Everything an edition needs to render, forever: frozen at publication.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EditionPayload {
    /// Methodology id.
    pub methodology: String,
    /// Methodology version.
    pub methodology_version: u32,
    /// Methodology names.
    pub methodology_name_vi: String,
    /// English name.
    pub methodology_name_en: String,
    /// The methodology file text used.
    pub methodology_text: String,
    /// `ratio` or `points`.
    pub display: String,
    /// Period.
    pub period: String,
    /// `63` or `34`.
    pub map: String,
    /// Main indicators.
    pub indicators: Vec<IndicatorInfo>,
    /// Units, by rank then code (units without any value last, unranked).
    pub rows: Vec<EditionRow>,
    /// How it was made (e.g. re-expressed from the 63-province values).
    pub note: Option<String>,
    /// Where a historical edition was published.
    pub source: Option<String>,
}

impl EditionPayload {
    /// The median of each main indicator over the units that have it.
    pub fn medians(&self) -> BTreeMap<String, f64> {
        let mut out = BTreeMap::new();
        for i in &self.indicators {
            let mut v: Vec<f64> = self
                .rows
                .iter()
                .filter_map(|r| r.values.get(&i.code).copied())
                .collect();
            if v.is_empty() {
                continue;
            }
            v.sort_by(f64::total_cmp);
            let n = v.len();
            let m = if n % 2 == 1 {
                v[n / 2]
            } else {
                (v[n / 2 - 1] + v[n / 2]) / 2.0
            };
            out.insert(i.code.clone(), m);
        }
        out
    }

    /// The main-indicator values of the ranked units, for the engine.
    pub fn values(&self) -> Values {
        self.rows
            .iter()
            .filter(|r| !r.values.is_empty())
            .map(|r| (r.unit.clone(), r.values.clone()))
            .collect()
    }
}

fn store_err(e: StoreError) -> ApiError {
    ApiError::Store(e)
}

/// The level of units a methodology assesses.
pub fn level_of(m: &Methodology) -> UnitLevel {
    match m.applies_to {
        AppliesTo::Province => UnitLevel::Province,
        AppliesTo::Ministry => UnitLevel::Ministry,
    }
}

/// The units assessed in a period (code → name), on the period's map.
pub async fn units_of(
    store: &dyn Store,
    m: &Methodology,
    period: &Period,
) -> Result<BTreeMap<String, String>, ApiError> {
    let units = store
        .units(&dxhub_store::UnitFilter {
            level: Some(level_of(m)),
            at: period_end(period),
            parent: None,
        })
        .await
        .map_err(store_err)?;
    Ok(units.into_iter().map(|u| (u.code, u.name)).collect())
}

fn measured_value(m: Measure, row: &dxhub_store::GroupedRow) -> f64 {
    let c = &row.cell;
    (match m {
        Measure::Received => c.received,
        Measure::Online => c.online,
        Measure::EndToEnd => c.end_to_end,
        Measure::Completed => c.completed,
        Measure::CompletedOnTime => c.completed_on_time,
        Measure::OnlinePayments => c.online_payments,
        Measure::OnlinePaymentVnd => c.online_payment_vnd,
        Measure::ServicesOnline => row.services_online,
    }) as f64
}

/// The engine's inputs for a methodology and period: approved reported values (with who
/// reported them and the checksums of their evidence) and measured public-service values.
pub async fn inputs(
    store: &dyn Store,
    m: &Methodology,
    period: &Period,
    units: &BTreeMap<String, String>,
) -> Result<Vec<Input>, ApiError> {
    let mut out = Vec::new();
    let period_text = period.to_string();
    for a in store
        .approved_reports(&m.id, &period_text)
        .await
        .map_err(store_err)?
    {
        if !units.contains_key(&a.report.key.unit) {
            continue;
        }
        for v in &a.values {
            let Some(e) = m.element(&v.code) else {
                continue;
            };
            if !matches!(e.source, Source::Reported) {
                continue;
            }
            let evidence = a
                .evidence
                .iter()
                .filter(|f| f.element.as_deref().is_none_or(|x| x == v.code))
                .map(|f| f.sha256.clone())
                .collect();
            out.push(Input {
                unit: a.report.key.unit.clone(),
                period: *period,
                element: v.code.clone(),
                value: v.value,
                provenance: Provenance::Reported {
                    by: v.updated_by.clone(),
                    evidence,
                },
            });
        }
    }
    let measured: Vec<(&str, Measure)> = m
        .elements
        .iter()
        .filter_map(|e| match e.source {
            Source::Measured(x) => Some((e.code.as_str(), x)),
            Source::Reported => None,
        })
        .collect();
    if !measured.is_empty() && level_of(m) == UnitLevel::Province {
        let kind = match period.kind() {
            PeriodKind::Month => StorePeriod::Month,
            PeriodKind::Quarter => StorePeriod::Quarter,
            PeriodKind::Year => StorePeriod::Year,
        };
        // Only the cells of the period's months are read.
        let (first, last) = months_of(period);
        let query = IndicatorQuery {
            province: None,
            from_month: Some(format!("{}-{first:02}", period.year())),
            to_month: Some(format!("{}-{last:02}", period.year())),
        };
        let rows = store
            .grouped_indicator_rows(&query, Grouping::of(false, kind))
            .await
            .map_err(store_err)?;
        for row in rows.iter().filter(|r| r.period == period_text) {
            if !units.contains_key(&row.unit) {
                continue;
            }
            for (code, measure) in &measured {
                out.push(Input {
                    unit: row.unit.clone(),
                    period: *period,
                    element: (*code).to_owned(),
                    value: measured_value(*measure, row),
                    provenance: Provenance::Measured {
                        feed: "dossier-sync".into(),
                        measure: *measure,
                    },
                });
            }
        }
    }
    Ok(out)
}

/// Scores and ranks of a methodology for a period, from the store, on the period's map.
pub async fn compute(
    store: &dyn Store,
    m: &Methodology,
    period: &Period,
) -> Result<EditionPayload, ApiError> {
    let units = units_of(store, m, period).await?;
    let inputs = inputs(store, m, period, &units).await?;
    let outputs = dxhub_index::evaluate(m, &inputs)
        .map_err(|e| ApiError::Conflict(format!("the values cannot be evaluated: {e}")))?;
    let values = dxhub_index::main_values(m, &outputs, *period);
    let scores = dxhub_index::score(m, &values)
        .map_err(|e| ApiError::Conflict(format!("the values cannot be scored: {e}")))?;
    // The provenance of each main indicator: the inputs it was computed from.
    let mut provenance: BTreeMap<(String, String), Vec<Provenance>> = BTreeMap::new();
    for o in &outputs {
        if !m.indicator(&o.indicator).is_some_and(|i| i.main) {
            continue;
        }
        // Every input behind the indicator, through the indicators it is computed from.
        let behind: Vec<String> = m
            .elements_behind(&o.indicator)
            .into_iter()
            .map(|e| e.code.clone())
            .collect();
        let list: Vec<Provenance> = inputs
            .iter()
            .filter(|i| i.unit == o.unit && behind.contains(&i.element))
            .map(|i| i.provenance.clone())
            .collect();
        provenance.insert((o.unit.clone(), o.indicator.clone()), list);
    }
    Ok(payload(m, period, &units, scores, |unit, code| {
        provenance
            .get(&(unit.to_owned(), code.to_owned()))
            .cloned()
            .unwrap_or_default()
    }))
}

/// Builds a payload from scores, listing every unit of the map (unscored ones last).
pub fn payload(
    m: &Methodology,
    period: &Period,
    units: &BTreeMap<String, String>,
    scores: Vec<UnitScore>,
    provenance_of: impl Fn(&str, &str) -> Vec<Provenance>,
) -> EditionPayload {
    let indicators: Vec<IndicatorInfo> = m
        .main_indicators()
        .map(|i| IndicatorInfo {
            code: i.code.clone(),
            name_vi: i.name_vi.clone(),
            name_en: i.name_en.clone(),
            points: i.points,
        })
        .collect();
    let mut rows: Vec<EditionRow> = scores
        .into_iter()
        .map(|s| EditionRow {
            name: units
                .get(&s.unit)
                .cloned()
                .unwrap_or_else(|| s.unit.clone()),
            provenance: s
                .values
                .keys()
                .map(|code| (code.clone(), provenance_of(&s.unit, code)))
                .collect(),
            unit: s.unit,
            score: Some(s.score),
            rank: Some(s.rank),
            values: s.values,
            missing: s.missing,
        })
        .collect();
    for (code, name) in units {
        if !rows.iter().any(|r| &r.unit == code) {
            rows.push(EditionRow {
                unit: code.clone(),
                name: name.clone(),
                score: None,
                rank: None,
                values: BTreeMap::new(),
                missing: Vec::new(),
                provenance: BTreeMap::new(),
            });
        }
    }
    EditionPayload {
        methodology: m.id.clone(),
        methodology_version: m.version,
        methodology_name_vi: m.name_vi.clone(),
        methodology_name_en: m.name_en.clone(),
        methodology_text: m.text.clone(),
        display: match m.scale.display {
            dxhub_index::Display::Ratio => "ratio".into(),
            dxhub_index::Display::Points => "points".into(),
        },
        period: period.to_string(),
        map: map_of(period).to_owned(),
        indicators,
        rows,
        note: None,
        source: None,
    }
}

/// Re-expresses a 63-province payload on the 34-province map: each new province takes
/// the plain mean of its predecessors' main-indicator values (the rule used when DTI 2024
/// was ranked on both maps), then is scored normally.
pub async fn reexpress_on_34(
    store: &dyn Store,
    m: &Methodology,
    old: &EditionPayload,
) -> Result<EditionPayload, ApiError> {
    let period: Period = old
        .period
        .parse()
        .map_err(|e: dxhub_index::PeriodParseError| ApiError::bad("period", e.0))?;
    let after = reorganisation();
    let new_units = store
        .units(&dxhub_store::UnitFilter {
            level: Some(UnitLevel::Province),
            at: after,
            parent: None,
        })
        .await
        .map_err(store_err)?;
    let values = old.values();
    let mut mapping: BTreeMap<String, Vec<(String, f64)>> = BTreeMap::new();
    for u in &new_units {
        let lineage = store.lineage(&u.key()).await.map_err(store_err)?;
        let preds: Vec<(String, f64)> = lineage
            .predecessors
            .iter()
            .filter(|p| p.steps == 1 && p.unit.level == UnitLevel::Province)
            .filter(|p| values.contains_key(&p.unit.code))
            .map(|p| (p.unit.code.clone(), 1.0))
            .collect();
        if !preds.is_empty() {
            mapping.insert(u.code.clone(), preds);
        }
    }
    let new_values = dxhub_index::reexpress(&values, &mapping, dxhub_index::Weighting::Mean)
        .map_err(|e| ApiError::Conflict(format!("cannot re-express: {e}")))?;
    let scores = dxhub_index::score(m, &new_values)
        .map_err(|e| ApiError::Conflict(format!("the values cannot be scored: {e}")))?;
    let names: BTreeMap<String, String> = new_units.into_iter().map(|u| (u.code, u.name)).collect();
    let mut p = payload(m, &period, &names, scores, |unit, _| {
        vec![Provenance::Computed {
            from: mapping
                .get(unit)
                .map(|v| v.iter().map(|(c, _)| format!("{c}@63")).collect())
                .unwrap_or_default(),
        }]
    });
    p.map = "34".into();
    p.note = Some(format!(
        "Tính lại từ giá trị năm {0} của 63 tỉnh cũ: mỗi tỉnh mới lấy trung bình các chỉ số chính của các tỉnh hợp thành. \
         / Re-expressed from the 63-province values of {0}: each new province takes the mean of its predecessors' main-indicator values.",
        old.period
    ));
    Ok(p)
}

/// The published DTI 2022 provincial ranking as a historical edition: ranks of the 63
/// provinces as published, totals where published (the top five), on the 63-province map.
pub fn dti_2022_historical(
    names: &BTreeMap<String, String>,
) -> Result<dxhub_store::NewEdition, String> {
    let m = dxhub_index::shipped_by_id("dti-province-2022")
        .ok_or("the dti-province-2022 methodology is not shipped")?;
    let mut reader = csv::Reader::from_reader(dxhub_reference::DTI_2022_RANKING.as_bytes());
    let headers = reader.headers().map_err(|e| e.to_string())?.clone();
    let col = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .ok_or(format!("the DTI 2022 ranking has no column {name}"))
    };
    let (c_rank, c_code, c_total) = (col("rank")?, col("province_code")?, col("dti_total")?);
    let source = dxhub_reference::DTI_2022_SOURCE.to_owned();
    let mut rows = Vec::new();
    for (i, rec) in reader.records().enumerate() {
        let rec = rec.map_err(|e| format!("DTI 2022 ranking, line {}: {e}", i + 2))?;
        let bad = |what: &str| format!("DTI 2022 ranking, line {}: bad {what}", i + 2);
        let rank: u32 = rec[c_rank].parse().map_err(|_| bad("rank"))?;
        let code = rec[c_code].to_owned();
        let score = match rec[c_total].trim() {
            "" => None,
            t => Some(t.parse::<f64>().map_err(|_| bad("dti_total"))?),
        };
        rows.push(EditionRow {
            name: names.get(&code).cloned().unwrap_or_else(|| code.clone()),
            unit: code,
            score,
            rank: Some(rank),
            values: BTreeMap::new(),
            missing: Vec::new(),
            provenance: BTreeMap::from([(
                "dti_total".to_owned(),
                vec![Provenance::Published {
                    source: source.clone(),
                }],
            )]),
        });
    }
    rows.sort_by(|a, b| (a.rank, &a.unit).cmp(&(b.rank, &b.unit)));
    let period = Period::Year(2022);
    let mut payload = payload(&m, &period, &BTreeMap::new(), Vec::new(), |_, _| Vec::new());
    payload.rows = rows;
    payload.source = Some(source);
    payload.note = Some(
        "Thứ hạng của cả 63 tỉnh và điểm của 5 tỉnh dẫn đầu như đã công bố (giá trị từng chỉ số chưa thu thập được). \
         / Ranks as published for all 63 provinces; totals as published for the top five only (the per-indicator values were not obtainable)."
            .into(),
    );
    Ok(dxhub_store::NewEdition {
        slug: "dti-province-2022/2022/63/published".into(),
        methodology: m.id.clone(),
        methodology_version: m.version as i64,
        period: "2022".into(),
        map: "63".into(),
        kind: "historical".into(),
        title_vi: "Chỉ số DTI cấp tỉnh năm 2022 (đã công bố)".into(),
        title_en: "Provincial DTI 2022 (as published)".into(),
        payload: serde_json::to_string(&payload).map_err(|e| e.to_string())?,
        published_by: "reference".into(),
    })
}

/// Loads the editions that ship with dxhub (the published DTI 2022 ranking) unless present.
pub async fn ensure_shipped_editions(store: &dyn Store) -> Result<usize, ApiError> {
    let names: BTreeMap<String, String> = store
        .units(&dxhub_store::UnitFilter {
            level: Some(UnitLevel::Province),
            at: jiff::civil::date(2022, 12, 31),
            parent: None,
        })
        .await
        .map_err(store_err)?
        .into_iter()
        .map(|u| (u.code, u.name))
        .collect();
    let e = dti_2022_historical(&names).map_err(ApiError::Conflict)?;
    Ok(usize::from(
        store.ensure_edition(&e).await.map_err(store_err)?,
    ))
}
