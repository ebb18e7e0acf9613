//! A unit's workspace for the people responsible for it: the contact of its
//! digital-transformation office, viewable by its officers, reviewers and admins, editable
//! by its officers and admins. Province scopes follow the 2025 lineage.

use axum::Form;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use dxhub_core::accounts::UnitContact;
use dxhub_core::auth::{Action, Decision, authorize};
use dxhub_core::units::{Unit, UnitLevel};
use maud::{Markup, html};

use super::{PageCtx, PageError};
use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::params::path_code;

/// The version of `code` in force today, or its latest version if none is.
async fn current_unit(state: &AppState, ctx: &PageCtx, code: &str) -> Result<Unit, PageError> {
    let code = path_code(code).map_err(|e| ctx.err(e))?;
    let versions = state
        .store
        .unit_versions(code.as_str(), Some(code.level()))
        .await
        .map_err(|e| ctx.err(e))?;
    let today = dxhub_core::date::today_in_vietnam();
    versions
        .iter()
        .find(|u| u.valid_on(today))
        .or(versions.last())
        .cloned()
        .ok_or_else(|| {
            ctx.err(ApiError::NotFound(format!(
                "there is no unit with code {code}"
            )))
        })
}

fn owner(u: &Unit) -> &str {
    match u.level {
        UnitLevel::Ministry => &u.code,
        _ => u.province.as_deref().unwrap_or(&u.code),
    }
}

fn body(
    ctx: &PageCtx,
    unit: &Unit,
    contact: &UnitContact,
    can_edit: bool,
    message: Option<(&str, bool)>,
) -> Markup {
    let lang = ctx.lang;
    html! {
        p.crumbs { a href={ "/units/" (unit.code) } { (unit.name) } }
        h1 { (lang.t("Đơn vị: ", "Unit: ")) (unit.name) }
        @if let Some((m, ok)) = message { p class=(if ok { "notice" } else { "error" }) role="status" { (m) } }
        h2 { (lang.t("Đầu mối chuyển đổi số", "Digital-transformation contact")) }
        @if can_edit {
            form.stack method="post" action={ "/manage/units/" (unit.code) "/contact" } {
                input type="hidden" name="csrf" value=(ctx.csrf());
                label for="office" { (lang.t("Cơ quan", "Office")) } input #office type="text" name="office" value=(contact.office) maxlength="200";
                label for="person" { (lang.t("Người phụ trách", "Person in charge")) } input #person type="text" name="person" value=(contact.person) maxlength="120";
                label for="cemail" { "E-mail" } input #cemail type="email" name="email" value=(contact.email) maxlength="254";
                label for="phone" { (lang.t("Điện thoại", "Telephone")) } input #phone type="tel" name="phone" value=(contact.phone) maxlength="32";
                button type="submit" { (lang.t("Lưu", "Save")) }
            }
        } @else {
            dl.facts {
                dt { (lang.t("Cơ quan", "Office")) } dd { (contact.office) }
                dt { (lang.t("Người phụ trách", "Person in charge")) } dd { (contact.person) }
                dt { "E-mail" } dd { (contact.email) }
                dt { (lang.t("Điện thoại", "Telephone")) } dd { (contact.phone) }
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
    let (ctx, params) = PageCtx::new(&format!("/manage/units/{code}"), &raw, &headers, caller)?;
    params.finish(&["lang"]).map_err(|e| ctx.err(e))?;
    let unit = current_unit(&state, &ctx, &code).await?;
    ctx.require(&Action::ViewUnitWorkspace {
        level: unit.level,
        province_or_ministry: owner(&unit),
    })?;
    let can_edit = authorize(
        &ctx.caller.principal,
        &Action::EditUnitContact {
            level: unit.level,
            province_or_ministry: owner(&unit),
        },
    ) == Decision::Allow;
    let contact = state
        .store
        .unit_contact(&unit.key())
        .await
        .map_err(|e| ctx.err(e))?
        .unwrap_or_default();
    Ok(ctx.render(&unit.name, body(&ctx, &unit, &contact, can_edit, None)))
}

/// Checks the contact fields: lengths, printable text, an e-mail shape and a phone number.
pub fn validate_contact(f: &[(String, String)]) -> Result<UnitContact, ApiError> {
    let get = |k: &str| {
        f.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.trim().to_owned())
            .unwrap_or_default()
    };
    let c = UnitContact {
        office: get("office"),
        person: get("person"),
        email: get("email"),
        phone: get("phone"),
    };
    for (name, value, max) in [
        ("office", &c.office, 200),
        ("person", &c.person, 120),
        ("email", &c.email, 254),
        ("phone", &c.phone, 32),
    ] {
        if value.chars().count() > max || value.chars().any(char::is_control) {
            return Err(ApiError::Invalid {
                field: name.into(),
                reason: format!("at most {max} printable characters"),
            });
        }
    }
    if !c.email.is_empty() && !dxhub_core::accounts::looks_like_email(&c.email) {
        return Err(ApiError::Invalid {
            field: "email".into(),
            reason: format!("'{}' is not an e-mail address", c.email),
        });
    }
    if !c
        .phone
        .chars()
        .all(|ch| ch.is_ascii_digit() || " +().-".contains(ch))
    {
        return Err(ApiError::Invalid {
            field: "phone".into(),
            reason: "use digits, spaces and + ( ) . - only".into(),
        });
    }
    Ok(c)
}

pub async fn save_contact(
    State(state): State<AppState>,
    Path(code): Path<String>,
    headers: HeaderMap,
    caller: Caller,
    Form(f): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let ctx = PageCtx::for_form(&format!("/manage/units/{code}"), &headers, caller);
    let unit = current_unit(&state, &ctx, &code).await?;
    ctx.require(&Action::EditUnitContact {
        level: unit.level,
        province_or_ministry: owner(&unit),
    })?;
    let csrf = f.iter().find(|(k, _)| k == "csrf").map(|(_, v)| v.as_str());
    ctx.caller.check_csrf(csrf).map_err(|e| ctx.err(e))?;
    let lang = ctx.lang;
    let old = state
        .store
        .unit_contact(&unit.key())
        .await
        .map_err(|e| ctx.err(e))?;
    let contact = match validate_contact(&f) {
        Ok(c) => c,
        Err(e) => {
            let msg = e.to_string();
            let shown = UnitContact {
                ..old.clone().unwrap_or_default()
            };
            let mut r = ctx.render(
                &unit.name,
                body(&ctx, &unit, &shown, true, Some((&msg, false))),
            );
            *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            return Ok(r);
        }
    };
    let json = |c: &UnitContact| serde_json::to_string(c).unwrap_or_default();
    let audit = ctx
        .caller
        .change(
            "unit_contact.update",
            format!(
                "unit_contact:{}/{}@{}",
                unit.level,
                unit.code,
                unit.key().valid_from
            ),
        )
        .with(old.as_ref().map(json), Some(json(&contact)));
    state
        .store
        .set_unit_contact(&unit.key(), &contact, audit)
        .await
        .map_err(|e| ctx.err(e))?;
    Ok(ctx.render(
        &unit.name,
        body(
            &ctx,
            &unit,
            &contact,
            true,
            Some((lang.t("Đã lưu.", "Saved."), true)),
        ),
    ))
}
