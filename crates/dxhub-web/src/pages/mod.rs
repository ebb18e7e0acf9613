//! Server-rendered pages: one layout, Vietnamese first, working without JavaScript.

use axum::Router;
use axum::extract::RawQuery;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use maud::{DOCTYPE, Markup, html};

use crate::AppState;
use crate::error::ApiError;
use crate::i18n::Lang;
use crate::params::Params;

mod home;
mod map;
mod unit;

/// The page routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(home::page))
        .route("/units/{code}", get(unit::page))
}

/// What every page request carries besides its own parameters.
pub struct PageCtx {
    /// The interface language.
    pub lang: Lang,
    /// Whether `?lang=` changed it (then the cookie is set).
    lang_changed: bool,
    /// The request path, for the language switch links.
    path: String,
    /// The query without `lang`, for the language switch links.
    query_without_lang: String,
}

impl PageCtx {
    /// Reads the language from the query (taking `lang` out of `params`) or the cookie.
    pub fn new(
        path: &str,
        raw_query: &RawQuery,
        headers: &HeaderMap,
    ) -> Result<(PageCtx, Params), PageError> {
        let fallback = Lang::from_cookie(headers).unwrap_or(Lang::Vi);
        let mut params = Params::parse(raw_query.0.as_deref());
        let asked = params.take("lang").map_err(|e| PageError(e, fallback))?;
        let (lang, lang_changed) = match asked.as_deref() {
            None => (fallback, false),
            Some(tag) => match Lang::from_tag(tag) {
                Some(l) => (l, true),
                None => {
                    return Err(PageError(
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
                lang_changed,
                path: path.to_owned(),
                query_without_lang,
            },
            params,
        ))
    }

    fn switch_href(&self, to: Lang) -> String {
        let mut q = self.query_without_lang.clone();
        if !q.is_empty() {
            q.push('&');
        }
        format!("{}?{q}lang={}", self.path, to.tag())
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
                        nav aria-label=(lang.t("Chính", "Main")) {
                            a href="/" { (lang.t("Bản đồ hành chính", "Administrative map")) }
                            a href="/api/openapi.json" { "API" }
                        }
                        nav.lang aria-label=(lang.t("Ngôn ngữ", "Language")) {
                            @if lang == Lang::Vi { strong aria-current="true" { "Tiếng Việt" } } @else { a href=(self.switch_href(Lang::Vi)) hreflang="vi" { "Tiếng Việt" } }
                            @if lang == Lang::En { strong aria-current="true" { "English" } } @else { a href=(self.switch_href(Lang::En)) hreflang="en" { "English" } }
                        }
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
        resp
    }
}

/// A failed page request, shown as a page in the reader's language.
#[derive(Debug)]
pub struct PageError(pub ApiError, pub Lang);

impl From<(ApiError, Lang)> for PageError {
    fn from((e, l): (ApiError, Lang)) -> Self {
        PageError(e, l)
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let PageError(err, lang) = self;
        let status = err.status();
        if let ApiError::Store(e) = &err {
            tracing::error!(error = %e, "store failure while rendering a page");
        }
        let (title, text) = match &err {
            ApiError::BadParameter { parameter, reason } => (
                lang.t("Yêu cầu không hợp lệ", "Bad request").to_owned(),
                format!("{} '{parameter}': {reason}", lang.t("Tham số", "Parameter")),
            ),
            ApiError::NotFound(what) => (
                lang.t("Không tìm thấy", "Not found").to_owned(),
                what.clone(),
            ),
            ApiError::Store(_) => (
                lang.t("Lỗi máy chủ", "Server error").to_owned(),
                lang.t(
                    "Máy chủ không hoàn thành được yêu cầu; lỗi đã được ghi lại.",
                    "The server could not complete the request; the error has been logged.",
                )
                .to_owned(),
            ),
        };
        let ctx = PageCtx {
            lang,
            lang_changed: false,
            path: "/".into(),
            query_without_lang: String::new(),
        };
        let body = html! {
            h1 { (title) }
            p.error role="alert" { (text) }
            p { a href="/" { (lang.t("Về trang chủ", "Back to the home page")) } }
        };
        let mut resp = ctx.render(&title, body);
        *resp.status_mut() = if status == StatusCode::OK {
            StatusCode::INTERNAL_SERVER_ERROR
        } else {
            status
        };
        resp
    }
}
