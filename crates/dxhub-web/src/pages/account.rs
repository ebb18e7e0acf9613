//! Signing in and out, and changing one's own password. Sign-in failures are throttled per
//! account and per client address; every outcome is in the audit trail.

use std::collections::HashMap;

use axum::Form;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use dxhub_core::accounts::{Session, User};
use dxhub_core::auth::Action;
use maud::{Markup, html};

use super::{PageCtx, PageError};
use crate::AppState;
use crate::auth::{Caller, SESSION_COOKIE};
use crate::error::ApiError;
use crate::security::{
    constant_time_eq, dummy_hash, hash_password, random_token, sha256_hex, verify_password,
};

const LOGIN_CSRF_COOKIE: &str = "dxhub_login_csrf";

/// Only local paths may be returned to after signing in (no open redirect).
pub(super) fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_owned(),
        _ => "/".to_owned(),
    }
}

pub(crate) fn cookie_header(
    state: &AppState,
    name: &str,
    value: &str,
    max_age: i64,
) -> HeaderValue {
    let secure = if state.config.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    format!("{name}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}")
        .parse()
        .unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn login_form(
    ctx: &PageCtx,
    token: &str,
    next: &str,
    email: &str,
    error: Option<&str>,
    oidc: bool,
) -> Markup {
    let lang = ctx.lang;
    let oidc_href = format!(
        "/auth/oidc/login?{}",
        form_urlencoded::Serializer::new(String::new())
            .append_pair("next", next)
            .finish()
    );
    html! {
        h1 { (lang.t("Đăng nhập", "Sign in")) }
        @if let Some(e) = error { p.error role="alert" { (e) } }
        form.stack method="post" action="/login" {
            input type="hidden" name="csrf" value=(token);
            input type="hidden" name="next" value=(next);
            label for="email" { "E-mail" }
            input #email type="email" name="email" value=(email) autocomplete="username" required autofocus;
            label for="password" { (lang.t("Mật khẩu", "Password")) }
            input #password type="password" name="password" autocomplete="current-password" required;
            button type="submit" { (lang.t("Đăng nhập", "Sign in")) }
        }
        @if oidc {
            // A link, not a form: the form-action policy would stop the redirect to the
            // identity provider.
            p { a.signin href=(oidc_href) { (lang.t("Đăng nhập bằng định danh điện tử (VNeID)", "Sign in with national e-ID")) } }
        }
    }
}

fn with_login_token(state: &AppState, mut resp: Response, token: &str) -> Response {
    resp.headers_mut().append(
        header::SET_COOKIE,
        cookie_header(state, LOGIN_CSRF_COOKIE, token, 3600),
    );
    resp
}

pub async fn login_page(
    State(state): State<AppState>,
    raw: RawQuery,
    headers: HeaderMap,
    caller: Caller,
) -> Result<Response, PageError> {
    let (ctx, mut params) = PageCtx::new("/login", &raw, &headers, caller)?;
    let next = safe_next(params.take("next").map_err(|e| ctx.err(e))?.as_deref());
    params.finish(&["next", "lang"]).map_err(|e| ctx.err(e))?;
    let token = random_token(16);
    let title = ctx.lang.t("Đăng nhập", "Sign in");
    let resp = ctx.render(
        title,
        login_form(&ctx, &token, &next, "", None, state.oidc.is_some()),
    );
    Ok(with_login_token(&state, resp, &token))
}

pub async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    caller: Caller,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let ctx = PageCtx::for_form("/login", &headers, caller);
    let lang = ctx.lang;
    let store = &*state.store;
    let field = |k: &str| form.get(k).map(|s| s.trim()).unwrap_or("");
    let email = field("email").to_lowercase();
    let next = safe_next(form.get("next").map(String::as_str));
    let given = form.get("csrf").map(String::as_str).unwrap_or("");
    let expected = crate::auth::cookie(&headers, LOGIN_CSRF_COOKIE).unwrap_or("");
    let fresh = random_token(16);
    let retry = |error: &str, status: StatusCode| {
        let mut resp = ctx.render(
            lang.t("Đăng nhập", "Sign in"),
            login_form(
                &ctx,
                &fresh,
                &next,
                &email,
                Some(error),
                state.oidc.is_some(),
            ),
        );
        *resp.status_mut() = status;
        with_login_token(&state, resp, &fresh)
    };
    if expected.is_empty() || !constant_time_eq(given, expected) {
        return Ok(retry(
            lang.t(
                "Biểu mẫu đã hết hạn; vui lòng đăng nhập lại.",
                "The form has expired; please sign in again.",
            ),
            StatusCode::FORBIDDEN,
        ));
    }
    let address = ctx
        .caller
        .address
        .clone()
        .unwrap_or_else(|| "unknown".to_owned());
    let keys = vec![format!("account:{email}"), format!("address:{address}")];
    let now = state.config.clock.now();
    if let Some(until) = store
        .login_locked_until(&keys, now)
        .await
        .map_err(|e| ctx.err(e))?
    {
        let wait = (until - now).max(1);
        let mut resp = retry(
            &format!(
                "{} {wait} {}",
                lang.t(
                    "Quá nhiều lần đăng nhập sai. Thử lại sau",
                    "Too many failed attempts. Try again in"
                ),
                lang.t("giây.", "seconds.")
            ),
            StatusCode::TOO_MANY_REQUESTS,
        );
        if let Ok(v) = wait.to_string().parse() {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return Ok(resp);
    }
    let user = store.user_by_email(&email).await.map_err(|e| ctx.err(e))?;
    let password = form.get("password").map(String::as_str).unwrap_or("");
    // Verify against a dummy hash when there is no such account, so both take as long.
    let hash = user
        .as_ref()
        .and_then(|u| u.password_hash.as_deref())
        .unwrap_or(dummy_hash())
        .to_owned();
    let pw = password.to_owned();
    let ok = tokio::task::spawn_blocking(move || verify_password(&pw, &hash))
        .await
        .unwrap_or(false);
    let user = match user {
        Some(u) if ok && !u.disabled => u,
        _ => {
            let audit = ctx
                .caller
                .change("session.login_failed", format!("account:{email}"));
            let until = store
                .record_login_failure(&keys, now, state.config.throttle, audit)
                .await
                .map_err(|e| ctx.err(e))?;
            let msg = match until {
                Some(t) => format!(
                    "{} {} {}",
                    lang.t(
                        "E-mail hoặc mật khẩu không đúng. Lần thử tiếp theo sau",
                        "Wrong e-mail or password. Next attempt in"
                    ),
                    (t - now).max(1),
                    lang.t("giây.", "seconds.")
                ),
                None => lang
                    .t(
                        "E-mail hoặc mật khẩu không đúng.",
                        "Wrong e-mail or password.",
                    )
                    .to_owned(),
            };
            return Ok(retry(&msg, StatusCode::UNAUTHORIZED));
        }
    };
    store
        .clear_login_failures(&keys)
        .await
        .map_err(|e| ctx.err(e))?;
    start_session(&state, &ctx.caller, &user, &next)
        .await
        .map_err(|e| ctx.err(e))
}

/// Signs `user` in: a new session (cookie and CSRF token), audited as `session.login`, and
/// a redirect to `next`. Shared by every way of signing in.
pub(crate) async fn start_session(
    state: &AppState,
    caller: &Caller,
    user: &User,
    next: &str,
) -> Result<Response, ApiError> {
    let now = state.config.clock.now();
    let token = random_token(32);
    let session = Session {
        user_id: user.id,
        csrf: random_token(16),
        expires_at: now + state.config.session_secs,
    };
    let audit = caller.change("session.login", format!("user:{}", user.id));
    let audit = dxhub_core::audit::Change {
        actor: format!("user:{} {}", user.id, user.email),
        ..audit
    };
    state
        .store
        .create_session(&sha256_hex(&token), &session, audit)
        .await?;
    let mut resp = Redirect::to(next).into_response();
    let h = resp.headers_mut();
    h.append(
        header::SET_COOKIE,
        cookie_header(state, SESSION_COOKIE, &token, state.config.session_secs),
    );
    h.append(
        header::SET_COOKIE,
        cookie_header(state, LOGIN_CSRF_COOKIE, "", 0),
    );
    Ok(resp)
}

pub async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    caller: Caller,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let ctx = PageCtx::for_form("/", &headers, caller);
    ctx.caller
        .check_csrf(form.get("csrf").map(String::as_str))
        .map_err(|e| ctx.err(e))?;
    if let Some((token_hash, _)) = &ctx.caller.session {
        let object = ctx
            .caller
            .user
            .as_ref()
            .map(|u| format!("user:{}", u.id))
            .unwrap_or_default();
        let audit = ctx.caller.change("session.logout", object);
        state
            .store
            .delete_session(token_hash, audit)
            .await
            .map_err(|e| ctx.err(e))?;
    }
    let mut resp = Redirect::to("/").into_response();
    resp.headers_mut().append(
        header::SET_COOKIE,
        cookie_header(&state, SESSION_COOKIE, "", 0),
    );
    Ok(resp)
}

fn password_form(ctx: &PageCtx, error: Option<&str>) -> Markup {
    let lang = ctx.lang;
    html! {
        h1 { (lang.t("Đổi mật khẩu", "Change password")) }
        @if let Some(e) = error { p.error role="alert" { (e) } }
        form.stack method="post" action="/account/password" {
            input type="hidden" name="csrf" value=(ctx.csrf());
            label for="current" { (lang.t("Mật khẩu hiện tại", "Current password")) }
            input #current type="password" name="current" autocomplete="current-password" required;
            label for="new" { (lang.t("Mật khẩu mới (ít nhất 10 ký tự)", "New password (at least 10 characters)")) }
            input #new type="password" name="new" autocomplete="new-password" minlength="10" required;
            label for="confirm" { (lang.t("Nhập lại mật khẩu mới", "Repeat the new password")) }
            input #confirm type="password" name="confirm" autocomplete="new-password" required;
            button type="submit" { (lang.t("Đổi mật khẩu", "Change password")) }
        }
    }
}

pub async fn password_page(
    raw: RawQuery,
    headers: HeaderMap,
    caller: Caller,
) -> Result<Response, PageError> {
    let (ctx, params) = PageCtx::new("/account/password", &raw, &headers, caller)?;
    params.finish(&["lang"]).map_err(|e| ctx.err(e))?;
    ctx.require(&Action::ChangeOwnPassword)?;
    Ok(ctx.render(
        ctx.lang.t("Đổi mật khẩu", "Change password"),
        password_form(&ctx, None),
    ))
}

pub async fn change_password(
    State(state): State<AppState>,
    headers: HeaderMap,
    caller: Caller,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let ctx = PageCtx::for_form("/account/password", &headers, caller);
    ctx.require(&Action::ChangeOwnPassword)?;
    ctx.caller
        .check_csrf(form.get("csrf").map(String::as_str))
        .map_err(|e| ctx.err(e))?;
    let lang = ctx.lang;
    let user = ctx
        .caller
        .user
        .clone()
        .ok_or_else(|| ctx.err(ApiError::Unauthorized("sign in".into())))?;
    let get = |k: &str| form.get(k).cloned().unwrap_or_default();
    let (current, new, confirm) = (get("current"), get("new"), get("confirm"));
    let fail = |msg: &str| {
        let mut r = ctx.render(
            lang.t("Đổi mật khẩu", "Change password"),
            password_form(&ctx, Some(msg)),
        );
        *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
        r
    };
    let stored = user
        .password_hash
        .clone()
        .unwrap_or_else(|| dummy_hash().to_owned());
    let cur = current.clone();
    if !tokio::task::spawn_blocking(move || verify_password(&cur, &stored))
        .await
        .unwrap_or(false)
    {
        return Ok(fail(lang.t(
            "Mật khẩu hiện tại không đúng.",
            "The current password is wrong.",
        )));
    }
    if new != confirm {
        return Ok(fail(lang.t(
            "Hai mật khẩu mới không khớp.",
            "The two new passwords differ.",
        )));
    }
    let hash = match tokio::task::spawn_blocking(move || hash_password(&new)).await {
        Ok(Ok(h)) => h,
        _ => {
            return Ok(fail(lang.t(
                "Mật khẩu mới phải có ít nhất 10 ký tự.",
                "The new password needs at least 10 characters.",
            )));
        }
    };
    let audit = ctx
        .caller
        .change("user.password_change", format!("user:{}", user.id));
    state
        .store
        .set_password(user.id, &hash, audit)
        .await
        .map_err(|e| ctx.err(e))?;
    // Changing the password ends every session, this one included.
    let mut resp = Redirect::to("/login").into_response();
    resp.headers_mut().append(
        header::SET_COOKIE,
        cookie_header(&state, SESSION_COOKIE, "", 0),
    );
    Ok(resp)
}
