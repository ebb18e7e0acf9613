//! Table-driven tests of every field rule of the spec, in both encodings: each case
//! changes one field of a valid record and states the exact outcome.

use dxhub_ingest::{DossierSnapshot, Format, Rejection, parse_all};

const HEADER: &str = "dossier_id,source,version,service_code,province_code,commune_code,channel,end_to_end,status,received_at,due_at,completed_at,fee_vnd,paid_online";

/// A valid completed dossier, as CSV cells in header order.
fn base_cells() -> Vec<String> {
    [
        "G79-250701-00000005",
        "dvcqg",
        "3",
        "1.001612",
        "79",
        "26878",
        "online",
        "true",
        "completed",
        "2025-07-01T08:30:00+07:00",
        "2025-07-05T08:30:00+07:00",
        "2025-07-02T10:00:00+07:00",
        "150000",
        "true",
    ]
    .map(String::from)
    .to_vec()
}

fn col(field: &str) -> usize {
    HEADER.split(',').position(|f| f == field).unwrap()
}

/// Parses a one-record CSV file; the record is on line 2.
fn csv_one(cells: &[String]) -> Result<DossierSnapshot, Rejection> {
    let csv_cells: Vec<String> = cells
        .iter()
        .map(|c| {
            // Quote cells the way a CSV writer would (commas, quotes, line breaks).
            if c.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", c.replace('"', "\"\""))
            } else {
                c.clone()
            }
        })
        .collect();
    let text = format!("{HEADER}\n{}\n", csv_cells.join(","));
    let (mut ok, mut bad, lines) = parse_all(text.as_bytes(), Format::Csv).unwrap();
    assert_eq!(lines, 2);
    assert_eq!(ok.len() + bad.len(), 1, "{text}");
    match ok.pop() {
        Some(s) => Ok(s),
        None => {
            let r = bad.pop().unwrap();
            assert_eq!(r.line, 2);
            Err(r)
        }
    }
}

fn csv_with(field: &str, value: &str) -> Result<DossierSnapshot, Rejection> {
    let mut cells = base_cells();
    cells[col(field)] = value.to_string();
    csv_one(&cells)
}

/// The valid record as NDJSON members `(key, raw JSON value)`.
fn base_members() -> Vec<(String, String)> {
    HEADER
        .split(',')
        .zip(base_cells())
        .map(|(k, v)| {
            let raw = match k {
                "version" | "fee_vnd" | "end_to_end" | "paid_online" => v,
                _ => format!("\"{v}\""),
            };
            (k.to_string(), raw)
        })
        .collect()
}

fn json_one(members: &[(String, String)]) -> Result<DossierSnapshot, Rejection> {
    let body: Vec<String> = members
        .iter()
        .map(|(k, v)| format!("\"{k}\":{v}"))
        .collect();
    let text = format!("{{{}}}\n", body.join(","));
    let (mut ok, mut bad, lines) = parse_all(text.as_bytes(), Format::Ndjson).unwrap();
    assert_eq!(lines, 1);
    assert_eq!(ok.len() + bad.len(), 1, "{text}");
    match ok.pop() {
        Some(s) => Ok(s),
        None => {
            let r = bad.pop().unwrap();
            assert_eq!(r.line, 1);
            Err(r)
        }
    }
}

/// `raw = None` removes the key.
fn json_with(field: &str, raw: Option<&str>) -> Result<DossierSnapshot, Rejection> {
    let mut m = base_members();
    let i = m.iter().position(|(k, _)| k == field).unwrap();
    match raw {
        Some(v) => m[i].1 = v.to_string(),
        None => {
            m.remove(i);
        }
    }
    json_one(&m)
}

/// Expected outcome: `Ok(check)` runs a check on the snapshot, `Err(reason)` is the
/// exact rejection reason (the field is the one changed, unless the reason concerns the
/// whole line).
enum Want {
    Ok(fn(&DossierSnapshot) -> bool),
    Err(&'static str),
}

fn check(
    encoding: &str,
    field: &str,
    value: &str,
    got: Result<DossierSnapshot, Rejection>,
    want: &Want,
) {
    match (got, want) {
        (Ok(s), Want::Ok(f)) => assert!(
            f(&s),
            "{encoding} {field}={value:?}: unexpected snapshot {s:?}"
        ),
        (Err(r), Want::Err(reason)) => {
            assert_eq!(r.reason, *reason, "{encoding} {field}={value:?}");
            let expected_field = if reason.starts_with("completed_at") {
                "completed_at"
            } else {
                field
            };
            assert_eq!(
                r.field.as_deref(),
                Some(expected_field),
                "{encoding} {field}={value:?}"
            );
        }
        (Ok(s), Want::Err(reason)) => {
            panic!("{encoding} {field}={value:?}: accepted ({s:?}), want rejection {reason:?}")
        }
        (Err(r), Want::Ok(_)) => panic!("{encoding} {field}={value:?}: rejected: {r}"),
    }
}

fn any(_: &DossierSnapshot) -> bool {
    true
}

#[test]
fn csv_field_rules() {
    use Want::*;
    let a64 = "a".repeat(64);
    let a65 = "a".repeat(65);
    let viet64 = "ộ".repeat(64);
    let s32 = "s".repeat(32);
    let s33 = "s".repeat(33);
    let long_service = "x".repeat(100);
    let reason_a65 = format!("dossier_id: \"{a65}\" is longer than 64 characters");
    let reason_s33 = format!("source: \"{s33}\" is longer than 32 characters");
    let reason_a65: &'static str = Box::leak(reason_a65.into_boxed_str());
    let reason_s33: &'static str = Box::leak(reason_s33.into_boxed_str());
    let cases: Vec<(&str, &str, Want)> = vec![
        // strings
        ("dossier_id", "x", Ok(|s| s.dossier_id == "x")),
        ("dossier_id", &a64, Ok(|s| s.dossier_id.len() == 64)),
        (
            "dossier_id",
            &viet64,
            Ok(|s| s.dossier_id.chars().count() == 64),
        ),
        (
            "dossier_id",
            "Hà Nội/1, \"số\" 2",
            Ok(|s| s.dossier_id == "Hà Nội/1, \"số\" 2"),
        ),
        ("dossier_id", &a65, Err(reason_a65)),
        ("dossier_id", "", Err("dossier_id is required")),
        (
            "dossier_id",
            "a\tb",
            Err("dossier_id: \"a\\tb\" contains a control character"),
        ),
        (
            "dossier_id",
            "a\u{85}b",
            Err("dossier_id: \"a\\u{85}b\" contains a control character"),
        ),
        (
            "dossier_id",
            "a\u{7f}b",
            Err("dossier_id: \"a\\u{7f}b\" contains a control character"),
        ),
        ("source", &s32, Ok(|s| s.source.len() == 32)),
        ("source", &s33, Err(reason_s33)),
        ("source", "", Err("source is required")),
        (
            "service_code",
            &long_service,
            Ok(|s| s.service_code.len() == 100),
        ),
        ("service_code", "", Err("service_code is required")),
        (
            "service_code",
            "1.00\u{1}",
            Err("service_code: \"1.00\\u{1}\" contains a control character"),
        ),
        // integers
        ("version", "0", Ok(|s| s.version == 0)),
        ("version", "007", Ok(|s| s.version == 7)),
        (
            "version",
            "9223372036854775807",
            Ok(|s| s.version == i64::MAX as u64),
        ),
        (
            "version",
            "9223372036854775808",
            Err("version: \"9223372036854775808\" is larger than 9223372036854775807"),
        ),
        (
            "version",
            "99999999999999999999999",
            Err("version: \"99999999999999999999999\" is larger than 9223372036854775807"),
        ),
        (
            "version",
            "-3",
            Err("version: \"-3\" is not an integer ≥ 0"),
        ),
        (
            "version",
            "+3",
            Err("version: \"+3\" is not an integer ≥ 0"),
        ),
        (
            "version",
            "1e3",
            Err("version: \"1e3\" is not an integer ≥ 0"),
        ),
        (
            "version",
            "1.0",
            Err("version: \"1.0\" is not an integer ≥ 0"),
        ),
        (
            "version",
            " 3",
            Err("version: \" 3\" is not an integer ≥ 0"),
        ),
        (
            "version",
            "v3",
            Err("version: \"v3\" is not an integer ≥ 0"),
        ),
        ("version", "", Err("version is required")),
        ("fee_vnd", "", Ok(|s| s.fee_vnd == 0)),
        ("fee_vnd", "0", Ok(|s| s.fee_vnd == 0)),
        ("fee_vnd", "2000000", Ok(|s| s.fee_vnd == 2_000_000)),
        (
            "fee_vnd",
            "-150000",
            Err("fee_vnd: \"-150000\" is not an integer ≥ 0"),
        ),
        (
            "fee_vnd",
            "1.5",
            Err("fee_vnd: \"1.5\" is not an integer ≥ 0"),
        ),
        // codes
        (
            "province_code",
            "01",
            Ok(|s| s.province_code.as_str() == "01"),
        ),
        (
            "province_code",
            "00",
            Ok(|s| s.province_code.as_str() == "00"),
        ),
        (
            "province_code",
            "7A",
            Err("province_code: \"7A\" is not a 2-digit code"),
        ),
        (
            "province_code",
            "123",
            Err("province_code: \"123\" is not a 2-digit code"),
        ),
        (
            "province_code",
            "1",
            Err("province_code: \"1\" is not a 2-digit code"),
        ),
        (
            "province_code",
            "٠١",
            Err("province_code: \"٠١\" is not a 2-digit code"),
        ),
        ("province_code", "", Err("province_code is required")),
        ("commune_code", "", Ok(|s| s.commune_code.is_none())),
        (
            "commune_code",
            "00391",
            Ok(|s| s.commune_code.unwrap().as_str() == "00391"),
        ),
        (
            "commune_code",
            "0391",
            Err("commune_code: \"0391\" is not a 5-digit code"),
        ),
        (
            "commune_code",
            "003911",
            Err("commune_code: \"003911\" is not a 5-digit code"),
        ),
        // enumerations
        (
            "channel",
            "online",
            Ok(|s| s.channel == dxhub_ingest::Channel::Online),
        ),
        (
            "channel",
            "direct",
            Ok(|s| s.channel == dxhub_ingest::Channel::Direct),
        ),
        (
            "channel",
            "postal",
            Ok(|s| s.channel == dxhub_ingest::Channel::Postal),
        ),
        (
            "channel",
            "ONLINE",
            Err("channel: \"ONLINE\" is not one of online, direct, postal"),
        ),
        (
            "channel",
            "fax",
            Err("channel: \"fax\" is not one of online, direct, postal"),
        ),
        (
            "channel",
            " online",
            Err("channel: \" online\" is not one of online, direct, postal"),
        ),
        ("channel", "", Err("channel is required")),
        (
            "status",
            "Completed",
            Err(
                "status: \"Completed\" is not one of received, processing, completed, rejected, cancelled",
            ),
        ),
        ("status", "", Err("status is required")),
        // booleans
        ("end_to_end", "false", Ok(|s| !s.end_to_end)),
        (
            "end_to_end",
            "yes",
            Err("end_to_end: \"yes\" is not true or false"),
        ),
        (
            "end_to_end",
            "TRUE",
            Err("end_to_end: \"TRUE\" is not true or false"),
        ),
        (
            "end_to_end",
            "1",
            Err("end_to_end: \"1\" is not true or false"),
        ),
        ("end_to_end", "", Err("end_to_end is required")),
        ("paid_online", "", Ok(|s| !s.paid_online)),
        ("paid_online", "false", Ok(|s| !s.paid_online)),
        (
            "paid_online",
            "2",
            Err("paid_online: \"2\" is not true or false"),
        ),
        // timestamps
        (
            "received_at",
            "2025-07-01T01:30:00Z",
            Ok(|s| s.received_at.to_string() == "2025-07-01T01:30:00Z"),
        ),
        (
            "received_at",
            "2025-07-01T08:30:00.25+07:00",
            Ok(|s| s.received_at.to_string() == "2025-07-01T01:30:00.25Z"),
        ),
        (
            "received_at",
            "2025-07-01T08:30:00",
            Err("received_at: \"2025-07-01T08:30:00\" has no UTC offset"),
        ),
        (
            "received_at",
            "2025-13-45T25:00:00+07:00",
            Err("received_at: \"2025-13-45T25:00:00+07:00\" has an invalid date"),
        ),
        (
            "received_at",
            "2025-07-01T25:00:00+07:00",
            Err("received_at: \"2025-07-01T25:00:00+07:00\" has an invalid time of day"),
        ),
        (
            "received_at",
            "2025-07-01T08:30:00+0700",
            Err(
                "received_at: \"2025-07-01T08:30:00+0700\" has an invalid UTC offset (expected Z or ±hh:mm)",
            ),
        ),
        (
            "received_at",
            "14/03/2025 09:00",
            Err(
                "received_at: \"14/03/2025 09:00\" is not an RFC 3339 timestamp (like 2025-07-01T08:30:00+07:00)",
            ),
        ),
        ("received_at", "", Err("received_at is required")),
        ("due_at", "", Ok(|s| s.due_at.is_none())),
        (
            "due_at",
            "2025-07-05",
            Err(
                "due_at: \"2025-07-05\" is not an RFC 3339 timestamp (like 2025-07-01T08:30:00+07:00)",
            ),
        ),
        (
            "completed_at",
            "2025-07-02T10:00:00",
            Err("completed_at: \"2025-07-02T10:00:00\" has no UTC offset"),
        ),
        (
            "completed_at",
            "",
            Err("completed_at is required when status is completed"),
        ),
    ];
    for (field, value, want) in &cases {
        check("csv", field, value, csv_with(field, value), want);
    }
    let _ = any;
}

#[test]
fn completed_at_is_required_exactly_for_completed_and_rejected() {
    for status in [
        "received",
        "processing",
        "completed",
        "rejected",
        "cancelled",
    ] {
        for present in [true, false] {
            let mut cells = base_cells();
            cells[col("status")] = status.to_string();
            if !present {
                cells[col("completed_at")] = String::new();
            }
            let required = matches!(status, "completed" | "rejected");
            let want = match (required, present) {
                (true, true) | (false, false) => Want::Ok(any),
                (true, false) => Want::Err(Box::leak(
                    format!("completed_at is required when status is {status}").into_boxed_str(),
                )),
                (false, true) => Want::Err(Box::leak(
                    format!("completed_at must be absent when status is {status}").into_boxed_str(),
                )),
            };
            check("csv", "status", status, csv_one(&cells), &want);
            let mut m = base_members();
            let si = m.iter().position(|(k, _)| k == "status").unwrap();
            m[si].1 = format!("\"{status}\"");
            if !present {
                let ci = m.iter().position(|(k, _)| k == "completed_at").unwrap();
                m[ci].1 = "null".into();
            }
            check("ndjson", "status", status, json_one(&m), &want);
        }
    }
}

#[test]
fn ndjson_field_rules() {
    use Want::*;
    let cases: Vec<(&str, Option<&str>, Want)> = vec![
        // integers must be JSON integers
        ("version", Some("12"), Ok(|s| s.version == 12)),
        ("version", Some("0"), Ok(|s| s.version == 0)),
        (
            "version",
            Some("9223372036854775807"),
            Ok(|s| s.version == i64::MAX as u64),
        ),
        (
            "version",
            Some("9223372036854775808"),
            Err("version: 9223372036854775808 is larger than 9223372036854775807"),
        ),
        (
            "version",
            Some("\"12\""),
            Err("version: \"12\" is a string, not an integer"),
        ),
        (
            "version",
            Some("-3"),
            Err("version: -3 is not an integer ≥ 0"),
        ),
        (
            "version",
            Some("1.5"),
            Err("version: 1.5 is not an integer ≥ 0"),
        ),
        (
            "version",
            Some("1e3"),
            Err("version: 1000.0 is not an integer ≥ 0"),
        ),
        (
            "version",
            Some("true"),
            Err("version: true is not an integer ≥ 0"),
        ),
        ("version", Some("null"), Err("version is required")),
        ("version", None, Err("version is required")),
        ("fee_vnd", Some("null"), Ok(|s| s.fee_vnd == 0)),
        ("fee_vnd", None, Ok(|s| s.fee_vnd == 0)),
        (
            "fee_vnd",
            Some("\"150000\""),
            Err("fee_vnd: \"150000\" is a string, not an integer"),
        ),
        // strings must be JSON strings
        (
            "province_code",
            Some("79"),
            Err("province_code: 79 is not a string"),
        ),
        (
            "province_code",
            Some("\"79\""),
            Ok(|s| s.province_code.as_str() == "79"),
        ),
        (
            "province_code",
            Some("\"7A\""),
            Err("province_code: \"7A\" is not a 2-digit code"),
        ),
        ("province_code", None, Err("province_code is required")),
        (
            "commune_code",
            Some("null"),
            Ok(|s| s.commune_code.is_none()),
        ),
        ("commune_code", None, Ok(|s| s.commune_code.is_none())),
        (
            "commune_code",
            Some("\"\""),
            Err("commune_code: \"\" must not be empty"),
        ),
        (
            "dossier_id",
            Some("\"\""),
            Err("dossier_id: \"\" must not be empty"),
        ),
        (
            "dossier_id",
            Some("\"a\\u0001b\""),
            Err("dossier_id: \"a\\u{1}b\" contains a control character"),
        ),
        (
            "dossier_id",
            Some("\"Hà \\\"Nội\\\"\""),
            Ok(|s| s.dossier_id == "Hà \"Nội\""),
        ),
        (
            "source",
            Some("{\"a\":1}"),
            Err("source: an object is not a string"),
        ),
        (
            "source",
            Some("[\"dvcqg\"]"),
            Err("source: an array is not a string"),
        ),
        ("source", Some("null"), Err("source is required")),
        (
            "channel",
            Some("\"fax\""),
            Err("channel: \"fax\" is not one of online, direct, postal"),
        ),
        (
            "status",
            Some("\"COMPLETED\""),
            Err(
                "status: \"COMPLETED\" is not one of received, processing, completed, rejected, cancelled",
            ),
        ),
        // booleans must be JSON booleans
        ("end_to_end", Some("false"), Ok(|s| !s.end_to_end)),
        (
            "end_to_end",
            Some("\"true\""),
            Err("end_to_end: \"true\" is a string, not true or false"),
        ),
        (
            "end_to_end",
            Some("1"),
            Err("end_to_end: 1 is not true or false"),
        ),
        ("end_to_end", Some("null"), Err("end_to_end is required")),
        ("paid_online", Some("null"), Ok(|s| !s.paid_online)),
        ("paid_online", None, Ok(|s| !s.paid_online)),
        // timestamps
        ("received_at", None, Err("received_at is required")),
        (
            "received_at",
            Some("\"2025-07-01T08:30:00\""),
            Err("received_at: \"2025-07-01T08:30:00\" has no UTC offset"),
        ),
        (
            "received_at",
            Some("1751333400"),
            Err("received_at: 1751333400 is not a string"),
        ),
        ("due_at", Some("null"), Ok(|s| s.due_at.is_none())),
        (
            "completed_at",
            None,
            Err("completed_at is required when status is completed"),
        ),
    ];
    for (field, raw, want) in &cases {
        check(
            "ndjson",
            field,
            raw.unwrap_or("(absent)"),
            json_with(field, *raw),
            want,
        );
    }
}

#[test]
fn both_encodings_give_the_same_snapshot() {
    let from_csv = csv_one(&base_cells()).unwrap();
    let from_json = json_one(&base_members()).unwrap();
    assert_eq!(from_csv, from_json);
    assert_eq!(from_csv.fee_vnd, 150_000);
    assert_eq!(from_csv.received_at.to_string(), "2025-07-01T01:30:00Z");
    assert!(from_csv.completed_on_time());
}

#[test]
fn ndjson_line_level_faults() {
    let cases: Vec<(String, &str)> = vec![
        (
            "{\"foo\":1,".to_string() + &base_json_body() + "}",
            "unknown field \"foo\"",
        ),
        (
            format!("{{{},\"version\":4}}", base_json_body()),
            "version is given more than once",
        ),
        (
            "[1,2]".to_string(),
            "the line is not a valid JSON object: invalid type: sequence, expected a JSON object",
        ),
        (
            "42".to_string(),
            "the line is not a valid JSON object: invalid type: integer `42`, expected a JSON object",
        ),
        (
            format!("{{{}}} x", base_json_body()),
            "the line is not a valid JSON object: trailing characters",
        ),
        (
            "{\"dossier_id\":\"G1\",".to_string(),
            "the line is not a valid JSON object: EOF while parsing a value (at column 19)",
        ),
        (
            "   ".to_string(),
            "the line is not a valid JSON object: EOF while parsing a value",
        ),
    ];
    for (line, want) in cases {
        let (ok, bad, _) = parse_all(format!("{line}\n").as_bytes(), Format::Ndjson).unwrap();
        assert!(ok.is_empty(), "{line}");
        assert_eq!(bad.len(), 1, "{line}");
        assert!(
            bad[0].reason.starts_with(want),
            "{line}: {:?} does not start with {want:?}",
            bad[0].reason
        );
        assert_eq!(
            bad[0].field.is_none(),
            !want.starts_with("version"),
            "{line}"
        );
    }
}

fn base_json_body() -> String {
    base_members()
        .iter()
        .map(|(k, v)| format!("\"{k}\":{v}"))
        .collect::<Vec<_>>()
        .join(",")
}

#[test]
fn long_values_are_cut_in_reasons() {
    let huge = "9".repeat(500);
    let r = csv_with("version", &huge).unwrap_err();
    assert!(r.reason.len() < 200, "{}", r.reason);
    assert!(r.reason.contains("(500 characters)"), "{}", r.reason);
}
