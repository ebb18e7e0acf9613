//! The `dxhub` binary as a newcomer meets it: demo start, restart, Ctrl-C, import, errors.

mod common;

use common::{Running, dxhub};

#[test]
fn demo_loads_once_serves_and_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let data_dir = data_dir.to_str().unwrap();

    let first = Running::start(&["demo", "--data-dir", data_dir]);
    assert!(first.logged("reference data loaded"), "{:#?}", first.log);
    let (status, body) = first.get("/healthz");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"store\":\"sqlite\""));
    let (status, body) = first.get("/api/v1/units?level=province&at=2025-07-01");
    assert_eq!(status, 200);
    assert!(body.contains("\"count\":34"), "{body}");
    let (exit, log) = first.interrupt();
    assert!(exit.success(), "exit {exit:?}; log:\n{}", log.join("\n"));
    assert!(log.iter().any(|l| l.contains("stopped cleanly")));
    assert!(std::path::Path::new(data_dir).join("dxhub.db").exists());

    // The second start finds the data loaded and loads nothing twice.
    let second = Running::start(&["demo", "--data-dir", data_dir]);
    assert!(
        second.logged("reference data already loaded"),
        "{:#?}",
        second.log
    );
    assert!(
        !second.logged("reference data loaded "),
        "{:#?}",
        second.log
    );
    let (_, body) = second.get("/api/v1/units?level=commune&at=2025-06-30");
    assert!(body.contains("\"count\":10047"));
    let (exit, _) = second.interrupt();
    assert!(exit.success());
}

#[test]
fn import_reference_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("x.db").display());
    for expect in ["reference data loaded", "reference data already loaded"] {
        let out = dxhub()
            .args(["import", "reference", "--database", &url])
            .output()
            .unwrap();
        let log = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{log}");
        assert!(log.contains(expect), "{log}");
    }
}

#[test]
fn unusable_databases_fail_with_a_clear_message() {
    let out = dxhub()
        .args(["migrate", "--database", "mysql://x/y"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unsupported database URL 'mysql://x/y'"),
        "{err}"
    );

    let out = dxhub()
        .args([
            "migrate",
            "--database",
            "postgres://nobody:secret@127.0.0.1:1/none",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot use the database postgres://nobody:***@127.0.0.1:1/none"),
        "{err}"
    );
    assert!(
        !err.contains("secret"),
        "the password must not be printed: {err}"
    );

    let out = dxhub().args(["serve"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--database"));
}

#[test]
fn serve_on_postgres() {
    let Some(url) = common::postgres_database() else {
        return;
    };
    let server = Running::start(&["serve", "--database", &url]);
    assert!(server.logged("reference data loaded"), "{:#?}", server.log);
    let (status, body) = server.get("/healthz");
    assert_eq!(status, 200);
    assert!(body.contains("\"store\":\"postgres\""), "{body}");
    let (_, body) = server.get("/api/v1/units/24/lineage?at=2025-07-01");
    assert!(body.contains("Tỉnh Bắc Giang"), "{body}");
    let (exit, _) = server.interrupt();
    assert!(exit.success());

    // A second process against the same database loads nothing.
    let again = Running::start(&["serve", "--database", &url]);
    assert!(
        again.logged("reference data already loaded"),
        "{:#?}",
        again.log
    );
    assert!(!again.logged("reference data loaded "), "{:#?}", again.log);
    assert_eq!(again.get("/healthz").0, 200);
    let (exit, _) = again.interrupt();
    assert!(exit.success());
}
