//! Demo DTI values for the years after the published 2022 ranking, so the ranking pages,
//! profiles, what-if and the review queue have something to show. Every value goes
//! through the real workflow (draft → submitted → verified → approved by another person)
//! and every edition is marked `demo`; none of it is an official figure.
//!
//! Each province's values follow its published 2022 rank (better ranked, higher values)
//! with a deterministic jitter per indicator and a small gain per year.

use std::collections::BTreeMap;

use anyhow::Context;
use dxhub_core::audit::Change;
use dxhub_core::reports::{ReportKey, ReportState, Transition};
use dxhub_core::units::UnitLevel;
use dxhub_store::{NewEdition, Store, ValueChange};

/// The demo's stand-ins for the people of the workflow (the audit trail names them).
const OFFICER: (i64, &str) = (0, "demo: cán bộ tỉnh");
const VERIFIER: (i64, &str) = (-1, "demo: thẩm định viên A");
const APPROVER: (i64, &str) = (-2, "demo: thẩm định viên B");

/// A number in [0, 1) from a text, stable across runs and platforms (FNV-1a).
fn unit_noise(key: &str) -> f64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (h >> 11) as f64 / (1u64 << 53) as f64
}

/// The demo value of one indicator.
fn value(unit: &str, year: i32, code: &str, base: f64) -> f64 {
    let jitter = (unit_noise(&format!("{unit}/{year}/{code}")) - 0.5) * 0.16;
    let v = base + 0.02 * f64::from(year - 2022) + jitter;
    (v.clamp(0.05, 0.99) * 10_000.0).round() / 10_000.0
}

/// The published 2022 rank of each old province, as the base of its demo values.
fn bases_2022() -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for line in dxhub_reference::DTI_2022_RANKING.lines().skip(1) {
        let cols: Vec<&str> = line.split(',').collect();
        if let (Some(rank), Some(code)) = (cols.get(1), cols.get(2))
            && let Ok(rank) = rank.parse::<f64>()
        {
            out.insert((*code).to_owned(), 0.80 - 0.30 * (rank - 1.0) / 62.0);
        }
    }
    out
}

async fn report_through(
    store: &dyn Store,
    key: ReportKey,
    values: Vec<ValueChange>,
    until: ReportState,
) -> anyhow::Result<()> {
    let object = key.object();
    let change = |action: &str, who: &str| Change::new(who, action, object.clone());
    let report = store
        .open_report(&key, OFFICER.1, change("report.open", OFFICER.1))
        .await?;
    store
        .set_report_values(
            report.id,
            &values,
            OFFICER.1,
            change("report.values", OFFICER.1),
        )
        .await?;
    let mut state = ReportState::Draft;
    for (step, who) in [
        (Transition::Submit, OFFICER),
        (Transition::Verify, VERIFIER),
        (Transition::Approve, APPROVER),
    ] {
        if state == until {
            break;
        }
        let r = store
            .transition_report(
                report.id,
                state,
                step,
                who,
                None,
                change(&format!("report.{}", step.as_str()), who.1),
            )
            .await?;
        state = r.state;
    }
    Ok(())
}

/// Loads demo reports and editions unless a demo edition is already there: DTI 2023 and
/// 2024 approved and published on the 63-province map (2024 also re-expressed on the 34),
/// and DTI 2025 on the 34-province map in every workflow state, for the review queue.
pub async fn load(store: &dyn Store) -> anyhow::Result<()> {
    if store.editions().await?.iter().any(|e| e.kind == "demo") {
        return Ok(());
    }
    let bases = bases_2022();
    for (methodology, year) in [("dti-province-2022", 2023), ("dti-province-2025", 2024)] {
        let m = dxhub_index::shipped_by_id(methodology)
            .with_context(|| format!("methodology {methodology} is not shipped"))?;
        for (unit, base) in &bases {
            let values = m
                .main_indicators()
                .map(|i| ValueChange {
                    code: i.code.clone(),
                    value: Some(value(unit, year, &i.code, *base)),
                    note: None,
                })
                .collect();
            let key = ReportKey {
                methodology: methodology.into(),
                period: year.to_string(),
                level: UnitLevel::Province,
                unit: unit.clone(),
            };
            report_through(store, key, values, ReportState::Approved).await?;
        }
        let period = dxhub_index::Period::Year(year);
        let payload = dxhub_web::scores::compute(store, &m, &period)
            .await
            .map_err(|e| anyhow::anyhow!("demo scores for {year}: {e}"))?;
        let mut payloads = vec![payload.clone()];
        if year == 2024 {
            payloads.push(
                dxhub_web::scores::reexpress_on_34(store, &m, &payload)
                    .await
                    .map_err(|e| anyhow::anyhow!("demo re-expression: {e}"))?,
            );
        }
        for p in payloads {
            store
                .ensure_edition(&NewEdition {
                    slug: format!("demo/{}/{}/{}", p.methodology, p.period, p.map),
                    methodology: p.methodology.clone(),
                    methodology_version: i64::from(p.methodology_version),
                    period: p.period.clone(),
                    map: p.map.clone(),
                    kind: "demo".into(),
                    title_vi: format!(
                        "DTI cấp tỉnh {} — bản đồ {} tỉnh (minh họa)",
                        p.period, p.map
                    ),
                    title_en: format!(
                        "Provincial DTI {} — {}-province map (demo)",
                        p.period, p.map
                    ),
                    payload: serde_json::to_string(&p)?,
                    published_by: "demo".into(),
                })
                .await?;
        }
    }
    // 2025 on the 34-province map: a live review queue in every state.
    let m = dxhub_index::shipped_by_id("dti-province-2025").context("dti-province-2025")?;
    let provinces = store
        .units(&dxhub_store::UnitFilter {
            level: Some(UnitLevel::Province),
            at: dxhub_core::REORG_2025,
            parent: None,
        })
        .await?;
    let states = [
        ReportState::Approved,
        ReportState::Approved,
        ReportState::Verified,
        ReportState::Submitted,
        ReportState::Draft,
    ];
    for (i, u) in provinces.iter().enumerate() {
        let base = 0.62 + 0.2 * unit_noise(&u.code);
        let values = m
            .main_indicators()
            .map(|ind| ValueChange {
                code: ind.code.clone(),
                value: Some(value(&u.code, 2025, &ind.code, base)),
                note: None,
            })
            .collect();
        let key = ReportKey {
            methodology: m.id.clone(),
            period: "2025".into(),
            level: UnitLevel::Province,
            unit: u.code.clone(),
        };
        report_through(store, key, values, states[i % states.len()]).await?;
    }
    tracing::info!(
        "demo DTI values and editions loaded (generated demo data, not official figures)"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_stable_and_on_the_scale() {
        assert_eq!(
            value("48", 2023, "nhan_thuc_so", 0.8),
            value("48", 2023, "nhan_thuc_so", 0.8)
        );
        for u in ["01", "48", "96"] {
            let v = value(u, 2024, "the_che_so", 0.5);
            assert!((0.05..=0.99).contains(&v));
        }
        assert_eq!(bases_2022().len(), 63);
        assert!(
            bases_2022()["48"] > bases_2022()["06"],
            "Đà Nẵng (1st) above Bắc Kạn (63rd)"
        );
    }
}
