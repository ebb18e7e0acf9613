//! Crash safety of `dxhub import dossiers`: killing it with SIGKILL at any moment and
//! importing again gives exactly the result of one clean import, on SQLite (repeatedly,
//! at kill moments spread over the import) and on PostgreSQL.

mod common;

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::dxhub;

const HEADER: &str = "dossier_id,source,version,service_code,province_code,commune_code,channel,end_to_end,status,received_at,due_at,completed_at,fee_vnd,paid_online";
/// Provinces of the 34-province map (valid from 2025-07-01).
const PROVINCES: [&str; 10] = ["01", "79", "24", "48", "56", "31", "92", "46", "38", "40"];

/// splitmix64, so the feed is the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// About `lines` feed lines: dossiers with several versions, sent out of order within a
/// window, some lines sent twice.
fn feed(lines: usize) -> String {
    let mut rng = Rng(20_250_701);
    let mut rows: Vec<String> = Vec::with_capacity(lines + 8);
    let mut dossier = 0u64;
    while rows.len() < lines {
        dossier += 1;
        let province = PROVINCES[rng.below(PROVINCES.len() as u64) as usize];
        let online = rng.below(10) < 6;
        let e2e = online && rng.below(6) < 5;
        let channel = if online { "online" } else { "direct" };
        let source = if online {
            "dvcqg".to_owned()
        } else {
            format!("hcc-{province}")
        };
        let month = 7 + rng.below(6);
        let day = 1 + rng.below(28);
        let hour = 7 + rng.below(10);
        let received = format!(
            "2025-{month:02}-{day:02}T{hour:02}:{:02}:00+07:00",
            rng.below(60)
        );
        let due_day = (day + 1 + rng.below(10)).min(28);
        let due = format!("2025-{month:02}-{due_day:02}T{hour:02}:00:00+07:00");
        let service = format!("1.00{:04}", rng.below(400) * 7 % 10_000);
        let fee = [0, 0, 0, 20_000, 50_000, 500_000][rng.below(6) as usize];
        let paid = online && fee > 0;
        let versions = 1 + rng.below(4);
        for v in 1..=versions {
            let (status, completed) = if v < versions {
                (
                    if v == 1 { "received" } else { "processing" },
                    String::new(),
                )
            } else {
                match rng.below(10) {
                    0 => ("processing", String::new()),
                    1 => ("rejected", due.clone()),
                    2 => ("cancelled", String::new()),
                    _ => {
                        let d = (day + rng.below(12)).min(28);
                        (
                            "completed",
                            format!("2025-{month:02}-{d:02}T{:02}:30:00+07:00", hour + 1),
                        )
                    }
                }
            };
            rows.push(format!(
                "D{province}-{dossier:07},{source},{},{service},{province},,{channel},{e2e},{status},{received},{due},{completed},{fee},{paid}",
                v * 2 + rng.below(2)
            ));
        }
        if rng.below(20) == 0 {
            let again = rows[rows.len() - 1 - rng.below(versions) as usize].clone();
            rows.push(again);
        }
    }
    // Out of order: swap lines within a window of 50.
    for i in 0..rows.len() {
        let j = (i + rng.below(50) as usize).min(rows.len() - 1);
        rows.swap(i, j);
    }
    let mut out = String::with_capacity(rows.len() * 150);
    writeln!(out, "{HEADER}").unwrap();
    for r in rows {
        writeln!(out, "{r}").unwrap();
    }
    out
}

/// Imports to completion; returns how long it took.
fn import(url: &str, feed: &Path) -> Duration {
    let started = Instant::now();
    let out = dxhub()
        .args(["import", "dossiers", "--database", url])
        .arg(feed)
        .stdin(Stdio::null())
        .output()
        .expect("run import");
    assert!(
        out.status.success(),
        "import failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    started.elapsed()
}

/// Starts an import, kills it with SIGKILL after `delay`, and waits for it; whether the
/// kill hit it (rather than it finishing first).
fn import_killed(url: &str, feed: &Path, delay: Duration) -> bool {
    let feed = feed.to_str().expect("a UTF-8 path");
    killed(&["import", "dossiers", "--database", url, feed], delay)
}

/// Starts `dxhub` with `args`, kills it with SIGKILL after `delay`, and waits for it;
/// whether the kill hit it (rather than it finishing first).
fn killed(args: &[&str], delay: Duration) -> bool {
    let mut child = dxhub()
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start dxhub");
    std::thread::sleep(delay);
    // The process may already be done; then kill has nothing to do, which is fine.
    let _ = Command::new("kill")
        .args(["-KILL", &child.id().to_string()])
        .status()
        .expect("kill");
    let status = child.wait().expect("wait");
    eprintln!("{} killed after {delay:?}: {status}", args[0]);
    status.code().is_none()
}

fn export(url: &str) -> Vec<u8> {
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
        .stdin(Stdio::null())
        .output()
        .expect("run export");
    assert!(
        out.status.success(),
        "export failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.len() > 100, "export is nearly empty");
    out.stdout
}

fn write_feed(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("feed.csv");
    std::fs::write(&path, feed(60_000)).expect("write feed");
    path
}

#[test]
fn sqlite_import_killed_at_any_moment_then_repeated_equals_one_clean_import() {
    let dir = tempfile::tempdir().unwrap();
    let feed = write_feed(dir.path());
    let clean_url = format!("sqlite://{}/clean.db", dir.path().display());
    // The faster of two clean imports: the first may pay for a cold start (the binary and
    // the feed not yet in memory), and kill moments taken from it could all come too late.
    let took = import(&clean_url, &feed).min(import(
        &format!("sqlite://{}/clean2.db", dir.path().display()),
        &feed,
    ));
    let clean = export(&clean_url);
    eprintln!("clean import: {took:?}");
    // Kill moments spread from a few milliseconds to well into the import (a busy machine
    // can make a later import faster than the clean one, so not too close to its end).
    let moments = [0.0, 0.1, 0.2, 0.3, 0.45, 0.6];
    let mut hit = 0;
    for (i, share) in moments.iter().enumerate() {
        let delay = Duration::from_millis(5) + took.mul_f64(*share);
        let url = format!("sqlite://{}/run{i}.db", dir.path().display());
        hit += usize::from(import_killed(&url, &feed, delay));
        import(&url, &feed);
        assert!(
            export(&url) == clean,
            "killed after {delay:?}, re-imported: export differs from a clean import"
        );
    }
    assert!(
        hit >= 4,
        "only {hit} of 6 imports were killed before they finished"
    );
}

#[test]
fn postgres_import_killed_then_repeated_equals_one_clean_import() {
    let Some(clean_url) = common::postgres_database() else {
        return;
    };
    let Some(url) = common::postgres_database() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let feed = write_feed(dir.path());
    let took = import(&clean_url, &feed);
    // The faster of two clean imports (see the SQLite case).
    let took = match common::postgres_database() {
        Some(again) => took.min(import(&again, &feed)),
        None => took,
    };
    let clean = export(&clean_url);
    eprintln!("clean import on PostgreSQL: {took:?}");
    // Create the schema first so the kill lands in the middle of the batches.
    let migrated = dxhub()
        .args(["migrate", "--database", &url])
        .output()
        .expect("migrate");
    assert!(migrated.status.success());
    assert!(
        import_killed(&url, &feed, took.mul_f64(0.4)),
        "the import finished before it was killed"
    );
    import(&url, &feed);
    assert!(
        export(&url) == clean,
        "killed, re-imported: export differs from a clean import on PostgreSQL"
    );
}

/// Runs `dxhub migrate` on `url`; whether it succeeded, and its stderr.
fn migrate(url: &str) -> (bool, String) {
    let out = dxhub()
        .args(["migrate", "--database", url])
        .stdin(Stdio::null())
        .output()
        .expect("run migrate");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Creating the schema of a new database is crash-safe too: a process killed while it
/// migrates leaves either no migration or whole ones applied, so the next run completes
/// the schema. (Each migration and its history row used to commit separately, and a kill
/// between the two left a table no later run could create: "table already exists".)
#[test]
fn sqlite_schema_creation_killed_at_any_moment_then_completes() {
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let (ok, stderr) = migrate(&format!("sqlite://{}/clean.db", dir.path().display()));
    assert!(ok, "migrate failed: {stderr}");
    let took = started.elapsed();
    eprintln!("clean migrate: {took:?}");
    // Kill moments spread evenly from the start of the process to past its end.
    let tries: u32 = 60;
    let mut hit = 0u32;
    for i in 0..tries {
        let url = format!("sqlite://{}/run{i}.db", dir.path().display());
        let delay = took.mul_f64(1.2 * f64::from(i) / f64::from(tries));
        hit += u32::from(killed(&["migrate", "--database", &url], delay));
        let (ok, stderr) = migrate(&url);
        assert!(
            ok,
            "killed after {delay:?}, the next migrate failed: {stderr}"
        );
    }
    eprintln!("{hit} of {tries} migrations were killed before they finished");
    assert!(
        hit >= tries / 4,
        "only {hit} of {tries} were killed in time"
    );
}
