//! The JSON API (`/api/v1/…`) and its OpenAPI 3 document, generated from these handlers.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use dxhub_core::units::{LineageEntry, Unit};
use dxhub_store::UnitFilter;
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::{ApiError, ErrorBody};
use crate::params::{Params, path_code};

/// The document's fixed parts; paths are added by the router from the handlers.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "dxhub API",
        description = "Administrative units of Viet Nam through time (63 provinces until \
                       2025-06-30, 34 from 2025-07-01) and the measurement of the national \
                       digital-transformation programme.",
        license(name = "MIT OR Apache-2.0")
    ),
    tags((name = "units", description = "Administrative units, ministries and their lineage"),
         (name = "public-services", description = "Dossier snapshots and public-service indicators"),
         (name = "system", description = "Health"))
)]
struct ApiDoc;

/// The API routes and the OpenAPI document describing them.
pub fn routes() -> (axum::Router<AppState>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(list_units))
        .routes(routes!(get_unit))
        .routes(routes!(get_lineage))
        .routes(routes!(healthz))
        .routes(routes!(crate::dossiers_api::ingest))
        .routes(routes!(crate::public_services::public_services))
        .routes(routes!(crate::editions_api::list_editions))
        .routes(routes!(crate::editions_api::get_edition))
        .split_for_parts()
}

/// One version of an administrative unit or ministry.
#[derive(Debug, Serialize, ToSchema)]
pub struct UnitDto {
    /// GSO code (2 digits province, 3 district, 5 commune) or ministry code.
    #[schema(example = "24")]
    pub code: String,
    /// Official name.
    #[schema(example = "Tỉnh Bắc Ninh")]
    pub name: String,
    /// `province`, `district`, `commune` or `ministry`.
    #[schema(example = "province")]
    pub level: String,
    /// Code of the direct parent valid on the same days.
    pub parent: Option<String>,
    /// First day valid (YYYY-MM-DD); null when it predates dxhub's records.
    #[schema(example = "2025-07-01")]
    pub valid_from: Option<String>,
    /// Last day valid, inclusive; null while still valid.
    pub valid_to: Option<String>,
    /// Name without the type word, where known.
    pub short_name: Option<String>,
    /// The unit's type in Vietnamese (Tỉnh, Xã, Phường, Đặc khu, Bộ …).
    #[serde(rename = "type")]
    pub kind: String,
    /// Code of the province it lies in.
    pub province: Option<String>,
}

impl From<&Unit> for UnitDto {
    fn from(u: &Unit) -> Self {
        UnitDto {
            code: u.code.clone(),
            name: u.name.clone(),
            level: u.level.as_str().to_owned(),
            parent: u.parent.clone(),
            valid_from: u.valid_from.map(|d| d.to_string()),
            valid_to: u.valid_to.map(|d| d.to_string()),
            short_name: u.short_name.clone(),
            kind: u.kind.clone(),
            province: u.province.clone(),
        }
    }
}

/// A list of units.
#[derive(Debug, Serialize, ToSchema)]
pub struct UnitList {
    /// The date the list is valid on.
    pub at: String,
    /// How many units.
    pub count: usize,
    /// The units, by level then code.
    pub units: Vec<UnitDto>,
}

/// A unit with its parent and children on the same day.
#[derive(Debug, Serialize, ToSchema)]
pub struct UnitDetail {
    /// The date asked about.
    pub at: String,
    /// The unit version valid that day.
    pub unit: UnitDto,
    /// Its direct parent, if any.
    pub parent: Option<UnitDto>,
    /// Its direct children (districts and communes of a province, communes of a district).
    pub children: Vec<UnitDto>,
}

/// A unit reached through lineage.
#[derive(Debug, Serialize, ToSchema)]
pub struct LineageDto {
    /// The unit version reached.
    #[serde(flatten)]
    pub unit: UnitDto,
    /// `full`: all of the older unit went into the newer; `partial`: only part of it.
    #[schema(example = "full")]
    pub kind: String,
    /// Reorganisations between the two (1 = direct).
    pub steps: u32,
}

impl From<&LineageEntry> for LineageDto {
    fn from(e: &LineageEntry) -> Self {
        LineageDto {
            unit: UnitDto::from(&e.unit),
            kind: e.kind.as_str().to_owned(),
            steps: e.steps,
        }
    }
}

/// Where a unit came from and what it became.
#[derive(Debug, Serialize, ToSchema)]
pub struct LineageResponse {
    /// The unit version the lineage is of.
    pub unit: UnitDto,
    /// Older units that became (part of) it, nearest first.
    pub predecessors: Vec<LineageDto>,
    /// Newer units that (part of) it became, nearest first.
    pub successors: Vec<LineageDto>,
}

/// Health of the service.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok` when the database answers.
    pub status: String,
    /// `sqlite` or `postgres`.
    pub store: String,
    /// The reference-data version loaded.
    pub reference: Option<String>,
}

/// Units valid on a day.
#[utoipa::path(
    get, path = "/api/v1/units", tag = "units",
    params(
        ("level" = Option<String>, Query, description = "province, district, commune or ministry; all when absent"),
        ("at" = Option<String>, Query, description = "YYYY-MM-DD; today in Viet Nam when absent"),
        ("parent" = Option<String>, Query, description = "only units whose direct parent or province has this code"),
    ),
    responses(
        (status = 200, description = "The units", body = UnitList),
        (status = 400, description = "A parameter is wrong", body = ErrorBody),
    )
)]
async fn list_units(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Json<UnitList>, ApiError> {
    let mut p = Params::parse(query.as_deref());
    let level = p.level()?;
    let at = p.at()?;
    let parent = p.code("parent")?;
    p.finish(&["level", "at", "parent"])?;
    let units = state
        .store
        .units(&UnitFilter {
            level,
            at,
            parent: parent.map(String::from),
        })
        .await?;
    Ok(Json(UnitList {
        at: at.to_string(),
        count: units.len(),
        units: units.iter().map(UnitDto::from).collect(),
    }))
}

/// Looks up the version of `code` valid on the request's `at`, or answers 404.
async fn resolve(
    state: &AppState,
    code: &str,
    query: Option<&str>,
) -> Result<(Unit, jiff::civil::Date), ApiError> {
    let code = path_code(code)?;
    let mut p = Params::parse(query);
    let at = p.at()?;
    p.finish(&["at"])?;
    match state
        .store
        .unit_at(code.as_str(), Some(code.level()), at)
        .await?
    {
        Some(u) => Ok((u, at)),
        None => Err(ApiError::NotFound(format!(
            "no unit with code {code} is valid on {at}"
        ))),
    }
}

/// One unit, with its parent and children, as of a day.
#[utoipa::path(
    get, path = "/api/v1/units/{code}", tag = "units",
    params(
        ("code" = String, Path, description = "unit code, e.g. 24, 001, 00004, BTC"),
        ("at" = Option<String>, Query, description = "YYYY-MM-DD; today in Viet Nam when absent"),
    ),
    responses(
        (status = 200, description = "The unit", body = UnitDetail),
        (status = 400, description = "A parameter is wrong", body = ErrorBody),
        (status = 404, description = "No unit with that code on that day", body = ErrorBody),
    )
)]
async fn get_unit(
    State(state): State<AppState>,
    Path(code): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<UnitDetail>, ApiError> {
    let (unit, at) = resolve(&state, &code, query.as_deref()).await?;
    let parent = match &unit.parent {
        Some(pc) => state.store.unit_at(pc, None, at).await?,
        None => None,
    };
    let children: Vec<Unit> = state
        .store
        .units(&UnitFilter {
            level: None,
            at,
            parent: Some(unit.code.clone()),
        })
        .await?
        .into_iter()
        .filter(|c| c.parent.as_deref() == Some(unit.code.as_str()) && c.level != unit.level)
        .collect();
    Ok(Json(UnitDetail {
        at: at.to_string(),
        unit: UnitDto::from(&unit),
        parent: parent.as_ref().map(UnitDto::from),
        children: children.iter().map(UnitDto::from).collect(),
    }))
}

/// Predecessors and successors of a unit, following every reorganisation.
#[utoipa::path(
    get, path = "/api/v1/units/{code}/lineage", tag = "units",
    params(
        ("code" = String, Path, description = "unit code"),
        ("at" = Option<String>, Query, description = "picks the version of the code valid that day"),
    ),
    responses(
        (status = 200, description = "The lineage", body = LineageResponse),
        (status = 400, description = "A parameter is wrong", body = ErrorBody),
        (status = 404, description = "No unit with that code on that day", body = ErrorBody),
    )
)]
async fn get_lineage(
    State(state): State<AppState>,
    Path(code): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<LineageResponse>, ApiError> {
    let (unit, _) = resolve(&state, &code, query.as_deref()).await?;
    let lineage = state.store.lineage(&unit.key()).await?;
    Ok(Json(LineageResponse {
        unit: UnitDto::from(&unit),
        predecessors: lineage.predecessors.iter().map(LineageDto::from).collect(),
        successors: lineage.successors.iter().map(LineageDto::from).collect(),
    }))
}

/// Whether the service and its database answer.
#[utoipa::path(
    get, path = "/healthz", tag = "system",
    responses((status = 200, description = "Healthy", body = Health),
              (status = 500, description = "The database does not answer", body = ErrorBody))
)]
async fn healthz(State(state): State<AppState>) -> Result<Json<Health>, ApiError> {
    state.store.ping().await?;
    Ok(Json(Health {
        status: "ok".to_owned(),
        store: state.store.backend().to_owned(),
        reference: state.store.reference_version().await?,
    }))
}
