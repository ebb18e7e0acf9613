//! `GET /api/v1/public-services`: the public-service indicators of a province or of the
//! nation for a month, quarter, year or range of months, with the rates computed on read.

use axum::Json;
use axum::extract::{RawQuery, State};
use dxhub_store::{GroupedRow, Grouping, IndicatorQuery, NATION, PeriodKind};
use serde::Serialize;
use utoipa::ToSchema;

use crate::AppState;
use crate::error::{ApiError, ErrorBody};
use crate::params::Params;

/// One group's counts and rates. Rates are `null` when their denominator is 0.
#[derive(Debug, Serialize, ToSchema)]
pub struct PublicServiceRow {
    /// 2-digit province code, or `VN` for the nation.
    pub unit: String,
    /// `YYYY-MM`, `YYYY-Qn` or `YYYY`.
    pub period: String,
    pub received: u64,
    pub online: u64,
    pub end_to_end: u64,
    pub completed: u64,
    pub completed_on_time: u64,
    pub online_payments: u64,
    pub online_payment_vnd: u64,
    /// Distinct services with an online dossier in the group.
    pub services_online: u64,
    /// online / received.
    pub online_share: Option<f64>,
    /// end_to_end / received.
    pub end_to_end_share: Option<f64>,
    /// completed_on_time / completed.
    pub on_time_share: Option<f64>,
}

/// `part / whole`, or `None` when `whole` is 0.
pub(crate) fn share(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

impl From<&GroupedRow> for PublicServiceRow {
    fn from(r: &GroupedRow) -> Self {
        let c = &r.cell;
        PublicServiceRow {
            unit: r.unit.clone(),
            period: r.period.clone(),
            received: c.received,
            online: c.online,
            end_to_end: c.end_to_end,
            completed: c.completed,
            completed_on_time: c.completed_on_time,
            online_payments: c.online_payments,
            online_payment_vnd: c.online_payment_vnd,
            services_online: r.services_online,
            online_share: share(c.online, c.received),
            end_to_end_share: share(c.end_to_end, c.received),
            on_time_share: share(c.completed_on_time, c.completed),
        }
    }
}

/// The answer: what was asked and the rows, sorted by period.
#[derive(Debug, Serialize, ToSchema)]
pub struct PublicServices {
    pub unit: String,
    /// month, quarter or year.
    pub grouping: String,
    pub from: Option<String>,
    pub to: Option<String>,
    pub rows: Vec<PublicServiceRow>,
}

/// Checks a `YYYY-MM` month.
pub(crate) fn month(s: &str) -> Option<String> {
    let (y, m) = s.split_once('-')?;
    let ok = y.len() == 4
        && y.bytes().all(|b| b.is_ascii_digit())
        && m.len() == 2
        && m.parse::<u8>().is_ok_and(|m| (1..=12).contains(&m));
    ok.then(|| s.to_owned())
}

/// A period `YYYY-MM`, `YYYY-Qn` or `YYYY`: its kind and first and last month.
pub(crate) fn period(s: &str) -> Option<(PeriodKind, String, String)> {
    if let Some(m) = month(s) {
        return Some((PeriodKind::Month, m.clone(), m));
    }
    let year = s
        .get(..4)
        .filter(|y| y.bytes().all(|b| b.is_ascii_digit()))?;
    match &s[4..] {
        "" => Some((PeriodKind::Year, format!("{year}-01"), format!("{year}-12"))),
        q => {
            let n: u8 = q
                .strip_prefix("-Q")?
                .parse()
                .ok()
                .filter(|n| (1..=4).contains(n))?;
            let first = (n - 1) * 3 + 1;
            Some((
                PeriodKind::Quarter,
                format!("{year}-{first:02}"),
                format!("{year}-{:02}", first + 2),
            ))
        }
    }
}

/// A unit code: `VN` or a 2-digit province code.
pub(crate) fn unit(s: &str) -> Option<String> {
    (s == NATION || (s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit()))).then(|| s.to_owned())
}

const PARAMS: [&str; 4] = ["unit", "period", "from", "to"];

/// Public-service indicators of a province or the nation.
#[utoipa::path(
    get, path = "/api/v1/public-services", tag = "public-services",
    params(
        ("unit" = Option<String>, Query, description = "2-digit province code, or VN for the nation (the default)"),
        ("period" = Option<String>, Query, description = "YYYY-MM, YYYY-Qn or YYYY: one row for that period; not with from/to"),
        ("from" = Option<String>, Query, description = "first month YYYY-MM (one row per month)"),
        ("to" = Option<String>, Query, description = "last month YYYY-MM (one row per month)"),
    ),
    responses(
        (status = 200, description = "Counts and rates (null when the denominator is 0)", body = PublicServices),
        (status = 400, description = "A parameter is wrong", body = ErrorBody),
    )
)]
pub async fn public_services(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Json<PublicServices>, ApiError> {
    let mut p = Params::parse(query.as_deref());
    let unit_code = match p.take("unit")? {
        None => NATION.to_owned(),
        Some(s) => unit(&s)
            .ok_or_else(|| ApiError::bad("unit", "expected VN or a 2-digit province code"))?,
    };
    let period_arg = p.take("period")?;
    let from = p.take("from")?;
    let to = p.take("to")?;
    p.finish(&PARAMS)?;
    let months = |name: &str, v: Option<String>| {
        v.map(|s| month(&s).ok_or_else(|| ApiError::bad(name, "expected a month YYYY-MM")))
            .transpose()
    };
    let (kind, from, to) = match period_arg {
        Some(s) => {
            if from.is_some() || to.is_some() {
                return Err(ApiError::bad(
                    "period",
                    "give either period or from/to, not both",
                ));
            }
            let (k, f, t) = period(&s).ok_or_else(|| {
                ApiError::bad("period", "expected YYYY-MM, YYYY-Qn (n = 1…4) or YYYY")
            })?;
            (k, Some(f), Some(t))
        }
        None => (PeriodKind::Month, months("from", from)?, months("to", to)?),
    };
    let nation = unit_code == NATION;
    let rows = state
        .store
        .grouped_indicator_rows(
            &IndicatorQuery {
                province: (!nation).then(|| unit_code.clone()),
                from_month: from.clone(),
                to_month: to.clone(),
            },
            Grouping::of(nation, kind),
        )
        .await?;
    Ok(Json(PublicServices {
        unit: unit_code,
        grouping: kind.column().to_owned(),
        from,
        to,
        rows: rows.iter().map(PublicServiceRow::from).collect(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_parse_to_month_ranges() {
        assert_eq!(
            period("2026-Q2"),
            Some((PeriodKind::Quarter, "2026-04".into(), "2026-06".into()))
        );
        assert_eq!(
            period("2026"),
            Some((PeriodKind::Year, "2026-01".into(), "2026-12".into()))
        );
        assert_eq!(
            period("2026-03"),
            Some((PeriodKind::Month, "2026-03".into(), "2026-03".into()))
        );
        for bad in [
            "2026-13", "2026-Q5", "2026-Q0", "26", "2026-3", "abcd", "2026-00",
        ] {
            assert_eq!(period(bad), None, "{bad}");
        }
        assert_eq!(unit("VN").as_deref(), Some("VN"));
        assert_eq!(unit("7"), None);
    }
}
