//! `GET /api/v1/public-services` through the real router on a SQLite store holding a
//! small dossier feed: counts, rates computed on read, and 400s naming the parameter.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use dxhub_web::{AppState, router};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tokio::sync::OnceCell;
use tower::ServiceExt;

const HEADER: &str = "dossier_id,source,version,service_code,province_code,commune_code,channel,end_to_end,status,received_at,due_at,completed_at,fee_vnd,paid_online";

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
            let lines = [
                "A1,t,1,1.000001,79,,online,true,completed,2026-01-05T01:00:00Z,2026-01-10T01:00:00Z,2026-01-08T01:00:00Z,50000,true",
                "A2,t,1,1.000001,79,,online,false,completed,2026-02-05T01:00:00Z,2026-02-06T01:00:00Z,2026-02-09T01:00:00Z,0,false",
                "A3,t,1,1.000002,79,,direct,false,received,2026-02-07T01:00:00Z,,,0,false",
                "A4,t,1,1.000002,01,,online,true,received,2026-04-07T01:00:00Z,,,0,false",
            ];
            let text = format!("{HEADER}\n{}\n", lines.join("\n"));
            let (parsed, rejected, _) =
                dxhub_ingest::parse_all(text.as_bytes(), dxhub_ingest::Format::Csv).unwrap();
            assert!(rejected.is_empty(), "{rejected:?}");
            store.ingest_dossiers(parsed).await.unwrap();
            Fixture {
                state: AppState::new(store),
                _dir: dir,
            }
        })
        .await
        .state
        .clone()
}

async fn get(uri: &str) -> (StatusCode, Value) {
    let resp = router(state().await)
        .oneshot(Request::get(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&bytes)));
    (status, body)
}

#[tokio::test]
async fn counts_and_rates_per_period() {
    let (s, b) = get("/api/v1/public-services?unit=79&period=2026-02").await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(
        b["rows"],
        json!([{
            "unit": "79", "period": "2026-02", "received": 2, "online": 1, "end_to_end": 0,
            "completed": 1, "completed_on_time": 0, "online_payments": 0,
            "online_payment_vnd": 0, "services_online": 1,
            "online_share": 0.5, "end_to_end_share": 0.0, "on_time_share": 0.0
        }])
    );
    // The nation's first quarter: a service online in two months counts once.
    let (s, b) = get("/api/v1/public-services?unit=VN&period=2026-Q1").await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["grouping"], "quarter");
    let r = &b["rows"][0];
    assert_eq!(r["period"], "2026-Q1");
    assert_eq!(
        (r["received"].as_u64(), r["services_online"].as_u64()),
        (Some(3), Some(1))
    );
    assert_eq!(r["on_time_share"], 0.5);
    assert_eq!(r["online_payment_vnd"], 50000);
    // Nothing completed: the on-time share is null, not 0 or NaN.
    let (_, b) = get("/api/v1/public-services?unit=01&period=2026").await;
    assert_eq!(b["rows"][0]["period"], "2026");
    assert_eq!(b["rows"][0]["on_time_share"], Value::Null);
    assert_eq!(b["rows"][0]["online_share"], 1.0);
    // A range of months, nation by default.
    let (s, b) = get("/api/v1/public-services?from=2026-02&to=2026-04").await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["unit"], "VN");
    let periods: Vec<&str> = b["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["period"].as_str().unwrap())
        .collect();
    assert_eq!(periods, ["2026-02", "2026-04"]);
    let (_, b) = get("/api/v1/public-services?unit=02&period=2026").await;
    assert_eq!(b["rows"], json!([]));
}

#[tokio::test]
async fn bad_parameters_are_named() {
    for (query, parameter) in [
        ("unit=7", "unit"),
        ("unit=HN", "unit"),
        ("period=2026-13", "period"),
        ("period=2026-Q5", "period"),
        ("period=2026&from=2026-01", "period"),
        ("from=2026-1", "from"),
        ("to=March", "to"),
        ("unit=79&unit=01", "unit"),
        ("perod=2026", "perod"),
    ] {
        let (s, b) = get(&format!("/api/v1/public-services?{query}")).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{query}: {b}");
        assert_eq!(b["error"]["parameter"], parameter, "{query}: {b}");
    }
}

async fn text(uri: &str) -> (StatusCode, String) {
    let resp = router(state().await)
        .oneshot(Request::get(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(bytes.to_vec()).unwrap())
}

#[tokio::test]
async fn dashboard_shows_map_trend_and_sortable_table() {
    let (s, html) = text("/public-services?period=2026").await;
    assert_eq!(s, StatusCode::OK, "{html}");
    assert!(html.contains("Dịch vụ công"), "nav link and title");
    assert!(html.contains("svg class=\"map national choropleth\""));
    // 79 has the lower online share (2/3), 01 the higher (1/1); the rest have no data.
    assert!(html.contains("class=\"prov q0\""));
    assert!(html.contains("class=\"prov q2\""));
    assert!(html.contains("class=\"prov nodata\""));
    assert!(html.contains("svg class=\"trend\""));
    assert!(html.contains("table class=\"provinces\""));
    assert!(html.contains("66.7%"));
    assert!(
        html.contains("href=\"/public-services?period=2026&amp;rate=online_share&amp;sort=received&amp;dir=asc\""),
        "sort links"
    );
    assert!(!html.contains("<script"));
    assert!(!html.contains(" style="));
    assert_eq!(
        html.matches("class=\"prov ").count(),
        34,
        "the 34-province map for 2026"
    );
    assert!(html.contains("class=\"legend\""), "the map has a legend");

    // A period before 1 July 2025 is drawn on the 63-province map.
    let (s, html) = text("/public-services?period=2025-03").await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("Bản đồ 63 tỉnh"), "{html}");
    assert_eq!(html.matches("class=\"prov ").count(), 63);

    // Sorting: by received, descending, 79 first; the CSV follows the same order.
    let (s, html) = text("/public-services?period=2026&sort=received&dir=desc").await;
    assert_eq!(s, StatusCode::OK);
    let (a, b) = (html.find("(79)").unwrap(), html.find("(01)").unwrap());
    assert!(a < b);
    assert!(html.contains("href=\"/public-services.csv?period=2026&amp;rate=online_share&amp;sort=received&amp;dir=desc\""));
    let (s, csv) =
        text("/public-services.csv?period=2026&rate=online_share&sort=received&dir=desc").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        csv,
        "province_code,year,received,online,online_share,end_to_end_share,on_time_share,online_payments,online_payment_vnd,services_online\n\
         79,2026,3,2,0.666667,0.333333,0.500000,1,50000,1\n\
         01,2026,1,1,1.000000,1.000000,,0,0,1\n"
    );
    let (_, csv) = text("/public-services.csv?period=2026&sort=received&dir=asc").await;
    assert!(csv.find("\n01,").unwrap() < csv.find("\n79,").unwrap());

    // No period: the latest month with data.
    let (s, html) = text("/public-services").await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("2026-04"));
    for bad in [
        "sort=bogus",
        "dir=up",
        "rate=x",
        "period=2026-13",
        "sort=unit&sort=unit",
    ] {
        let (s, _) = text(&format!("/public-services?{bad}")).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}");
        let (s, _) = text(&format!("/public-services.csv?{bad}")).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}");
    }
}

/// Measured values flow into the indicators that declare them, with no report: index 766's
/// on-time and online groups come from the dossier cells, with their provenance.
#[tokio::test]
async fn measured_values_flow_into_index_766() {
    let (store, _dir) = common::store_with_reference().await;
    let lines = [
        "B1,t,1,1.000001,79,,online,true,completed,2026-01-05T01:00:00Z,2026-01-10T01:00:00Z,2026-01-08T01:00:00Z,50000,true",
        "B2,t,1,1.000001,79,,online,false,completed,2026-02-05T01:00:00Z,2026-02-06T01:00:00Z,2026-02-09T01:00:00Z,0,false",
        "B3,t,1,1.000002,79,,direct,false,received,2026-02-07T01:00:00Z,,,0,false",
    ];
    let text = format!("{HEADER}\n{}\n", lines.join("\n"));
    let (parsed, _, _) =
        dxhub_ingest::parse_all(text.as_bytes(), dxhub_ingest::Format::Csv).unwrap();
    store.ingest_dossiers(parsed).await.unwrap();
    let m = dxhub_index::shipped_by_id("index-766").unwrap();
    let p = dxhub_web::scores::compute(store.as_ref(), &m, &dxhub_index::Period::Year(2026))
        .await
        .unwrap();
    let hcm = p.rows.iter().find(|r| r.unit == "79").unwrap();
    // On time: 1 of 2 completed; online: (2/3 + 1/3) / 2.
    assert!(
        (hcm.values["tien_do_ket_qua"] - 0.5).abs() < 1e-12,
        "{hcm:?}"
    );
    assert!(
        (hcm.values["dich_vu_truc_tuyen"] - 0.5).abs() < 1e-12,
        "{hcm:?}"
    );
    assert!((hcm.score.unwrap() - (0.5 * 20.0 + 0.5 * 22.0)).abs() < 1e-9);
    assert_eq!(hcm.rank, Some(1));
    assert!(
        hcm.provenance["tien_do_ket_qua"]
            .iter()
            .any(|p| matches!(p, dxhub_index::Provenance::Measured { .. })),
        "{:?}",
        hcm.provenance
    );
    // Reported groups without a report count as missing, never silently.
    assert!(hcm.missing.contains(&"cong_khai_minh_bach".to_string()));
    // Provinces without dossiers are listed unranked.
    assert!(p.rows.iter().any(|r| r.unit == "01" && r.rank.is_none()));
}
