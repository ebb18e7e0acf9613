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
pub mod auth;
pub mod clock;
pub mod dossiers_api;
pub mod editions_api;
pub mod error;
pub mod group_commit;
pub mod i18n;
pub mod ingest;
mod maps;
pub mod oidc;
mod pages;
pub mod params;
pub mod public_services;
pub mod reports;
pub mod scores;
pub mod security;

pub use maps::Maps;
pub use pages::admin_validate_key as validate_key;

/// Settings of the web layer.
#[derive(Debug, Clone)]
pub struct WebConfig {
    /// Mark cookies `Secure` (set when dxhub is served behind TLS).
    pub secure_cookies: bool,
    /// How sign-in failures slow down further attempts.
    pub throttle: dxhub_core::accounts::ThrottlePolicy,
    /// How long a session lasts, in seconds.
    pub session_secs: i64,
    /// Sign-in through an external OpenID Connect provider (e.g. the national e-ID), if
    /// configured; discovered by [`AppState::with_oidc`].
    pub oidc: Option<oidc::OidcSettings>,
    /// The store holds generated demo data: every page says so.
    pub demo: bool,
    /// Where sessions, sign-in locks and publication stamps read the time.
    pub clock: clock::Clock,
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            secure_cookies: false,
            throttle: dxhub_core::accounts::ThrottlePolicy::default(),
            session_secs: 12 * 3600,
            oidc: None,
            demo: false,
            clock: clock::Clock::system(),
        }
    }
}

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// The database.
    pub store: Arc<dyn Store>,
    /// Province boundaries, projected once.
    pub maps: Arc<Maps>,
    /// Settings.
    pub config: Arc<WebConfig>,
    /// The discovered OpenID Connect provider, when `config.oidc` is set.
    pub oidc: Option<Arc<oidc::OidcClient>>,
    /// Group commit of pushed dossier batches, started on the first push (see
    /// [`AppState::dossier_writer`]).
    dossier_writer: Arc<std::sync::Mutex<Option<group_commit::GroupCommit>>>,
}

impl AppState {
    /// The group commit of pushed dossier batches: the running one, or one started now on
    /// the current runtime if none was, or if its task stopped (its runtime was shut
    /// down, or it panicked), so that pushes do not fail from then on.
    pub fn dossier_writer(&self) -> group_commit::GroupCommit {
        let mut writer = self
            .dossier_writer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match writer.as_ref() {
            Some(w) if w.is_running() => w.clone(),
            _ => writer
                .insert(group_commit::GroupCommit::start(self.store.clone()))
                .clone(),
        }
    }

    /// State over a store, with the shipped boundaries and default settings.
    pub fn new(store: Arc<dyn Store>) -> AppState {
        AppState::with_config(store, WebConfig::default())
    }

    /// State over a store with the given settings.
    pub fn with_config(store: Arc<dyn Store>, config: WebConfig) -> AppState {
        pages::set_demo(config.demo);
        AppState {
            store,
            maps: Arc::new(Maps::default()),
            config: Arc::new(config),
            oidc: None,
            dossier_writer: Arc::default(),
        }
    }

    /// State over a store with the given settings, discovering the OpenID Connect provider
    /// of `config.oidc` (if any) first; fails when it cannot be reached or is unsuitable.
    pub async fn with_oidc(
        store: Arc<dyn Store>,
        config: WebConfig,
    ) -> Result<AppState, oidc::OidcError> {
        let client = match &config.oidc {
            Some(settings) => Some(Arc::new(
                oidc::OidcClient::discover(settings.clone()).await?,
            )),
            None => None,
        };
        let mut state = AppState::with_config(store, config);
        state.oidc = client;
        Ok(state)
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
        // Dossier batches of 10,000 lines are ~1.5 MB; allow generous batches, not unbounded.
        .layer(axum::extract::DefaultBodyLimit::max(64 * 1024 * 1024))
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
    axum::serve(
        listener,
        router(state).into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
