//! Server-rendered pages: one layout, Vietnamese first, working without JavaScript.

use axum::Router;
use axum::extract::RawQuery;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use maud::{DOCTYPE, Markup, html};

use crate::AppState;
use dxhub_core::auth::{Action, Role, Scope};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::i18n::Lang;
use crate::params::Params;

mod account;
mod admin;
pub use admin::validate_key as admin_validate_key;
mod home;
mod manage;
mod map;
mod methodologies;
mod oidc;
mod public_services;
mod rankings;
mod reports;
mod unit;

/// Whether this process serves generated demo data (set with the [`AppState`]); every
/// page then carries a banner saying so.
static DEMO: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Marks the pages of this process as showing demo data (or not).
pub(crate) fn set_demo(on: bool) {
    DEMO.store(on, std::sync::atomic::Ordering::Relaxed);
}

/// The page routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(home::page))
        .route("/units/{code}", get(unit::page))
        .route("/public-services", get(public_services::page))
        .route("/public-services.csv", get(public_services::csv))
        .route("/login", get(account::login_page).post(account::login))
        .route("/logout", axum::routing::post(account::logout))
        .route("/auth/oidc/login", get(oidc::login))
        .route("/auth/oidc/callback", get(oidc::callback))
        .route(
            "/account/password",
            get(account::password_page).post(account::change_password),
        )
        .route(
            "/admin/users",
            get(admin::users_page).post(admin::create_user),
        )
        .route(
            "/admin/users/{id}/password",
            axum::routing::post(admin::reset_password),
        )
        .route("/admin/keys", get(admin::keys_page).post(admin::create_key))
        .route(
            "/admin/keys/{id}/revoke",
            axum::routing::post(admin::revoke_key),
        )
        .route("/admin/audit", get(admin::audit_page))
        .route("/admin/audit.csv", get(admin::audit_csv))
        .route("/manage/units/{code}", get(manage::page))
        .route("/admin/methodologies", get(methodologies::list))
        .route("/admin/methodologies/{id}", get(methodologies::show))
        .route("/rankings", get(rankings::index))
        .route("/rankings/{id}", get(rankings::edition_page))
        .route("/rankings/{id}/csv", get(rankings::edition_csv))
        .route("/rankings/{id}/xlsx", get(rankings::edition_xlsx))
        .route("/rankings/{id}/units/{code}", get(rankings::unit_profile))
        .route("/rankings/live/{m}/{p}", get(rankings::live))
        .route("/rankings/live/{m}/{p}/publish", post(rankings::publish))
        .route("/what-if", get(rankings::what_if))
        .route("/reports", get(reports::list))
        .route("/reports/{m}/{p}/{u}", get(reports::page))
        .route("/reports/{m}/{p}/{u}/values", post(reports::save_values))
        .route("/reports/{m}/{p}/{u}/step", post(reports::step))
        .route("/reports/{m}/{p}/{u}/reopen", post(reports::reopen))
        .route("/reports/{m}/{p}/{u}/xlsx", post(reports::upload_xlsx))
        .route(
            "/reports/{m}/{p}/{u}/template.xlsx",
            get(reports::template_xlsx),
        )
        .route(
            "/reports/{m}/{p}/{u}/evidence",
            post(reports::upload_evidence),
        )
        .route("/evidence/{id}", get(reports::evidence_file))
        .route("/evidence/{id}/delete", post(reports::delete_evidence))
        .route(
            "/manage/units/{code}/contact",
            axum::routing::post(manage::save_contact),
        )
}

/// What every page request carries besides its own parameters.
pub struct PageCtx {
    /// The interface language.
    pub lang: Lang,
    /// Who is asking.
    pub caller: Caller,
    /// Whether `?lang=` changed it (then the cookie is set).
    lang_changed: bool,
    /// The request path, for the language switch links and sign-in redirects.
    path: String,
    /// The query without `lang`, for the language switch links.
    query_without_lang: String,
    /// Whether this is a form submission (POST): refusals then answer 401/403 instead of
    /// redirecting to the sign-in page.
    is_form: bool,
}

impl PageCtx {
    /// Reads the language from the query (taking `lang` out of `params`) or the cookie.
    pub fn new(
        path: &str,
        raw_query: &RawQuery,
        headers: &HeaderMap,
        caller: Caller,
    ) -> Result<(PageCtx, Params), PageError> {
        let fallback = Lang::from_cookie(headers).unwrap_or(Lang::Vi);
        let mut params = Params::parse(raw_query.0.as_deref());
        let asked = params
            .take("lang")
            .map_err(|e| PageError::new(e, fallback))?;
        let (lang, lang_changed) = match asked.as_deref() {
            None => (fallback, false),
            Some(tag) => match Lang::from_tag(tag) {
                Some(l) => (l, true),
                None => {
                    return Err(PageError::new(
                        ApiError::bad("lang", "expected vi or en"),
                        fallback,
                    ));
                }
            },
        };
        let query_without_lang =
            form_urlencoded::parse(raw_query.0.as_deref().unwrap_or("").as_bytes())
                .filter(|(k, _)| k != "lang")
                .fold(
                    form_urlencoded::Serializer::new(String::new()),
                    |mut s, (k, v)| {
                        s.append_pair(&k, &v);
                        s
                    },
                )
                .finish();
        Ok((
            PageCtx {
                lang,
                caller,
                lang_changed,
                path: path.to_owned(),
                query_without_lang,
                is_form: false,
            },
            params,
        ))
    }

    /// A context for pages reached by POST (forms), which carry no query.
    pub fn for_form(path: &str, headers: &HeaderMap, caller: Caller) -> PageCtx {
        PageCtx {
            lang: Lang::from_cookie(headers).unwrap_or(Lang::Vi),
            caller,
            lang_changed: false,
            path: path.to_owned(),
            query_without_lang: String::new(),
            is_form: true,
        }
    }

    /// The error to return from a page handler.
    pub fn err(&self, e: impl Into<ApiError>) -> PageError {
        let mut p = PageError::new(e.into(), self.lang);
        if !self.is_form {
            p.next = Some(self.path.clone());
        }
        p.caller = Some(Box::new(self.caller.clone()));
        p.path = self.path.clone();
        p
    }

    /// Fails unless the caller may do `action`; anonymous callers are sent to sign in.
    pub fn require(&self, action: &Action<'_>) -> Result<(), PageError> {
        self.caller.require(action).map_err(|e| self.err(e))
    }

    fn switch_href(&self, to: Lang) -> String {
        let mut q = self.query_without_lang.clone();
        if !q.is_empty() {
            q.push('&');
        }
        format!("{}?{q}lang={}", self.path, to.tag())
    }

    /// The CSRF token to put in forms (empty when signed out).
    pub fn csrf(&self) -> &str {
        self.caller
            .session
            .as_ref()
            .map(|(_, c)| c.as_str())
            .unwrap_or("")
    }

    fn nav(&self) -> Markup {
        let lang = self.lang;
        let user = self.caller.user.as_ref();
        let role = user.map(|u| u.role);
        let workspace = user.and_then(|u| match &u.scope {
            Scope::Province(c) | Scope::Ministry(c) => Some(c.clone()),
            _ => None,
        });
        html! {
            nav aria-label=(lang.t("Chính", "Main")) {
                a href="/" { (lang.t("Bản đồ hành chính", "Administrative map")) }
                a href="/public-services" { (lang.t("Dịch vụ công", "Public services")) }
                a href="/rankings" { (lang.t("Xếp hạng", "Rankings")) }
                @if matches!(role, Some(Role::ProvinceOfficer | Role::MinistryOfficer | Role::Reviewer | Role::Admin)) {
                    a href="/reports" { (lang.t("Báo cáo", "Reports")) }
                }
                @if let Some(code) = workspace {
                    a href={ "/manage/units/" (code) } { (lang.t("Đơn vị của tôi", "My unit")) }
                }
                @if matches!(role, Some(Role::Reviewer | Role::Admin)) {
                    a href="/admin/audit" { (lang.t("Nhật ký thay đổi", "Audit trail")) }
                }
                @if matches!(role, Some(Role::Reviewer | Role::Admin)) {
                    a href="/admin/methodologies" { (lang.t("Bộ chỉ số", "Methodologies")) }
                }
                @if role == Some(Role::Admin) {
                    a href="/admin/users" { (lang.t("Tài khoản", "Accounts")) }
                    a href="/admin/keys" { (lang.t("Khóa API", "API keys")) }
                }
                a href="/api/openapi.json" { "API" }
            }
        }
    }

    fn who(&self) -> Markup {
        let lang = self.lang;
        match &self.caller.user {
            None => html! { a.signin href="/login" { (lang.t("Đăng nhập", "Sign in")) } },
            Some(u) => {
                let (vi, en) = u.role.label();
                html! {
                    div.who {
                        span { strong { (u.display_name) } " · " (lang.t(vi, en))
                            @match &u.scope { Scope::National => {}, s => { " · " (scope_label(s)) } } }
                        a href="/account/password" { (lang.t("Đổi mật khẩu", "Change password")) }
                        form method="post" action="/logout" {
                            input type="hidden" name="csrf" value=(self.csrf());
                            button.link type="submit" { (lang.t("Đăng xuất", "Sign out")) }
                        }
                    }
                }
            }
        }
    }

    /// Wraps a page body in the layout and sets the language cookie when it changed.
    pub fn render(&self, title: &str, body: Markup) -> Response {
        let lang = self.lang;
        let markup = html! {
            (DOCTYPE)
            html lang=(lang.tag()) {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    title { (title) " · dxhub" }
                    link rel="stylesheet" href="/assets/app.css";
                }
                body {
                    a.skip href="#main" { (lang.t("Bỏ qua đến nội dung", "Skip to content")) }
                    header.top {
                        a.brand href="/" { "dxhub" }
                        span.tagline { (lang.t("Đo lường chuyển đổi số quốc gia", "Measuring national digital transformation")) }
                        (self.nav())
                        div.end {
                            (self.who())
                            nav.lang aria-label=(lang.t("Ngôn ngữ", "Language")) {
                                @if lang == Lang::Vi { strong aria-current="true" { "Tiếng Việt" } } @else { a href=(self.switch_href(Lang::Vi)) hreflang="vi" { "Tiếng Việt" } }
                                @if lang == Lang::En { strong aria-current="true" { "English" } } @else { a href=(self.switch_href(Lang::En)) hreflang="en" { "English" } }
                            }
                        }
                    }
                    @if DEMO.load(std::sync::atomic::Ordering::Relaxed) {
                        p.demo-banner role="note" { (lang.t("Dữ liệu minh họa (demo) — không phải số liệu chính thức", "Demo data — not official figures")) }
                    }
                    main #main { (body) }
                    footer {
                        p { (lang.t("Dữ liệu đơn vị hành chính: Tổng cục Thống kê (qua daohoangson/dvhcvn). ",
                                   "Administrative units: General Statistics Office (via daohoangson/dvhcvn). "))
                            (dxhub_reference::GEO_ATTRIBUTION) "." }
                    }
                }
            }
        };
        let mut resp = markup.into_response();
        if self.lang_changed
            && let Ok(v) = format!(
                "lang={}; Path=/; Max-Age=31536000; SameSite=Lax",
                lang.tag()
            )
            .parse()
        {
            resp.headers_mut().insert(header::SET_COOKIE, v);
        }
        resp.headers_mut().insert(
            header::CACHE_CONTROL,
            axum::http::HeaderValue::from_static("no-store"),
        );
        resp
    }
}

/// A whole number with its digits grouped as the reader expects: `1.234.567` in
/// Vietnamese, `1,234,567` in English.
pub fn thousands(n: u64, lang: Lang) -> String {
    let digits = n.to_string();
    let sep = if lang == Lang::Vi { '.' } else { ',' };
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(sep);
        }
        out.push(c);
    }
    out
}

/// A file to download: its media type, and a Content-Disposition naming it (RFC 6266:
/// an ASCII fallback and the UTF-8 name), never cached by shared caches.
pub fn attachment(bytes: Vec<u8>, media: &str, name: &str) -> Response {
    let mut r = bytes.into_response();
    let h = r.headers_mut();
    if let Ok(v) = axum::http::HeaderValue::from_str(media) {
        h.insert(header::CONTENT_TYPE, v);
    }
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded: String = form_urlencoded::byte_serialize(name.as_bytes()).collect();
    if let Ok(v) = axum::http::HeaderValue::from_str(&format!(
        "attachment; filename=\"{ascii}\"; filename*=UTF-8''{}",
        encoded.replace('+', "%20")
    )) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(
        header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("private, no-store"),
    );
    r
}

/// A stored UTC time (`2026-11-23T15:01:43.862701Z`) as people in Viet Nam read it:
/// `23/11/2026 22:01`; the text itself if it does not parse.
pub fn local_time(stored: &str) -> String {
    stored
        .parse::<jiff::Timestamp>()
        .map(|t| {
            t.to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::offset(7)))
                .strftime("%d/%m/%Y %H:%M")
                .to_string()
        })
        .unwrap_or_else(|_| stored.to_owned())
}

/// How a scope is written for people.
pub fn scope_label(s: &Scope) -> String {
    match s {
        Scope::National => "toàn quốc".to_owned(),
        Scope::Province(c) => format!("tỉnh {c}"),
        Scope::Ministry(c) => format!("bộ {c}"),
        Scope::Team(t) => format!("tổ {t}"),
    }
}

/// A failed page request, shown as a page in the reader's language (or, for a visitor
/// who is not signed in, a redirect to the sign-in page that comes back afterwards).
#[derive(Debug)]
pub struct PageError {
    err: ApiError,
    lang: Lang,
    next: Option<String>,
    /// Who asked and where, so the error page keeps their header and language links.
    caller: Option<Box<Caller>>,
    path: String,
}

impl PageError {
    /// An error page in `lang`.
    pub fn new(err: ApiError, lang: Lang) -> PageError {
        PageError {
            err,
            lang,
            next: None,
            caller: None,
            path: "/".to_owned(),
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let PageError {
            err,
            lang,
            next,
            caller,
            path,
        } = self;
        let status = err.status();
        if let (ApiError::Unauthorized(_), Some(next)) = (&err, &next) {
            let to = format!(
                "/login?{}",
                form_urlencoded::Serializer::new(String::new())
                    .append_pair("next", next)
                    .finish()
            );
            return axum::response::Redirect::to(&to).into_response();
        }
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(error = %err, "failure while rendering a page");
        }
        let title = match status {
            StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY => {
                lang.t("Yêu cầu không hợp lệ", "Bad request")
            }
            StatusCode::NOT_FOUND => lang.t("Không tìm thấy", "Not found"),
            StatusCode::UNAUTHORIZED => lang.t("Cần đăng nhập", "Sign-in needed"),
            StatusCode::FORBIDDEN => lang.t("Không có quyền", "Not allowed"),
            StatusCode::CONFLICT => lang.t("Xung đột dữ liệu", "Conflict"),
            StatusCode::TOO_MANY_REQUESTS => lang.t("Quá nhiều lần thử", "Too many attempts"),
            _ => lang.t("Lỗi máy chủ", "Server error"),
        };
        let text = match &err {
            ApiError::BadParameter { parameter, reason } => {
                format!("{} '{parameter}': {reason}", lang.t("Tham số", "Parameter"))
            }
            ApiError::Forbidden(_) => lang
                .t(
                    "Vai trò hoặc phạm vi của bạn không cho phép xem trang này.",
                    "Your role or scope does not allow this page.",
                )
                .to_owned(),
            e if status == StatusCode::INTERNAL_SERVER_ERROR => {
                let _ = e;
                lang.t(
                    "Máy chủ không hoàn thành được yêu cầu; lỗi đã được ghi lại.",
                    "The server could not complete the request; the error has been logged.",
                )
                .to_owned()
            }
            e => e.body().error.message,
        };
        let ctx = PageCtx {
            lang,
            caller: caller.map(|c| *c).unwrap_or_else(Caller::anonymous),
            lang_changed: false,
            path,
            query_without_lang: String::new(),
            is_form: false,
        };
        let body = html! {
            h1 { (title) }
            p.error role="alert" { (text) }
            @if status == StatusCode::UNAUTHORIZED { p { a href="/login" { (lang.t("Đăng nhập", "Sign in")) } } }
            p { a href="/" { (lang.t("Về trang chủ", "Back to the home page")) } }
        };
        let mut resp = ctx.render(title, body);
        *resp.status_mut() = status;
        resp
    }
}
