//! Administration pages: accounts (create, reset password), API keys (create, revoke) and
//! the audit trail (filter, CSV export). Access is decided by `authorize`; every change is
//! audited by the store in the same transaction.

use std::collections::BTreeSet;

use axum::Form;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use dxhub_core::accounts::{ApiKey, NewApiKey, NewUser, User};
use dxhub_core::auth::{Action, Capability, Role, Scope};
use dxhub_core::units::UnitLevel;
use dxhub_store::AuditFilter;
use maud::{Markup, html};

use super::{PageCtx, PageError, scope_label};
use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::security::{format_api_key, hash_password, new_api_key_secret, random_password};

/// Form fields in order, repeated names kept (check boxes).
type Fields = Vec<(String, String)>;

fn field<'a>(f: &'a Fields, name: &str) -> &'a str {
    f.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.trim())
        .unwrap_or("")
}

fn all<'a>(f: &'a Fields, name: &str) -> impl Iterator<Item = &'a str> {
    f.iter()
        .filter(move |(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// A message shown once above a list (a created key or password, or what was wrong).
enum Flash {
    None,
    Secret { label: String, value: String },
    Error(String),
}

fn flash_markup(ctx: &PageCtx, flash: &Flash) -> Markup {
    html! {
        @match flash {
            Flash::None => {},
            Flash::Secret { label, value } => div.notice role="status" {
                p { (label) } p { code.secret { (value) } }
                p.note { (ctx.lang.t("Chỉ hiển thị một lần: hãy sao chép ngay.", "Shown only once: copy it now.")) }
            },
            Flash::Error(e) => p.error role="alert" { (e) },
        }
    }
}

fn users_body(ctx: &PageCtx, users: &[User], flash: &Flash) -> Markup {
    let lang = ctx.lang;
    html! {
        h1 { (lang.t("Tài khoản", "Accounts")) }
        (flash_markup(ctx, flash))
        table.data {
            thead { tr {
                th scope="col" { "E-mail" } th scope="col" { (lang.t("Tên", "Name")) }
                th scope="col" { (lang.t("Vai trò", "Role")) } th scope="col" { (lang.t("Phạm vi", "Scope")) }
                th scope="col" { (lang.t("Tạo lúc", "Created")) } th scope="col" { (lang.t("Mật khẩu", "Password")) }
            } }
            tbody { @for u in users { tr {
                td { (u.email) } td { (u.display_name) }
                td { (lang.t(u.role.label().0, u.role.label().1)) }
                td { (scope_label(&u.scope)) }
                td { (u.created_at.get(..16).unwrap_or(&u.created_at)) }
                td { form method="post" action={ "/admin/users/" (u.id) "/password" } {
                    input type="hidden" name="csrf" value=(ctx.csrf());
                    button.small type="submit" { (lang.t("Đặt lại", "Reset")) }
                } }
            } } }
        }
        h2 { (lang.t("Tạo tài khoản", "Create an account")) }
        form.stack method="post" action="/admin/users" {
            input type="hidden" name="csrf" value=(ctx.csrf());
            label for="email" { "E-mail" } input #email type="email" name="email" required;
            label for="name" { (lang.t("Họ tên", "Name")) } input #name type="text" name="name" required maxlength="120";
            label for="role" { (lang.t("Vai trò", "Role")) }
            select #role name="role" { @for r in Role::ALL { option value=(r.as_str()) { (lang.t(r.label().0, r.label().1)) } } }
            label for="scope" { (lang.t("Phạm vi (mã tỉnh, mã bộ hoặc mã tổ; để trống nếu toàn quốc)", "Scope (province, ministry or team code; empty for national)")) }
            input #scope type="text" name="scope" maxlength="64";
            label for="password" { (lang.t("Mật khẩu (để trống để tạo ngẫu nhiên)", "Password (empty to generate one)")) }
            input #password type="password" name="password" autocomplete="new-password";
            button type="submit" { (lang.t("Tạo", "Create")) }
        }
    }
}

async fn render_users(
    state: &AppState,
    ctx: &PageCtx,
    flash: Flash,
    status: StatusCode,
) -> Result<Response, PageError> {
    let users = state.store.users().await.map_err(|e| ctx.err(e))?;
    let mut r = ctx.render(
        ctx.lang.t("Tài khoản", "Accounts"),
        users_body(ctx, &users, &flash),
    );
    *r.status_mut() = status;
    Ok(r)
}

pub async fn users_page(
    State(state): State<AppState>,
    raw: RawQuery,
    headers: HeaderMap,
    caller: Caller,
) -> Result<Response, PageError> {
    let (ctx, params) = PageCtx::new("/admin/users", &raw, &headers, caller)?;
    params.finish(&["lang"]).map_err(|e| ctx.err(e))?;
    ctx.require(&Action::ManageUsers)?;
    render_users(&state, &ctx, Flash::None, StatusCode::OK).await
}

/// Checks that a scope names a unit that exists (in some version).
async fn check_scope_unit(state: &AppState, scope: &Scope) -> Result<(), String> {
    let (code, level) = match scope {
        Scope::Province(c) => (c, UnitLevel::Province),
        Scope::Ministry(c) => (c, UnitLevel::Ministry),
        _ => return Ok(()),
    };
    match state.store.unit_versions(code, Some(level)).await {
        Ok(v) if !v.is_empty() => Ok(()),
        Ok(_) => Err(format!("scope: there is no {level} with code {code}")),
        Err(e) => Err(e.to_string()),
    }
}

pub async fn create_user(
    State(state): State<AppState>,
    headers: HeaderMap,
    caller: Caller,
    Form(f): Form<Fields>,
) -> Result<Response, PageError> {
    let ctx = PageCtx::for_form("/admin/users", &headers, caller);
    ctx.require(&Action::ManageUsers)?;
    ctx.caller
        .check_csrf(Some(field(&f, "csrf")))
        .map_err(|e| ctx.err(e))?;
    let bad = |msg: String| Flash::Error(msg);
    let email = field(&f, "email").to_lowercase();
    let name = field(&f, "name").to_owned();
    if !(email.len() <= 254 && dxhub_core::accounts::looks_like_email(&email)) {
        return render_users(
            &state,
            &ctx,
            bad(format!("e-mail: '{email}' is not an e-mail address")),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    if name.is_empty() || name.chars().count() > 120 || name.chars().any(char::is_control) {
        return render_users(
            &state,
            &ctx,
            bad("name: give 1 to 120 printable characters".into()),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    let role = match field(&f, "role").parse::<Role>() {
        Ok(r) => r,
        Err(e) => {
            return render_users(
                &state,
                &ctx,
                bad(format!("role: {e}")),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        }
    };
    let scope_in = field(&f, "scope");
    let scope = match Scope::for_role(role, (!scope_in.is_empty()).then_some(scope_in)) {
        Ok(s) => s,
        Err(e) => {
            return render_users(
                &state,
                &ctx,
                bad(format!("scope: {e}")),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        }
    };
    if let Err(e) = check_scope_unit(&state, &scope).await {
        return render_users(&state, &ctx, bad(e), StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    let given = field(&f, "password").to_owned();
    let password = if given.is_empty() {
        random_password()
    } else {
        given.clone()
    };
    let pw = password.clone();
    let hash = match tokio::task::spawn_blocking(move || hash_password(&pw)).await {
        Ok(Ok(h)) => h,
        Ok(Err(e)) => {
            return render_users(
                &state,
                &ctx,
                bad(format!("password: {e}")),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        }
        Err(e) => return Err(ctx.err(ApiError::Forbidden(e.to_string()))),
    };
    let new = NewUser {
        email: email.clone(),
        display_name: name,
        role,
        scope,
        password_hash: Some(hash),
    };
    let audit_new = serde_json::json!({"email": new.email, "display_name": new.display_name, "role": role.as_str(), "scope": new.scope.to_text()});
    let audit = ctx
        .caller
        .change("user.create", format!("user:{email}"))
        .with(None, Some(audit_new.to_string()));
    match state.store.create_user(&new, audit).await {
        Ok(_) => {
            let flash = if given.is_empty() {
                Flash::Secret {
                    label: format!("{} {email}:", ctx.lang.t("Mật khẩu của", "Password of")),
                    value: password,
                }
            } else {
                Flash::Secret {
                    label: ctx.lang.t("Đã tạo tài khoản", "Account created").to_owned(),
                    value: email,
                }
            };
            render_users(&state, &ctx, flash, StatusCode::CREATED).await
        }
        Err(dxhub_store::StoreError::Conflict(m)) => {
            render_users(&state, &ctx, bad(m), StatusCode::CONFLICT).await
        }
        Err(e) => Err(ctx.err(e)),
    }
}

pub async fn reset_password(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    headers: HeaderMap,
    caller: Caller,
    Form(f): Form<Fields>,
) -> Result<Response, PageError> {
    let ctx = PageCtx::for_form("/admin/users", &headers, caller);
    ctx.require(&Action::ManageUsers)?;
    ctx.caller
        .check_csrf(Some(field(&f, "csrf")))
        .map_err(|e| ctx.err(e))?;
    let user = state
        .store
        .user(id)
        .await
        .map_err(|e| ctx.err(e))?
        .ok_or_else(|| ctx.err(ApiError::NotFound(format!("there is no account {id}"))))?;
    let password = random_password();
    let pw = password.clone();
    let hash = tokio::task::spawn_blocking(move || hash_password(&pw))
        .await
        .map_err(|e| ctx.err(ApiError::Forbidden(e.to_string())))?
        .map_err(|e| {
            ctx.err(ApiError::Invalid {
                field: "password".into(),
                reason: e,
            })
        })?;
    let audit = ctx
        .caller
        .change("user.password_reset", format!("user:{id}"));
    state
        .store
        .set_password(id, &hash, audit)
        .await
        .map_err(|e| ctx.err(e))?;
    let flash = Flash::Secret {
        label: format!(
            "{} {}:",
            ctx.lang.t("Mật khẩu mới của", "New password of"),
            user.email
        ),
        value: password,
    };
    render_users(&state, &ctx, flash, StatusCode::OK).await
}

fn keys_body(ctx: &PageCtx, keys: &[ApiKey], flash: &Flash) -> Markup {
    let lang = ctx.lang;
    html! {
        h1 { (lang.t("Khóa API", "API keys")) }
        (flash_markup(ctx, flash))
        table.data {
            thead { tr {
                th scope="col" { "ID" } th scope="col" { (lang.t("Tên", "Name")) }
                th scope="col" { (lang.t("Nguồn", "Sources")) } th scope="col" { (lang.t("Quyền", "Can")) }
                th scope="col" { (lang.t("Dùng lần cuối", "Last used")) } th scope="col" { (lang.t("Trạng thái", "State")) }
            } }
            tbody { @for k in keys { tr {
                td { (k.id) } td { (k.name) }
                td { (k.sources.iter().cloned().collect::<Vec<_>>().join(", ")) }
                td { (k.capabilities.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(", ")) }
                td { (k.last_used_at.as_deref().map(|t| t.get(..16).unwrap_or(t)).unwrap_or("—")) }
                td { @if let Some(r) = &k.revoked_at { (lang.t("đã thu hồi ", "revoked ")) (r.get(..10).unwrap_or(r)) } @else {
                    form method="post" action={ "/admin/keys/" (k.id) "/revoke" } {
                        input type="hidden" name="csrf" value=(ctx.csrf());
                        button.small type="submit" { (lang.t("Thu hồi", "Revoke")) }
                    }
                } }
            } } }
        }
        h2 { (lang.t("Tạo khóa", "Create a key")) }
        form.stack method="post" action="/admin/keys" {
            input type="hidden" name="csrf" value=(ctx.csrf());
            label for="kname" { (lang.t("Tên hệ thống", "System name")) } input #kname type="text" name="name" required maxlength="80";
            label for="sources" { (lang.t("Giá trị source được gửi (cách nhau bằng dấu phẩy)", "source values it may send (comma-separated)")) }
            input #sources type="text" name="sources" required;
            fieldset { legend { (lang.t("Quyền", "Capabilities")) }
                @for c in Capability::ALL { label.check { input type="checkbox" name="can" value=(c.as_str()); " " (c.as_str()) } }
            }
            button type="submit" { (lang.t("Tạo khóa", "Create key")) }
        }
    }
}

async fn render_keys(
    state: &AppState,
    ctx: &PageCtx,
    flash: Flash,
    status: StatusCode,
) -> Result<Response, PageError> {
    let keys = state.store.keys().await.map_err(|e| ctx.err(e))?;
    let mut r = ctx.render(
        ctx.lang.t("Khóa API", "API keys"),
        keys_body(ctx, &keys, &flash),
    );
    *r.status_mut() = status;
    Ok(r)
}

pub async fn keys_page(
    State(state): State<AppState>,
    raw: RawQuery,
    headers: HeaderMap,
    caller: Caller,
) -> Result<Response, PageError> {
    let (ctx, params) = PageCtx::new("/admin/keys", &raw, &headers, caller)?;
    params.finish(&["lang"]).map_err(|e| ctx.err(e))?;
    ctx.require(&Action::ManageKeys)?;
    render_keys(&state, &ctx, Flash::None, StatusCode::OK).await
}

/// Checks a key's name, sources and capabilities; the same rules as `dxhub key create`.
pub fn validate_key(name: &str, sources: &str, caps: &[&str]) -> Result<NewApiKey, String> {
    if name.is_empty() || name.chars().count() > 80 || name.chars().any(char::is_control) {
        return Err("name: give 1 to 80 printable characters".to_owned());
    }
    let sources: BTreeSet<String> = sources
        .split([',', ' '])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if sources.is_empty() {
        return Err("sources: give at least one source value".to_owned());
    }
    if let Some(bad) = sources
        .iter()
        .find(|s| s.len() > 32 || s.chars().any(char::is_control))
    {
        return Err(format!(
            "sources: '{bad}' is not a source value (1–32 characters, no control characters)"
        ));
    }
    let capabilities = caps
        .iter()
        .map(|c| c.parse::<Capability>())
        .collect::<Result<BTreeSet<_>, _>>()
        .map_err(|e| format!("can: {e}"))?;
    if capabilities.is_empty() {
        return Err("can: choose at least one capability".to_owned());
    }
    Ok(NewApiKey {
        name: name.to_owned(),
        sources,
        capabilities,
        secret_hash: String::new(),
    })
}

pub async fn create_key(
    State(state): State<AppState>,
    headers: HeaderMap,
    caller: Caller,
    Form(f): Form<Fields>,
) -> Result<Response, PageError> {
    let ctx = PageCtx::for_form("/admin/keys", &headers, caller);
    ctx.require(&Action::ManageKeys)?;
    ctx.caller
        .check_csrf(Some(field(&f, "csrf")))
        .map_err(|e| ctx.err(e))?;
    let caps: Vec<&str> = all(&f, "can").collect();
    let mut new = match validate_key(field(&f, "name"), field(&f, "sources"), &caps) {
        Ok(k) => k,
        Err(e) => {
            return render_keys(
                &state,
                &ctx,
                Flash::Error(e),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        }
    };
    let (secret, hash) = new_api_key_secret();
    new.secret_hash = hash;
    let desc = serde_json::json!({"name": new.name, "sources": new.sources, "capabilities": new.capabilities.iter().map(|c| c.as_str()).collect::<Vec<_>>()});
    let audit = ctx
        .caller
        .change("key.create", format!("key:{}", new.name))
        .with(None, Some(desc.to_string()));
    let key = state
        .store
        .create_key(&new, audit)
        .await
        .map_err(|e| ctx.err(e))?;
    let flash = Flash::Secret {
        label: format!("{} {}:", ctx.lang.t("Khóa của", "Key of"), key.name),
        value: format_api_key(key.id, &secret),
    };
    render_keys(&state, &ctx, flash, StatusCode::CREATED).await
}

pub async fn revoke_key(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    headers: HeaderMap,
    caller: Caller,
    Form(f): Form<Fields>,
) -> Result<Response, PageError> {
    let ctx = PageCtx::for_form("/admin/keys", &headers, caller);
    ctx.require(&Action::ManageKeys)?;
    ctx.caller
        .check_csrf(Some(field(&f, "csrf")))
        .map_err(|e| ctx.err(e))?;
    let audit = ctx.caller.change("key.revoke", format!("key:{id}"));
    state
        .store
        .revoke_key(id, audit)
        .await
        .map_err(|e| ctx.err(e))?;
    render_keys(&state, &ctx, Flash::None, StatusCode::OK).await
}

/// Reads the audit filters from the query.
fn audit_filter(
    ctx: &PageCtx,
    params: &mut crate::params::Params,
) -> Result<AuditFilter, PageError> {
    let mut take = |k: &str| {
        params
            .take(k)
            .map(|v| v.filter(|s| !s.trim().is_empty()))
            .map_err(|e| ctx.err(e))
    };
    let actor = take("actor")?;
    let action = take("action")?;
    let object = take("object")?;
    let day = |v: Option<String>, name: &str| -> Result<Option<String>, PageError> {
        v.map(|s| {
            dxhub_core::date::parse_date(&s)
                .map(|d| format!("{d}T00:00:00.000000Z"))
                .map_err(|e| ctx.err(ApiError::bad(name, e.to_string())))
        })
        .transpose()
    };
    let since = day(take("since")?, "since")?;
    let until = day(take("until")?, "until")?;
    Ok(AuditFilter {
        actor,
        action,
        object,
        since,
        until,
        limit: None,
    })
}

pub async fn audit_page(
    State(state): State<AppState>,
    raw: RawQuery,
    headers: HeaderMap,
    caller: Caller,
) -> Result<Response, PageError> {
    let (ctx, mut params) = PageCtx::new("/admin/audit", &raw, &headers, caller)?;
    ctx.require(&Action::ReadAudit)?;
    let mut filter = audit_filter(&ctx, &mut params)?;
    params
        .finish(&["actor", "action", "object", "since", "until", "lang"])
        .map_err(|e| ctx.err(e))?;
    filter.limit = Some(500);
    let entries = state
        .store
        .audit_entries(&filter)
        .await
        .map_err(|e| ctx.err(e))?;
    let lang = ctx.lang;
    let q = raw.0.clone().unwrap_or_default();
    let v = |o: &Option<String>| o.clone().unwrap_or_default();
    let body = html! {
        h1 { (lang.t("Nhật ký thay đổi", "Audit trail")) }
        form.filters method="get" action="/admin/audit" {
            label { (lang.t("Người/hệ thống", "Actor")) " " input type="text" name="actor" value=(v(&filter.actor)); }
            label { (lang.t("Hành động", "Action")) " " input type="text" name="action" value=(v(&filter.action)); }
            label { (lang.t("Đối tượng", "Object")) " " input type="text" name="object" value=(v(&filter.object)); }
            label { (lang.t("Từ ngày", "From")) " " input type="date" name="since" value=(v(&filter.since).get(..10).unwrap_or("")); }
            label { (lang.t("Trước ngày", "Before")) " " input type="date" name="until" value=(v(&filter.until).get(..10).unwrap_or("")); }
            button type="submit" { (lang.t("Lọc", "Filter")) }
        }
        p { a href={ "/admin/audit.csv?" (q) } { (lang.t("Tải CSV", "Download CSV")) } " · " (entries.len()) " " (lang.t("mục (tối đa 500 mục mới nhất)", "entries (newest 500 at most)")) }
        table.data.audit {
            thead { tr { th { "#" } th { (lang.t("Thời điểm (UTC)", "Time (UTC)")) } th { (lang.t("Ai", "Who")) } th { (lang.t("Địa chỉ", "Address")) }
                th { (lang.t("Hành động", "Action")) } th { (lang.t("Đối tượng", "Object")) } th { (lang.t("Trước → sau", "Before → after")) } } }
            tbody { @for e in &entries { tr {
                td { (e.seq) } td { (e.at.get(..19).unwrap_or(&e.at)) } td { (e.actor) } td { (e.address.as_deref().unwrap_or("")) }
                td { (e.action) } td { (e.object) }
                td { @if let Some(o) = &e.old { code { (o) } " → " } @if let Some(n) = &e.new { code { (n) } } }
            } } }
        }
    };
    Ok(ctx.render(lang.t("Nhật ký thay đổi", "Audit trail"), body))
}

pub async fn audit_csv(
    State(state): State<AppState>,
    raw: RawQuery,
    headers: HeaderMap,
    caller: Caller,
) -> Result<Response, PageError> {
    let (ctx, mut params) = PageCtx::new("/admin/audit.csv", &raw, &headers, caller)?;
    ctx.require(&Action::ReadAudit)?;
    let filter = audit_filter(&ctx, &mut params)?;
    params
        .finish(&["actor", "action", "object", "since", "until", "lang"])
        .map_err(|e| ctx.err(e))?;
    let entries = state
        .store
        .audit_entries(&filter)
        .await
        .map_err(|e| ctx.err(e))?;
    let mut w = csv::Writer::from_writer(Vec::new());
    let write = |w: &mut csv::Writer<Vec<u8>>| -> csv::Result<()> {
        w.write_record([
            "seq",
            "at",
            "actor",
            "address",
            "action",
            "object",
            "old",
            "new",
            "prev_hash",
            "hash",
        ])?;
        for e in entries.iter().rev() {
            w.write_record([
                e.seq.to_string().as_str(),
                &e.at,
                &e.actor,
                e.address.as_deref().unwrap_or(""),
                &e.action,
                &e.object,
                e.old.as_deref().unwrap_or(""),
                e.new.as_deref().unwrap_or(""),
                &e.prev_hash,
                &e.hash,
            ])?;
        }
        Ok(())
    };
    write(&mut w).map_err(|e| ctx.err(ApiError::NotFound(e.to_string())))?;
    let bytes = w
        .into_inner()
        .map_err(|e| ctx.err(ApiError::NotFound(e.to_string())))?;
    Ok(super::attachment(
        bytes,
        "text/csv; charset=utf-8",
        "dxhub-audit.csv",
    ))
}
