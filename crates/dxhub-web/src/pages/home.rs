//! The home page: the provinces of Viet Nam on a chosen date, as a map and a table.

use std::collections::HashMap;

use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use dxhub_core::units::{REORG_2025, UnitLevel};
use dxhub_store::UnitFilter;
use maud::html;

use super::{PageCtx, PageError, map};
use crate::AppState;
use crate::auth::Caller;
use crate::maps::MapVersion;

/// The last day of the 63-province map.
fn last_old_day() -> dxhub_core::Date {
    REORG_2025.yesterday().unwrap_or(REORG_2025)
}

pub async fn page(
    State(state): State<AppState>,
    raw: RawQuery,
    headers: HeaderMap,
    caller: Caller,
) -> Result<Response, PageError> {
    let (ctx, mut params) = PageCtx::new("/", &raw, &headers, caller)?;
    let lang = ctx.lang;
    let err = |e| PageError::new(e, lang);
    let at = params.at().map_err(err)?;
    params.finish(&["at", "lang"]).map_err(err)?;

    let filter = |level| UnitFilter {
        level: Some(level),
        at,
        parent: None,
    };
    let provinces = state
        .store
        .units(&filter(UnitLevel::Province))
        .await
        .map_err(|e| err(e.into()))?;
    let communes = state
        .store
        .units(&filter(UnitLevel::Commune))
        .await
        .map_err(|e| err(e.into()))?;
    let mut per_province: HashMap<&str, usize> = HashMap::new();
    for c in &communes {
        if let Some(p) = c.province.as_deref() {
            *per_province.entry(p).or_default() += 1;
        }
    }
    let version = MapVersion::on(at);
    let maps = state.maps.clone();
    let svg = tokio::task::spawn_blocking(move || map::national(&maps, at, lang))
        .await
        .map_err(|e| err(crate::error::ApiError::NotFound(e.to_string())))?;

    let title = lang.t(
        "Bản đồ hành chính Việt Nam",
        "Administrative map of Viet Nam",
    );
    let body = html! {
        h1 { (title) }
        p.lead {
            (lang.t("Ngày ", "On ")) strong { (lang.date(at)) } ": "
            strong { (provinces.len()) } (lang.t(" tỉnh, thành phố · ", " provinces and cities · "))
            strong { (lang.count(communes.len())) } (lang.t(" xã, phường, đặc khu", " communes, wards and special zones"))
            @if version == MapVersion::Provinces63 { " · " (lang.t("trước sắp xếp 01/07/2025", "before the 1 July 2025 reorganisation")) }
        }
        div.controls {
            nav.toggle aria-label=(lang.t("Chọn bản đồ", "Choose the map")) {
                @let old_href = format!("/?at={}", last_old_day());
                @let new_href = format!("/?at={}", REORG_2025);
                a href=(old_href) aria-current=[(version == MapVersion::Provinces63).then_some("page")] {
                    (lang.t("63 tỉnh (đến 30/06/2025)", "63 provinces (until 30 Jun 2025)"))
                }
                a href=(new_href) aria-current=[(version == MapVersion::Provinces34).then_some("page")] {
                    (lang.t("34 tỉnh (từ 01/07/2025)", "34 provinces (from 1 Jul 2025)"))
                }
            }
            form.date method="get" action="/" {
                label for="at" { (lang.t("Xem ngày", "Show date")) }
                input #at type="date" name="at" value=(at) required;
                button type="submit" { (lang.t("Xem", "Show")) }
            }
        }
        div.mapwrap { (svg) }
        @if at < jiff::civil::date(2025, 3, 1) {
            p.note { (lang.t(
                "Danh mục trước 01/07/2025 là danh mục tại ngày 01/03/2025; các thay đổi địa giới trước đó chưa được ghi nhận.",
                "Units before 1 July 2025 are the list as of 1 March 2025; earlier boundary changes are not recorded."
            )) }
        }
        h2 { (lang.t("Danh sách tỉnh, thành phố", "Provinces and cities")) }
        table.data {
            thead { tr {
                th scope="col" { (lang.t("Mã", "Code")) }
                th scope="col" { (lang.t("Tên", "Name")) }
                th scope="col" { (lang.t("Loại", "Type")) }
                th scope="col" .num { (lang.t("Số xã, phường", "Communes")) }
            } }
            tbody {
                @for p in &provinces {
                    tr {
                        td { (p.code) }
                        td { a href={ "/units/" (p.code) "?at=" (at) } { (p.name) } }
                        td { (p.kind) }
                        td.num { (lang.count(per_province.get(p.code.as_str()).copied().unwrap_or(0))) }
                    }
                }
            }
        }
    };
    Ok(ctx.render(title, body))
}
