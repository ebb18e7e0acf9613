//! The page of one unit version: what it is, where it came from or what it became, its
//! children, and for provinces a small map of the merger.

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use dxhub_core::Date;
use dxhub_core::units::{LineageEntry, LineageKind, Unit, UnitLevel};
use dxhub_store::UnitFilter;
use maud::{Markup, html};

use super::map::{self, Role};
use super::{PageCtx, PageError};
use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::i18n::Lang;
use crate::maps::MapVersion;
use crate::params::path_code;

fn level_name(lang: Lang, l: UnitLevel) -> &'static str {
    match l {
        UnitLevel::Province => lang.t("Tỉnh, thành phố", "Province"),
        UnitLevel::District => lang.t("Quận, huyện", "District"),
        UnitLevel::Commune => lang.t("Xã, phường", "Commune"),
        UnitLevel::Ministry => lang.t("Bộ, cơ quan ngang bộ", "Ministry"),
    }
}

/// A day on which `u` is valid, for links that should land on that version.
fn a_day_of(u: &Unit) -> Date {
    u.valid_to
        .or(u.valid_from)
        .unwrap_or_else(dxhub_core::date::today_in_vietnam)
}

fn validity(lang: Lang, u: &Unit) -> String {
    match (u.valid_from, u.valid_to) {
        (None, None) => lang.t("đang hiệu lực", "in force").to_owned(),
        (None, Some(to)) => format!("{} {}", lang.t("đến", "until"), lang.date(to)),
        (Some(from), None) => format!("{} {}", lang.t("từ", "from"), lang.date(from)),
        (Some(from), Some(to)) => format!("{} – {}", lang.date(from), lang.date(to)),
    }
}

fn unit_link(u: &Unit) -> Markup {
    html! { a href={ "/units/" (u.code) "?at=" (a_day_of(u)) } { (u.name) } }
}

fn lineage_table(lang: Lang, entries: &[LineageEntry]) -> Markup {
    html! {
        table.data {
            thead { tr {
                th scope="col" { (lang.t("Mã", "Code")) }
                th scope="col" { (lang.t("Tên", "Name")) }
                th scope="col" { (lang.t("Hiệu lực", "Valid")) }
                th scope="col" { (lang.t("Sáp nhập", "Merge")) }
            } }
            tbody {
                @for e in entries {
                    tr {
                        td { (e.unit.code) }
                        td { (unit_link(&e.unit)) }
                        td { (validity(lang, &e.unit)) }
                        td { @match e.kind {
                            LineageKind::Full => (lang.t("toàn bộ", "whole")),
                            LineageKind::Partial => span.partial { (lang.t("một phần", "part")) },
                        } }
                    }
                }
            }
        }
    }
}

pub async fn page(
    State(state): State<AppState>,
    Path(code): Path<String>,
    raw: RawQuery,
    headers: HeaderMap,
    caller: Caller,
) -> Result<Response, PageError> {
    let (ctx, mut params) = PageCtx::new(&format!("/units/{code}"), &raw, &headers, caller)?;
    let lang = ctx.lang;
    let err = |e: ApiError| PageError::new(e, lang);
    let code = path_code(&code).map_err(err)?;
    let at = params.at().map_err(err)?;
    params.finish(&["at", "lang"]).map_err(err)?;
    let store = &state.store;
    let versions = store
        .unit_versions(code.as_str(), Some(code.level()))
        .await
        .map_err(|e| err(e.into()))?;
    let Some(unit) = versions.iter().find(|u| u.valid_on(at)).cloned() else {
        if versions.is_empty() {
            return Err(err(ApiError::NotFound(format!(
                "{} {code}",
                lang.t("Không có đơn vị nào mang mã", "There is no unit with code")
            ))));
        }
        let title = format!("{} {code}", lang.t("Mã", "Code"));
        let body = html! {
            h1 { (title) }
            p.error role="alert" { (lang.t("Mã này không có hiệu lực vào ngày ", "This code is not in force on ")) (lang.date(at)) "." }
            h2 { (lang.t("Các đơn vị từng mang mã này", "Units that have carried this code")) }
            ul { @for v in &versions { li { (unit_link(v)) " (" (validity(lang, v)) ")" } } }
        };
        let mut resp = ctx.render(&title, body);
        *resp.status_mut() = StatusCode::NOT_FOUND;
        return Ok(resp);
    };

    let parent = match &unit.parent {
        Some(p) => store
            .unit_at(p, None, at)
            .await
            .map_err(|e| err(e.into()))?,
        None => None,
    };
    let below = store
        .units(&UnitFilter {
            level: None,
            at,
            parent: Some(unit.code.clone()),
        })
        .await
        .map_err(|e| err(e.into()))?;
    let districts: Vec<&Unit> = below
        .iter()
        .filter(|u| u.level == UnitLevel::District)
        .collect();
    let communes: Vec<&Unit> = below
        .iter()
        .filter(|u| u.level == UnitLevel::Commune)
        .collect();
    let lineage = store
        .lineage(&unit.key())
        .await
        .map_err(|e| err(e.into()))?;

    // The merger map: for a new province its predecessors on the old map; for an old one,
    // itself and the provinces it merged with.
    let minimap = if unit.level == UnitLevel::Province {
        if !lineage.predecessors.is_empty() && MapVersion::on(at) == MapVersion::Provinces34 {
            let hl: Vec<(String, Role)> = lineage
                .predecessors
                .iter()
                .filter(|e| e.unit.level == UnitLevel::Province)
                .map(|e| (e.unit.code.clone(), Role::Related))
                .collect();
            let caption = format!(
                "{} {}",
                lang.t("Các tỉnh hợp thành", "The provinces merged into"),
                unit.name
            );
            let day = lineage
                .predecessors
                .first()
                .map(|e| a_day_of(&e.unit))
                .unwrap_or(at);
            Some(map::focused(
                &state.maps,
                MapVersion::Provinces63,
                &hl,
                day,
                &caption,
            ))
        } else if let Some(succ) = lineage.successors.first() {
            let siblings = store
                .lineage(&succ.unit.key())
                .await
                .map_err(|e| err(e.into()))?;
            let hl: Vec<(String, Role)> = siblings
                .predecessors
                .iter()
                .filter(|e| e.unit.level == UnitLevel::Province)
                .map(|e| {
                    let role = if e.unit.code == unit.code {
                        Role::Subject
                    } else {
                        Role::Related
                    };
                    (e.unit.code.clone(), role)
                })
                .collect();
            let caption = format!(
                "{} {} {}",
                unit.name,
                lang.t(
                    "và các tỉnh cùng hợp thành",
                    "and the provinces that merged with it into"
                ),
                succ.unit.name
            );
            Some(map::focused(
                &state.maps,
                MapVersion::Provinces63,
                &hl,
                at,
                &caption,
            ))
        } else {
            None
        }
    } else {
        None
    };

    let other_versions: Vec<&Unit> = versions.iter().filter(|v| **v != unit).collect();
    let body = html! {
        p.crumbs {
            a href={ "/?at=" (at) } { (lang.t("Bản đồ", "Map")) }
            @if let Some(p) = &parent { " › " (unit_link(p)) }
        }
        h1 { (unit.name) }
        dl.facts {
            dt { (lang.t("Mã", "Code")) } dd { (unit.code) }
            dt { (lang.t("Cấp", "Level")) } dd { (level_name(lang, unit.level)) " · " (unit.kind) }
            dt { (lang.t("Hiệu lực", "Valid")) } dd { (validity(lang, &unit)) }
            @if let Some(p) = &parent { dt { (lang.t("Trực thuộc", "Part of")) } dd { (unit_link(p)) } }
            @if !other_versions.is_empty() {
                dt { (lang.t("Mã này còn dùng cho", "This code also names")) }
                dd { @for (i, v) in other_versions.iter().enumerate() {
                    @if i > 0 { ", " } (unit_link(v)) " (" (validity(lang, v)) ")"
                } }
            }
        }
        div.split {
            div {
                @if !lineage.predecessors.is_empty() {
                    h2 { (lang.t("Hình thành từ", "Formed from")) }
                    (lineage_table(lang, &lineage.predecessors))
                }
                @if !lineage.successors.is_empty() {
                    h2 { (lang.t("Sau sắp xếp trở thành", "After reorganisation became")) }
                    (lineage_table(lang, &lineage.successors))
                }
                @if lineage.predecessors.is_empty() && lineage.successors.is_empty() {
                    p.note { (lang.t("Không có thay đổi nào được ghi nhận cho đơn vị này.", "No reorganisation is recorded for this unit.")) }
                }
            }
            @if let Some(m) = minimap { div { (m) } }
        }
        @if !districts.is_empty() {
            h2 { (lang.t("Quận, huyện", "Districts")) " (" (districts.len()) ")" }
            @for d in &districts {
                @let in_d: Vec<&&Unit> = communes.iter().filter(|c| c.parent.as_deref() == Some(d.code.as_str())).collect();
                details {
                    summary { (d.name) " · " (in_d.len()) " " (lang.t("xã, phường", "communes")) }
                    ul.cols { @for c in in_d { li { (unit_link(c)) } } }
                }
            }
        } @else if !communes.is_empty() {
            h2 { (lang.t("Xã, phường, đặc khu", "Communes, wards and special zones")) " (" (communes.len()) ")" }
            table.data {
                thead { tr {
                    th scope="col" { (lang.t("Mã", "Code")) }
                    th scope="col" { (lang.t("Tên", "Name")) }
                    th scope="col" { (lang.t("Loại", "Type")) }
                } }
                tbody { @for c in &communes { tr { td { (c.code) } td { (unit_link(c)) } td { (c.kind) } } } }
            }
        }
        p.api { (lang.t("Dữ liệu dạng JSON: ", "As JSON: "))
            a href={ "/api/v1/units/" (unit.code) "?at=" (at) } { "/api/v1/units/" (unit.code) }
            " · "
            a href={ "/api/v1/units/" (unit.code) "/lineage?at=" (at) } { "lineage" }
        }
    };
    Ok(ctx.render(&unit.name, body))
}
