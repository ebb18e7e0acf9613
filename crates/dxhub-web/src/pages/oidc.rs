//! Signing in with an external OpenID Connect provider (the national e-ID): the two legs
//! of the flow as pages, and the mapping of the identity to an account — by linked subject,
//! else by a verified e-mail of an account not yet linked (which links it), else refused.

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use dxhub_core::accounts::User;
use dxhub_core::audit::Change;
use maud::html;

use super::account::{cookie_header, safe_next, start_session};
use super::{PageCtx, PageError};
use crate::AppState;
use crate::auth::Caller;
use crate::auth::cookie;
use crate::error::ApiError;
use crate::oidc::{CALLBACK_PATH, CallbackError, CallbackParams, Identity, PENDING_TTL};

/// The cookie that ties the provider's answer to the browser that started the sign-in.
const OIDC_COOKIE: &str = "dxhub_oidc";

fn not_configured() -> ApiError {
    ApiError::NotFound(
        "sign-in with an external identity provider is not configured on this server".into(),
    )
}

/// `GET /auth/oidc/login?next=`: sends the browser to the provider.
pub async fn login(
    State(state): State<AppState>,
    raw: RawQuery,
    headers: HeaderMap,
    caller: Caller,
) -> Result<Response, PageError> {
    let (ctx, mut params) = PageCtx::new("/auth/oidc/login", &raw, &headers, caller)?;
    let next = safe_next(params.take("next").map_err(|e| ctx.err(e))?.as_deref());
    params.finish(&["next", "lang"]).map_err(|e| ctx.err(e))?;
    let oidc = state
        .oidc
        .as_ref()
        .ok_or_else(|| ctx.err(not_configured()))?;
    let (id, url) = oidc.begin(next);
    let mut resp = Redirect::to(&url).into_response();
    let h = resp.headers_mut();
    h.append(
        header::SET_COOKIE,
        cookie_header(
            &state,
            OIDC_COOKIE,
            &id,
            PENDING_TTL.as_secs().try_into().unwrap_or(600),
        ),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if ctx.lang_changed
        && let Ok(v) = format!(
            "lang={}; Path=/; Max-Age=31536000; SameSite=Lax",
            ctx.lang.tag()
        )
        .parse()
    {
        h.append(header::SET_COOKIE, v);
    }
    Ok(resp)
}

/// Reads the provider's answer; names a repeated parameter as an error.
fn callback_params(raw: Option<&str>) -> Result<CallbackParams, ApiError> {
    let mut p = CallbackParams::default();
    for (k, v) in form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
        let slot = match k.as_ref() {
            "code" => &mut p.code,
            "state" => &mut p.state,
            "error" => &mut p.error,
            "error_description" => &mut p.error_description,
            "iss" => &mut p.iss,
            // Providers add others (session_state, scope, …); they carry nothing we use.
            _ => continue,
        };
        if slot.is_some() {
            return Err(ApiError::bad(&k, "given more than once"));
        }
        *slot = Some(v.into_owned());
    }
    Ok(p)
}

/// A page that says why the sign-in did not happen, with a way to try again.
fn refusal(ctx: &PageCtx, status: StatusCode, message: &str, detail: Option<&str>) -> Response {
    let lang = ctx.lang;
    let title = lang.t(
        "Không đăng nhập được bằng định danh điện tử",
        "Sign-in with national e-ID failed",
    );
    let body = html! {
        h1 { (title) }
        p.error role="alert" { (message) }
        @if let Some(d) = detail { p.note { (d) } }
        p { a href="/login" { (lang.t("Quay lại trang đăng nhập", "Back to the sign-in page")) } }
    };
    let mut resp = ctx.render(title, body);
    *resp.status_mut() = status;
    resp
}

fn refusal_for(ctx: &PageCtx, e: &CallbackError) -> Response {
    let lang = ctx.lang;
    let (status, message) = match e {
        CallbackError::Unknown => (
            StatusCode::BAD_REQUEST,
            lang.t(
                "Không có lượt đăng nhập nào đang chờ trong trình duyệt này, hoặc đã quá thời gian. Hãy đăng nhập lại.",
                "No sign-in is under way in this browser, or it took too long. Please sign in again.",
            ),
        ),
        CallbackError::StateMismatch | CallbackError::IssuerMismatch(_) => (
            StatusCode::FORBIDDEN,
            lang.t(
                "Phản hồi của nhà cung cấp định danh không khớp với lượt đăng nhập đã bắt đầu trong trình duyệt này.",
                "The identity provider's answer does not match the sign-in started in this browser.",
            ),
        ),
        CallbackError::Provider { error, .. } if error == "access_denied" => (
            StatusCode::FORBIDDEN,
            lang.t(
                "Đăng nhập đã bị hủy hoặc bị nhà cung cấp định danh từ chối.",
                "The sign-in was cancelled or refused by the identity provider.",
            ),
        ),
        CallbackError::Provider { .. } | CallbackError::NoCode | CallbackError::Exchange(_) => (
            StatusCode::BAD_GATEWAY,
            lang.t(
                "Nhà cung cấp định danh không hoàn tất việc đăng nhập.",
                "The identity provider did not complete the sign-in.",
            ),
        ),
        CallbackError::InvalidToken(_) => (
            StatusCode::FORBIDDEN,
            lang.t(
                "Mã định danh do nhà cung cấp trả về không hợp lệ.",
                "The identity token from the provider is invalid.",
            ),
        ),
    };
    refusal(ctx, status, message, Some(&e.to_string()))
}

/// The account of `identity`: linked by subject, or linked now through a verified e-mail.
/// `Ok(None)` when no account may be used.
async fn account_for(
    state: &AppState,
    caller: &Caller,
    identity: &Identity,
) -> Result<Option<User>, ApiError> {
    let store = &*state.store;
    if let Some(user) = store.user_by_oidc_subject(&identity.subject).await? {
        return Ok(Some(user));
    }
    let Some(email) = identity
        .email
        .as_deref()
        .filter(|_| identity.email_verified)
    else {
        return Ok(None);
    };
    let Some(user) = store.user_by_email(email).await? else {
        return Ok(None);
    };
    if user.oidc_subject.is_some() || user.disabled {
        return Ok(None);
    }
    let new = serde_json::json!({ "oidc_subject": identity.subject, "email": email });
    let audit = Change {
        actor: format!("user:{} {}", user.id, user.email),
        ..caller.change("user.oidc_link", format!("user:{}", user.id))
    }
    .with(None, Some(new.to_string()));
    store
        .link_oidc_subject(user.id, &identity.subject, audit)
        .await?;
    tracing::info!(user = user.id, subject = %identity.subject, "OpenID Connect identity linked");
    Ok(Some(user))
}

/// `GET /auth/oidc/callback`: the provider's answer; signs the person in or says why not.
pub async fn callback(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    caller: Caller,
) -> Result<Response, PageError> {
    let ctx = PageCtx::for_form(CALLBACK_PATH, &headers, caller);
    let mut resp = callback_inner(&state, &ctx, raw.as_deref(), &headers).await?;
    // The cookie has served its one use, whatever the outcome.
    resp.headers_mut().append(
        header::SET_COOKIE,
        cookie_header(&state, OIDC_COOKIE, "", 0),
    );
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

async fn callback_inner(
    state: &AppState,
    ctx: &PageCtx,
    raw: Option<&str>,
    headers: &HeaderMap,
) -> Result<Response, PageError> {
    let lang = ctx.lang;
    let oidc = state
        .oidc
        .as_ref()
        .ok_or_else(|| ctx.err(not_configured()))?;
    let params = callback_params(raw).map_err(|e| ctx.err(e))?;
    let cookie = cookie(headers, OIDC_COOKIE);
    let (identity, next) = match oidc.finish(cookie, &params).await {
        Ok(done) => done,
        Err(e) => {
            tracing::warn!(error = %e, "OpenID Connect sign-in refused");
            return Ok(refusal_for(ctx, &e));
        }
    };
    let user = account_for(state, &ctx.caller, &identity)
        .await
        .map_err(|e| ctx.err(e))?;
    let Some(user) = user.filter(|u| !u.disabled) else {
        let new = serde_json::json!({
            "email": identity.email,
            "email_verified": identity.email_verified,
            "reason": "no account for this identity",
        });
        state
            .store
            .append_audit(
                ctx.caller
                    .change("session.login_failed", format!("oidc:{}", identity.subject))
                    .with(None, Some(new.to_string())),
            )
            .await
            .map_err(|e| ctx.err(e))?;
        tracing::warn!(subject = %identity.subject, email = ?identity.email, "OpenID Connect identity has no account");
        let detail = match (&identity.email, identity.email_verified) {
            (Some(e), true) => format!("{}: {e}", lang.t("E-mail", "E-mail")),
            (Some(e), false) => format!(
                "{}: {e} ({})",
                lang.t("E-mail", "E-mail"),
                lang.t("chưa được xác minh", "not verified")
            ),
            (None, _) => lang
                .t(
                    "Nhà cung cấp không cho biết e-mail.",
                    "The provider gave no e-mail.",
                )
                .to_owned(),
        };
        return Ok(refusal(
            ctx,
            StatusCode::FORBIDDEN,
            lang.t(
                "Danh tính điện tử này không ứng với tài khoản dxhub nào đang hoạt động. Hãy đề nghị quản trị viên cấp tài khoản với e-mail của bạn.",
                "This e-ID identity matches no active dxhub account. Ask an administrator for an account with your e-mail.",
            ),
            Some(&detail),
        ));
    };
    start_session(state, &ctx.caller, &user, &next)
        .await
        .map_err(|e| ctx.err(e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callback_parameters() {
        let p = callback_params(Some(
            "code=abc&state=x%20y&iss=http%3A%2F%2Fa&session_state=z",
        ))
        .unwrap();
        assert_eq!(p.code.as_deref(), Some("abc"));
        assert_eq!(p.state.as_deref(), Some("x y"));
        assert_eq!(p.iss.as_deref(), Some("http://a"));
        assert!(callback_params(Some("state=a&state=b")).is_err());
        assert!(callback_params(None).unwrap().code.is_none());
    }
}
