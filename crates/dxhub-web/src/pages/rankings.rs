//! Rankings: published editions (public) with map, table and line-over-years tabs, each
//! with a shareable URL and a CSV of exactly what it shows; a unit's profile; the current
//! computation from approved values (reviewers and administrators) and its publication
//! (administrators); and a what-if page that stores nothing.

use std::collections::{BTreeMap, BTreeSet};

use axum::Form;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use dxhub_core::auth::{Action, Decision, authorize};
use dxhub_index::{BandOptions, Methodology, Period, Provenance, RankBand};
use dxhub_store::{Edition, NewEdition, ReportFilter};
use maud::{Markup, html};

use super::{PageCtx, PageError};
use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::i18n::Lang;
use crate::maps::MapVersion;
use crate::scores::{EditionPayload, EditionRow, compute, reexpress_on_34};

/// The three views of an edition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tab {
    Table,
    Map,
    Years,
}

impl Tab {
    fn parse(s: Option<&str>) -> Result<Tab, ApiError> {
        match s {
            None | Some("table") => Ok(Tab::Table),
            Some("map") => Ok(Tab::Map),
            Some("years") => Ok(Tab::Years),
            Some(other) => Err(ApiError::bad(
                "tab",
                format!("'{other}' is not a tab; expected table, map or years"),
            )),
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Tab::Table => "table",
            Tab::Map => "map",
            Tab::Years => "years",
        }
    }
}

fn parse_payload(e: &Edition) -> Result<EditionPayload, ApiError> {
    serde_json::from_str(&e.payload).map_err(|err| {
        ApiError::Store(dxhub_store::StoreError::Corrupt(format!(
            "edition {} does not read: {err}",
            e.id
        )))
    })
}

async fn edition(state: &AppState, id: i64) -> Result<(Edition, EditionPayload), ApiError> {
    let e = state
        .store
        .edition(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("there is no edition {id}")))?;
    let p = parse_payload(&e)?;
    Ok((e, p))
}

/// A score as published: 4 decimals for ratios, 2 for points.
fn fmt_score(p: &EditionPayload, s: Option<f64>) -> String {
    match s {
        None => "–".into(),
        Some(s) if p.display == "points" => format!("{s:.2}"),
        Some(s) => format!("{s:.4}"),
    }
}

fn fmt_value(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.4}")).unwrap_or_else(|| "–".into())
}

fn bands(p: &EditionPayload) -> BTreeMap<String, RankBand> {
    let Some(m) = methodology_of(p) else {
        return BTreeMap::new();
    };
    let values = p.values();
    if values.len() < 2 {
        return BTreeMap::new();
    }
    dxhub_index::rank_bands(&m, &values, &BandOptions::default())
        .map(|v| v.into_iter().map(|b| (b.unit.clone(), b)).collect())
        .unwrap_or_default()
}

/// The methodology an edition was computed with, from its frozen text.
fn methodology_of(p: &EditionPayload) -> Option<Methodology> {
    dxhub_index::load(&format!("{}.toml", p.methodology), &p.methodology_text).ok()
}

fn edition_href(id: i64, tab: Tab, units: &[String]) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    q.append_pair("tab", tab.as_str());
    if !units.is_empty() {
        q.append_pair("units", &units.join(","));
    }
    format!("/rankings/{id}?{}", q.finish())
}

/// Units shown on the years tab: those asked for, else the edition's top five.
fn chosen_units(p: &EditionPayload, asked: Option<&str>) -> Result<Vec<String>, ApiError> {
    match asked {
        Some(list) => {
            let units: Vec<String> = list
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
            for u in &units {
                if !p.rows.iter().any(|r| &r.unit == u) {
                    return Err(ApiError::bad(
                        "units",
                        format!("'{u}' is not a unit of this edition"),
                    ));
                }
            }
            if units.len() > 12 {
                return Err(ApiError::bad("units", "at most 12 units at once"));
            }
            Ok(units)
        }
        None => Ok(p
            .rows
            .iter()
            .filter(|r| r.rank.is_some())
            .take(5)
            .map(|r| r.unit.clone())
            .collect()),
    }
}

/// Per period, the rank and score of each chosen unit.
type History = Vec<(String, BTreeMap<String, (Option<u32>, Option<f64>)>)>;

/// Ranks (and scores) of the chosen units in every edition of the same map and family.
async fn history(
    state: &AppState,
    current: &Edition,
    units: &[String],
) -> Result<History, ApiError> {
    let mut out = Vec::new();
    let mut list = state.store.editions().await?;
    list.retain(|e| e.map == current.map && family(&e.methodology) == family(&current.methodology));
    list.sort_by(|a, b| a.period.cmp(&b.period).then(a.id.cmp(&b.id)));
    let mut seen = BTreeSet::new();
    for e in list.into_iter().rev() {
        // One edition per period: the newest published.
        if !seen.insert(e.period.clone()) {
            continue;
        }
        let (_, p) = edition(state, e.id).await?;
        let row = units
            .iter()
            .filter_map(|u| {
                p.rows
                    .iter()
                    .find(|r| &r.unit == u)
                    .map(|r| (u.clone(), (r.rank, r.score)))
            })
            .collect();
        out.push((e.period.clone(), row));
    }
    out.reverse();
    Ok(out)
}

/// Methodologies whose editions form one series over the years (DTI 2022 and 2025 rank
/// the same provinces on the same 0–1 scale).
fn family(id: &str) -> &str {
    match id.rsplit_once('-') {
        Some((stem, year)) if year.chars().all(|c| c.is_ascii_digit()) => stem,
        _ => id,
    }
}

fn years_svg(
    hist: &History,
    units: &[String],
    names: &BTreeMap<String, String>,
    n_units: usize,
    lang: Lang,
) -> Markup {
    let (w, h, left, right, top, bottom) = (680.0, 320.0, 40.0, 150.0, 12.0, 28.0);
    let n = hist.len().max(2) as f64 - 1.0;
    let x = |i: usize| left + (w - left - right) * i as f64 / n.max(1.0);
    let y = |rank: u32| {
        top + (h - top - bottom) * (rank.saturating_sub(1)) as f64 / (n_units.max(2) - 1) as f64
    };
    html! {
        svg.years viewBox={ "0 0 " (w) " " (h) } role="img" aria-labelledby="years-title" xmlns="http://www.w3.org/2000/svg" {
            title #years-title { (lang.t("Thứ hạng qua các năm (1 ở trên cùng)", "Rank over the years (1 at the top)")) }
            line.axis x1=(left) y1=(h - bottom) x2=(w - right) y2=(h - bottom) {}
            line.axis x1=(left) y1=(top) x2=(left) y2=(h - bottom) {}
            text.tick x="4" y=(top + 4.0) { "1" }
            text.tick x="4" y=(h - bottom) { (n_units) }
            @for (i, (period, _)) in hist.iter().enumerate() {
                text.tick x=(format!("{:.1}", x(i) - 12.0)) y=(h - 8.0) { (period) }
            }
            @for (k, u) in units.iter().enumerate() {
                @let pts: Vec<(f64, f64, u32)> = hist.iter().enumerate().filter_map(|(i, (_, row))| row.get(u).and_then(|(r, _)| *r).map(|r| (x(i), y(r), r))).collect();
                @let d = pts.iter().enumerate().map(|(j, (px, py, _))| format!("{}{:.1},{:.1}", if j == 0 { "M" } else { "L" }, px, py)).collect::<String>();
                g class={ "series s" (k % 6) } {
                    path d=(d) {}
                    @for (px, py, r) in &pts { circle cx=(format!("{px:.1}")) cy=(format!("{py:.1}")) r="3.5" { title { (names.get(u).map(String::as_str).unwrap_or(u)) ": " (r) } } }
                    @if let Some((px, py, _)) = pts.last() {
                        text.label x=(format!("{:.1}", px + 6.0)) y=(format!("{:.1}", py + 4.0)) { (names.get(u).map(String::as_str).unwrap_or(u)) }
                    }
                }
            }
        }
    }
}

fn quintiles(p: &EditionPayload) -> BTreeMap<String, usize> {
    // By score when published, else by rank (a historical edition may only have ranks).
    let key = |r: &EditionRow| r.score.or(r.rank.map(|k| -(k as f64)));
    let mut all: Vec<f64> = p.rows.iter().filter_map(key).collect();
    all.sort_by(f64::total_cmp);
    p.rows
        .iter()
        .filter_map(|r| {
            let v = key(r)?;
            let below = all.iter().filter(|x| **x < v).count();
            Some((r.unit.clone(), below * 5 / all.len().max(1)))
        })
        .collect()
}

/// The legend of a map coloured in fifths (quintiles), shared by the choropleth pages.
pub(super) fn map_legend(lang: Lang) -> Markup {
    html! {
        ul.legend aria-label=(lang.t("Chú giải", "Legend")) {
            @for (q, vi, en) in [(0, "thấp nhất", "lowest"), (1, "", ""), (2, "", ""), (3, "", ""), (4, "cao nhất", "highest")] {
                li { span class={ "swatch q" (q) } aria-hidden="true" {} (lang.t("nhóm ", "fifth ")) (q + 1) @if !vi.is_empty() { " (" (lang.t(vi, en)) ")" } }
            }
            li { span class="swatch nodata" aria-hidden="true" {} (lang.t("không có số liệu", "no data")) }
        }
    }
}

struct Shown {
    tab: Tab,
    units: Vec<String>,
}

async fn edition_body(
    state: &AppState,
    ctx: &PageCtx,
    e: &Edition,
    p: &EditionPayload,
    shown: &Shown,
) -> Result<Markup, PageError> {
    let lang = ctx.lang;
    let tabs = [
        (Tab::Table, lang.t("Bảng", "Table")),
        (Tab::Map, lang.t("Bản đồ", "Map")),
        (Tab::Years, lang.t("Qua các năm", "Over the years")),
    ];
    let csv_href = edition_href(e.id, shown.tab, &shown.units).replacen('?', "/csv?", 1);
    let xlsx_href = edition_href(e.id, shown.tab, &shown.units).replacen('?', "/xlsx?", 1);
    let content = match shown.tab {
        Tab::Table => {
            let bands = bands(p);
            let empty: Vec<crate::scores::IndicatorInfo> = Vec::new();
            let indicators = if p.rows.iter().any(|r| !r.values.is_empty()) {
                &p.indicators
            } else {
                &empty
            };
            html! {
                table.data.ranking {
                    thead { tr {
                        th { (lang.t("Hạng", "Rank")) } th { (lang.t("Đơn vị", "Unit")) } th { (lang.t("Điểm", "Score")) }
                        @for i in indicators { th title=(lang.t(&i.name_vi, &i.name_en)) { (lang.t(&i.name_vi, &i.name_en)) } }
                        @if !bands.is_empty() { th title=(lang.t("Thứ hạng bách phân vị 5–95 khi trọng số dao động ±20% (1.000 lần)", "5th–95th percentile rank with weights perturbed ±20% (1,000 draws)")) { (lang.t("Dải hạng 5–95%", "Rank band 5–95%")) } }
                    } }
                    tbody { @for r in &p.rows { tr {
                        td.num { (r.rank.map(|k| k.to_string()).unwrap_or_else(|| "–".into())) }
                        td { a href={ "/rankings/" (e.id) "/units/" (r.unit) } { (r.name) } }
                        td.num { (fmt_score(p, r.score)) }
                        @for i in indicators { td.num { (fmt_value(r.values.get(&i.code).copied())) } }
                        @if !bands.is_empty() { td.num { @if let Some(b) = bands.get(&r.unit) { (b.p5) "–" (b.p95) } } }
                    } } }
                }
            }
        }
        Tab::Map => {
            let version = if p.map == "63" {
                MapVersion::Provinces63
            } else {
                MapVersion::Provinces34
            };
            let maps = state.maps.clone();
            let map = tokio::task::spawn_blocking(move || maps.national(version).clone())
                .await
                .map_err(|err| ctx.err(ApiError::NotFound(err.to_string())))?;
            let q = quintiles(p);
            let by_unit: BTreeMap<&str, &EditionRow> =
                p.rows.iter().map(|r| (r.unit.as_str(), r)).collect();
            html! {
                svg.map.national.choropleth viewBox=(map.view_box) role="img" aria-labelledby="rk-map-title" xmlns="http://www.w3.org/2000/svg" {
                    title #rk-map-title { (lang.t("Điểm theo tỉnh", "Score by province")) }
                    rect.sea x="0" y="0" width=(map.width) height=(map.height) {}
                    @for f in &map.features {
                        @let class = match q.get(&f.code) { Some(b) => format!("prov q{b}"), None => "prov nodata".into() };
                        a href={ "/rankings/" (e.id) "/units/" (f.code) } {
                            path class=(class) d=(f.d) { title { (f.name) @if let Some(r) = by_unit.get(f.code.as_str()) { ": " (fmt_score(p, r.score)) " · " (lang.t("hạng ", "rank ")) (r.rank.map(|k| k.to_string()).unwrap_or_else(|| "–".into())) } } }
                        }
                    }
                }
                (map_legend(lang))
            }
        }
        Tab::Years => {
            let hist = history(state, e, &shown.units)
                .await
                .map_err(|err| ctx.err(err))?;
            let names: BTreeMap<String, String> = p
                .rows
                .iter()
                .map(|r| (r.unit.clone(), r.name.clone()))
                .collect();
            let n_units = p.rows.len();
            html! {
                (years_svg(&hist, &shown.units, &names, n_units, lang))
                form.inline method="get" action={ "/rankings/" (e.id) } {
                    input type="hidden" name="tab" value="years";
                    label for="units" { (lang.t("Đơn vị (mã, cách nhau bởi dấu phẩy)", "Units (codes, comma-separated)")) }
                    input #units type="text" name="units" value=(shown.units.join(",")) size="30";
                    button type="submit" { (lang.t("Xem", "Show")) }
                }
                table.data {
                    thead { tr { th { (lang.t("Kỳ", "Period")) } @for u in &shown.units { th { (names.get(u).map(String::as_str).unwrap_or(u)) } } } }
                    tbody { @for (period, row) in &hist { tr { td { (period) } @for u in &shown.units { td.num { @match row.get(u) { Some((Some(r), s)) => { (r) @if let Some(s) = s { " (" (fmt_score(p, Some(*s))) ")" } }, _ => { "–" } } } } } } }
                }
            }
        }
    };
    Ok(html! {
        p.crumbs { a href="/rankings" { (lang.t("Xếp hạng", "Rankings")) } }
        h1 { (lang.t(&e.title_vi, &e.title_en)) }
        p {
            (lang.t(&p.methodology_name_vi, &p.methodology_name_en)) " (" code { (p.methodology) } ", " (lang.t("phiên bản ", "version ")) (p.methodology_version) ") · "
            (lang.t("bản đồ ", "map ")) (p.map) (lang.t(" tỉnh", " provinces")) " · "
            (lang.t("công bố ", "published ")) (e.published_at.get(..10).unwrap_or(&e.published_at)) " · " (match e.kind.as_str() { "historical" => lang.t("số liệu đã công bố (lịch sử)", "as published (historical)"), "demo" => lang.t("dữ liệu minh họa", "demo data"), _ => lang.t("tính từ số liệu đã phê duyệt", "computed from approved values") })
        }
        @if let Some(n) = &p.note { p.notice role="note" { (n) } }
        @if let Some(s) = &p.source { p { (lang.t("Nguồn: ", "Source: ")) (s) } }
        nav.tabs aria-label=(lang.t("Cách xem", "Views")) {
            @for (t, label) in tabs {
                @if t == shown.tab { strong aria-current="page" { (label) } } @else { a href=(edition_href(e.id, t, &shown.units)) { (label) } }
            }
        }
        (content)
        p { a href=(csv_href) { (lang.t("Tải CSV của phần đang xem", "Download this view as CSV")) }
            " · " a href=(xlsx_href) { (lang.t("Tải Excel", "Download as Excel")) }
            " · " a href={ "/what-if?edition=" (e.id) } { (lang.t("Thử thay đổi trọng số / giá trị", "What if: change weights or values")) } }
    })
}

fn view_params(p: &EditionPayload, mut params: crate::params::Params) -> Result<Shown, ApiError> {
    let tab = Tab::parse(params.take("tab")?.as_deref())?;
    let units = chosen_units(p, params.take("units")?.as_deref())?;
    params.finish(&["lang", "tab", "units"])?;
    Ok(Shown { tab, units })
}

/// `GET /rankings/{id}`: a published edition, public.
pub async fn edition_page(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    raw: RawQuery,
    headers: HeaderMap,
    caller: Caller,
) -> Result<Response, PageError> {
    let (ctx, params) = PageCtx::new(&format!("/rankings/{id}"), &raw, &headers, caller)?;
    let (e, p) = edition(&state, id).await.map_err(|err| ctx.err(err))?;
    let shown = view_params(&p, params).map_err(|err| ctx.err(err))?;
    let body = edition_body(&state, &ctx, &e, &p, &shown).await?;
    Ok(ctx.render(&e.title_vi, body))
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

/// A cell of a downloaded view: text, or a number with the decimals it is shown with.
enum Cell {
    Text(String),
    Num(f64, usize),
    Empty,
}

impl Cell {
    fn score(s: Option<f64>) -> Cell {
        s.map_or(Cell::Empty, |s| Cell::Num(s, 4))
    }

    fn rank(r: Option<u32>) -> Cell {
        r.map_or(Cell::Empty, |r| Cell::Num(f64::from(r), 0))
    }
}

/// Exactly what a tab shows, as a header and rows (for CSV and XLSX alike).
async fn view_rows(
    state: &AppState,
    e: &Edition,
    p: &EditionPayload,
    shown: &Shown,
) -> Result<(Vec<String>, Vec<Vec<Cell>>), ApiError> {
    let text = |s: &str| Cell::Text(s.to_owned());
    Ok(match shown.tab {
        Tab::Table => {
            let bands = bands(p);
            let mut header: Vec<String> = ["rank", "unit_code", "unit_name", "score"]
                .map(String::from)
                .to_vec();
            header.extend(p.indicators.iter().map(|i| i.code.clone()));
            header.extend(["rank_p5".into(), "rank_p95".into()]);
            let rows = p
                .rows
                .iter()
                .map(|r| {
                    let mut row = vec![
                        Cell::rank(r.rank),
                        text(&r.unit),
                        text(&r.name),
                        Cell::score(r.score),
                    ];
                    row.extend(
                        p.indicators
                            .iter()
                            .map(|i| Cell::score(r.values.get(&i.code).copied())),
                    );
                    let band = bands.get(&r.unit);
                    row.push(Cell::rank(band.map(|b| b.p5)));
                    row.push(Cell::rank(band.map(|b| b.p95)));
                    row
                })
                .collect();
            (header, rows)
        }
        Tab::Map => {
            let q = quintiles(p);
            let header = ["unit_code", "unit_name", "score", "rank", "fifth"]
                .map(String::from)
                .to_vec();
            let rows = p
                .rows
                .iter()
                .map(|r| {
                    vec![
                        text(&r.unit),
                        text(&r.name),
                        Cell::score(r.score),
                        Cell::rank(r.rank),
                        Cell::rank(q.get(&r.unit).map(|b| *b as u32 + 1)),
                    ]
                })
                .collect();
            (header, rows)
        }
        Tab::Years => {
            let header = ["period", "unit_code", "unit_name", "rank", "score"]
                .map(String::from)
                .to_vec();
            let mut rows = Vec::new();
            for (period, row) in history(state, e, &shown.units).await? {
                for u in &shown.units {
                    if let Some((rank, s)) = row.get(u) {
                        let name = p
                            .rows
                            .iter()
                            .find(|r| &r.unit == u)
                            .map(|r| r.name.as_str())
                            .unwrap_or("");
                        rows.push(vec![
                            text(&period),
                            text(u),
                            text(name),
                            Cell::rank(*rank),
                            Cell::score(*s),
                        ]);
                    }
                }
            }
            (header, rows)
        }
    })
}

/// The edition, the view asked for and its rows.
async fn downloaded_view(
    state: &AppState,
    id: i64,
    raw: Option<&str>,
) -> Result<(Edition, Shown, Vec<String>, Vec<Vec<Cell>>), ApiError> {
    let (e, p) = edition(state, id).await?;
    let shown = view_params(&p, crate::params::Params::parse(raw))?;
    let (header, rows) = view_rows(state, &e, &p, &shown).await?;
    Ok((e, shown, header, rows))
}

/// `GET /rankings/{id}/csv?tab=…`: exactly what the tab shows, as CSV.
pub async fn edition_csv(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let (e, shown, header, rows) = downloaded_view(&state, id, raw.as_deref()).await?;
    let mut out = header.join(",");
    out.push('\n');
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .map(|c| match c {
                Cell::Text(t) => csv_field(t),
                Cell::Num(v, d) => format!("{v:.d$}", d = *d),
                Cell::Empty => String::new(),
            })
            .collect();
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    let name = format!("edition-{}-{}.csv", e.id, shown.tab.as_str());
    Ok(super::attachment(
        out.into_bytes(),
        "text/csv; charset=utf-8",
        &name,
    ))
}

/// `GET /rankings/{id}/xlsx?tab=…`: the same as the CSV, as a workbook with numbers as
/// numbers (scores shown with 4 decimals), a frozen header and the edition's title.
pub async fn edition_xlsx(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    use rust_xlsxwriter::{Format, Workbook};
    let (e, shown, header, rows) = downloaded_view(&state, id, raw.as_deref()).await?;
    let fail = |err: rust_xlsxwriter::XlsxError| {
        ApiError::Store(dxhub_store::StoreError::Database(format!(
            "cannot write the workbook: {err}"
        )))
    };
    let mut wb = Workbook::new();
    let bold = Format::new().set_bold();
    let four = Format::new().set_num_format("0.0000");
    let ws = wb.add_worksheet();
    ws.set_name(shown.tab.as_str()).map_err(fail)?;
    ws.write_with_format(0, 0, &e.title_vi, &bold)
        .map_err(fail)?;
    for (c, h) in header.iter().enumerate() {
        ws.write_with_format(2, c as u16, h, &bold).map_err(fail)?;
    }
    for (i, row) in rows.iter().enumerate() {
        let r = i as u32 + 3;
        for (c, cell) in row.iter().enumerate() {
            let c = c as u16;
            match cell {
                Cell::Text(t) => ws.write(r, c, t).map(|_| ()),
                Cell::Num(v, 4) => ws.write_number_with_format(r, c, *v, &four).map(|_| ()),
                Cell::Num(v, _) => ws.write_number(r, c, *v).map(|_| ()),
                Cell::Empty => Ok(()),
            }
            .map_err(fail)?;
        }
    }
    ws.set_freeze_panes(3, 0).map_err(fail)?;
    ws.set_column_width(2, 28).map_err(fail)?;
    let bytes = wb.save_to_buffer().map_err(fail)?;
    let name = format!("edition-{}-{}.xlsx", e.id, shown.tab.as_str());
    Ok(super::attachment(
        bytes,
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        &name,
    ))
}

fn provenance_text(p: &Provenance, lang: Lang) -> String {
    match p {
        Provenance::Measured { feed, measure } => format!(
            "{} {feed} ({measure})",
            lang.t("đo tự động từ", "measured from")
        ),
        Provenance::Reported { by, evidence } => format!(
            "{} {by}; {} {}",
            lang.t("báo cáo bởi", "reported by"),
            evidence.len(),
            lang.t("tệp minh chứng", "evidence file(s)")
        ),
        Provenance::Computed { from } => {
            format!("{} {}", lang.t("tính từ", "computed from"), from.join(", "))
        }
        Provenance::Published { source } => {
            format!("{} {source}", lang.t("theo công bố", "as published in"))
        }
    }
}

/// `GET /rankings/{id}/units/{code}`: a unit's profile in an edition.
pub async fn unit_profile(
    State(state): State<AppState>,
    Path((id, code)): Path<(i64, String)>,
    raw: RawQuery,
    headers: HeaderMap,
    caller: Caller,
) -> Result<Response, PageError> {
    let (ctx, params) = PageCtx::new(
        &format!("/rankings/{id}/units/{code}"),
        &raw,
        &headers,
        caller,
    )?;
    params.finish(&["lang"]).map_err(|err| ctx.err(err))?;
    let lang = ctx.lang;
    let (e, p) = edition(&state, id).await.map_err(|err| ctx.err(err))?;
    let Some(row) = p.rows.iter().find(|r| r.unit == code) else {
        return Err(ctx.err(ApiError::NotFound(format!(
            "unit {code} is not in edition {id}"
        ))));
    };
    let medians = p.medians();
    let hist = history(&state, &e, std::slice::from_ref(&code))
        .await
        .map_err(|err| ctx.err(err))?;
    let band = bands(&p).remove(&code);
    let n = p.rows.iter().filter(|r| r.rank.is_some()).count();
    let body = html! {
        p.crumbs { a href="/rankings" { (lang.t("Xếp hạng", "Rankings")) } " › " a href={ "/rankings/" (e.id) } { (lang.t(&e.title_vi, &e.title_en)) } }
        h1 { (row.name) }
        dl.facts {
            dt { (lang.t("Điểm", "Score")) } dd { (fmt_score(&p, row.score)) }
            dt { (lang.t("Hạng", "Rank")) } dd { (row.rank.map(|k| format!("{k}/{n}")).unwrap_or_else(|| "–".into())) }
            @if let Some(b) = &band { dt { (lang.t("Dải hạng 5–95%", "Rank band 5–95%")) } dd { (b.p5) "–" (b.p95) } }
        }
        @if !row.missing.is_empty() { p.error { (lang.t("Thiếu giá trị (tính 0 điểm): ", "Missing values (counted as 0): ")) (row.missing.join(", ")) } }
        h2 { (lang.t("Chỉ số thành phần so với trung vị cả nước", "Main indicators against the national median")) }
        table.data {
            thead { tr { th { (lang.t("Chỉ số", "Indicator")) } th { (lang.t("Điểm tối đa", "Points")) } th { (lang.t("Giá trị", "Value")) } th { (lang.t("Trung vị", "Median")) } th { (lang.t("Chênh lệch", "Difference")) } th { (lang.t("Nguồn", "Where it came from")) } } }
            tbody { @for i in &p.indicators {
                @let v = row.values.get(&i.code).copied();
                @let med = medians.get(&i.code).copied();
                tr {
                    td { (lang.t(&i.name_vi, &i.name_en)) }
                    td.num { (i.points) }
                    td.num { (fmt_value(v)) }
                    td.num { (fmt_value(med)) }
                    td.num { @match (v, med) { (Some(v), Some(m)) => { (format!("{:+.4}", v - m)) }, _ => { "–" } } }
                    td { @for pr in row.provenance.get(&i.code).map(Vec::as_slice).unwrap_or(&[]) { (provenance_text(pr, lang)) br; } }
                }
            } }
        }
        @if let Some(s) = &p.source { p { (lang.t("Nguồn công bố: ", "Published in: ")) (s) } }
        h2 { (lang.t("Qua các năm", "History")) }
        table.data {
            thead { tr { th { (lang.t("Kỳ", "Period")) } th { (lang.t("Hạng", "Rank")) } th { (lang.t("Điểm", "Score")) } } }
            tbody { @for (period, r) in &hist { @if let Some((rank, s)) = r.get(&code) { tr { td { (period) } td.num { (rank.map(|k| k.to_string()).unwrap_or_else(|| "–".into())) } td.num { (fmt_score(&p, *s)) } } } } }
        }
        p { a href={ "/what-if?edition=" (e.id) "&unit=" (code) } { (lang.t("Thử thay đổi trọng số hoặc giá trị của đơn vị này", "What if: change the weights or this unit's values")) } }
    };
    Ok(ctx.render(&row.name, body))
}

/// `GET /rankings`: every edition, and for reviewers the computations waiting.
pub async fn index(
    State(state): State<AppState>,
    raw: RawQuery,
    headers: HeaderMap,
    caller: Caller,
) -> Result<Response, PageError> {
    let (ctx, params) = PageCtx::new("/rankings", &raw, &headers, caller)?;
    params.finish(&["lang"]).map_err(|err| ctx.err(err))?;
    let lang = ctx.lang;
    let editions = state.store.editions().await.map_err(|err| ctx.err(err))?;
    let can_compute =
        authorize(&ctx.caller.principal, &Action::ReadMethodologies) == Decision::Allow;
    let mut live: BTreeSet<(String, String)> = BTreeSet::new();
    if can_compute {
        live.extend(
            state
                .store
                .reports(&ReportFilter::default())
                .await
                .map_err(|err| ctx.err(err))?
                .into_iter()
                .map(|r| (r.key.methodology, r.key.period)),
        );
        // Methodologies fed by measured values have a computation even before any report.
        let year = dxhub_core::date::today_in_vietnam().year();
        for m in dxhub_index::shipped() {
            if m.elements
                .iter()
                .any(|e| matches!(e.source, dxhub_index::Source::Measured(_)))
            {
                live.insert((m.id.clone(), year.to_string()));
            }
        }
    }
    let body = html! {
        h1 { (lang.t("Xếp hạng chuyển đổi số", "Digital-transformation rankings")) }
        @if editions.is_empty() { p { (lang.t("Chưa có ấn bản nào được công bố.", "No edition published yet.")) } }
        @else {
            table.data {
                thead { tr { th { (lang.t("Ấn bản", "Edition")) } th { (lang.t("Kỳ", "Period")) } th { (lang.t("Bản đồ", "Map")) } th { (lang.t("Loại", "Kind")) } th { (lang.t("Công bố", "Published")) } } }
                tbody { @for e in &editions { tr {
                    td { a href={ "/rankings/" (e.id) } { (lang.t(&e.title_vi, &e.title_en)) } }
                    td { (e.period) } td { (e.map) } td { (e.kind) } td { (e.published_at.get(..10).unwrap_or(&e.published_at)) }
                } } }
            }
        }
        @if !live.is_empty() {
            h2 { (lang.t("Tính từ số liệu hiện có (chưa công bố)", "Computed from current values (not published)")) }
            ul { @for (m, p) in &live { li { a href={ "/rankings/live/" (m) "/" (p) } { (m) ", " (p) } } } }
        }
    };
    Ok(ctx.render(lang.t("Xếp hạng", "Rankings"), body))
}

async fn live_target(
    ctx: &PageCtx,
    m: &str,
    period: &str,
) -> Result<(Methodology, Period), PageError> {
    let methodology = dxhub_index::shipped_by_id(m)
        .ok_or_else(|| ctx.err(ApiError::NotFound(format!("there is no methodology '{m}'"))))?;
    let period: Period = period
        .parse()
        .map_err(|e: dxhub_index::PeriodParseError| ctx.err(ApiError::bad("period", e.0)))?;
    Ok((methodology, period))
}

/// `GET /rankings/live/{m}/{p}`: scores from the approved values now (reviewers, admins).
pub async fn live(
    State(state): State<AppState>,
    Path((m, period)): Path<(String, String)>,
    raw: RawQuery,
    headers: HeaderMap,
    caller: Caller,
) -> Result<Response, PageError> {
    let (ctx, params) = PageCtx::new(
        &format!("/rankings/live/{m}/{period}"),
        &raw,
        &headers,
        caller,
    )?;
    params.finish(&["lang"]).map_err(|err| ctx.err(err))?;
    ctx.require(&Action::ReadMethodologies)?;
    let lang = ctx.lang;
    let (methodology, period) = live_target(&ctx, &m, &period).await?;
    let p = compute(state.store.as_ref(), &methodology, &period)
        .await
        .map_err(|err| ctx.err(err))?;
    let can_publish = authorize(&ctx.caller.principal, &Action::PublishEdition) == Decision::Allow;
    let ranked = p.rows.iter().filter(|r| r.rank.is_some()).count();
    let body = html! {
        p.crumbs { a href="/rankings" { (lang.t("Xếp hạng", "Rankings")) } }
        h1 { (lang.t(&p.methodology_name_vi, &p.methodology_name_en)) ", " (p.period) }
        p { (lang.t("Tính lúc này từ các báo cáo đã phê duyệt và số liệu đo tự động; chưa công bố, có thể đổi khi số liệu đổi.",
                    "Computed now from approved reports and measured values; not published, and it changes when values change.")) }
        p { (ranked) (lang.t(" đơn vị có số liệu trên ", " units with values of ")) (p.rows.len()) }
        table.data {
            thead { tr { th { (lang.t("Hạng", "Rank")) } th { (lang.t("Đơn vị", "Unit")) } th { (lang.t("Điểm", "Score")) } @for i in &p.indicators { th { (i.code) } } } }
            tbody { @for r in &p.rows { tr {
                td.num { (r.rank.map(|k| k.to_string()).unwrap_or_else(|| "–".into())) }
                td { (r.name) } td.num { (fmt_score(&p, r.score)) }
                @for i in &p.indicators { td.num { (fmt_value(r.values.get(&i.code).copied())) } }
            } } }
        }
        @if can_publish && ranked > 0 {
            h2 { (lang.t("Công bố ấn bản", "Publish an edition")) }
            form.stack method="post" action={ "/rankings/live/" (m) "/" (p.period) "/publish" } {
                input type="hidden" name="csrf" value=(ctx.csrf());
                label for="title_vi" { (lang.t("Tiêu đề (tiếng Việt)", "Title (Vietnamese)")) }
                input #title_vi type="text" name="title_vi" required maxlength="200" value={ "Chỉ số " (p.methodology_name_vi) " năm " (p.period) };
                label for="title_en" { (lang.t("Tiêu đề (tiếng Anh)", "Title (English)")) }
                input #title_en type="text" name="title_en" required maxlength="200" value={ (p.methodology_name_en) " " (p.period) };
                @if p.map == "63" {
                    label { input type="checkbox" name="also_34" value="1"; " " (lang.t("Công bố thêm bản tính lại trên bản đồ 34 tỉnh (trung bình các tỉnh cũ)", "Also publish it re-expressed on the 34-province map (mean of the predecessors)")) }
                }
                button type="submit" { (lang.t("Công bố (không sửa được nữa)", "Publish (cannot be changed afterwards)")) }
            }
        }
    };
    Ok(ctx.render(&p.period, body))
}

fn form_field<'a>(f: &'a [(String, String)], name: &str) -> Option<&'a str> {
    f.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// `POST /rankings/live/{m}/{p}/publish`: freeze the computation as an edition.
pub async fn publish(
    State(state): State<AppState>,
    Path((m, period)): Path<(String, String)>,
    headers: HeaderMap,
    caller: Caller,
    Form(f): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let ctx = PageCtx::for_form(&format!("/rankings/live/{m}/{period}"), &headers, caller);
    ctx.require(&Action::PublishEdition)?;
    ctx.caller
        .check_csrf(form_field(&f, "csrf"))
        .map_err(|e| ctx.err(e))?;
    let (methodology, period) = live_target(&ctx, &m, &period).await?;
    let title = |name: &str| -> Result<String, PageError> {
        let t = form_field(&f, name).map(str::trim).unwrap_or("");
        if t.is_empty() || t.chars().count() > 200 || t.chars().any(char::is_control) {
            return Err(ctx.err(ApiError::Invalid {
                field: name.into(),
                reason: "a title of 1 to 200 printable characters".into(),
            }));
        }
        Ok(t.to_owned())
    };
    let (title_vi, title_en) = (title("title_vi")?, title("title_en")?);
    let p = compute(state.store.as_ref(), &methodology, &period)
        .await
        .map_err(|e| ctx.err(e))?;
    if p.rows.iter().all(|r| r.rank.is_none()) {
        return Err(ctx.err(ApiError::Conflict(
            "no unit has approved values for this period; nothing to publish".into(),
        )));
    }
    let mut payloads = vec![p.clone()];
    if form_field(&f, "also_34") == Some("1") && p.map == "63" {
        payloads.push(
            reexpress_on_34(state.store.as_ref(), &methodology, &p)
                .await
                .map_err(|e| ctx.err(e))?,
        );
    }
    let stamp = state.config.clock.now();
    let mut first = None;
    for payload in payloads {
        let json = serde_json::to_string(&payload)
            .map_err(|e| ctx.err(ApiError::Conflict(e.to_string())))?;
        let suffix = if payload.map == p.map { "" } else { " (34)" };
        let new = NewEdition {
            slug: format!(
                "{}/{}/{}/{stamp}",
                payload.methodology, payload.period, payload.map
            ),
            methodology: payload.methodology.clone(),
            methodology_version: payload.methodology_version as i64,
            period: payload.period.clone(),
            map: payload.map.clone(),
            kind: "computed".into(),
            title_vi: format!("{title_vi}{suffix}"),
            title_en: format!("{title_en}{suffix}"),
            payload: json,
            published_by: ctx.caller.actor(),
        };
        let e = state
            .store
            .publish_edition(&new, ctx.caller.change("edition.publish", "edition:new"))
            .await
            .map_err(|e| ctx.err(e))?;
        first.get_or_insert(e.id);
    }
    Ok(Redirect::to(&format!("/rankings/{}", first.unwrap_or(0))).into_response())
}

/// `GET /what-if?edition=ID[&unit=CODE][&w.CODE=points…][&v.CODE=value…]`: scores and ranks
/// of a published edition with other points and (for one unit) other values. Nothing is
/// stored; the URL is the whole state, so it can be shared.
pub async fn what_if(
    State(state): State<AppState>,
    raw: RawQuery,
    headers: HeaderMap,
    caller: Caller,
) -> Result<Response, PageError> {
    let (ctx, mut params) = PageCtx::new("/what-if", &raw, &headers, caller)?;
    let lang = ctx.lang;
    let id: i64 = params
        .take("edition")
        .map_err(|e| ctx.err(e))?
        .ok_or_else(|| ctx.err(ApiError::bad("edition", "name the edition (edition=ID)")))?
        .parse()
        .map_err(|_| ctx.err(ApiError::bad("edition", "an edition number")))?;
    let (e, p) = edition(&state, id).await.map_err(|err| ctx.err(err))?;
    let m = methodology_of(&p).ok_or_else(|| {
        ctx.err(ApiError::Conflict(
            "this edition's methodology does not load".into(),
        ))
    })?;
    let unit = params.take("unit").map_err(|e| ctx.err(e))?;
    if let Some(u) = &unit
        && !p.rows.iter().any(|r| &r.unit == u && !r.values.is_empty())
    {
        return Err(ctx.err(ApiError::bad(
            "unit",
            format!("'{u}' has no values in this edition"),
        )));
    }
    let mut weights = dxhub_index::Points::new();
    let mut own = BTreeMap::new();
    let mut allowed: Vec<String> = vec!["lang".into(), "edition".into(), "unit".into()];
    for i in &p.indicators {
        let wk = format!("w.{}", i.code);
        if let Some(w) = params
            .take(&wk)
            .map_err(|e| ctx.err(e))?
            .filter(|w| !w.is_empty())
        {
            let w: f64 = w
                .replace(',', ".")
                .parse()
                .ok()
                .filter(|w: &f64| w.is_finite() && *w >= 0.0 && *w <= 10_000.0)
                .ok_or_else(|| ctx.err(ApiError::bad(&wk, "points from 0 to 10,000")))?;
            weights.insert(i.code.clone(), w);
        }
        let vk = format!("v.{}", i.code);
        if let Some(v) = params
            .take(&vk)
            .map_err(|e| ctx.err(e))?
            .filter(|v| !v.is_empty())
        {
            if unit.is_none() {
                return Err(ctx.err(ApiError::bad(
                    &vk,
                    "choose the unit whose values change (unit=CODE)",
                )));
            }
            let v: f64 = v
                .replace(',', ".")
                .parse()
                .ok()
                .filter(|v: &f64| (0.0..=1.0).contains(v))
                .ok_or_else(|| ctx.err(ApiError::bad(&vk, "a value from 0 to 1")))?;
            own.insert(i.code.clone(), v);
        }
        allowed.push(wk);
        allowed.push(vk);
    }
    let allowed: Vec<&str> = allowed.iter().map(String::as_str).collect();
    params.finish(&allowed).map_err(|e| ctx.err(e))?;
    let mut overrides = dxhub_index::Values::new();
    if let Some(u) = &unit
        && !own.is_empty()
    {
        overrides.insert(u.clone(), own.clone());
    }
    let base = p.values();
    let result = dxhub_index::what_if(&m, &base, &weights, &overrides)
        .map_err(|err| ctx.err(ApiError::bad("w", err.to_string())))?;
    let before: BTreeMap<&str, (Option<u32>, Option<f64>)> = p
        .rows
        .iter()
        .map(|r| (r.unit.as_str(), (r.rank, r.score)))
        .collect();
    let names: BTreeMap<&str, &str> = p
        .rows
        .iter()
        .map(|r| (r.unit.as_str(), r.name.as_str()))
        .collect();
    let unit_row = unit
        .as_ref()
        .and_then(|u| p.rows.iter().find(|r| &r.unit == u));
    let body = html! {
        p.crumbs { a href="/rankings" { (lang.t("Xếp hạng", "Rankings")) } " › " a href={ "/rankings/" (e.id) } { (lang.t(&e.title_vi, &e.title_en)) } }
        h1 { (lang.t("Nếu thay đổi thì sao?", "What if?")) }
        p { (lang.t("Không lưu gì: đổi trọng số hoặc giá trị của một đơn vị để xem điểm và hạng thay đổi. Đường dẫn giữ toàn bộ lựa chọn để chia sẻ.",
                    "Nothing is stored: change the points or one unit's values to see scores and ranks move. The link keeps every choice, to share.")) }
        form.stack method="get" action="/what-if" {
            input type="hidden" name="edition" value=(e.id);
            label for="unit" { (lang.t("Đơn vị", "Unit")) }
            select #unit name="unit" {
                option value="" { "—" }
                @for r in p.rows.iter().filter(|r| !r.values.is_empty()) {
                    option value=(r.unit) selected[unit.as_deref() == Some(r.unit.as_str())] { (r.name) }
                }
            }
            table.data {
                thead { tr { th { (lang.t("Chỉ số", "Indicator")) } th { (lang.t("Điểm tối đa", "Points")) } th { (lang.t("Giá trị của đơn vị", "The unit's value")) } } }
                tbody { @for i in &p.indicators {
                    tr {
                        td { label for={ "w-" (i.code) } { (lang.t(&i.name_vi, &i.name_en)) } }
                        td { input id={ "w-" (i.code) } type="text" inputmode="decimal" size="6" name={ "w." (i.code) } value=(weights.get(&i.code).copied().unwrap_or(i.points)); }
                        td { input type="text" inputmode="decimal" size="6" name={ "v." (i.code) } aria-label={ (i.code) }
                                value=(own.get(&i.code).copied().or_else(|| unit_row.and_then(|r| r.values.get(&i.code).copied())).map(|v| format!("{v:.4}")).unwrap_or_default()); }
                    }
                } }
            }
            button type="submit" { (lang.t("Tính lại", "Recompute")) }
        }
        table.data {
            thead { tr { th { (lang.t("Hạng mới", "New rank")) } th { (lang.t("Đơn vị", "Unit")) } th { (lang.t("Điểm mới", "New score")) } th { (lang.t("Hạng công bố", "Published rank")) } th { (lang.t("Điểm công bố", "Published score")) } } }
            tbody { @for s in &result {
                @let (r0, s0) = before.get(s.unit.as_str()).copied().unwrap_or((None, None));
                tr class=(if unit.as_deref() == Some(s.unit.as_str()) { "chosen" } else { "" }) {
                    td.num { (s.rank) @if let Some(r0) = r0 { @if r0 != s.rank { " (" (format!("{:+}", r0 as i64 - s.rank as i64)) ")" } } }
                    td { (names.get(s.unit.as_str()).copied().unwrap_or(&s.unit)) }
                    td.num { (fmt_score(&p, Some(s.score))) }
                    td.num { (r0.map(|k| k.to_string()).unwrap_or_else(|| "–".into())) }
                    td.num { (fmt_score(&p, s0)) }
                }
            } }
        }
    };
    Ok(ctx.render(lang.t("Nếu thay đổi", "What if"), body))
}
