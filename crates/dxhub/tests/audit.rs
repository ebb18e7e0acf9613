//! `dxhub audit verify` against a database changed behind dxhub's back: an entry edited
//! directly in SQLite or PostgreSQL, or the newest entry deleted, is detected.

mod common;

use common::dxhub;

fn run(args: &[&str]) -> (bool, String) {
    let out = dxhub()
        .env("RUST_BACKTRACE", "0")
        .args(args)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Creates a few audited changes through the CLI.
fn make_history(url: &str) {
    let (ok, log) = run(&["import", "reference", "--database", url]);
    assert!(ok, "{log}");
    for (email, role, scope) in [
        ("a@test.vn", "admin", None),
        ("b@test.vn", "province_officer", Some("24")),
    ] {
        let mut args = vec![
            "user",
            "add",
            "--database",
            url,
            "--email",
            email,
            "--role",
            role,
        ];
        if let Some(s) = scope {
            args.extend(["--scope", s]);
        }
        let (ok, log) = run(&args);
        assert!(ok, "{log}");
    }
    let (ok, log) = run(&[
        "key",
        "create",
        "--database",
        url,
        "--name",
        "dvcqg",
        "--source",
        "dvcqg",
        "--can",
        "ingest:dossiers",
    ]);
    assert!(ok, "{log}");
    let (ok, log) = run(&["audit", "verify", "--database", url]);
    // The shipped DTI 2022 edition loaded with the reference data, two accounts, a key.
    assert!(ok && log.contains("audit trail intact: 4 entries"), "{log}");
}

#[test]
fn sqlite_edits_and_deletions_are_detected() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.db");
    let url = format!("sqlite://{}", path.display());
    make_history(&url);

    let db = rusqlite::Connection::open(&path).unwrap();
    // The log is append-only: an ordinary UPDATE is refused by the database itself.
    let refused = db.execute(
        "UPDATE audit_log SET actor = 'someone else' WHERE seq = 2",
        [],
    );
    assert!(refused.unwrap_err().to_string().contains("append-only"));
    // Someone with full access drops the guard and edits an entry.
    db.execute_batch(
        "DROP TRIGGER audit_log_no_update;
         UPDATE audit_log SET new = replace(new, 'province:24', 'province:01') WHERE seq = 3;",
    )
    .unwrap();
    let (ok, log) = run(&["audit", "verify", "--database", &url]);
    assert!(!ok, "{log}");
    assert!(
        log.contains("TAMPERED") && log.contains("audit entry 3"),
        "{log}"
    );

    // Deleting the newest entry (with the head left alone) is detected too.
    let dir2 = tempfile::tempdir().unwrap();
    let path2 = dir2.path().join("y.db");
    let url2 = format!("sqlite://{}", path2.display());
    make_history(&url2);
    let db2 = rusqlite::Connection::open(&path2).unwrap();
    db2.execute_batch("DROP TRIGGER audit_log_no_delete; DELETE FROM audit_log WHERE seq = 4;")
        .unwrap();
    let (ok, log) = run(&["audit", "verify", "--database", &url2]);
    assert!(!ok && log.contains("deleted"), "{log}");
}

#[test]
fn postgres_edits_are_detected() {
    let Some(url) = common::postgres_database() else {
        return;
    };
    make_history(&url);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        let refused = client
            .execute("UPDATE audit_log SET actor = 'x' WHERE seq = 1", &[])
            .await;
        assert!(refused.is_err(), "the log is append-only");
        client
            .batch_execute(
                "ALTER TABLE audit_log DISABLE TRIGGER USER;
                 UPDATE audit_log SET address = '10.0.0.1' WHERE seq = 1;",
            )
            .await
            .unwrap();
    });
    let (ok, log) = run(&["audit", "verify", "--database", &url]);
    assert!(!ok, "{log}");
    assert!(
        log.contains("TAMPERED") && log.contains("audit entry 1"),
        "{log}"
    );
}
