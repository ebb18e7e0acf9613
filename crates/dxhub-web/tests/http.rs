//! The API and pages through the real router, in process, on a SQLite store holding the
//! shipped reference data.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use dxhub_web::{AppState, router};
use http_body_util::BodyExt;
use serde_json::Value;
use tokio::sync::OnceCell;
use tower::ServiceExt;

struct Fixture {
    state: AppState,
    _dir: tempfile::TempDir,
}

async fn state() -> AppState {
    static FIXTURE: OnceCell<Fixture> = OnceCell::const_new();
    FIXTURE
        .get_or_init(|| async {
            let dir = tempfile::tempdir().unwrap();
            let store = dxhub_db::open(&dxhub_db::sqlite_url_in(dir.path()))
                .await
                .unwrap();
            let data = dxhub_reference::ReferenceData::embedded().unwrap();
            store.load_reference(&data).await.unwrap();
            Fixture {
                state: AppState::new(store),
                _dir: dir,
            }
        })
        .await
        .state
        .clone()
}

struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

async fn get_with(uri: &str, cookie: Option<&str>) -> Answer {
    let mut req = Request::get(uri);
    if let Some(c) = cookie {
        req = req.header(header::COOKIE, c);
    }
    let resp = router(state().await)
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        headers,
        body: String::from_utf8(bytes.to_vec()).unwrap(),
    }
}

async fn get(uri: &str) -> Answer {
    get_with(uri, None).await
}

async fn count(query: &str) -> u64 {
    let a = get(&format!("/api/v1/units?{query}")).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let v = a.json();
    assert_eq!(
        v["count"].as_u64().unwrap(),
        v["units"].as_array().unwrap().len() as u64
    );
    v["count"].as_u64().unwrap()
}

#[tokio::test]
async fn unit_counts_through_time() {
    assert_eq!(count("level=province&at=2025-06-30").await, 63);
    assert_eq!(count("level=province&at=2025-07-01").await, 34);
    assert_eq!(count("level=commune&at=2025-07-01").await, 3_321);
    assert_eq!(count("level=commune&at=2025-06-30").await, 10_047);
    assert_eq!(count("level=district&at=2025-06-30").await, 696);
    assert_eq!(count("level=commune&at=2025-07-01&parent=24").await, 99);
}

#[tokio::test]
async fn unit_list_fields() {
    let v = get("/api/v1/units?level=province&at=2025-07-01")
        .await
        .json();
    let first = &v["units"][0];
    for field in ["code", "name", "level", "parent", "valid_from", "valid_to"] {
        assert!(first.get(field).is_some(), "missing {field}: {first}");
    }
    assert_eq!(first["code"], "01");
    assert_eq!(first["valid_from"], "2025-07-01");
    assert_eq!(first["valid_to"], Value::Null);
}

#[tokio::test]
async fn one_unit_with_parent_and_children() {
    let v = get("/api/v1/units/24?at=2025-06-30").await.json();
    assert_eq!(v["unit"]["name"], "Tỉnh Bắc Giang");
    assert_eq!(v["parent"], Value::Null);
    // Bắc Giang had districts as its children before the reorganisation.
    let kids = v["children"].as_array().unwrap();
    assert!(!kids.is_empty() && kids.iter().all(|k| k["level"] == "district"));

    let v = get("/api/v1/units/24?at=2025-07-01").await.json();
    assert_eq!(v["unit"]["name"], "Tỉnh Bắc Ninh");
    assert_eq!(v["children"].as_array().unwrap().len(), 99);

    let v = get("/api/v1/units/00004?at=2025-07-01").await.json();
    assert_eq!(v["unit"]["name"], "Phường Ba Đình");
    assert_eq!(v["parent"]["code"], "01");
    assert_eq!(v["parent"]["name"], "Thành phố Hà Nội");
}

#[tokio::test]
async fn lineage_both_ways() {
    let v = get("/api/v1/units/24/lineage?at=2025-07-01").await.json();
    let preds: Vec<(&str, &str)> = v["predecessors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["name"].as_str().unwrap(), p["kind"].as_str().unwrap()))
        .collect();
    assert_eq!(
        preds,
        vec![("Tỉnh Bắc Giang", "full"), ("Tỉnh Bắc Ninh", "full")]
    );

    let v = get("/api/v1/units/24/lineage?at=2025-06-30").await.json();
    assert_eq!(v["successors"][0]["name"], "Tỉnh Bắc Ninh");
    assert_eq!(v["successors"][0]["valid_from"], "2025-07-01");
    assert_eq!(v["predecessors"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn split_communes_list_every_successor_as_partial() {
    let data = dxhub_reference::ReferenceData::embedded().unwrap();
    let mut by_old = std::collections::BTreeMap::<&str, Vec<&str>>::new();
    for e in data
        .lineage
        .iter()
        .filter(|e| e.from.level == dxhub_core_level())
    {
        by_old
            .entry(e.from.code.as_str())
            .or_default()
            .push(e.to.code.as_str());
    }
    let (old, news) = by_old.iter().find(|(_, v)| v.len() >= 3).unwrap();
    let v = get(&format!("/api/v1/units/{old}/lineage?at=2025-06-30"))
        .await
        .json();
    let succ = v["successors"].as_array().unwrap();
    assert_eq!(succ.len(), news.len(), "{v}");
    assert!(
        succ.iter()
            .all(|s| s["kind"] == "partial" && s["level"] == "commune")
    );
}

fn dxhub_core_level() -> dxhub_core::units::UnitLevel {
    dxhub_core::units::UnitLevel::Commune
}

#[tokio::test]
async fn bad_parameters_are_named() {
    for (uri, param) in [
        ("/api/v1/units?level=town", "level"),
        ("/api/v1/units?at=2025-02-30", "at"),
        ("/api/v1/units?at=yesterday", "at"),
        ("/api/v1/units?parent=1", "parent"),
        ("/api/v1/units?levle=province", "levle"),
        ("/api/v1/units?at=2025-07-01&at=2025-07-02", "at"),
        ("/api/v1/units/ABC1?at=2025-07-01", "code"),
        ("/api/v1/units/24?at=2025/07/01", "at"),
        ("/api/v1/units/24/lineage?level=province", "level"),
    ] {
        let a = get(uri).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{uri}: {}", a.body);
        let v = a.json();
        assert_eq!(v["error"]["code"], "bad_parameter", "{uri}");
        assert_eq!(v["error"]["parameter"], param, "{uri}");
        assert!(!v["error"]["message"].as_str().unwrap().is_empty());
    }
}

#[tokio::test]
async fn unknown_units_are_404() {
    for uri in [
        "/api/v1/units/99?at=2025-07-01",
        "/api/v1/units/02?at=2025-07-01",
        "/api/v1/units/99/lineage",
    ] {
        let a = get(uri).await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "{uri}");
        assert_eq!(a.json()["error"]["code"], "not_found");
    }
}

#[tokio::test]
async fn openapi_describes_the_api() {
    let v = get("/api/openapi.json").await.json();
    assert!(v["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/api/v1/units",
        "/api/v1/units/{code}",
        "/api/v1/units/{code}/lineage",
        "/healthz",
    ] {
        assert!(v["paths"].get(path).is_some(), "{path} missing");
    }
    assert!(v["components"]["schemas"].get("UnitDto").is_some());
}

#[tokio::test]
async fn healthz_reports_the_store() {
    let v = get("/healthz").await.json();
    assert_eq!(v["status"], "ok");
    assert_eq!(v["store"], "sqlite");
}

#[tokio::test]
async fn home_page_draws_the_map_of_the_day() {
    let old = get("/?at=2025-06-30").await;
    assert_eq!(old.status, StatusCode::OK);
    assert!(
        old.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert_eq!(old.body.matches("<path class=\"prov").count(), 63);
    assert!(old.body.contains("<html lang=\"vi\">"));
    assert!(old.body.contains("Quần đảo Hoàng Sa") && old.body.contains("Quần đảo Trường Sa"));
    assert!(old.body.contains("href=\"/units/27?at=2025-06-30\""));
    let new = get("/?at=2025-07-01").await;
    assert_eq!(new.body.matches("<path class=\"prov").count(), 34);
    assert!(new.body.contains("3.321"));
    assert!(
        !new.body.contains("<script"),
        "pages work without JavaScript"
    );
}

#[tokio::test]
async fn language_switch_is_remembered() {
    let en = get("/?at=2025-07-01&lang=en").await;
    assert!(en.body.contains("<html lang=\"en\">"));
    assert!(en.body.contains("Administrative map of Viet Nam"));
    let cookie = en.headers[header::SET_COOKIE].to_str().unwrap();
    assert!(cookie.starts_with("lang=en"));
    let again = get_with("/units/01?at=2025-07-01", Some("lang=en")).await;
    assert!(again.body.contains("<html lang=\"en\">"));
    assert!(get("/?lang=fr").await.status == StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn province_page_shows_lineage_and_communes() {
    let p = get("/units/24?at=2025-07-01").await;
    assert_eq!(p.status, StatusCode::OK);
    assert!(p.body.contains("Hình thành từ"));
    assert!(p.body.contains("Tỉnh Bắc Giang") && p.body.contains("/units/27?at=2025-06-30"));
    assert!(p.body.contains("figure class=\"minimap\""));
    assert!(p.body.contains("Xã, phường, đặc khu") && p.body.contains("(99)"));
    let old = get("/units/27?at=2025-06-30").await;
    assert!(old.body.contains("Sau sắp xếp trở thành"));
    assert!(old.body.contains("prov subject"));
    let gone = get("/units/02?at=2025-07-01").await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    assert!(
        gone.body.contains("Tỉnh Hà Giang"),
        "a retired code points to the units that carried it"
    );
    assert_eq!(get("/units/98").await.status, StatusCode::NOT_FOUND);
    assert_eq!(get("/units/x").await.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn security_headers() {
    let a = get("/").await;
    let csp = a.headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe-inline"));
    assert_eq!(a.headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
}
