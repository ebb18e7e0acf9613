//! Published editions as JSON for scripts: `GET /api/v1/editions` (the list) and
//! `GET /api/v1/editions/{id}` (one edition with its frozen payload: methodology text,
//! every unit's score, rank, main-indicator values and their provenance).

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use serde::Serialize;
use utoipa::ToSchema;

use crate::AppState;
use crate::error::{ApiError, ErrorBody};
use crate::params::Params;

/// An edition without its payload.
#[derive(Debug, Serialize, ToSchema)]
pub struct EditionSummary {
    /// Edition number (the `{id}` of the other routes and of `/rankings/{id}`).
    pub id: i64,
    /// Stable unique name.
    pub slug: String,
    /// Methodology id, e.g. `dti-province-2022`.
    pub methodology: String,
    /// Methodology version used.
    pub methodology_version: i64,
    /// Period, e.g. `2024`.
    pub period: String,
    /// `63` or `34` provinces.
    pub map: String,
    /// `computed`, `historical` or `demo`.
    pub kind: String,
    /// Vietnamese title.
    pub title_vi: String,
    /// English title.
    pub title_en: String,
    /// When it was published (UTC).
    pub published_at: String,
}

impl From<dxhub_store::Edition> for EditionSummary {
    fn from(e: dxhub_store::Edition) -> Self {
        EditionSummary {
            id: e.id,
            slug: e.slug,
            methodology: e.methodology,
            methodology_version: e.methodology_version,
            period: e.period,
            map: e.map,
            kind: e.kind,
            title_vi: e.title_vi,
            title_en: e.title_en,
            published_at: e.published_at,
        }
    }
}

/// Every published edition, newest period first.
#[utoipa::path(
    get, path = "/api/v1/editions", tag = "indices",
    responses((status = 200, description = "Published editions", body = [EditionSummary]),
              (status = 400, description = "An unknown parameter", body = ErrorBody))
)]
pub async fn list_editions(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Vec<EditionSummary>>, ApiError> {
    Params::parse(raw.as_deref()).finish(&[])?;
    let list = state.store.editions().await?;
    Ok(Json(list.into_iter().map(EditionSummary::from).collect()))
}

/// One edition and its frozen content.
#[derive(Debug, Serialize, ToSchema)]
pub struct EditionDocument {
    /// The edition.
    pub edition: EditionSummary,
    /// The frozen payload: `methodology`, `methodology_version`, `methodology_text`,
    /// `display`, `period`, `map`, `indicators`, `rows` (unit, name, score, rank, values,
    /// missing, provenance), `note`, `source`.
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
}

/// One published edition with everything it was computed from.
#[utoipa::path(
    get, path = "/api/v1/editions/{id}", tag = "indices",
    params(("id" = i64, Path, description = "edition number")),
    responses((status = 200, description = "The edition", body = EditionDocument),
              (status = 400, description = "A bad parameter", body = ErrorBody),
              (status = 404, description = "No such edition", body = ErrorBody))
)]
pub async fn get_edition(
    State(state): State<AppState>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<EditionDocument>, ApiError> {
    Params::parse(raw.as_deref()).finish(&[])?;
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::bad("id", format!("'{id}' is not an edition number")))?;
    let e = state
        .store
        .edition(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("there is no edition {id}")))?;
    let payload = serde_json::from_str(&e.payload).map_err(|err| {
        ApiError::Store(dxhub_store::StoreError::Corrupt(format!(
            "edition {id} does not read: {err}"
        )))
    })?;
    Ok(Json(EditionDocument {
        edition: e.into(),
        payload,
    }))
}
