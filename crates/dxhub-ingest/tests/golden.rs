//! Golden tests on feeds made by `shared/bench/gen_dossiers.py` (see
//! `tests/golden/make_golden.py`): the indicator table must equal, byte for byte, the one
//! DuckDB computes with the baseline's query; malformed lines must be rejected exactly
//! where the generator put them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use dxhub_ingest::indicators::write_csv;
use dxhub_ingest::{Aggregates, Format, LiveIndicators, parse_all};

fn golden_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name)
}

fn golden(name: &str) -> Vec<u8> {
    std::fs::read(golden_path(name)).unwrap()
}

/// The indicator table of a clean feed, computed incrementally snapshot by snapshot.
fn table(data: &[u8], format: Format) -> String {
    let (snaps, rejected, _) = parse_all(data, format).unwrap();
    assert!(
        rejected.is_empty(),
        "{:?}",
        &rejected[..rejected.len().min(3)]
    );
    let mut live = LiveIndicators::new();
    for s in snaps {
        live.ingest(s);
    }
    // The from-scratch computation over the newest snapshots agrees.
    let full = Aggregates::from_latest(live.latest.values());
    assert_eq!(full.rows(), live.aggregates.rows());
    let mut out = Vec::new();
    write_csv(&live.aggregates.rows(), &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn indicator_table_equals_duckdbs() {
    let want = String::from_utf8(golden("indicators_2k.csv")).unwrap();
    assert_eq!(table(&golden("feed_2k.csv"), Format::Csv), want);
    assert_eq!(table(&golden("feed_2k.ndjson"), Format::Ndjson), want);
}

#[test]
fn csv_and_ndjson_of_the_same_feed_parse_to_the_same_snapshots() {
    let (a, ra, la) = parse_all(&golden("feed_2k.csv")[..], Format::Csv).unwrap();
    let (b, rb, lb) = parse_all(&golden("feed_2k.ndjson")[..], Format::Ndjson).unwrap();
    assert_eq!((a.len(), ra.len(), la), (2000, 0, 2001));
    assert_eq!((b.len(), rb.len(), lb), (2000, 0, 2000));
    assert_eq!(a, b);
}

/// `line -> field` from a `.expected` file; lines the spec accepts are left out.
fn expected(name: &str) -> BTreeMap<u64, Option<String>> {
    String::from_utf8(golden(name))
        .unwrap()
        .lines()
        .filter_map(|l| {
            let mut it = l.split(',');
            let line: u64 = it.next()?.parse().ok()?;
            let field = it.next()?;
            match field {
                "ok" => None,
                "-" => Some((line, None)),
                f => Some((line, Some(f.to_string()))),
            }
        })
        .collect()
}

#[test]
fn malformed_lines_are_rejected_exactly_where_the_generator_put_them() {
    for (file, format, header) in [
        ("bad_2k.csv", Format::Csv, 1),
        ("bad_2k.ndjson", Format::Ndjson, 0),
    ] {
        let want = expected(&format!("{file}.expected"));
        let (snaps, rejections, lines) = parse_all(&golden(file)[..], format).unwrap();
        let got: BTreeMap<u64, Option<String>> = rejections
            .iter()
            .map(|r| (r.line, r.field.clone()))
            .collect();
        assert_eq!(
            got.len(),
            rejections.len(),
            "{file}: one rejection per line"
        );
        assert_eq!(got, want, "{file}");
        assert_eq!(snaps.len() + rejections.len(), 2000, "{file}");
        assert_eq!(lines, 2000 + header, "{file}");
        for r in &rejections {
            assert!(!r.reason.is_empty());
            if let Some(f) = &r.field {
                assert!(r.reason.starts_with(f.as_str()), "{file}: {r}");
            }
        }
    }
}

/// A live comparison with DuckDB on a fresh feed, when the tools are at hand (python3
/// with duckdb and `shared/bench` beside the repository); skipped loudly otherwise.
#[test]
fn live_comparison_with_duckdb_when_available() {
    let bench = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/bench");
    let has_duckdb = Command::new("python3")
        .args(["-c", "import duckdb"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !bench.join("gen_dossiers.py").exists() || !has_duckdb {
        eprintln!(
            "SKIPPED live DuckDB comparison: needs python3 with duckdb (pip install duckdb) and {}",
            bench.display()
        );
        return;
    }
    let dir = std::env::temp_dir().join(format!("dxhub-ingest-golden-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let feed = dir.join("feed.csv");
    let duck = dir.join("duck.csv");
    let ok = Command::new("python3")
        .arg(bench.join("gen_dossiers.py"))
        .args([
            "--events",
            "30000",
            "--seed",
            "11",
            "--dup-rate",
            "0.1",
            "--ooo-rate",
            "0.05",
            "--out",
        ])
        .arg(&feed)
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let ok = Command::new("python3")
        .arg(bench.join("baseline_duckdb.py"))
        .args(["--phase", "e2e", "--reruns", "0", "--csv"])
        .arg(&feed)
        .arg("--out")
        .arg(&duck)
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let want = std::fs::read_to_string(&duck).unwrap();
    let got = table(&std::fs::read(&feed).unwrap(), Format::Csv);
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(got, want);
}
