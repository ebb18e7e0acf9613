//! `dxhub index score` and `dxhub index methodologies` through the real binary: published
//! DTI 2022 totals reproduced from hand-derived main-indicator values, ties, bad input.

mod common;

use std::io::Write;
use std::process::{Output, Stdio};

use common::dxhub;

/// CSV rows for one unit, values in the order of the DTI 2022 main indicators.
fn unit(code: &str, values: [f64; 9]) -> String {
    let m = dxhub_index::shipped_by_id("dti-province-2022").unwrap();
    m.main_indicators()
        .zip(values)
        .map(|(i, v)| format!("{code},{},{v}\n", i.code))
        .collect()
}

/// Runs `dxhub index score` with the CSV on standard input.
fn score(methodology: &str, csv: &str) -> Output {
    let mut child = dxhub()
        .args([
            "index",
            "score",
            "--methodology",
            methodology,
            "--values",
            "-",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start dxhub");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(csv.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Made-up units (in `crates/dxhub-index/tests/data`): each unit's values were picked by
/// hand, not taken from any table, so that Σ value × points / 1000 equals the published DTI
/// 2022 total of the province named. Points: 100 ×5, Đô thị thông minh 0 (not scored),
/// 200, 150, 150.
///
/// | unit | values (the 9 main indicators in file order) | Σ value × points | published |
/// |---|---|---|---|
/// | a | .95 .90 .78 .702 .85 (.30) .80 .70 .78 | 95+90+78+70.2+85+160+105+117 = 800.2 | Đà Nẵng 0.8002 |
/// | b | .80 .75 .70 .648 .72 (0) .70 .74 .69 | 80+75+70+64.8+72+140+111+103.5 = 716.3 | TP.HCM 0.7163 |
/// | c | .85 .70 .614 .60 .75 (1) .72 .68 .70 | 85+70+61.4+60+75+144+102+105 = 702.4 | Quảng Ninh 0.7024 |
/// | d | .90 .65 .70 .55 .725 (.5) .75 .62 .68 | 90+65+70+55+72.5+150+93+102 = 697.5 | Huế 0.6975 |
/// | e | .70 .70 .70 .70 .70 (0) .68 .70 .676 | 350+136+105+101.4 = 692.4 | Cần Thơ 0.6924 |
const TOP_FIVE: &str = include_str!("../../dxhub-index/tests/data/dti_2022_made_up_units.csv");

#[test]
fn reproduces_published_dti_2022_totals_to_4_decimals() {
    let out = score("dti-province-2022", TOP_FIVE);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "unit_code,score,rank\n\
         made-up-a,0.8002,1\n\
         made-up-b,0.7163,2\n\
         made-up-c,0.7024,3\n\
         made-up-d,0.6975,4\n\
         made-up-e,0.6924,5\n"
    );
    assert_eq!(
        text(&out.stderr),
        "",
        "no warnings when every value is given"
    );
    // The published totals, read from the shipped reference data, match.
    let published = include_str!("../../../data/reference/dti/dti_2022_province_ranking.csv");
    for total in ["0.8002", "0.7163", "0.7024", "0.6975", "0.6924"] {
        assert!(published.contains(&format!(",{total}\n")), "{total}");
    }
}

#[test]
fn ties_share_a_rank_and_sort_by_unit_code() {
    let mut csv = String::from("unit_code,indicator,value\n");
    csv += &unit("z", [0.5; 9]);
    csv += &unit("y", [0.5; 9]);
    csv += &unit("top", [0.9; 9]);
    // 0.50004 rounds to 0.5000 as well: still a tie.
    csv += &unit("x", [0.50004, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]);
    csv += &unit("low", [0.1; 9]);
    let out = score("dti-province-2022", &csv);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "unit_code,score,rank\ntop,0.9000,1\nx,0.5000,2\ny,0.5000,2\nz,0.5000,2\nlow,0.1000,5\n"
    );
}

#[test]
fn a_missing_scored_value_is_a_warning_and_counts_as_zero() {
    let csv = "unit_code,indicator,value\nq,nhan_thuc_so,1\nq,hd_chinh_quyen_so,1\n";
    let out = score("dti-province-2022", csv);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "unit_code,score,rank\nq,0.3000,1\n");
    let err = text(&out.stderr);
    assert!(
        err.contains("unit q: no value for scored indicator hd_xa_hoi_so"),
        "{err}"
    );
    assert_eq!(err.matches("warning:").count(), 6, "{err}");
    assert!(!err.contains("do_thi_thong_minh"), "not scored: {err}");
}

#[test]
fn a_byte_order_mark_from_a_spreadsheet_is_accepted() {
    let out = score(
        "dti-province-2022",
        "\u{feff}unit_code,indicator,value\nq,hd_chinh_quyen_so,1\n",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "unit_code,score,rank\nq,0.2000,1\n");
}

#[test]
fn index_766_scores_in_points() {
    let csv = "unit_code,indicator,value\n\
               p,cong_khai_minh_bach,0.9\np,tien_do_ket_qua,0.95\np,dich_vu_truc_tuyen,0.6\n\
               p,so_hoa_ho_so,0.5\np,muc_do_hai_long,0.8\n";
    let out = score("index-766", csv);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "unit_code,score,rank\np,73.8000,1\n");
}

#[track_caller]
fn refused(methodology: &str, csv: &str, needles: &[&str]) {
    let out = score(methodology, csv);
    assert!(!out.status.success(), "must fail: {csv}");
    assert!(out.stdout.is_empty(), "nothing printed on stdout");
    let err = text(&out.stderr);
    for n in needles {
        assert!(err.contains(n), "{n:?} not in {err}");
    }
}

#[test]
fn bad_input_is_refused_with_line_field_and_reason() {
    let h = "unit_code,indicator,value\n";
    refused(
        "dti-province-2022",
        &format!("{h}a,nhan_thuc_so,0.5\na,digital_vibes,0.5\n"),
        &[
            "line 3",
            "field indicator",
            "unknown indicator 'digital_vibes'",
            "nhan_thuc_so",
        ],
    );
    refused(
        "dti-province-2022",
        &format!("{h}a,nhan_thuc_so,abc\n"),
        &["line 2", "field value", "'abc' is not a number"],
    );
    refused(
        "dti-province-2022",
        &format!("{h}a,nhan_thuc_so,1.2\n"),
        &["line 2", "field value", "outside 0..1"],
    );
    refused(
        "dti-province-2022",
        &format!("{h}a,nhan_thuc_so,-0.1\n"),
        &["line 2", "outside 0..1"],
    );
    refused(
        "dti-province-2022",
        &format!("{h}a,nhan_thuc_so,0.5\nb,nhan_thuc_so,0.5\na,nhan_thuc_so,0.6\n"),
        &[
            "line 4",
            "duplicate value for unit a and indicator nhan_thuc_so",
        ],
    );
    refused(
        "dti-province-2022",
        &format!("{h}a,nhan_thuc_so,0.5\nb,nhan_thuc_so,0.5,7\n"),
        &["line 3", "expected 3 fields", "found 4"],
    );
    refused(
        "dti-province-2022",
        &format!("{h}a,nhan_thuc_so,0.5\n,nhan_thuc_so,0.5\n"),
        &["line 3", "field unit_code: empty"],
    );
    refused(
        "dti-province-2022",
        "unit,indicator,value\na,nhan_thuc_so,0.5\n",
        &["line 1", "header"],
    );
    refused(
        "dti-2099",
        &format!("{h}a,nhan_thuc_so,0.5\n"),
        &[
            "unknown methodology 'dti-2099'",
            "dti-province-2022, dti-province-2025, index-766",
        ],
    );
    // 405 has no Đô thị thông minh.
    refused(
        "dti-province-2025",
        &format!("{h}a,do_thi_thong_minh,0.5\n"),
        &["line 2", "unknown indicator 'do_thi_thong_minh'"],
    );
}

/// Runs `dxhub index score --methodology example --methodology-file FILE --values VALUES`.
fn with_file(file: &std::path::Path, values: &std::path::Path) -> Output {
    dxhub()
        .args(["index", "score", "--methodology", "example"])
        .arg("--methodology-file")
        .arg(file)
        .arg("--values")
        .arg(values)
        .output()
        .unwrap()
}

#[test]
fn values_from_a_file_and_a_methodology_file() {
    let dir = tempfile::tempdir().unwrap();
    let values = dir.path().join("v.csv");
    std::fs::write(&values, "unit_code,indicator,value\nu,on_time,0.5\n").unwrap();
    let doc = include_str!("../../dxhub-index/METHODOLOGY.md");
    let start = doc.find("```toml\n").unwrap() + 8;
    let len = doc[start..].find("```").unwrap();
    let file = dir.path().join("m.toml");
    std::fs::write(&file, &doc[start..start + len]).unwrap();
    let out = with_file(&file, &values);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "unit_code,score,rank\nu,10.0000,1\n");

    // A broken methodology file is refused with its location.
    std::fs::write(&file, "id = \"example\"\nversion = 1\n").unwrap();
    let out = with_file(&file, &values);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("m.toml"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn lists_the_shipped_methodologies() {
    let out = dxhub().args(["index", "methodologies"]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let s = text(&out.stdout);
    assert!(
        s.starts_with("id,version,applies_to,name_vi,name_en\n"),
        "{s}"
    );
    for id in [
        "dti-province-2022,1,province,",
        "dti-province-2025,1,",
        "index-766,1,",
    ] {
        assert!(s.contains(id), "{id} in {s}");
    }
}

/// `--onto-34`: old Bắc Giang (24) and Bắc Ninh (27) become the new Bắc Ninh (24), scored
/// with the mean of their values, or weighted by a file (e.g. population).
#[test]
fn onto_the_34_province_map_plain_and_weighted() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("v63.csv");
    let rows = format!(
        "unit_code,indicator,value\n{}{}{}",
        unit("24", [0.6; 9]),
        unit("27", [0.8; 9]),
        unit("01", [0.5; 9])
    );
    std::fs::write(&csv, rows).unwrap();
    let run = |extra: &[&str]| {
        let mut args = vec![
            "index",
            "score",
            "--methodology",
            "dti-province-2022",
            "--values",
        ];
        let path = csv.to_str().unwrap().to_owned();
        args.push(&path);
        args.push("--onto-34");
        args.extend_from_slice(extra);
        let out = dxhub().args(&args).output().unwrap();
        (out.status.success(), text(&out.stdout), text(&out.stderr))
    };
    let (ok, out, err) = run(&[]);
    assert!(ok, "{err}");
    assert_eq!(out, "unit_code,score,rank\n24,0.7000,1\n01,0.5000,2\n");
    let weights = dir.path().join("pop.csv");
    std::fs::write(&weights, "unit_code,weight\n24,1\n27,3\n01,8\n").unwrap();
    let (ok, out, err) = run(&["--weights", weights.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert_eq!(out, "unit_code,score,rank\n24,0.7500,1\n01,0.5000,2\n");
    // A missing weight is named; a unit that is not an old province is refused.
    std::fs::write(&weights, "unit_code,weight\n24,1\n01,8\n").unwrap();
    let (ok, _, err) = run(&["--weights", weights.to_str().unwrap()]);
    assert!(!ok && err.contains("no weight for unit 27"), "{err}");
    std::fs::write(&weights, "unit_code,weight\n24,abc\n").unwrap();
    let (ok, _, err) = run(&["--weights", weights.to_str().unwrap()]);
    assert!(!ok && err.contains(":2: field weight"), "{err}");
}
