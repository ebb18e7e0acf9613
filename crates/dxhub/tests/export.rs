//! `dxhub export public-services` in every grouping and format: the CSV header per
//! period, nation rows, and the XLSX workbook read back with calamine.

mod common;

use calamine::{Data, Reader, Xlsx, open_workbook};
use common::dxhub;

const HEADER: &str = "dossier_id,source,version,service_code,province_code,commune_code,channel,end_to_end,status,received_at,due_at,completed_at,fee_vnd,paid_online";

/// A store with a small feed: 79 in January and February 2026 (one service online in
/// both months), 01 in February.
fn store(dir: &std::path::Path) -> String {
    let url = format!("sqlite://{}", dir.join("x.db").display());
    let feed = dir.join("feed.csv");
    let lines = [
        "A1,t,1,1.000001,79,,online,true,completed,2026-01-05T01:00:00Z,2026-01-10T01:00:00Z,2026-01-08T01:00:00Z,50000,true",
        "A2,t,1,1.000001,79,,online,false,completed,2026-02-05T01:00:00Z,2026-02-06T01:00:00Z,2026-02-09T01:00:00Z,0,false",
        "A3,t,1,1.000002,79,,direct,false,received,2026-02-07T01:00:00Z,,,0,false",
        "A4,t,1,1.000002,01,,online,true,received,2026-02-07T01:00:00Z,,,0,false",
    ];
    std::fs::write(&feed, format!("{HEADER}\n{}\n", lines.join("\n"))).unwrap();
    let out = dxhub()
        .args([
            "import",
            "dossiers",
            "--database",
            &url,
            feed.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    url
}

fn export(url: &str, args: &[&str]) -> std::process::Output {
    dxhub()
        .env("RUST_BACKTRACE", "0")
        .args(["export", "public-services", "--database", url])
        .args(args)
        .output()
        .unwrap()
}

fn ok(out: std::process::Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn groupings_name_their_period_and_count_services_distinctly() {
    let dir = tempfile::tempdir().unwrap();
    let url = store(dir.path());
    let pm = ok(export(&url, &["--by", "province-month"]));
    assert_eq!(
        pm,
        "province_code,month,received,online,end_to_end,completed,completed_on_time,online_payments,online_payment_vnd,services_online\n\
         01,2026-02,1,1,1,0,0,0,0,1\n\
         79,2026-01,1,1,1,1,1,1,50000,1\n\
         79,2026-02,2,1,0,1,0,0,0,1\n"
    );
    let nq = ok(export(&url, &["--by", "nation-quarter"]));
    assert_eq!(
        nq,
        "province_code,quarter,received,online,end_to_end,completed,completed_on_time,online_payments,online_payment_vnd,services_online\n\
         VN,2026-Q1,4,3,2,2,1,1,50000,2\n"
    );
    let py = ok(export(&url, &["--by", "province-year"]));
    assert!(py.starts_with("province_code,year,"), "{py}");
    assert!(py.contains("\n79,2026,3,2,1,2,1,1,50000,1\n"), "{py}");
    let json: serde_json::Value = serde_json::from_str(&ok(export(
        &url,
        &["--by", "nation-month", "--format", "json"],
    )))
    .unwrap();
    assert_eq!(json["rows"][1]["month"], "2026-02");
    assert_eq!(json["rows"][1]["province_code"], "VN");
    assert_eq!(json["rows"][1]["services_online"], 2);
}

#[test]
fn bad_arguments_are_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let url = store(dir.path());
    let out = export(&url, &["--format", "xlsx"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--out"));
    let out = export(&url, &["--by", "district-month"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("province-month"));
    let out = export(&url, &["--format", "xml"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("xlsx"));
}

#[test]
fn xlsx_has_numbers_and_rates() {
    let dir = tempfile::tempdir().unwrap();
    let url = store(dir.path());
    let path = dir.path().join("ps.xlsx");
    ok(export(
        &url,
        &[
            "--by",
            "province-month",
            "--format",
            "xlsx",
            "--out",
            path.to_str().unwrap(),
        ],
    ));
    let mut book: Xlsx<_> = open_workbook(&path).unwrap();
    let sheet = book.worksheet_range("public_services").unwrap();
    let cell = |r: u32, c: u32| sheet.get_value((r, c)).cloned();
    let head: Vec<String> = (0..13).map(|c| cell(0, c).unwrap().to_string()).collect();
    assert_eq!(
        head.join(","),
        "province_code,month,received,online,end_to_end,completed,completed_on_time,online_payments,online_payment_vnd,services_online,online_share,end_to_end_share,on_time_share"
    );
    assert_eq!(sheet.height(), 4);
    // 79 / 2026-02: 2 received, 1 online, 1 completed late.
    assert_eq!(cell(3, 0), Some(Data::String("79".into())));
    assert_eq!(cell(3, 1), Some(Data::String("2026-02".into())));
    assert_eq!(cell(3, 2), Some(Data::Float(2.0)));
    assert_eq!(cell(3, 10), Some(Data::Float(0.5)));
    assert_eq!(cell(3, 11), Some(Data::Float(0.0)));
    assert_eq!(cell(3, 12), Some(Data::Float(0.0)));
    // 01 / 2026-02: nothing completed, so no on-time share.
    assert_eq!(cell(1, 8), Some(Data::Float(0.0)));
    assert!(matches!(cell(1, 12), None | Some(Data::Empty)));
    // 79 / 2026-01: the online payment in VND is a number.
    assert_eq!(cell(2, 8), Some(Data::Float(50000.0)));
    assert_eq!(cell(2, 12), Some(Data::Float(1.0)));
}
