//! The public-service dashboard (`/public-services`): national headline figures for a
//! month, quarter or year, the 34-province map coloured by a chosen rate, the monthly
//! trend of the online share as inline SVG, and a sortable province table, each with a
//! CSV download of exactly what is shown (`/public-services.csv`).

use std::collections::HashMap;

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use dxhub_store::{GroupedRow, Grouping, IndicatorQuery, PeriodKind};
use maud::{Markup, html};

use super::{PageCtx, PageError};
use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::i18n::Lang;
use crate::maps::MapVersion;
use crate::params::Params;
use crate::public_services::{PublicServiceRow, period, share};

/// Table columns: (parameter name, Vietnamese, English).
const COLUMNS: [(&str, &str, &str); 9] = [
    ("unit", "Tỉnh", "Province"),
    ("received", "Hồ sơ tiếp nhận", "Received"),
    ("online", "Trực tuyến", "Online"),
    ("online_share", "Tỷ lệ trực tuyến", "Online share"),
    ("end_to_end_share", "Tỷ lệ toàn trình", "End-to-end share"),
    ("on_time_share", "Tỷ lệ đúng hạn", "On-time share"),
    (
        "online_payments",
        "Thanh toán trực tuyến",
        "Online payments",
    ),
    ("online_payment_vnd", "Số tiền (VND)", "Amount (VND)"),
    ("services_online", "Dịch vụ trực tuyến", "Services online"),
];

const RATES: [&str; 3] = ["online_share", "end_to_end_share", "on_time_share"];

/// What the page (and its CSV) shows.
struct View {
    period: String,
    kind: PeriodKind,
    rate: String,
    sort: String,
    desc: bool,
    nation: Option<PublicServiceRow>,
    provinces: Vec<PublicServiceRow>,
    trend: Vec<GroupedRow>,
}

fn rate_of(r: &PublicServiceRow, rate: &str) -> Option<f64> {
    match rate {
        "end_to_end_share" => r.end_to_end_share,
        "on_time_share" => r.on_time_share,
        _ => r.online_share,
    }
}

fn sort_key(r: &PublicServiceRow, col: &str) -> (Option<f64>, String) {
    let n = |v: u64| Some(v as f64);
    let v = match col {
        "unit" => return (None, r.unit.clone()),
        "received" => n(r.received),
        "online" => n(r.online),
        "online_payments" => n(r.online_payments),
        "online_payment_vnd" => n(r.online_payment_vnd),
        "services_online" => n(r.services_online),
        rate => rate_of(r, rate),
    };
    (v, r.unit.clone())
}

async fn view(state: &AppState, p: &mut Params) -> Result<View, ApiError> {
    let period_arg = p.take("period")?;
    let rate = p.take("rate")?.unwrap_or_else(|| "online_share".into());
    if !RATES.contains(&rate.as_str()) {
        return Err(ApiError::bad(
            "rate",
            format!("expected one of {}", RATES.join(", ")),
        ));
    }
    let sort = p.take("sort")?.unwrap_or_else(|| "unit".into());
    if !COLUMNS.iter().any(|(c, _, _)| *c == sort) {
        return Err(ApiError::bad("sort", "unknown column"));
    }
    let desc = match p.take("dir")?.as_deref() {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(_) => return Err(ApiError::bad("dir", "expected asc or desc")),
    };
    let trend = state
        .store
        .grouped_indicator_rows(&IndicatorQuery::default(), Grouping::NationMonth)
        .await?;
    let period_text = match period_arg {
        Some(s) => s,
        None => trend.last().map(|r| r.period.clone()).unwrap_or_default(),
    };
    let (kind, from, to) = if period_text.is_empty() {
        (PeriodKind::Month, String::new(), String::new())
    } else {
        period(&period_text)
            .ok_or_else(|| ApiError::bad("period", "expected YYYY-MM, YYYY-Qn or YYYY"))?
    };
    let q = IndicatorQuery {
        province: None,
        from_month: Some(from),
        to_month: Some(to),
    };
    let nation = state
        .store
        .grouped_indicator_rows(&q, Grouping::of(true, kind))
        .await?;
    let mut provinces: Vec<PublicServiceRow> = state
        .store
        .grouped_indicator_rows(&q, Grouping::of(false, kind))
        .await?
        .iter()
        .map(PublicServiceRow::from)
        .collect();
    provinces.sort_by(|a, b| {
        let o = sort_key(a, &sort)
            .partial_cmp(&sort_key(b, &sort))
            .unwrap_or(std::cmp::Ordering::Equal);
        if desc { o.reverse() } else { o }
    });
    Ok(View {
        period: period_text,
        kind,
        rate,
        sort,
        desc,
        nation: nation.first().map(PublicServiceRow::from),
        provinces,
        trend,
    })
}

fn pct(v: Option<f64>) -> String {
    v.map(|v| format!("{:.1}%", v * 100.0))
        .unwrap_or_else(|| "–".into())
}

/// Quantile bucket (0…4) of each province's rate; provinces without a rate get none.
fn buckets(rows: &[PublicServiceRow], rate: &str) -> HashMap<String, usize> {
    let mut values: Vec<f64> = rows.iter().filter_map(|r| rate_of(r, rate)).collect();
    values.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    rows.iter()
        .filter_map(|r| {
            let v = rate_of(r, rate)?;
            let below = values.iter().filter(|x| **x < v).count();
            Some((r.unit.clone(), below * 5 / values.len().max(1)))
        })
        .collect()
}

fn query(v: &View, sort: &str, dir: &str) -> String {
    form_urlencoded::Serializer::new(String::new())
        .append_pair("period", &v.period)
        .append_pair("rate", &v.rate)
        .append_pair("sort", sort)
        .append_pair("dir", dir)
        .finish()
}

fn trend_svg(rows: &[GroupedRow], lang: Lang) -> Markup {
    let (w, h, left, bottom) = (640.0, 200.0, 40.0, 30.0);
    let n = rows.len().max(1) as f64;
    let bar = (w - left) / n;
    html! {
        svg.trend viewBox={ "0 0 " (w) " " (h) } role="img" aria-labelledby="trend-title" xmlns="http://www.w3.org/2000/svg" {
            title #trend-title { (lang.t("Tỷ lệ hồ sơ trực tuyến theo tháng", "Online share by month")) }
            line.axis x1=(left) y1=(h - bottom) x2=(w) y2=(h - bottom) {}
            line.axis x1=(left) y1="0" x2=(left) y2=(h - bottom) {}
            text.tick x="2" y="10" { "100%" }
            text.tick x="2" y=(h - bottom) { "0%" }
            @for (i, r) in rows.iter().enumerate() {
                @let s = share(r.cell.online, r.cell.received).unwrap_or(0.0);
                @let bh = s * (h - bottom - 5.0);
                @let x = left + i as f64 * bar;
                rect.bar x=(format!("{:.1}", x + bar * 0.1)) y=(format!("{:.1}", h - bottom - bh)) width=(format!("{:.1}", bar * 0.8)) height=(format!("{:.1}", bh)) {
                    title { (r.period) ": " (pct(Some(s))) }
                }
                text.tick x=(format!("{:.1}", x + bar * 0.1)) y=(h - 10.0) { (r.period) }
            }
        }
    }
}

pub async fn page(
    State(state): State<AppState>,
    raw: RawQuery,
    headers: HeaderMap,
    caller: Caller,
) -> Result<Response, PageError> {
    let (ctx, mut params) = PageCtx::new("/public-services", &raw, &headers, caller)?;
    let lang = ctx.lang;
    let err = |e| PageError::new(e, lang);
    let v = view(&state, &mut params).await.map_err(err)?;
    params
        .finish(&["period", "rate", "sort", "dir", "lang"])
        .map_err(err)?;
    // The map in force at the end of the period: 63 provinces before 1 July 2025.
    let version = v
        .period
        .parse::<dxhub_index::Period>()
        .map(|p| MapVersion::on(crate::scores::period_end(&p)))
        .unwrap_or(MapVersion::Provinces34);
    let other = match version {
        MapVersion::Provinces63 => MapVersion::Provinces34,
        MapVersion::Provinces34 => MapVersion::Provinces63,
    };
    let maps = state.maps.clone();
    let (map, other_map) = tokio::task::spawn_blocking(move || {
        (maps.national(version).clone(), maps.national(other).clone())
    })
    .await
    .map_err(|e| err(ApiError::NotFound(e.to_string())))?;
    // A year that spans the reorganisation has rows of both maps; name each code by the
    // map of the period's end first.
    let mut names: HashMap<&str, &str> = other_map
        .features
        .iter()
        .map(|f| (f.code.as_str(), f.name.as_str()))
        .collect();
    names.extend(
        map.features
            .iter()
            .map(|f| (f.code.as_str(), f.name.as_str())),
    );
    let n = |x: u64| super::thousands(x, lang);
    let bucket = buckets(&v.provinces, &v.rate);
    let period_label = match v.kind {
        PeriodKind::Month => lang.t("Tháng", "Month"),
        PeriodKind::Quarter => lang.t("Quý", "Quarter"),
        PeriodKind::Year => lang.t("Năm", "Year"),
    };
    let body = html! {
        h1 { (lang.t("Dịch vụ công trực tuyến", "Online public services")) }
        form.filters method="get" action="/public-services" {
            label { (lang.t("Kỳ (YYYY-MM, YYYY-Qn, YYYY)", "Period (YYYY-MM, YYYY-Qn, YYYY)")) " "
                input type="text" name="period" value=(v.period); }
            label { (lang.t("Tô màu theo", "Colour by")) " "
                select name="rate" {
                    @for (c, vi, en) in COLUMNS.iter().filter(|c| RATES.contains(&c.0)) {
                        option value=(c) selected[*c == v.rate] { (lang.t(vi, en)) }
                    }
                }
            }
            button type="submit" { (lang.t("Xem", "Show")) }
        }
        section.headline {
            h2 { (period_label) " " (v.period) " · " (lang.t("Toàn quốc", "Nation")) }
            @if let Some(nat) = &v.nation {
                dl.figures {
                    dt { (lang.t("Hồ sơ tiếp nhận", "Dossiers received")) } dd { (n(nat.received)) }
                    dt { (lang.t("Tỷ lệ trực tuyến", "Online share")) } dd { (pct(nat.online_share)) }
                    dt { (lang.t("Tỷ lệ toàn trình", "End-to-end share")) } dd { (pct(nat.end_to_end_share)) }
                    dt { (lang.t("Tỷ lệ đúng hạn", "On-time share")) } dd { (pct(nat.on_time_share)) }
                    dt { (lang.t("Thanh toán trực tuyến (VND)", "Online payments (VND)")) } dd { (n(nat.online_payment_vnd)) }
                }
            } @else {
                p { (lang.t("Chưa có số liệu cho kỳ này.", "No data for this period.")) }
            }
        }
        section {
            h2 { @if version == MapVersion::Provinces63 { (lang.t("Bản đồ 63 tỉnh, thành phố (trước 01/7/2025)", "Map of the 63 provinces (before 1 July 2025)")) } @else { (lang.t("Bản đồ 34 tỉnh, thành phố", "Map of the 34 provinces")) } }
            svg.map.national.choropleth viewBox=(map.view_box) role="img" aria-labelledby="ps-map-title" xmlns="http://www.w3.org/2000/svg" {
                title #ps-map-title { (lang.t("Bản đồ tỷ lệ theo tỉnh", "Rate by province")) }
                rect.sea x="0" y="0" width=(map.width) height=(map.height) {}
                @for f in &map.features {
                    @let class = match bucket.get(&f.code) { Some(b) => format!("prov q{b}"), None => "prov nodata".into() };
                    path class=(class) d=(f.d) { title { (f.name) } }
                }
            }
            (super::rankings::map_legend(lang))
        }
        section {
            h2 { (lang.t("Xu hướng theo tháng", "Monthly trend")) }
            (trend_svg(&v.trend, lang))
        }
        section {
            h2 { (lang.t("Theo tỉnh", "By province")) }
            p { a href={ "/public-services.csv?" (query(&v, &v.sort, if v.desc { "desc" } else { "asc" })) } { (lang.t("Tải CSV", "Download CSV")) } }
            table.provinces {
                thead { tr {
                    @for (c, vi, en) in COLUMNS {
                        @let dir = if v.sort == c && !v.desc { "desc" } else { "asc" };
                        th { a href={ "/public-services?" (query(&v, c, dir)) } { (lang.t(vi, en)) } }
                    }
                } }
                tbody {
                    @for r in &v.provinces {
                        tr {
                            td { (names.get(r.unit.as_str()).copied().unwrap_or(&r.unit)) " (" (r.unit) ")" }
                            td.num { (n(r.received)) } td.num { (n(r.online)) }
                            td.num { (pct(r.online_share)) } td.num { (pct(r.end_to_end_share)) }
                            td.num { (pct(r.on_time_share)) } td.num { (n(r.online_payments)) }
                            td.num { (n(r.online_payment_vnd)) } td.num { (n(r.services_online)) }
                        }
                    }
                }
            }
        }
    };
    Ok(ctx.render(lang.t("Dịch vụ công", "Public services"), body))
}

/// The province table as CSV, in the order shown.
pub async fn csv(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let mut p = Params::parse(raw.as_deref());
    let v = view(&state, &mut p).await?;
    p.finish(&["period", "rate", "sort", "dir"])?;
    let opt = |x: Option<f64>| x.map(|x| format!("{x:.6}")).unwrap_or_default();
    let mut out = format!(
        "province_code,{},received,online,online_share,end_to_end_share,on_time_share,online_payments,online_payment_vnd,services_online\n",
        v.kind.column()
    );
    for r in &v.provinces {
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{}\n",
            r.unit,
            r.period,
            r.received,
            r.online,
            opt(r.online_share),
            opt(r.end_to_end_share),
            opt(r.on_time_share),
            r.online_payments,
            r.online_payment_vnd,
            r.services_online
        ));
    }
    Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], out).into_response())
}
