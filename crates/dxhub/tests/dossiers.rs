//! `dxhub import dossiers` / `export public-services` and `POST /api/v1/dossiers` as a
//! portal meets them: located rejections, nothing valid lost, re-imports change nothing.

mod common;

use std::io::Write;
use std::path::Path;

use common::{Running, dxhub};

const HEADER: &str = "dossier_id,source,version,service_code,province_code,commune_code,channel,end_to_end,status,received_at,due_at,completed_at,fee_vnd,paid_online";

fn golden(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../dxhub-ingest/tests/golden")
        .join(name)
}

fn import(url: &str, extra: &[&str]) -> (std::process::Output, serde_json::Value) {
    let out = dxhub()
        .env("RUST_BACKTRACE", "0")
        .args(["import", "dossiers", "--database", url])
        .args(extra)
        .output()
        .unwrap();
    let summary = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    (out, summary)
}

#[test]
fn import_reports_every_bad_line_and_applies_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("x.db").display());
    let rejects = dir.path().join("rejects.csv");
    let feed = golden("bad_2k.csv");
    let expected = std::fs::read_to_string(golden("bad_2k.csv.expected")).unwrap();
    let bad_lines = expected.lines().count() as u64;

    let (out, s) = import(
        &url,
        &[
            "--rejects",
            rejects.to_str().unwrap(),
            feed.to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(s["lines"], 2000);
    assert_eq!(s["rejected"], bad_lines, "{s}");
    assert_eq!(
        s["applied"].as_u64().unwrap() + s["stale"].as_u64().unwrap() + bad_lines,
        2000
    );
    let text = std::fs::read_to_string(&rejects).unwrap();
    let mut rows = text.lines();
    assert_eq!(rows.next(), Some("file,line,field,reason"));
    let got_lines: Vec<u64> = rows
        .map(|r| r.split(',').nth(1).unwrap().parse().unwrap())
        .collect();
    let want_lines: Vec<u64> = expected
        .lines()
        .map(|l| l.split(',').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(
        got_lines, want_lines,
        "each rejected line is reported with its number"
    );

    // The same file again: everything valid is already there, nothing is counted twice.
    let before = export(&url);
    let (out, s2) = import(&url, &[feed.to_str().unwrap()]);
    assert!(out.status.success());
    assert_eq!(s2["applied"], 0, "{s2}");
    assert_eq!(export(&url), before);
    assert!(before.starts_with(
        "province_code,month,received,online,end_to_end,completed,completed_on_time,online_payments,online_payment_vnd,services_online\n"
    ));
}

fn export(url: &str) -> String {
    let out = dxhub()
        .args([
            "export",
            "public-services",
            "--database",
            url,
            "--by",
            "province-month",
            "--format",
            "csv",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn codes_must_name_units_valid_when_received() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("x.db").display());
    let feed = dir.path().join("f.csv");
    let mut f = std::fs::File::create(&feed).unwrap();
    writeln!(f, "{HEADER}").unwrap();
    // Hà Giang (02) exists until 2025-06-30 only; 24 exists on both maps.
    writeln!(
        f,
        "A1,dvcqg,1,1.001612,02,,online,true,received,2025-06-30T10:00:00+07:00,,,0,false"
    )
    .unwrap();
    writeln!(
        f,
        "A2,dvcqg,1,1.001612,02,,online,true,received,2025-07-01T10:00:00+07:00,,,0,false"
    )
    .unwrap();
    writeln!(
        f,
        "A3,dvcqg,1,1.001612,24,99999,online,true,received,2025-07-01T10:00:00+07:00,,,0,false"
    )
    .unwrap();
    writeln!(
        f,
        "A4,dvcqg,1,1.001612,24,,online,true,received,2025-06-30T23:30:00Z,,,0,false"
    )
    .unwrap();
    drop(f);
    let (out, s) = import(&url, &[feed.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert_eq!(
        (
            s["lines"].as_u64(),
            s["applied"].as_u64(),
            s["rejected"].as_u64()
        ),
        (Some(4), Some(2), Some(2)),
        "{s}"
    );
    assert!(
        err.contains(":3: province_code: 02 names no province valid on 2025-07-01"),
        "{err}"
    );
    assert!(
        err.contains(":4: commune_code: 99999 is not a commune code"),
        "{err}"
    );
}

#[test]
fn unusable_files_fail_the_import() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("x.db").display());
    let (out, _) = import(&url, &["/nonexistent/feed.csv"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read /nonexistent/feed.csv"));
    let bad_header = dir.path().join("h.csv");
    std::fs::write(&bad_header, "dossier,source\nx,y\n").unwrap();
    let (out, _) = import(&url, &[bad_header.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("h.csv") && err.contains("dossier"), "{err}");
}

fn post(base: &str, key: Option<&str>, content_type: &str, body: &str) -> (u16, String) {
    let host = base.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(host).unwrap();
    let auth = key
        .map(|k| format!("Authorization: Bearer {k}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "POST /api/v1/dossiers HTTP/1.1\r\nHost: {host}\r\n{auth}Content-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = String::new();
    std::io::Read::read_to_string(&mut s, &mut raw).unwrap();
    let status = raw
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = raw
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

fn create_key(url: &str, source: &str, can: &str) -> String {
    let out = dxhub()
        .args([
            "key",
            "create",
            "--database",
            url,
            "--name",
            source,
            "--source",
            source,
            "--can",
            can,
        ])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    text.split_whitespace()
        .find(|w| w.starts_with("dxh_"))
        .unwrap()
        .to_owned()
}

#[test]
fn portals_push_snapshots_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let url = format!("sqlite://{}", data.join("dxhub.db").display());
    let server = Running::start(&["demo", "--data-dir", data.to_str().unwrap()]);
    let key = create_key(&url, "dvcqg", "ingest:dossiers");
    let usage_key = create_key(&url, "hcc-79", "ingest:usage");
    let ndjson = concat!(
        r#"{"dossier_id":"N1","source":"dvcqg","version":2,"service_code":"1.001612","province_code":"79","channel":"online","end_to_end":true,"status":"completed","received_at":"2025-08-01T09:00:00+07:00","due_at":"2025-08-05T17:00:00+07:00","completed_at":"2025-08-02T10:00:00+07:00","fee_vnd":50000,"paid_online":true}"#,
        "\n",
        r#"{"dossier_id":"N2","source":"hcc-79","version":1,"service_code":"1.001612","province_code":"79","channel":"online","end_to_end":true,"status":"received","received_at":"2025-08-01T09:00:00+07:00"}"#,
        "\n",
        r#"{"dossier_id":"N3","source":"dvcqg","version":1,"service_code":"1.001612","province_code":"79","channel":"ONLINE","end_to_end":true,"status":"received","received_at":"2025-08-01T09:00:00+07:00"}"#,
        "\n",
        r#"{"dossier_id":"N1","source":"dvcqg","version":1,"service_code":"1.001612","province_code":"79","channel":"direct","end_to_end":false,"status":"received","received_at":"2025-08-01T09:00:00+07:00"}"#,
        "\n",
    );
    let (status, body) = post(&server.base, Some(&key), "application/x-ndjson", ndjson);
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (
            v["lines"].as_u64(),
            v["applied"].as_u64(),
            v["stale"].as_u64(),
            v["rejected"].as_u64()
        ),
        (Some(4), Some(1), Some(1), Some(2)),
        "{v}"
    );
    let lines: Vec<(u64, &str)> = v["rejections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["line"].as_u64().unwrap(), r["field"].as_str().unwrap()))
        .collect();
    assert_eq!(lines, vec![(2, "source"), (3, "channel")]);

    assert_eq!(post(&server.base, None, "text/csv", "x").0, 401);
    assert_eq!(
        post(&server.base, Some("dxh_1_nonsense"), "text/csv", "x").0,
        401
    );
    assert_eq!(post(&server.base, Some(&usage_key), "text/csv", "x").0, 403);
    let (status, body) = post(&server.base, Some(&key), "text/csv", "not,a,feed\n");
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("bad_parameter"), "{body}");
    let csv = export(&url);
    assert!(csv.contains("\n79,2025-08,1,1,1,1,1,1,50000,1\n"), "{csv}");
}
