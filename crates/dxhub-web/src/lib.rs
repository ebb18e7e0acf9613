//! The HTTP face of dxhub: the JSON API (with its OpenAPI document at `/api/openapi.json`)
//! and the server-rendered, Vietnamese-first pages. The only crate that knows HTTP.

use std::future::Future;
use std::sync::Arc;

use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use dxhub_store::Store;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

pub mod api;
pub mod error;
pub mod i18n;
mod maps;
mod pages;
pub mod params;

pub use maps::Maps;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// The database.
    pub store: Arc<dyn Store>,
    /// Province boundaries, projected once.
    pub maps: Arc<Maps>,
}

impl AppState {
    /// State over a store, with the shipped boundaries.
    pub fn new(store: Arc<dyn Store>) -> AppState {
        AppState {
            store,
            maps: Arc::new(Maps::default()),
        }
    }
}

const CSS: &str = include_str!("../assets/app.css");

/// Every route of the service, for in-process tests and for [`serve`].
pub fn router(state: AppState) -> Router {
    let (api, openapi) = api::routes();
    let openapi = Arc::new(openapi);
    // The pages hold no inline script and load nothing from elsewhere; the SVG maps are
    // markup, so a strict policy costs nothing.
    let csp = "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; \
               base-uri 'none'; frame-ancestors 'none'";
    Router::new()
        .merge(api)
        .route(
            "/api/openapi.json",
            get(move || {
                let doc = openapi.clone();
                async move { Json(doc.as_ref().clone()) }
            }),
        )
        .route("/assets/app.css", get(css))
        .merge(pages::routes())
        .with_state(state)
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(csp),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ))
        .layer(tower_http::compression::CompressionLayer::new())
        .layer(TraceLayer::new_for_http())
}

async fn css() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        CSS,
    )
}

/// Serves until `shutdown` completes, then finishes the requests in flight.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}
