//! The methodologies dxhub ships, as data: their structure (groups, indicators with points
//! and formulas, data elements and where their values come from) and the file itself.
//! Readable by reviewers and administrators.

use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use dxhub_core::auth::Action;
use dxhub_index::{Definition, Source};
use maud::html;

use super::{PageCtx, PageError};
use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::reports::kind_label;

/// `GET /admin/methodologies`.
pub async fn list(
    State(_state): State<AppState>,
    raw: RawQuery,
    headers: HeaderMap,
    caller: Caller,
) -> Result<Response, PageError> {
    let (ctx, params) = PageCtx::new("/admin/methodologies", &raw, &headers, caller)?;
    params.finish(&["lang"]).map_err(|e| ctx.err(e))?;
    ctx.require(&Action::ReadMethodologies)?;
    let lang = ctx.lang;
    let body = html! {
        h1 { (lang.t("Bộ chỉ số", "Methodologies")) }
        p { (lang.t("Mỗi bộ chỉ số là một tệp dữ liệu có phiên bản; một ấn bản đã công bố giữ bản sao của tệp nó dùng.",
                    "Each methodology is a versioned data file; a published edition keeps a copy of the file it used.")) }
        table.data {
            thead { tr { th { "id" } th { (lang.t("Phiên bản", "Version")) } th { (lang.t("Tên", "Name")) } th { (lang.t("Căn cứ", "Legal basis")) } th { (lang.t("Điểm tối đa", "Total points")) } } }
            tbody { @for m in dxhub_index::shipped() { tr {
                td { a href={ "/admin/methodologies/" (m.id) } { code { (m.id) } } }
                td.num { (m.version) } td { (lang.t(&m.name_vi, &m.name_en)) } td { (m.legal_basis) } td.num { (m.scale.total_points) }
            } } }
        }
    };
    Ok(ctx.render(lang.t("Bộ chỉ số", "Methodologies"), body))
}

/// `GET /admin/methodologies/{id}`.
pub async fn show(
    State(_state): State<AppState>,
    Path(id): Path<String>,
    raw: RawQuery,
    headers: HeaderMap,
    caller: Caller,
) -> Result<Response, PageError> {
    let (ctx, params) = PageCtx::new(
        &format!("/admin/methodologies/{id}"),
        &raw,
        &headers,
        caller,
    )?;
    params.finish(&["lang"]).map_err(|e| ctx.err(e))?;
    ctx.require(&Action::ReadMethodologies)?;
    let lang = ctx.lang;
    let m = dxhub_index::shipped_by_id(&id).ok_or_else(|| {
        ctx.err(ApiError::NotFound(format!(
            "there is no methodology '{id}'"
        )))
    })?;
    let body = html! {
        p.crumbs { a href="/admin/methodologies" { (lang.t("Bộ chỉ số", "Methodologies")) } }
        h1 { (lang.t(&m.name_vi, &m.name_en)) }
        dl.facts {
            dt { "id" } dd { code { (m.id) } }
            dt { (lang.t("Phiên bản", "Version")) } dd { (m.version) }
            dt { (lang.t("Căn cứ", "Legal basis")) } dd { (m.legal_basis) }
            dt { (lang.t("Thang điểm", "Scale")) } dd { (m.scale.total_points) }
        }
        @if !m.notes.is_empty() { ul { @for n in &m.notes { li { (n) } } } }
        h2 { (lang.t("Chỉ số", "Indicators")) }
        table.data {
            thead { tr { th { (lang.t("Mã", "Code")) } th { (lang.t("Tên", "Name")) } th { (lang.t("Nhóm", "Group")) } th { (lang.t("Điểm", "Points")) } th { (lang.t("Cách tính", "Definition")) } } }
            tbody { @for i in &m.indicators { tr {
                td { code { (i.code) } @if i.main { " ★" } }
                td { (lang.t(&i.name_vi, &i.name_en)) @if let Some(n) = &i.note { br; small { (n) } } }
                td { (i.group.as_deref().unwrap_or("")) }
                td.num { (i.points) }
                td { @match &i.definition { Definition::Entered => { (lang.t("nhập trực tiếp", "entered directly")) }, Definition::Formula { text, .. } => { code { (text) } } } }
            } } }
        }
        h2 { (lang.t("Dữ liệu đầu vào", "Data elements")) }
        table.data {
            thead { tr { th { (lang.t("Mã", "Code")) } th { (lang.t("Tên", "Name")) } th { (lang.t("Loại", "Kind")) } th { (lang.t("Nguồn", "Source")) } } }
            tbody { @for e in &m.elements { @let (kvi, ken) = kind_label(e.kind); tr {
                td { code { (e.code) } } td { (lang.t(&e.name_vi, &e.name_en)) } td { (lang.t(kvi, ken)) }
                td { @match e.source { Source::Reported => { (lang.t("báo cáo, kèm minh chứng", "reported, with evidence")) }, Source::Measured(x) => { (lang.t("đo tự động: ", "measured: ")) code { (x.as_str()) } } } }
            } } }
        }
        h2 { (lang.t("Tệp", "The file")) }
        pre.file { (m.text) }
    };
    Ok(ctx.render(&m.id, body))
}
