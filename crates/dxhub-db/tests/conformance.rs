//! The store conformance suite: every case runs against SQLite always and against
//! PostgreSQL whenever `DXHUB_TEST_DATABASE_URL` names a server (scripts/test starts one).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::task::Poll;

use dxhub_core::accounts::{
    ApiKey, NewApiKey, NewUser, Session, ThrottlePolicy, UnitContact, User,
};
use dxhub_core::audit::{AuditEntry, Change, verify_chain};
use dxhub_core::auth::{Capability, Role, Scope};
use dxhub_core::units::{LineageKind, ORIGIN, REORG_2025, UnitKey, UnitLevel};
use dxhub_ingest::latest::Offer;
use dxhub_ingest::{Aggregates, DossierSnapshot, IndicatorRow, Latest};
use dxhub_reference::ReferenceData;
use dxhub_store::{
    AuditFilter, GroupedRow, Grouping, IndicatorQuery, IngestCounts, ReferenceLoad, Store,
    StoreError, UnitFilter,
};
use jiff::civil::{Date, date};

/// A store plus whatever must live as long as it (the temporary directory of SQLite).
struct Harness {
    store: Arc<dyn Store>,
    _dir: Option<tempfile::TempDir>,
}

async fn sqlite() -> Harness {
    let dir = tempfile::tempdir().expect("temporary directory");
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    Harness {
        store: dxhub_db::open(&url).await.expect("open SQLite store"),
        _dir: Some(dir),
    }
}

/// The URL of a fresh database on the test server, or `None` when PostgreSQL was explicitly
/// skipped.
/// Without a server and without the explicit skip the test fails: a suite that silently
/// passes without running would hide a broken backend.
async fn postgres_url() -> Option<String> {
    let Ok(admin_url) = std::env::var("DXHUB_TEST_DATABASE_URL") else {
        if std::env::var("DXHUB_SKIP_POSTGRES").as_deref() == Ok("1") {
            eprintln!("!!! PostgreSQL conformance case SKIPPED (DXHUB_SKIP_POSTGRES=1) !!!");
            return None;
        }
        panic!(
            "DXHUB_TEST_DATABASE_URL is not set, so the PostgreSQL store cannot be tested. \
             Run scripts/test (it starts a throwaway PostgreSQL), point the variable at a server \
             where the user may CREATE DATABASE, or set DXHUB_SKIP_POSTGRES=1 to skip on purpose."
        );
    };
    static N: AtomicU32 = AtomicU32::new(0);
    let name = format!(
        "dxhub_t_{}_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed),
        jiff::Timestamp::now().as_millisecond()
    );
    let (client, conn) = tokio_postgres::connect(&admin_url, tokio_postgres::NoTls)
        .await
        .expect("connect to the test PostgreSQL server");
    tokio::spawn(conn);
    client
        .execute(&format!("CREATE DATABASE {name}"), &[])
        .await
        .expect("create a test database");
    let mut config: tokio_postgres::Config = admin_url.parse().expect("test URL");
    config.dbname(&name);
    Some(pg_url(&config))
}

/// A store on a fresh database of the test server (see [`postgres_url`]).
async fn postgres() -> Option<Harness> {
    let url = postgres_url().await?;
    Some(Harness {
        store: dxhub_db::open(&url).await.expect("open PostgreSQL store"),
        _dir: None,
    })
}

/// Rebuilds a URL from a parsed config (only the parts the test harness uses).
fn pg_url(c: &tokio_postgres::Config) -> String {
    let user = c.get_user().unwrap_or("postgres");
    let host = match c.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
        #[cfg(unix)]
        Some(tokio_postgres::config::Host::Unix(p)) => {
            // libpq URL syntax for a socket directory: host in the query string.
            return format!(
                "postgres://{user}@localhost:{}/{}?host={}",
                c.get_ports().first().copied().unwrap_or(5432),
                c.get_dbname().unwrap_or_default(),
                p.display()
            );
        }
        None => "localhost".to_owned(),
    };
    let port = c.get_ports().first().copied().unwrap_or(5432);
    let pass = c
        .get_password()
        .map(|p| format!(":{}", String::from_utf8_lossy(p)))
        .unwrap_or_default();
    format!(
        "postgres://{user}{pass}@{host}:{port}/{}",
        c.get_dbname().unwrap_or_default()
    )
}

fn reference() -> &'static ReferenceData {
    static DATA: std::sync::OnceLock<ReferenceData> = std::sync::OnceLock::new();
    DATA.get_or_init(|| ReferenceData::embedded().expect("reference data"))
}

async fn loaded(store: &dyn Store) {
    store
        .load_reference(reference())
        .await
        .expect("load reference data");
}

async fn count(store: &dyn Store, level: UnitLevel, at: Date, parent: Option<&str>) -> usize {
    store
        .units(&UnitFilter {
            level: Some(level),
            at,
            parent: parent.map(str::to_owned),
        })
        .await
        .expect("list units")
        .len()
}

/// Runs the futures concurrently (on this task) and returns their outputs in order.
async fn join_all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (f, out) in futures.iter_mut().zip(outputs.iter_mut()) {
            if out.is_none() {
                match f.as_mut().poll(cx) {
                    Poll::Ready(v) => *out = Some(v),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    outputs
        .into_iter()
        .map(|o| o.expect("every future completed"))
        .collect()
}

const ADMIN: &str = "user:1 admin@dxhub.test";

fn new_user(email: &str, role: Role, scope: Scope) -> NewUser {
    NewUser {
        email: email.to_owned(),
        display_name: "Nguyễn Văn An".to_owned(),
        role,
        scope,
        password_hash: Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned()),
    }
}

async fn admin_user(store: &dyn Store, email: &str) -> User {
    store
        .create_user(
            &new_user(email, Role::Admin, Scope::National),
            Change::new(ADMIN, "user.create", format!("user:{email}")),
        )
        .await
        .expect("create user")
}

/// The whole audit chain, after checking that it verifies against the recorded head and
/// that listing without a filter gives the same entries newest first.
async fn verified_chain(store: &dyn Store) -> Vec<AuditEntry> {
    let (entries, head) = store.audit_chain().await.expect("read the audit chain");
    let n = verify_chain(&entries, head.as_ref().map(|(s, h)| (*s, h.as_str())))
        .expect("the audit chain verifies");
    assert_eq!(n as usize, entries.len());
    assert_eq!(
        head,
        entries.last().map(|e| (e.seq, e.hash.clone())),
        "the head is the last entry"
    );
    let mut listed = store
        .audit_entries(&AuditFilter::default())
        .await
        .expect("list audit entries");
    listed.reverse();
    assert_eq!(listed, entries);
    entries
}

/// Asserts the chain holds exactly these (actor, action, object), in order.
async fn assert_audit(store: &dyn Store, want: &[(&str, &str, &str)]) -> Vec<AuditEntry> {
    let entries = verified_chain(store).await;
    let got: Vec<(&str, &str, &str)> = entries
        .iter()
        .map(|e| (e.actor.as_str(), e.action.as_str(), e.object.as_str()))
        .collect();
    assert_eq!(got, want);
    entries
}

fn seqs(entries: &[AuditEntry]) -> Vec<i64> {
    entries.iter().map(|e| e.seq).collect()
}

/// The CSV header of the dossier-sync feed (the spec's column order).
const FEED_HEADER: &str = "dossier_id,source,version,service_code,province_code,commune_code,\
channel,end_to_end,status,received_at,due_at,completed_at,fee_vnd,paid_online";

/// Parses CSV data lines (the header is added) with the feed's own reader; every line
/// must be valid.
fn snapshots<S: AsRef<str>>(lines: &[S]) -> Vec<DossierSnapshot> {
    let mut text = format!("{FEED_HEADER}\n");
    for l in lines {
        text.push_str(l.as_ref());
        text.push('\n');
    }
    let (parsed, rejected, _) = dxhub_ingest::parse_all(text.as_bytes(), dxhub_ingest::Format::Csv)
        .expect("a readable feed");
    assert!(
        rejected.is_empty(),
        "test feed lines rejected: {rejected:?}"
    );
    assert_eq!(parsed.len(), lines.len());
    parsed
}

/// A feed line of source `t` with the fields the simple cases vary; the others are fixed
/// (no commune, not end-to-end, received, no due date, no fee).
fn line(
    id: &str,
    version: u64,
    service: &str,
    province: &str,
    channel: &str,
    received: &str,
) -> String {
    format!("{id},t,{version},{service},{province},,{channel},false,received,{received},,,0,false")
}

/// Offers snapshots to the in-memory reference of the newest-snapshot rule, in arrival
/// order, and counts what a store must report for them.
fn offer_all<'a>(
    model: &mut Latest,
    batch: impl IntoIterator<Item = &'a DossierSnapshot>,
) -> IngestCounts {
    let mut counts = IngestCounts::default();
    for s in batch {
        match model.offer(s.clone()) {
            Offer::Ignored => counts.stale += 1,
            Offer::Inserted | Offer::Replaced(_) => counts.applied += 1,
        }
    }
    counts
}

/// The indicator table computed from scratch over the newest snapshots.
fn from_scratch(model: &Latest) -> Vec<IndicatorRow> {
    Aggregates::from_latest(model.values()).rows()
}

async fn indicator_rows(store: &dyn Store, query: &IndicatorQuery) -> Vec<IndicatorRow> {
    store
        .indicator_rows(query)
        .await
        .expect("read indicator rows")
}

async fn all_rows(store: &dyn Store) -> Vec<IndicatorRow> {
    indicator_rows(store, &IndicatorQuery::default()).await
}

/// Ingests one batch, checks the counts against the reference model, and checks that the
/// stored table and dossier count equal a from-scratch computation.
async fn ingest_checked(
    store: &dyn Store,
    model: &mut Latest,
    batch: Vec<DossierSnapshot>,
) -> IngestCounts {
    let want = offer_all(model, &batch);
    let got = store.ingest_dossiers(batch).await.expect("ingest a batch");
    assert_eq!(got, want, "applied/stale counts");
    assert_eq!(
        all_rows(store).await,
        from_scratch(model),
        "indicator table"
    );
    assert_eq!(
        store.dossier_count().await.expect("count dossiers"),
        model.len() as u64
    );
    got
}

/// The cell keys of the table, as `PP/YYYY-MM`.
fn cell_keys(rows: &[IndicatorRow]) -> Vec<String> {
    rows.iter()
        .map(|r| format!("{}/{}", r.key.province_code, r.key.month))
        .collect()
}

/// The one row of a cell (`PP/YYYY-MM`).
fn row_of<'a>(rows: &'a [IndicatorRow], cell: &str) -> &'a IndicatorRow {
    rows.iter()
        .find(|r| format!("{}/{}", r.key.province_code, r.key.month) == cell)
        .unwrap_or_else(|| panic!("no row {cell} in {:?}", cell_keys(rows)))
}

/// A small deterministic pseudo-random generator (SplitMix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }

    fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i + 1);
            v.swap(i, j);
        }
    }
}

/// Received instants over June–August 2025 in Ho Chi Minh time, several on the month
/// boundaries (local midnight of the 1st is 17:00Z the day before).
const RECEIVED: [&str; 7] = [
    "2025-06-01T00:00:00+07:00",
    "2025-06-30T16:59:59.999999999Z",
    "2025-06-30T17:00:00Z",
    "2025-07-15T12:34:56.789+07:00",
    "2025-07-31T23:59:59+07:00",
    "2025-07-31T17:00:00Z",
    "2025-08-20T01:02:03Z",
];

/// A pseudo-random feed of `n` snapshots over `keys` dossiers of `source` in these
/// provinces, shuffled so that versions arrive out of order. With `distinct_versions` no
/// dossier gets a version twice (the newest snapshot then does not depend on the order
/// of arrival); otherwise versions repeat with different content (re-sends, where the
/// first to arrive must stay).
fn random_feed(
    rng: &mut Rng,
    source: &str,
    n: usize,
    keys: usize,
    provinces: &[&str],
    distinct_versions: bool,
) -> Vec<DossierSnapshot> {
    let mut next_version = vec![0u64; keys];
    let mut lines = Vec::with_capacity(n);
    for _ in 0..n {
        let key = rng.below(keys);
        let version = if distinct_versions {
            next_version[key] += 1 + rng.below(3) as u64;
            next_version[key]
        } else {
            rng.below(6) as u64
        };
        let service = format!("1.{:06}", 1000 + rng.below(6));
        let commune = if rng.below(3) == 0 {
            String::new()
        } else {
            format!("{:05}", rng.below(100_000))
        };
        let status = rng.pick(&[
            "received",
            "processing",
            "completed",
            "rejected",
            "cancelled",
        ]);
        let completed = if matches!(status, "completed" | "rejected") {
            rng.pick(&[
                "2025-08-31T23:59:59.999999999Z",
                "2025-09-01T00:00:00Z",
                "2025-09-01T00:00:00.000000001Z",
            ])
        } else {
            ""
        };
        lines.push(format!(
            "{source}-{key:04},{source},{version},{service},{province},{commune},{channel},{e2e},\
             {status},{received},{due},{completed},{fee},{paid}",
            province = rng.pick(provinces),
            channel = rng.pick(&["online", "online", "direct", "postal"]),
            e2e = rng.pick(&["true", "false"]),
            received = rng.pick(&RECEIVED),
            due = rng.pick(&["", "2025-09-01T00:00:00Z", "2025-09-01T07:00:00+07:00"]),
            fee = rng.pick(&["", "0", "15000", "2500000"]),
            paid = rng.pick(&["", "true", "false"]),
        ));
    }
    let mut feed = snapshots(&lines);
    rng.shuffle(&mut feed);
    feed
}

mod cases {
    use super::*;

    pub async fn reference_loads_exactly_once(store: &dyn Store) {
        assert_eq!(store.reference_version().await.unwrap(), None);
        let first = store.load_reference(reference()).await.unwrap();
        assert!(
            matches!(first, ReferenceLoad::Loaded { units, .. } if units == reference().units.len())
        );
        assert_eq!(
            store.reference_version().await.unwrap().as_deref(),
            Some(reference().version.as_str())
        );
        assert_eq!(
            store.load_reference(reference()).await.unwrap(),
            ReferenceLoad::AlreadyLoaded
        );
        assert_eq!(
            count(store, UnitLevel::Province, REORG_2025, None).await,
            34
        );
    }

    pub async fn concurrent_loaders_load_once(store: &dyn Store) {
        let (a, b) = tokio::join!(
            store.load_reference(reference()),
            store.load_reference(reference())
        );
        let outcomes = [a.unwrap(), b.unwrap()];
        assert_eq!(
            outcomes
                .iter()
                .filter(|o| **o == ReferenceLoad::AlreadyLoaded)
                .count(),
            1,
            "{outcomes:?}"
        );
        assert_eq!(
            count(store, UnitLevel::Commune, date(2025, 6, 30), None).await,
            10_047
        );
    }

    pub async fn counts_through_time(store: &dyn Store) {
        loaded(store).await;
        let before = date(2025, 6, 30);
        let after = date(2025, 7, 1);
        assert_eq!(count(store, UnitLevel::Province, before, None).await, 63);
        assert_eq!(count(store, UnitLevel::Province, after, None).await, 34);
        assert_eq!(count(store, UnitLevel::District, before, None).await, 696);
        assert_eq!(count(store, UnitLevel::District, after, None).await, 0);
        assert_eq!(count(store, UnitLevel::Commune, before, None).await, 10_047);
        assert_eq!(count(store, UnitLevel::Commune, after, None).await, 3_321);
        assert_eq!(
            count(store, UnitLevel::Province, date(2022, 12, 31), None).await,
            63
        );
        assert_eq!(
            count(store, UnitLevel::Province, date(2040, 1, 1), None).await,
            34
        );
        assert_eq!(
            count(store, UnitLevel::Ministry, date(2025, 2, 28), None).await,
            22
        );
        assert_eq!(
            count(store, UnitLevel::Ministry, date(2025, 3, 1), None).await,
            17
        );
    }

    pub async fn parents_filter_children(store: &dyn Store) {
        loaded(store).await;
        // provinces_34.csv: Hà Nội has 75 communes and 51 wards.
        assert_eq!(
            count(store, UnitLevel::Commune, REORG_2025, Some("01")).await,
            126
        );
        // Before the reorganisation a province's communes are reached through its districts.
        assert_eq!(
            count(store, UnitLevel::District, date(2025, 6, 30), Some("01")).await,
            30
        );
        assert_eq!(
            count(store, UnitLevel::Commune, date(2025, 6, 30), Some("01")).await,
            526
        );
        assert_eq!(
            count(store, UnitLevel::Commune, date(2025, 6, 30), Some("001")).await,
            13
        );
        assert_eq!(
            count(store, UnitLevel::Commune, REORG_2025, Some("99")).await,
            0
        );
    }

    pub async fn a_code_is_not_an_identity(store: &dyn Store) {
        loaded(store).await;
        let name = |d| async move { store.unit_at("24", None, d).await.unwrap().map(|u| u.name) };
        assert_eq!(
            name(date(2025, 6, 30)).await.as_deref(),
            Some("Tỉnh Bắc Giang")
        );
        assert_eq!(name(REORG_2025).await.as_deref(), Some("Tỉnh Bắc Ninh"));
        let versions = store.unit_versions("24", None).await.unwrap();
        assert_eq!(versions.len(), 2);
        assert_eq!(versions[0].valid_from, None);
        assert_eq!(versions[0].valid_to, Some(date(2025, 6, 30)));
        assert_eq!(versions[1].valid_from, Some(REORG_2025));
        assert_eq!(versions[1].valid_to, None);
        // Commune 00004 is Phường Trúc Bạch before and Phường Ba Đình after.
        let c = store
            .unit_at("00004", Some(UnitLevel::Commune), REORG_2025)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(c.name, "Phường Ba Đình");
        assert_eq!(c.parent.as_deref(), Some("01"));
        let old = store
            .unit_at("00004", None, date(2025, 6, 30))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(old.name, "Phường Trúc Bạch");
        assert_eq!(old.parent.as_deref(), Some("001"));
        assert!(
            store
                .unit_at("99", None, REORG_2025)
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            store
                .unit_at("02", None, REORG_2025)
                .await
                .unwrap()
                .is_none(),
            "Hà Giang ended"
        );
    }

    pub async fn lineage_follows_the_reorganisation(store: &dyn Store) {
        loaded(store).await;
        let new_bac_ninh = UnitKey {
            level: UnitLevel::Province,
            code: "24".into(),
            valid_from: REORG_2025,
        };
        let l = store.lineage(&new_bac_ninh).await.unwrap();
        let preds: Vec<(&str, &str, LineageKind)> = l
            .predecessors
            .iter()
            .map(|e| (e.unit.code.as_str(), e.unit.name.as_str(), e.kind))
            .collect();
        assert_eq!(
            preds,
            vec![
                ("24", "Tỉnh Bắc Giang", LineageKind::Full),
                ("27", "Tỉnh Bắc Ninh", LineageKind::Full)
            ]
        );
        assert!(l.successors.is_empty());

        let old_bac_ninh = UnitKey {
            level: UnitLevel::Province,
            code: "27".into(),
            valid_from: ORIGIN,
        };
        let l = store.lineage(&old_bac_ninh).await.unwrap();
        assert!(l.predecessors.is_empty());
        assert_eq!(l.successors.len(), 1);
        assert_eq!(l.successors[0].unit.name, "Tỉnh Bắc Ninh");
        assert_eq!(l.successors[0].unit.valid_from, Some(REORG_2025));

        // Every old commune split over several new ones lists all of them, each partial.
        let mut split = std::collections::BTreeMap::<&str, Vec<&str>>::new();
        for e in reference()
            .lineage
            .iter()
            .filter(|e| e.from.level == UnitLevel::Commune)
        {
            split
                .entry(e.from.code.as_str())
                .or_default()
                .push(e.to.code.as_str());
        }
        let mut checked = 0;
        for (old, news) in split.iter().filter(|(_, v)| v.len() >= 2).take(40) {
            let key = UnitKey {
                level: UnitLevel::Commune,
                code: (*old).to_owned(),
                valid_from: ORIGIN,
            };
            let succ = store.lineage(&key).await.unwrap().successors;
            let mut got: Vec<&str> = succ.iter().map(|e| e.unit.code.as_str()).collect();
            let mut want = news.clone();
            got.sort();
            want.sort();
            assert_eq!(got, want, "successors of commune {old}");
            assert!(
                succ.iter()
                    .all(|e| e.kind == LineageKind::Partial && e.steps == 1)
            );
            checked += 1;
        }
        assert_eq!(checked, 40);

        // Ministries: Thông tin và Truyền thông went partly into two bodies.
        let mic = UnitKey {
            level: UnitLevel::Ministry,
            code: "BTTTT".into(),
            valid_from: ORIGIN,
        };
        let succ = store.lineage(&mic).await.unwrap().successors;
        let got: Vec<(&str, LineageKind)> = succ
            .iter()
            .map(|e| (e.unit.code.as_str(), e.kind))
            .collect();
        assert_eq!(
            got,
            vec![
                ("BKHCN", LineageKind::Partial),
                ("BVHTTDL", LineageKind::Partial)
            ]
        );

        // A district has the new communes its communes went to.
        let ba_dinh = UnitKey {
            level: UnitLevel::District,
            code: "001".into(),
            valid_from: ORIGIN,
        };
        let succ = store.lineage(&ba_dinh).await.unwrap().successors;
        assert!(succ.len() >= 2, "{succ:?}");
        assert!(
            succ.iter()
                .all(|e| e.unit.level == UnitLevel::Commune && e.kind == LineageKind::Partial)
        );
    }

    pub async fn accounts_are_unique_by_email(store: &dyn Store) {
        let ana = store
            .create_user(
                &new_user(" Ana@Example.VN ", Role::Admin, Scope::National),
                Change::new(ADMIN, "user.create", "user:ana"),
            )
            .await
            .unwrap();
        assert!(ana.id > 0);
        assert_eq!(ana.email, "ana@example.vn");
        assert_eq!(ana.display_name, "Nguyễn Văn An");
        assert_eq!(ana.role, Role::Admin);
        assert_eq!(ana.scope, Scope::National);
        assert!(ana.password_hash.is_some());
        assert_eq!(ana.oidc_subject, None);
        assert!(!ana.disabled);
        assert!(!ana.created_at.is_empty());
        assert_eq!(store.user(ana.id).await.unwrap().as_ref(), Some(&ana));
        assert_eq!(
            store
                .user_by_email("ANA@example.vn")
                .await
                .unwrap()
                .as_ref(),
            Some(&ana)
        );
        assert_eq!(store.user(ana.id + 1000).await.unwrap(), None);
        assert_eq!(
            store.user_by_email("nobody@example.vn").await.unwrap(),
            None
        );

        let dup = store
            .create_user(
                &new_user("ana@EXAMPLE.vn", Role::Reviewer, Scope::National),
                Change::new(ADMIN, "user.create", "user:dup"),
            )
            .await;
        match dup {
            Err(StoreError::Conflict(m)) => {
                assert_eq!(m, "an account with e-mail ana@example.vn already exists")
            }
            other => panic!("expected a conflict, got {other:?}"),
        }

        let binh = store
            .create_user(
                &NewUser {
                    password_hash: None,
                    ..new_user(
                        "binh@example.vn",
                        Role::ProvinceOfficer,
                        Scope::Province("24".into()),
                    )
                },
                Change::new(ADMIN, "user.create", "user:binh"),
            )
            .await
            .unwrap();
        assert_ne!(binh.id, ana.id);
        assert_eq!(binh.scope, Scope::Province("24".into()));
        assert_eq!(binh.password_hash, None);
        let emails: Vec<String> = store
            .users()
            .await
            .unwrap()
            .into_iter()
            .map(|u| u.email)
            .collect();
        assert_eq!(emails, ["ana@example.vn", "binh@example.vn"]);

        let subject = "https://id.example.vn sub-1";
        store
            .link_oidc_subject(
                binh.id,
                subject,
                Change::new(ADMIN, "user.link_oidc", "user:binh"),
            )
            .await
            .unwrap();
        let linked = store.user_by_oidc_subject(subject).await.unwrap().unwrap();
        assert_eq!(linked.id, binh.id);
        assert_eq!(linked.oidc_subject.as_deref(), Some(subject));
        assert_eq!(store.user_by_oidc_subject("other").await.unwrap(), None);
        match store
            .link_oidc_subject(
                ana.id,
                subject,
                Change::new(ADMIN, "user.link_oidc", "user:ana"),
            )
            .await
        {
            Err(StoreError::Conflict(m)) => {
                assert_eq!(m, "this identity is already linked to another account")
            }
            other => panic!("expected a conflict, got {other:?}"),
        }
        assert!(matches!(
            store
                .set_password(
                    binh.id + 1000,
                    "x",
                    Change::new(ADMIN, "user.password", "user:none"),
                )
                .await,
            Err(StoreError::NotFound(_))
        ));

        // Refused changes leave no trace.
        // The store names a created account by its id.
        let (ana_obj, binh_obj) = (format!("user:{}", ana.id), format!("user:{}", binh.id));
        assert_audit(
            store,
            &[
                (ADMIN, "user.create", &ana_obj),
                (ADMIN, "user.create", &binh_obj),
                (ADMIN, "user.link_oidc", "user:binh"),
            ],
        )
        .await;
    }

    pub async fn sessions_live_until_they_expire(store: &dyn Store) {
        let user = admin_user(store, "an@example.vn").await;
        let other = admin_user(store, "chi@example.vn").await;
        let session = |csrf: &str, user_id| Session {
            user_id,
            csrf: csrf.to_owned(),
            expires_at: 1_000,
        };
        let login = |o: &str| Change::new("anonymous", "session.login", o.to_owned());
        store
            .create_session("h1", &session("c1", user.id), login("session:1"))
            .await
            .unwrap();
        let (u, s) = store.session("h1", 999).await.unwrap().unwrap();
        assert_eq!(u, user);
        assert_eq!(s, session("c1", user.id));
        assert_eq!(store.session("h1", 1_000).await.unwrap(), None, "expired");
        assert_eq!(store.session("nope", 0).await.unwrap(), None);

        store
            .create_session("h2", &session("c2", user.id), login("session:2"))
            .await
            .unwrap();
        store
            .create_session("h3", &session("c3", user.id), login("session:3"))
            .await
            .unwrap();
        store
            .create_session("h4", &session("c4", other.id), login("session:4"))
            .await
            .unwrap();
        store
            .delete_session("h2", Change::new("user:x", "session.logout", "session:2"))
            .await
            .unwrap();
        assert_eq!(store.session("h2", 0).await.unwrap(), None);
        assert!(store.session("h3", 0).await.unwrap().is_some());

        // A new password ends every session of that account, and only of that account.
        store
            .set_password(
                user.id,
                "$argon2id$new",
                Change::new(ADMIN, "user.password", "user:an"),
            )
            .await
            .unwrap();
        assert_eq!(store.session("h1", 0).await.unwrap(), None);
        assert_eq!(store.session("h3", 0).await.unwrap(), None);
        let (u, s) = store.session("h4", 0).await.unwrap().unwrap();
        assert_eq!((u.id, s.csrf.as_str()), (other.id, "c4"));
        assert_eq!(
            store
                .user(user.id)
                .await
                .unwrap()
                .unwrap()
                .password_hash
                .as_deref(),
            Some("$argon2id$new")
        );

        assert_audit(
            store,
            &[
                (ADMIN, "user.create", &format!("user:{}", user.id)),
                (ADMIN, "user.create", &format!("user:{}", other.id)),
                ("anonymous", "session.login", "session:1"),
                ("anonymous", "session.login", "session:2"),
                ("anonymous", "session.login", "session:3"),
                ("anonymous", "session.login", "session:4"),
                ("user:x", "session.logout", "session:2"),
                (ADMIN, "user.password", "user:an"),
            ],
        )
        .await;
    }

    pub async fn sign_in_failures_lock_then_clear(store: &dyn Store) {
        let policy = ThrottlePolicy::default();
        let keys = vec![
            "email:an@example.vn".to_owned(),
            "ip:203.0.113.9".to_owned(),
        ];
        let now = 1_000_000;
        let fail = |keys: Vec<String>, now: i64| async move {
            store
                .record_login_failure(
                    &keys,
                    now,
                    policy,
                    Change::new("anonymous", "session.login_failed", "user:an"),
                )
                .await
                .unwrap()
        };
        for _ in 0..4 {
            assert_eq!(fail(keys.clone(), now).await, None);
        }
        assert_eq!(store.login_locked_until(&keys, now).await.unwrap(), None);
        // The fifth failure locks for the base time, and each further one doubles it.
        assert_eq!(fail(keys.clone(), now).await, Some(now + 2));
        assert_eq!(
            store.login_locked_until(&keys, now).await.unwrap(),
            Some(now + 2)
        );
        assert_eq!(
            store.login_locked_until(&keys, now + 1).await.unwrap(),
            Some(now + 2)
        );
        assert_eq!(
            store.login_locked_until(&keys, now + 2).await.unwrap(),
            None
        );
        assert_eq!(fail(keys.clone(), now).await, Some(now + 4));
        assert_eq!(fail(keys.clone(), now + 10).await, Some(now + 18));

        // Keys count separately: the address is at 8 failures, the new account at 1.
        let other = vec![
            "ip:203.0.113.9".to_owned(),
            "email:binh@example.vn".to_owned(),
        ];
        assert_eq!(fail(other.clone(), now).await, Some(now + 16));
        assert_eq!(
            store
                .login_locked_until(&["email:binh@example.vn".to_owned()], now)
                .await
                .unwrap(),
            None
        );
        assert_eq!(
            store.login_locked_until(&other, now).await.unwrap(),
            Some(now + 16)
        );
        assert_eq!(
            store.login_locked_until(&keys, now).await.unwrap(),
            Some(now + 18),
            "the latest lock of any key (the account's, from the failure at now + 10)"
        );
        assert_eq!(store.login_locked_until(&[], now).await.unwrap(), None);

        store.clear_login_failures(&keys).await.unwrap();
        assert_eq!(store.login_locked_until(&keys, now).await.unwrap(), None);
        assert_eq!(fail(keys.clone(), now).await, None, "counting starts again");

        let entries = verified_chain(store).await;
        assert_eq!(entries.len(), 9, "one entry per recorded failure");
        assert!(
            entries
                .iter()
                .all(|e| e.action == "session.login_failed" && e.actor == "anonymous")
        );
    }

    pub async fn api_keys_are_listed_touched_and_revoked(store: &dyn Store) {
        let create = |name: &str, sources: &[&str], caps: &[Capability]| {
            let key = NewApiKey {
                name: name.to_owned(),
                sources: sources.iter().map(|s| s.to_string()).collect(),
                capabilities: caps.iter().copied().collect(),
                secret_hash: format!("{name}-secret-sha256"),
            };
            let audit = Change::new(ADMIN, "key.create", format!("key:{name}"));
            async move { store.create_key(&key, audit).await.unwrap() }
        };
        let k1 = create("dvcqg", &["dvcqg"], &[Capability::IngestDossiers]).await;
        let k2 = create(
            "portal",
            &["hcc-79", "hcc-01"],
            &[Capability::IngestUsage, Capability::IngestActivities],
        )
        .await;
        assert_ne!(k1.id, k2.id);
        assert_eq!(k1.name, "dvcqg");
        assert_eq!(k1.sources, ["dvcqg".to_string()].into());
        assert_eq!(k1.capabilities, [Capability::IngestDossiers].into());
        assert_eq!(k1.secret_hash, "dvcqg-secret-sha256");
        assert!(!k1.created_at.is_empty());
        assert_eq!(
            (k1.last_used_at.as_ref(), k1.revoked_at.as_ref()),
            (None, None)
        );
        assert_eq!(
            k2.sources,
            ["hcc-01".to_string(), "hcc-79".to_string()].into()
        );
        assert_eq!(
            k2.capabilities,
            [Capability::IngestUsage, Capability::IngestActivities].into()
        );
        assert_eq!(store.key(k1.id).await.unwrap().as_ref(), Some(&k1));
        assert_eq!(
            store.keys().await.unwrap(),
            [k2.clone(), k1.clone()],
            "newest first"
        );

        store
            .touch_key(k1.id, "2026-01-02T03:04:05.000000Z")
            .await
            .unwrap();
        let touched = store.key(k1.id).await.unwrap().unwrap();
        assert_eq!(
            touched.last_used_at.as_deref(),
            Some("2026-01-02T03:04:05.000000Z")
        );

        let revoked = store
            .revoke_key(k1.id, Change::new(ADMIN, "key.revoke", "key:dvcqg"))
            .await
            .unwrap();
        let when = revoked.revoked_at.clone().expect("revoked_at is set");
        assert_eq!(
            revoked,
            ApiKey {
                revoked_at: Some(when.clone()),
                ..touched
            }
        );
        let again = store
            .revoke_key(k1.id, Change::new(ADMIN, "key.revoke", "key:dvcqg"))
            .await
            .unwrap();
        assert_eq!(
            again.revoked_at.as_deref(),
            Some(when.as_str()),
            "idempotent"
        );
        assert_eq!(store.key(k2.id).await.unwrap().unwrap().revoked_at, None);
        let missing = k1.id.max(k2.id) + 1000;
        match store
            .revoke_key(missing, Change::new(ADMIN, "key.revoke", "key:none"))
            .await
        {
            Err(StoreError::NotFound(m)) => assert_eq!(m, format!("there is no API key {missing}")),
            other => panic!("expected NotFound, got {other:?}"),
        }
        assert_eq!(store.key(missing).await.unwrap(), None);

        // Touching is not a change worth auditing, nor is revoking a revoked key.
        assert_audit(
            store,
            &[
                (ADMIN, "key.create", &format!("key:{}", k1.id)),
                (ADMIN, "key.create", &format!("key:{}", k2.id)),
                (ADMIN, "key.revoke", "key:dvcqg"),
            ],
        )
        .await;
    }

    pub async fn unit_contacts_are_upserted(store: &dyn Store) {
        let key = |level, code: &str, from| UnitKey {
            level,
            code: code.to_owned(),
            valid_from: from,
        };
        let new_24 = key(UnitLevel::Province, "24", REORG_2025);
        let old_24 = key(UnitLevel::Province, "24", ORIGIN);
        assert_eq!(store.unit_contact(&new_24).await.unwrap(), None);
        let first = UnitContact {
            office: "Sở Khoa học và Công nghệ tỉnh Bắc Ninh".into(),
            person: "Trần Thị Bình".into(),
            email: "sokhcn@bacninh.gov.vn".into(),
            phone: "0204 3854 000".into(),
        };
        let json = |c: &UnitContact| format!(r#"{{"person":"{}"}}"#, c.person);
        store
            .set_unit_contact(
                &new_24,
                &first,
                Change::new(ADMIN, "unit_contact.set", "unit_contact:province/24")
                    .from_address(Some("203.0.113.9".into()))
                    .with(None, Some(json(&first))),
            )
            .await
            .unwrap();
        assert_eq!(
            store.unit_contact(&new_24).await.unwrap(),
            Some(first.clone())
        );
        let second = UnitContact {
            person: "Lê Văn Cường".into(),
            ..first.clone()
        };
        store
            .set_unit_contact(
                &new_24,
                &second,
                Change::new(ADMIN, "unit_contact.set", "unit_contact:province/24")
                    .with(Some(json(&first)), Some(json(&second))),
            )
            .await
            .unwrap();
        assert_eq!(
            store.unit_contact(&new_24).await.unwrap(),
            Some(second.clone())
        );
        // Contacts belong to a unit version: the old Bắc Giang (also code 24) has none.
        assert_eq!(store.unit_contact(&old_24).await.unwrap(), None);
        assert_eq!(
            store
                .unit_contact(&key(UnitLevel::Commune, "00024", REORG_2025))
                .await
                .unwrap(),
            None
        );

        let entries = assert_audit(
            store,
            &[
                (ADMIN, "unit_contact.set", "unit_contact:province/24"),
                (ADMIN, "unit_contact.set", "unit_contact:province/24"),
            ],
        )
        .await;
        assert_eq!(entries[0].address.as_deref(), Some("203.0.113.9"));
        assert_eq!(entries[0].old, None);
        assert_eq!(entries[0].new, Some(json(&first)));
        assert_eq!(entries[1].address, None);
        assert_eq!(entries[1].old, Some(json(&first)));
        assert_eq!(entries[1].new, Some(json(&second)));
    }

    pub async fn audit_filters_select_entries(store: &dyn Store) {
        let changes = [
            ("user:1 ana@example.vn", "user.create", "user:2"),
            ("user:1 ana@example.vn", "user.password", "user:2"),
            ("key:1 dvcqg", "ingest.dossiers", "source:dvcqg"),
            ("cli", "key.create", "key:1"),
            ("user:2 binh@example.vn", "session.login", "session:user:2"),
            (
                "user:2 binh@example.vn",
                "unit_contact.set",
                "unit_contact:province/24",
            ),
            ("cli", "user.create", "user_x:3"),
        ];
        let mut appended = Vec::new();
        for (actor, action, object) in changes {
            let e = store
                .append_audit(Change::new(actor, action, object))
                .await
                .unwrap();
            appended.push(e);
        }
        assert_eq!(seqs(&appended), [1, 2, 3, 4, 5, 6, 7]);
        let chain = verified_chain(store).await;
        assert_eq!(chain, appended, "append_audit returns what is stored");

        let list = |f: AuditFilter| async move { seqs(&store.audit_entries(&f).await.unwrap()) };
        assert_eq!(list(AuditFilter::default()).await, [7, 6, 5, 4, 3, 2, 1]);
        let actor = |a: &str| AuditFilter {
            actor: Some(a.to_owned()),
            ..Default::default()
        };
        assert_eq!(list(actor("ana@")).await, [2, 1], "actor contains");
        assert_eq!(list(actor("user:")).await, [6, 5, 2, 1]);
        assert_eq!(list(actor("ANA")).await, Vec::<i64>::new(), "case matters");
        let action = |a: &str| AuditFilter {
            action: Some(a.to_owned()),
            ..Default::default()
        };
        assert_eq!(list(action("user.")).await, [7, 2, 1], "action prefix");
        assert_eq!(list(action("create")).await, Vec::<i64>::new(), "not infix");
        assert_eq!(
            list(action("user%")).await,
            Vec::<i64>::new(),
            "no wildcards"
        );
        let object = |o: &str| AuditFilter {
            object: Some(o.to_owned()),
            ..Default::default()
        };
        assert_eq!(list(object("user:")).await, [2, 1], "object prefix");
        assert_eq!(list(object("user_")).await, [7], "no wildcards");
        assert_eq!(list(object("unit_contact:province/")).await, [6]);
        assert_eq!(
            list(AuditFilter {
                actor: Some("cli".into()),
                action: Some("user.".into()),
                ..Default::default()
            })
            .await,
            [7],
            "filters combine"
        );
        assert_eq!(
            list(AuditFilter {
                limit: Some(2),
                ..Default::default()
            })
            .await,
            [7, 6],
            "newest first, limited"
        );
        assert_eq!(
            list(AuditFilter {
                limit: Some(0),
                ..Default::default()
            })
            .await,
            Vec::<i64>::new()
        );

        // Time bounds: since inclusive, until exclusive, compared as text.
        let at = |seq: usize| appended[seq - 1].at.clone();
        let expect = |since: Option<&str>, until: Option<&str>| -> Vec<i64> {
            appended
                .iter()
                .rev()
                .filter(|e| since.is_none_or(|s| e.at.as_str() >= s))
                .filter(|e| until.is_none_or(|u| e.at.as_str() < u))
                .map(|e| e.seq)
                .collect()
        };
        let window = |since: Option<String>, until: Option<String>| AuditFilter {
            since,
            until,
            ..Default::default()
        };
        for (since, until) in [
            (Some(at(3)), None),
            (None, Some(at(3))),
            (Some(at(2)), Some(at(6))),
            (Some(at(4)), Some(at(4))),
            (Some(at(1)), None),
            (None, Some(at(1))),
        ] {
            let want = expect(since.as_deref(), until.as_deref());
            assert_eq!(
                list(window(since.clone(), until.clone())).await,
                want,
                "since {since:?} until {until:?}"
            );
        }
        assert!(list(window(Some(at(3)), None)).await.contains(&3));
        assert!(!list(window(None, Some(at(3)))).await.contains(&3));
        assert_eq!(
            list(window(Some("2000-01-01".into()), None)).await,
            [7, 6, 5, 4, 3, 2, 1]
        );
        assert_eq!(
            list(window(Some("9999-01-01".into()), None)).await,
            Vec::<i64>::new()
        );
        assert_eq!(
            list(window(Some(at(7)), None)).await.first(),
            Some(&7),
            "the newest entry is at or after its own time"
        );
    }

    pub async fn concurrent_appends_keep_the_chain(store: &dyn Store) {
        const N: usize = 50;
        let appends = (0..N)
            .map(|i| store.append_audit(Change::new("cli", "test.append", format!("n:{i}"))))
            .collect();
        let appended: Vec<AuditEntry> = join_all(appends)
            .await
            .into_iter()
            .collect::<Result<_, _>>()
            .expect("every append succeeds");
        let mut got = seqs(&appended);
        got.sort();
        assert_eq!(
            got,
            (1..=N as i64).collect::<Vec<_>>(),
            "no gaps, no repeats"
        );

        // Changes that write data and audit concurrently, counting on the same key.
        let policy = ThrottlePolicy::default();
        let key = ["ip:198.51.100.1".to_owned()];
        const FAILURES: u32 = 12;
        let failures = (0..FAILURES)
            .map(|_| {
                store.record_login_failure(
                    &key,
                    5_000,
                    policy,
                    Change::new("anonymous", "session.login_failed", "ip:198.51.100.1"),
                )
            })
            .collect();
        for r in join_all(failures).await {
            r.expect("every failure is recorded");
        }
        assert_eq!(
            store.login_locked_until(&key, 5_000).await.unwrap(),
            Some(5_000 + policy.lock_secs(FAILURES)),
            "every failure counted"
        );

        let chain = verified_chain(store).await;
        assert_eq!(
            seqs(&chain),
            (1..=(N as i64 + i64::from(FAILURES))).collect::<Vec<_>>()
        );
        let mut objects: Vec<&str> = chain[..N].iter().map(|e| e.object.as_str()).collect();
        objects.sort();
        objects.dedup();
        assert_eq!(objects.len(), N, "each append stored once");
        for e in &appended {
            assert_eq!(&chain[e.seq as usize - 1], e);
        }
    }

    pub async fn newest_dossier_version_wins(store: &dyn Store) {
        assert_eq!(
            store.ingest_dossiers(Vec::new()).await.unwrap(),
            IngestCounts::default()
        );
        assert_eq!(store.dossier_count().await.unwrap(), 0);
        assert_eq!(all_rows(store).await, []);

        const JULY: &str = "2025-07-10T08:00:00+07:00";
        let a1 = line("A", 1, "1.000001", "79", "direct", JULY);
        let a2 = line("A", 2, "1.000001", "01", "online", JULY);
        // A re-send of version 2 with other content: the first to arrive stays.
        let a2_resent = line("A", 2, "1.000002", "79", "postal", JULY);
        let b: Vec<String> = (0..5)
            .map(|v| line("B", v, "1.000003", "01", "direct", JULY))
            .collect();
        let mut model = Latest::new();

        let counts =
            ingest_checked(store, &mut model, snapshots(&[&a2, &a1, &a2_resent, &b[1]])).await;
        assert_eq!(
            counts,
            IngestCounts {
                applied: 2,
                stale: 2
            }
        );
        let rows = all_rows(store).await;
        assert_eq!(cell_keys(&rows), ["01/2025-07"]);
        assert_eq!(row_of(&rows, "01/2025-07").cell.received, 2);
        assert_eq!(row_of(&rows, "01/2025-07").cell.online, 1);

        // Stale against the store (A), stale against a newer snapshot earlier in the same
        // batch (B 2 after B 3), applied twice in one batch (B 3 then B 4).
        let counts = ingest_checked(
            store,
            &mut model,
            snapshots(&[&a1, &a2_resent, &b[3], &b[2], &b[4], &b[0]]),
        )
        .await;
        assert_eq!(
            counts,
            IngestCounts {
                applied: 2,
                stale: 4
            }
        );

        // Nothing but stale snapshots changes nothing.
        let before = all_rows(store).await;
        let counts = ingest_checked(store, &mut model, snapshots(&[&b[4], &a2_resent, &a1])).await;
        assert_eq!(
            counts,
            IngestCounts {
                applied: 0,
                stale: 3
            }
        );
        assert_eq!(all_rows(store).await, before);

        // Version 3 of A replaces the *first* version 2 (01, online): had the re-send been
        // stored, 79 would now show a dossier taken away that it never had.
        let a3 = line("A", 3, "1.000001", "48", "direct", JULY);
        let counts = ingest_checked(store, &mut model, snapshots(&[&a3])).await;
        assert_eq!(
            counts,
            IngestCounts {
                applied: 1,
                stale: 0
            }
        );
        let rows = all_rows(store).await;
        assert_eq!(cell_keys(&rows), ["01/2025-07", "48/2025-07"]);
        assert_eq!(row_of(&rows, "01/2025-07").cell.online, 0);
        assert_eq!(store.dossier_count().await.unwrap(), 2);

        // Version 0 is a valid first version; the same key in another source is another
        // dossier.
        let c0 = line("A", 0, "1.000001", "48", "online", JULY).replacen(",t,", ",u,", 1);
        let counts = ingest_checked(store, &mut model, snapshots(&[&c0])).await;
        assert_eq!(
            counts,
            IngestCounts {
                applied: 1,
                stale: 0
            }
        );
        assert_eq!(store.dossier_count().await.unwrap(), 3);
    }

    pub async fn later_versions_move_contributions(store: &dyn Store) {
        let mut model = Latest::new();
        const JULY: &str = "2025-07-10T08:00:00+07:00";
        // 17:00Z on the last day of July is already August in Ho Chi Minh City.
        const AUGUST: &str = "2025-07-31T17:00:00Z";
        const JUNE: &str = "2025-06-30T16:59:59Z";
        let m = |v, province, received| line("M", v, "1.000001", province, "online", received);
        let n = |v, province, received| line("N", v, "1.000002", province, "direct", received);

        ingest_checked(
            store,
            &mut model,
            snapshots(&[m(1, "01", JULY), n(1, "01", JULY)]),
        )
        .await;
        let rows = all_rows(store).await;
        assert_eq!(cell_keys(&rows), ["01/2025-07"]);
        assert_eq!(row_of(&rows, "01/2025-07").services_online, 1);

        // Another province.
        ingest_checked(store, &mut model, snapshots(&[m(2, "79", JULY)])).await;
        let rows = all_rows(store).await;
        assert_eq!(cell_keys(&rows), ["01/2025-07", "79/2025-07"]);
        let old = row_of(&rows, "01/2025-07");
        assert_eq!(
            (old.cell.received, old.cell.online, old.services_online),
            (1, 0, 0)
        );
        let new = row_of(&rows, "79/2025-07");
        assert_eq!(
            (new.cell.received, new.cell.online, new.services_online),
            (1, 1, 1)
        );

        // Another month: the emptied cell disappears.
        ingest_checked(store, &mut model, snapshots(&[m(3, "79", AUGUST)])).await;
        assert_eq!(
            cell_keys(&all_rows(store).await),
            ["01/2025-07", "79/2025-08"]
        );

        // Moved away and back within one batch: only the net change shows.
        let back = line("M", 5, "1.000001", "79", "postal", AUGUST);
        ingest_checked(store, &mut model, snapshots(&[m(4, "01", JUNE), back])).await;
        let rows = all_rows(store).await;
        assert_eq!(cell_keys(&rows), ["01/2025-07", "79/2025-08"]);
        assert_eq!(row_of(&rows, "79/2025-08").services_online, 0);

        // The last dossier leaves its cell too.
        ingest_checked(store, &mut model, snapshots(&[n(2, "79", AUGUST)])).await;
        let rows = all_rows(store).await;
        assert_eq!(cell_keys(&rows), ["79/2025-08"]);
        assert_eq!(row_of(&rows, "79/2025-08").cell.received, 2);
    }

    pub async fn services_online_counts_distinct_services(store: &dyn Store) {
        let mut model = Latest::new();
        const JULY: &str = "2025-07-10T08:00:00+07:00";
        let s = |id, v, service, channel| line(id, v, service, "01", channel, JULY);
        let services = |rows: &[IndicatorRow]| {
            let r = row_of(rows, "01/2025-07");
            (r.cell.online, r.services_online)
        };

        // Two online dossiers of S, one of T, a direct one of U.
        ingest_checked(
            store,
            &mut model,
            snapshots(&[
                s("A", 1, "S", "online"),
                s("B", 1, "S", "online"),
                s("C", 1, "T", "online"),
                s("D", 1, "U", "direct"),
            ]),
        )
        .await;
        assert_eq!(services(&all_rows(store).await), (3, 2));

        // One of the two S dossiers changes channel: S still has an online dossier.
        ingest_checked(store, &mut model, snapshots(&[s("A", 2, "S", "direct")])).await;
        assert_eq!(services(&all_rows(store).await), (2, 2));

        // The last online S dossier changes channel: S stops counting.
        ingest_checked(store, &mut model, snapshots(&[s("B", 2, "S", "postal")])).await;
        assert_eq!(services(&all_rows(store).await), (1, 1));

        // An online dossier changes service (T → S); a direct one goes online (U).
        ingest_checked(
            store,
            &mut model,
            snapshots(&[s("C", 2, "S", "online"), s("D", 2, "U", "online")]),
        )
        .await;
        assert_eq!(services(&all_rows(store).await), (2, 2));

        // Online and back in one batch; a third online dossier of S, then it leaves.
        ingest_checked(
            store,
            &mut model,
            snapshots(&[
                s("A", 3, "S", "online"),
                s("A", 4, "S", "direct"),
                s("B", 3, "S", "online"),
            ]),
        )
        .await;
        assert_eq!(services(&all_rows(store).await), (3, 2));
        ingest_checked(
            store,
            &mut model,
            snapshots(&[s("B", 4, "S", "direct"), s("C", 3, "S", "direct")]),
        )
        .await;
        assert_eq!(services(&all_rows(store).await), (1, 1));
    }

    pub async fn stored_snapshots_round_trip_exactly(store: &dyn Store) {
        // Every later version subtracts what the store read back of the earlier one, so a
        // field that did not round-trip (a nanosecond, a fee, an absent value) shows up
        // as a wrong cell.
        let mut model = Latest::new();
        let max = i64::MAX;
        let versions = [
            // On time to the nanosecond (due and completion are one instant, written in
            // two offsets); the largest fee; received on the last second of July there.
            format!(
                "R,rt,1,1.000001,79,26734,online,true,completed,2025-07-31T23:59:59.123456789+07:00,\
                 2025-08-01T10:00:00.000000001+07:00,2025-08-01T03:00:00.000000001Z,{max},true"
            ),
            "R,rt,2,1.000001,79,,direct,false,processing,2025-07-31T23:59:59.123456789+07:00,,,,"
                .to_owned(),
            // One nanosecond late.
            "R,rt,3,1.000001,79,26734,online,false,completed,2025-07-31T16:00:00Z,\
             2025-08-01T03:00:00.000000001Z,2025-08-01T03:00:00.000000002Z,1,true"
                .to_owned(),
            // Completed without a due date: not on time.
            "R,rt,4,1.000001,79,,postal,true,completed,2025-07-31T16:00:00Z,,2025-08-01T00:00:00Z,0,true"
                .to_owned(),
            "R,rt,5,1.000001,79,26734,online,true,rejected,2025-07-31T17:00:00Z,\
             2025-08-02T00:00:00Z,2025-08-01T00:00:00Z,15000,false"
                .to_owned(),
        ];
        for v in &versions {
            let counts = ingest_checked(store, &mut model, snapshots(&[v])).await;
            assert_eq!(
                counts,
                IngestCounts {
                    applied: 1,
                    stale: 0
                }
            );
        }
        let first = &snapshots(&[&versions[0]])[0];
        let one = Aggregates::from_latest([first]).rows();
        assert_eq!(one[0].cell.completed_on_time, 1);
        assert_eq!(one[0].cell.online_payment_vnd, max as u64);
        let rows = all_rows(store).await;
        assert_eq!(cell_keys(&rows), ["79/2025-08"]);
    }

    pub async fn indicator_rows_filter_and_sort(store: &dyn Store) {
        let mut model = Latest::new();
        let mut lines = Vec::new();
        // Inserted out of order; months across a year end.
        for (i, (province, received)) in [
            ("79", "2025-11-03T00:00:00Z"),
            ("08", "2025-01-15T00:00:00Z"),
            ("79", "2024-12-31T16:59:59Z"),
            ("01", "2025-01-01T00:00:00Z"),
            ("79", "2024-12-31T17:00:00Z"),
            ("08", "2024-12-01T00:00:00Z"),
            ("79", "2025-01-20T00:00:00Z"),
        ]
        .into_iter()
        .enumerate()
        {
            lines.push(line(
                &format!("F{i}"),
                1,
                "1.000001",
                province,
                "online",
                received,
            ));
        }
        ingest_checked(store, &mut model, snapshots(&lines)).await;
        let want = from_scratch(&model);
        assert_eq!(
            cell_keys(&want),
            [
                "01/2025-01",
                "08/2024-12",
                "08/2025-01",
                "79/2024-12",
                "79/2025-01",
                "79/2025-11"
            ]
        );
        let query = |province: Option<&str>, from: Option<&str>, to: Option<&str>| IndicatorQuery {
            province: province.map(str::to_owned),
            from_month: from.map(str::to_owned),
            to_month: to.map(str::to_owned),
        };
        let cases = [
            (
                query(None, None, None),
                vec![
                    "01/2025-01",
                    "08/2024-12",
                    "08/2025-01",
                    "79/2024-12",
                    "79/2025-01",
                    "79/2025-11",
                ],
            ),
            (
                query(Some("79"), None, None),
                vec!["79/2024-12", "79/2025-01", "79/2025-11"],
            ),
            (
                query(None, Some("2025-01"), None),
                vec!["01/2025-01", "08/2025-01", "79/2025-01", "79/2025-11"],
            ),
            (
                query(None, None, Some("2025-01")),
                vec![
                    "01/2025-01",
                    "08/2024-12",
                    "08/2025-01",
                    "79/2024-12",
                    "79/2025-01",
                ],
            ),
            (
                query(None, Some("2025-01"), Some("2025-01")),
                vec!["01/2025-01", "08/2025-01", "79/2025-01"],
            ),
            (
                query(Some("79"), Some("2024-12"), Some("2025-10")),
                vec!["79/2024-12", "79/2025-01"],
            ),
            (query(Some("08"), Some("2025-02"), None), vec![]),
            (query(Some("99"), None, None), vec![]),
            (query(None, Some("2025-12"), Some("2025-01")), vec![]),
        ];
        for (q, keys) in cases {
            let got = indicator_rows(store, &q).await;
            assert_eq!(cell_keys(&got), keys, "{q:?}");
            let expected: Vec<IndicatorRow> = want
                .iter()
                .filter(|r| {
                    keys.contains(&format!("{}/{}", r.key.province_code, r.key.month).as_str())
                })
                .cloned()
                .collect();
            assert_eq!(got, expected, "{q:?}");
        }
        let r = row_of(&want, "79/2024-12");
        assert_eq!((r.cell.received, r.services_online), (1, 1));
    }

    pub async fn batch_boundaries_do_not_matter(store: &dyn Store) {
        // The same feed (relabelled to its own source and provinces, so the four runs
        // share one store without touching each other's cells) split four ways.
        const PROVINCES: [[&str; 5]; 4] = [
            ["01", "02", "04", "06", "08"],
            ["10", "11", "12", "14", "15"],
            ["17", "19", "20", "22", "24"],
            ["25", "26", "27", "30", "31"],
        ];
        const N: usize = 2_000;
        let mut everything = Latest::new();
        for (run, provinces) in PROVINCES.iter().enumerate() {
            // The same seed each run: the same feed but for the labels.
            let mut rng = Rng(0x00D0_551E);
            let mut feed = random_feed(&mut rng, &format!("split{run}"), N, 300, provinces, false);
            let batches: Vec<Vec<DossierSnapshot>> = match run {
                0 => vec![feed],
                1 => {
                    let rest = feed.split_off(200);
                    let mut b: Vec<Vec<DossierSnapshot>> =
                        feed.into_iter().map(|s| vec![s]).collect();
                    b.extend(rest.chunks(7).map(<[DossierSnapshot]>::to_vec));
                    b
                }
                2 => {
                    feed.reverse();
                    feed.chunks(100).map(<[DossierSnapshot]>::to_vec).collect()
                }
                _ => {
                    let mut rng = Rng(run as u64);
                    rng.shuffle(&mut feed);
                    let mut b = Vec::new();
                    while !feed.is_empty() {
                        let size = (1 + rng.below(250)).min(feed.len());
                        let rest = feed.split_off(size);
                        b.push(std::mem::replace(&mut feed, rest));
                    }
                    b
                }
            };
            let mut model = Latest::new();
            let want = offer_all(&mut model, batches.iter().flatten());
            assert_eq!(want.applied + want.stale, N as u64);
            let mut got = IngestCounts::default();
            for batch in batches {
                let c = store.ingest_dossiers(batch).await.expect("ingest a batch");
                got += c;
            }
            assert_eq!(got, want, "counts of run {run}");
            let mine: Vec<IndicatorRow> = all_rows(store)
                .await
                .into_iter()
                .filter(|r| provinces.contains(&r.key.province_code.as_str()))
                .collect();
            assert_eq!(mine, from_scratch(&model), "table of run {run}");
            assert_eq!(mine.len(), 15, "5 provinces × 3 months");
            for s in model.values() {
                everything.offer(s.clone());
            }
        }
        assert_eq!(all_rows(store).await, from_scratch(&everything));
        assert_eq!(
            store.dossier_count().await.unwrap(),
            everything.len() as u64
        );
    }

    pub async fn concurrent_ingestion_counts_each_dossier_once(store: &dyn Store) {
        // Four writers at once, each snapshot ingested by two of them in opposite orders.
        // (The cases get a borrowed store, so the writers are futures polled together
        // rather than spawned tasks: each holds its own connection, so the database sees
        // four concurrent transactions all the same.)
        let mut rng = Rng(0xC0_4C04);
        let feed = random_feed(
            &mut rng,
            "conc",
            2_000,
            300,
            &["01", "33", "48", "79", "96"],
            true,
        );
        let evens: Vec<DossierSnapshot> = feed.iter().step_by(2).cloned().collect();
        let odds: Vec<DossierSnapshot> = feed.iter().skip(1).step_by(2).cloned().collect();
        let mut evens_reversed = evens.clone();
        evens_reversed.reverse();
        let mut odds_reversed = odds.clone();
        odds_reversed.reverse();
        let writers = [evens, odds, odds_reversed, evens_reversed]
            .into_iter()
            .map(|stream| async move {
                let mut counts = IngestCounts::default();
                for batch in stream.chunks(40) {
                    let c = store
                        .ingest_dossiers(batch.to_vec())
                        .await
                        .expect("concurrent ingest");
                    counts += c;
                }
                counts
            })
            .collect();
        let counts = join_all(writers).await;
        let mut model = Latest::new();
        offer_all(&mut model, &feed);
        let applied: u64 = counts.iter().map(|c| c.applied).sum();
        let stale: u64 = counts.iter().map(|c| c.stale).sum();
        assert_eq!(applied + stale, 2 * feed.len() as u64);
        assert!(applied >= model.len() as u64, "{applied} applied");
        assert_eq!(all_rows(store).await, from_scratch(&model));
        assert_eq!(store.dossier_count().await.unwrap(), model.len() as u64);
        // Everything again, in one batch: all stale.
        let again = store.ingest_dossiers(feed.clone()).await.unwrap();
        assert_eq!(
            again,
            IngestCounts {
                applied: 0,
                stale: feed.len() as u64
            }
        );
        assert_eq!(all_rows(store).await, from_scratch(&model));
    }

    pub async fn grouped_rows_count_services_distinctly(store: &dyn Store) {
        let mut model = Latest::new();
        // Service 1.000001 is online in two provinces and in two months of one quarter:
        // every coarser group must count it once. 1.000003 is only ever offline.
        let feed = [
            ("G1", "1.000001", "79", "online", "2025-01-10T00:00:00Z"),
            ("G2", "1.000001", "79", "online", "2025-02-10T00:00:00Z"),
            ("G3", "1.000001", "01", "online", "2025-02-11T00:00:00Z"),
            ("G4", "1.000002", "01", "online", "2025-03-31T16:59:59Z"),
            ("G5", "1.000002", "01", "online", "2025-03-31T17:00:00Z"),
            ("G6", "1.000003", "08", "direct", "2025-05-01T00:00:00Z"),
            ("G7", "1.000001", "08", "online", "2024-12-20T00:00:00Z"),
        ];
        let lines: Vec<String> = feed
            .iter()
            .map(|(id, svc, p, ch, at)| line(id, 1, svc, p, ch, at))
            .collect();
        ingest_checked(store, &mut model, snapshots(&lines)).await;
        let agg = Aggregates::from_latest(model.values());
        let cells = agg.rows();
        let expected = |q: &IndicatorQuery, by: Grouping| {
            let within = cells.iter().filter(|r| {
                let m = r.key.month.to_string();
                q.province
                    .as_deref()
                    .is_none_or(|p| p == r.key.province_code.as_str())
                    && q.from_month.as_deref().is_none_or(|f| m.as_str() >= f)
                    && q.to_month.as_deref().is_none_or(|t| m.as_str() <= t)
            });
            dxhub_store::group_rows(
                within.map(|r| {
                    let services = agg
                        .online_services(&r.key)
                        .map(|(s, _)| s.to_owned())
                        .collect::<Vec<_>>();
                    (r, services)
                }),
                by,
            )
        };
        let queries = [
            IndicatorQuery::default(),
            IndicatorQuery {
                province: Some("01".into()),
                ..Default::default()
            },
            IndicatorQuery {
                from_month: Some("2025-01".into()),
                to_month: Some("2025-03".into()),
                ..Default::default()
            },
            IndicatorQuery {
                province: Some("99".into()),
                ..Default::default()
            },
        ];
        for q in &queries {
            for by in Grouping::ALL {
                let got = store
                    .grouped_indicator_rows(q, by)
                    .await
                    .expect("grouped rows");
                assert_eq!(got, expected(q, by), "{q:?} {by:?}");
            }
        }
        // Province × month grouping is the plain table.
        let plain = store
            .grouped_indicator_rows(&IndicatorQuery::default(), Grouping::ProvinceMonth)
            .await
            .unwrap();
        assert_eq!(plain.len(), all_rows(store).await.len());
        // Hand-checked values: distinct, not summed.
        let pick = |rows: &[GroupedRow], unit: &str, period: &str| {
            rows.iter()
                .find(|r| r.unit == unit && r.period == period)
                .map(|r| (r.cell.received, r.cell.online, r.services_online))
        };
        let q = IndicatorQuery::default();
        let nq = store
            .grouped_indicator_rows(&q, Grouping::NationQuarter)
            .await
            .unwrap();
        assert_eq!(pick(&nq, "VN", "2025-Q1"), Some((4, 4, 2)));
        assert_eq!(pick(&nq, "VN", "2025-Q2"), Some((2, 1, 1)));
        assert_eq!(pick(&nq, "VN", "2024-Q4"), Some((1, 1, 1)));
        let ny = store
            .grouped_indicator_rows(&q, Grouping::NationYear)
            .await
            .unwrap();
        assert_eq!(pick(&ny, "VN", "2025"), Some((6, 5, 2)));
        let py = store
            .grouped_indicator_rows(&q, Grouping::ProvinceYear)
            .await
            .unwrap();
        assert_eq!(pick(&py, "79", "2025"), Some((2, 2, 1)));
        assert_eq!(pick(&py, "08", "2025"), Some((1, 0, 0)));
        let nm = store
            .grouped_indicator_rows(&q, Grouping::NationMonth)
            .await
            .unwrap();
        assert_eq!(pick(&nm, "VN", "2025-02"), Some((2, 2, 1)));
    }

    // ---- Reports, evidence and editions ----

    use dxhub_core::reports::{ReportKey, ReportState, Transition, sha256_hex};
    use dxhub_store::{
        Edition, Evidence, NewEdition, NewEvidence, Report, ReportFilter, ReportedValue,
        ValueChange,
    };

    const METHODOLOGY: &str = "dti-province-2022";

    pub(super) fn report_key(unit: &str) -> ReportKey {
        ReportKey {
            methodology: METHODOLOGY.to_owned(),
            period: "2024".to_owned(),
            level: UnitLevel::Province,
            unit: unit.to_owned(),
        }
    }

    fn set(code: &str, value: Option<f64>, note: Option<&str>) -> ValueChange {
        ValueChange {
            code: code.to_owned(),
            value,
            note: note.map(str::to_owned),
        }
    }

    pub(super) fn pdf(name: &str, body: &[u8]) -> NewEvidence {
        let mut content = b"%PDF-1.7\n".to_vec();
        content.extend_from_slice(body);
        NewEvidence {
            element: Some("a".to_owned()),
            file_name: name.to_owned(),
            media_type: "application/pdf".to_owned(),
            content,
        }
    }

    fn audit(action: &str, id: i64) -> Change {
        Change::new(ADMIN, action, format!("report:{id}"))
    }

    /// The code, value and note of each value (what a revision copies).
    fn triples(values: &[ReportedValue]) -> Vec<(String, f64, Option<String>)> {
        values
            .iter()
            .map(|v| (v.code.clone(), v.value, v.note.clone()))
            .collect()
    }

    fn is_conflict<T: std::fmt::Debug>(r: Result<T, StoreError>) -> bool {
        matches!(r, Err(StoreError::Conflict(_)))
    }

    /// Counts the entries of the verified audit chain and checks that exactly `added` were
    /// appended since `before` entries.
    async fn audit_grew(store: &dyn Store, before: usize, added: usize, what: &str) -> usize {
        let n = verified_chain(store).await.len();
        assert_eq!(n, before + added, "audit entries after {what}");
        n
    }

    /// Takes `step` from `expected` as account `who`.
    async fn step(
        store: &dyn Store,
        id: i64,
        expected: ReportState,
        step: Transition,
        who: i64,
        comment: Option<&str>,
    ) -> Result<Report, StoreError> {
        store
            .transition_report(
                id,
                expected,
                step,
                (who, &format!("user:{who} u{who}@dxhub.test")),
                comment,
                audit(step.as_str(), id),
            )
            .await
    }

    /// Opens a report, fills two values and one evidence file, and takes it to approved.
    pub(super) async fn approved_report(store: &dyn Store, unit: &str) -> (Report, Evidence) {
        let r = store
            .open_report(&report_key(unit), ADMIN, audit("report.open", 0))
            .await
            .unwrap();
        store
            .set_report_values(
                r.id,
                &[
                    set("a", Some(1.5), Some("từ sở")),
                    set("b", Some(-2.0), None),
                ],
                ADMIN,
                audit("report.values", r.id),
            )
            .await
            .unwrap();
        let ev = store
            .add_evidence(
                r.id,
                pdf("qd.pdf", b"body"),
                ADMIN,
                audit("evidence.add", r.id),
            )
            .await
            .unwrap();
        use ReportState::*;
        use Transition::*;
        step(store, r.id, Draft, Submit, 7, None).await.unwrap();
        step(store, r.id, Submitted, Verify, 8, None).await.unwrap();
        let approved = step(store, r.id, Verified, Approve, 9, None).await.unwrap();
        (approved, ev)
    }

    pub async fn reports_go_through_the_workflow(store: &dyn Store) {
        use ReportState::*;
        use Transition::*;
        let key = report_key("01");
        assert_eq!(store.current_report(&key).await.unwrap(), None);
        let mut n = verified_chain(store).await.len();

        let r = store
            .open_report(&key, ADMIN, audit("report.open", 0))
            .await
            .unwrap();
        assert_eq!(
            (r.revision, r.state, r.key.clone()),
            (1, Draft, key.clone())
        );
        assert_eq!(r.updated_by, ADMIN);
        assert_eq!(
            (
                r.submitted_by,
                r.verified_by,
                r.approved_by,
                r.comment.clone()
            ),
            (None, None, None, None)
        );
        n = audit_grew(store, n, 1, "open").await;
        let again = store
            .open_report(&key, ADMIN, audit("report.open", 0))
            .await
            .unwrap();
        assert_eq!(again, r, "opening again returns the same revision");
        n = audit_grew(store, n, 0, "opening an open report").await;
        assert_eq!(store.report(r.id).await.unwrap(), Some(r.clone()));
        assert_eq!(store.current_report(&key).await.unwrap(), Some(r.clone()));
        assert_eq!(store.report(r.id + 1000).await.unwrap(), None);

        // Values: written all together, listed by code.
        let by = "user:5 unit@dxhub.test";
        let changed = store
            .set_report_values(
                r.id,
                &[
                    set("b", Some(2.0), None),
                    set("a", Some(1.5), Some("ghi chú")),
                ],
                by,
                audit("report.values", r.id),
            )
            .await
            .unwrap();
        assert_eq!(changed.updated_by, by);
        n = audit_grew(store, n, 1, "values").await;
        let values = store.report_values(r.id).await.unwrap();
        assert_eq!(
            triples(&values),
            vec![
                ("a".to_owned(), 1.5, Some("ghi chú".to_owned())),
                ("b".to_owned(), 2.0, None)
            ]
        );
        assert!(values.iter().all(|v| v.updated_by == by));
        // Not a number: refused, nothing written.
        assert!(is_conflict(
            store
                .set_report_values(
                    r.id,
                    &[set("c", Some(3.0), None), set("d", Some(f64::NAN), None)],
                    by,
                    audit("report.values", r.id),
                )
                .await
        ));
        assert_eq!(store.report_values(r.id).await.unwrap(), values);
        n = audit_grew(store, n, 0, "a refused value").await;

        let ev = store
            .add_evidence(r.id, pdf("qd.pdf", b"x"), by, audit("evidence.add", r.id))
            .await
            .unwrap();
        assert_eq!(ev.report_id, r.id);
        n = audit_grew(store, n, 1, "evidence").await;

        // Submitted: nothing may change any more.
        let submitted = step(store, r.id, Draft, Submit, 7, None).await.unwrap();
        assert_eq!(
            (submitted.state, submitted.submitted_by),
            (Submitted, Some(7))
        );
        assert_eq!(submitted.updated_by, "user:7 u7@dxhub.test");
        n = audit_grew(store, n, 1, "submit").await;
        let (rid, evid) = (r.id, ev.id);
        let locked = move |state: ReportState| async move {
            assert!(
                is_conflict(
                    store
                        .set_report_values(
                            rid,
                            &[set("a", Some(9.0), None)],
                            by,
                            audit("report.values", rid)
                        )
                        .await
                ),
                "values of a {state} report"
            );
            assert!(
                is_conflict(
                    store
                        .set_report_values(rid, &[set("a", None, None)], by, audit("x", rid))
                        .await
                ),
                "clearing a value of a {state} report"
            );
            assert!(
                is_conflict(
                    store
                        .add_evidence(rid, pdf("b.pdf", b"y"), by, audit("x", rid))
                        .await
                ),
                "evidence of a {state} report"
            );
            assert!(
                is_conflict(store.remove_evidence(evid, audit("x", rid)).await),
                "removing evidence of a {state} report"
            );
        };
        locked(Submitted).await;
        assert_eq!(
            triples(&store.report_values(r.id).await.unwrap()),
            triples(&values)
        );
        n = audit_grew(store, n, 0, "refused changes").await;

        let verified = step(store, r.id, Submitted, Verify, 8, None).await.unwrap();
        assert_eq!((verified.state, verified.verified_by), (Verified, Some(8)));
        n = audit_grew(store, n, 1, "verify").await;
        locked(Verified).await;

        // A return must say why; it clears the verification and reopens editing.
        for empty in [None, Some(""), Some("  ")] {
            assert!(is_conflict(
                step(store, r.id, Verified, Return, 8, empty).await
            ));
        }
        n = audit_grew(store, n, 0, "returns without a comment").await;
        let returned = step(store, r.id, Verified, Return, 8, Some("Thiếu minh chứng"))
            .await
            .unwrap();
        assert_eq!(returned.state, Returned);
        assert_eq!(returned.verified_by, None);
        assert_eq!(returned.submitted_by, Some(7));
        assert_eq!(returned.comment.as_deref(), Some("Thiếu minh chứng"));
        n = audit_grew(store, n, 1, "return").await;
        store
            .set_report_values(
                r.id,
                &[set("a", None, None), set("c", Some(0.25), None)],
                by,
                audit("report.values", r.id),
            )
            .await
            .unwrap();
        n = audit_grew(store, n, 1, "values of a returned report").await;
        let second = store
            .add_evidence(r.id, pdf("b.pdf", b"y"), by, audit("evidence.add", r.id))
            .await
            .unwrap();
        store
            .remove_evidence(second.id, audit("evidence.remove", r.id))
            .await
            .unwrap();
        n = audit_grew(store, n, 2, "evidence added and removed").await;
        assert_eq!(store.evidence(r.id).await.unwrap(), vec![ev.clone()]);
        let values = store.report_values(r.id).await.unwrap();
        assert_eq!(
            triples(&values),
            vec![("b".to_owned(), 2.0, None), ("c".to_owned(), 0.25, None)]
        );

        step(store, r.id, Returned, Submit, 7, None).await.unwrap();
        step(store, r.id, Submitted, Verify, 10, None)
            .await
            .unwrap();
        let approved = step(store, r.id, Verified, Approve, 9, None).await.unwrap();
        assert_eq!(approved.state, Approved);
        assert_eq!(
            (
                approved.submitted_by,
                approved.verified_by,
                approved.approved_by
            ),
            (Some(7), Some(10), Some(9))
        );
        assert_eq!(
            approved.comment.as_deref(),
            Some("Thiếu minh chứng"),
            "the last return's comment stays"
        );
        n = audit_grew(store, n, 3, "submit, verify, approve").await;
        locked(Approved).await;
        for t in Transition::ALL {
            assert!(is_conflict(
                step(store, r.id, Approved, t, 9, Some("again")).await
            ));
        }
        assert_eq!(store.report_values(r.id).await.unwrap(), values);
        assert_eq!(store.report(r.id).await.unwrap(), Some(approved.clone()));
        audit_grew(store, n, 0, "changes to an approved report").await;

        // Listing: newest revisions, filtered.
        let other = store
            .open_report(&report_key("02"), ADMIN, audit("report.open", 0))
            .await
            .unwrap();
        let all = store.reports(&ReportFilter::default()).await.unwrap();
        assert_eq!(all, vec![approved.clone(), other.clone()]);
        let only = |f: ReportFilter| async move { store.reports(&f).await.unwrap() };
        assert_eq!(
            only(ReportFilter {
                state: Some(Draft),
                ..Default::default()
            })
            .await,
            vec![other.clone()]
        );
        assert_eq!(
            only(ReportFilter {
                units: Some(vec!["01".to_owned(), "99".to_owned()]),
                methodology: Some(METHODOLOGY.to_owned()),
                period: Some("2024".to_owned()),
                ..Default::default()
            })
            .await,
            vec![approved.clone()]
        );
        assert_eq!(
            only(ReportFilter {
                units: Some(vec![]),
                ..Default::default()
            })
            .await,
            vec![]
        );
        assert_eq!(
            only(ReportFilter {
                period: Some("2023".to_owned()),
                ..Default::default()
            })
            .await,
            vec![]
        );
        assert_eq!(
            store
                .approved_reports(METHODOLOGY, "2024")
                .await
                .unwrap()
                .iter()
                .map(|a| (a.report.clone(), a.values.clone(), a.evidence.clone()))
                .collect::<Vec<_>>(),
            vec![(approved, values, vec![ev])]
        );
    }

    pub async fn stale_report_steps_conflict(store: &dyn Store) {
        use ReportState::*;
        use Transition::*;
        let r = store
            .open_report(&report_key("01"), ADMIN, audit("report.open", 0))
            .await
            .unwrap();
        assert!(matches!(
            step(store, r.id + 1000, Draft, Submit, 7, None).await,
            Err(StoreError::NotFound(_))
        ));
        step(store, r.id, Draft, Submit, 7, None).await.unwrap();
        let n = verified_chain(store).await.len();
        // Someone who still sees the draft.
        assert!(is_conflict(step(store, r.id, Draft, Submit, 7, None).await));
        assert!(is_conflict(
            step(store, r.id, Draft, Return, 8, Some("stale")).await
        ));
        // The step does not apply to the state the caller names.
        assert!(is_conflict(
            step(store, r.id, Submitted, Approve, 9, None).await
        ));
        let n = audit_grew(store, n, 0, "stale steps").await;
        step(store, r.id, Submitted, Verify, 8, None).await.unwrap();
        // Several reviewers approve at once: exactly one wins.
        let tries = (0..6)
            .map(|i| step(store, r.id, Verified, Approve, 20 + i, None))
            .collect();
        let results = join_all(tries).await;
        let won: Vec<&Report> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
        assert_eq!(won.len(), 1, "{results:?}");
        assert!(
            results
                .iter()
                .all(|r| matches!(r, Ok(_) | Err(StoreError::Conflict(_))))
        );
        let stored = store.report(r.id).await.unwrap().unwrap();
        assert_eq!(&stored, won[0]);
        assert_eq!(stored.state, Approved);
        audit_grew(store, n, 2, "verify and one approval").await;
    }

    pub async fn reopening_starts_a_new_revision(store: &dyn Store) {
        use ReportState::*;
        use Transition::*;
        let (first, ev) = approved_report(store, "24").await;
        let key = report_key("24");
        let first_values = store.report_values(first.id).await.unwrap();
        let mut n = verified_chain(store).await.len();
        for reason in ["", "   "] {
            assert!(is_conflict(
                store
                    .reopen_report(first.id, ADMIN, reason, audit("report.reopen", first.id))
                    .await
            ));
        }
        let draft = store
            .open_report(&report_key("25"), ADMIN, audit("report.open", 0))
            .await
            .unwrap();
        n = audit_grew(store, n, 1, "open").await;
        assert!(is_conflict(
            store
                .reopen_report(draft.id, ADMIN, "why", audit("report.reopen", draft.id))
                .await
        ));
        n = audit_grew(store, n, 0, "refused reopenings").await;

        let second = store
            .reopen_report(
                first.id,
                ADMIN,
                " Số liệu sai ",
                audit("report.reopen", first.id),
            )
            .await
            .unwrap();
        n = audit_grew(store, n, 1, "reopen").await;
        assert_eq!(
            (second.revision, second.state, second.key.clone()),
            (2, Draft, key.clone())
        );
        assert_eq!(second.comment.as_deref(), Some("Số liệu sai"));
        assert_eq!(
            (second.submitted_by, second.verified_by, second.approved_by),
            (None, None, None)
        );
        assert_ne!(second.id, first.id);
        assert_eq!(
            triples(&store.report_values(second.id).await.unwrap()),
            triples(&first_values),
            "the new revision starts from a copy of the approved values"
        );
        // The approved revision is untouched and still the one that counts.
        assert_eq!(store.report(first.id).await.unwrap(), Some(first.clone()));
        assert_eq!(store.report_values(first.id).await.unwrap(), first_values);
        assert_eq!(
            store.current_report(&key).await.unwrap(),
            Some(second.clone())
        );
        assert_eq!(
            store
                .open_report(&key, ADMIN, audit("report.open", 0))
                .await
                .unwrap(),
            second
        );
        assert_eq!(
            store.report_revisions(&key).await.unwrap(),
            vec![first.clone(), second.clone()]
        );
        let approved = store.approved_reports(METHODOLOGY, "2024").await.unwrap();
        assert_eq!(approved.len(), 1);
        assert_eq!(
            (
                &approved[0].report,
                &approved[0].values,
                &approved[0].evidence
            ),
            (&first, &first_values, &vec![ev.clone()])
        );
        assert!(is_conflict(
            store
                .reopen_report(first.id, ADMIN, "again", audit("report.reopen", first.id))
                .await
        ));
        assert!(is_conflict(
            store
                .set_report_values(first.id, &[set("a", Some(0.0), None)], ADMIN, audit("x", 1))
                .await
        ));
        n = audit_grew(store, n, 0, "changes to the old revision").await;

        store
            .set_report_values(
                second.id,
                &[set("a", Some(3.5), Some("đã sửa"))],
                ADMIN,
                audit("report.values", second.id),
            )
            .await
            .unwrap();
        step(store, second.id, Draft, Submit, 7, None)
            .await
            .unwrap();
        step(store, second.id, Submitted, Verify, 8, None)
            .await
            .unwrap();
        assert_eq!(
            store.approved_reports(METHODOLOGY, "2024").await.unwrap()[0].report,
            first,
            "until the new revision is approved"
        );
        let second = step(store, second.id, Verified, Approve, 9, None)
            .await
            .unwrap();
        audit_grew(store, n, 4, "the second revision's workflow").await;
        let approved = store.approved_reports(METHODOLOGY, "2024").await.unwrap();
        assert_eq!(approved.len(), 1);
        assert_eq!(approved[0].report, second);
        assert_eq!(
            triples(&approved[0].values),
            vec![
                ("a".to_owned(), 3.5, Some("đã sửa".to_owned())),
                ("b".to_owned(), -2.0, None)
            ]
        );
        assert_eq!(store.report_values(first.id).await.unwrap(), first_values);
        assert_eq!(
            store.reports(&ReportFilter::default()).await.unwrap(),
            vec![second, draft],
            "only the newest revision of each report is listed"
        );
        assert!(
            store
                .approved_reports(METHODOLOGY, "2023")
                .await
                .unwrap()
                .is_empty()
        );
    }

    pub async fn evidence_keeps_its_bytes(store: &dyn Store) {
        let r = store
            .open_report(&report_key("79"), ADMIN, audit("report.open", 0))
            .await
            .unwrap();
        let every_byte: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
        let file = pdf("Quyết định số 1.pdf", &every_byte);
        let bytes = file.content.clone();
        let n = verified_chain(store).await.len();
        let ev = store
            .add_evidence(
                r.id,
                file,
                "user:5 unit@dxhub.test",
                audit("evidence.add", r.id),
            )
            .await
            .unwrap();
        audit_grew(store, n, 1, "evidence").await;
        assert_eq!(ev.sha256, sha256_hex(&bytes));
        assert_eq!(ev.size, bytes.len() as i64);
        assert_eq!(
            (
                ev.file_name.as_str(),
                ev.media_type.as_str(),
                ev.element.as_deref()
            ),
            ("Quyết định số 1.pdf", "application/pdf", Some("a"))
        );
        assert_eq!(ev.uploaded_by, "user:5 unit@dxhub.test");
        let whole = NewEvidence {
            element: None,
            ..pdf("tong-hop.pdf", b"")
        };
        let ev2 = store
            .add_evidence(r.id, whole, ADMIN, audit("evidence.add", r.id))
            .await
            .unwrap();
        assert_eq!(ev2.element, None);
        assert_eq!(
            store.evidence(r.id).await.unwrap(),
            vec![ev.clone(), ev2.clone()]
        );
        let (got, content) = store.evidence_content(ev.id).await.unwrap().unwrap();
        assert_eq!(got, ev);
        assert_eq!(content, bytes);
        assert_eq!(sha256_hex(&content), got.sha256);
        assert_eq!(store.evidence_content(ev2.id + 1000).await.unwrap(), None);
        assert!(matches!(
            store
                .remove_evidence(ev2.id + 1000, audit("evidence.remove", r.id))
                .await,
            Err(StoreError::NotFound(_))
        ));
        assert!(matches!(
            store
                .add_evidence(r.id + 1000, pdf("x.pdf", b""), ADMIN, audit("x", 0))
                .await,
            Err(StoreError::NotFound(_))
        ));
        store
            .remove_evidence(ev.id, audit("evidence.remove", r.id))
            .await
            .unwrap();
        assert_eq!(store.evidence(r.id).await.unwrap(), vec![ev2]);
        assert_eq!(store.evidence_content(ev.id).await.unwrap(), None);
        audit_grew(store, n, 3, "evidence added, added, removed").await;
    }

    pub(super) fn new_edition(slug: &str, period: &str) -> NewEdition {
        NewEdition {
            slug: slug.to_owned(),
            methodology: METHODOLOGY.to_owned(),
            methodology_version: 1,
            period: period.to_owned(),
            map: "63".to_owned(),
            kind: "historical".to_owned(),
            title_vi: format!("Chỉ số DTI {period}"),
            title_en: format!("DTI {period}"),
            payload: format!(r#"{{"period":"{period}","scores":[{{"unit":"01","score":0.5}}]}}"#),
            published_by: "reference".to_owned(),
        }
    }

    pub async fn editions_are_published_once(store: &dyn Store) {
        assert!(store.editions().await.unwrap().is_empty());
        let n = verified_chain(store).await.len();
        let computed = NewEdition {
            kind: "computed".to_owned(),
            published_by: ADMIN.to_owned(),
            ..new_edition("dti-province-2022/2024/63", "2024")
        };
        let published = store
            .publish_edition(&computed, Change::new(ADMIN, "edition.publish", "edition"))
            .await
            .unwrap();
        assert_eq!(
            (
                published.slug.as_str(),
                published.kind.as_str(),
                published.payload.as_str(),
                published.published_by.as_str(),
                published.methodology_version
            ),
            (
                computed.slug.as_str(),
                "computed",
                computed.payload.as_str(),
                ADMIN,
                1
            )
        );
        let entries = verified_chain(store).await;
        assert_eq!(entries.len(), n + 1);
        let last = entries.last().unwrap();
        assert_eq!(
            (last.action.as_str(), last.object.clone()),
            ("edition.publish", format!("edition:{}", published.id))
        );
        let taken = store
            .publish_edition(
                &NewEdition {
                    title_en: "Another".to_owned(),
                    ..computed.clone()
                },
                Change::new(ADMIN, "edition.publish", "edition"),
            )
            .await;
        assert!(is_conflict(taken), "the slug is taken");
        let n = audit_grew(store, n + 1, 0, "a taken slug").await;

        // Editions that come with dxhub: written once, however often they are ensured.
        let older = new_edition("dti-province-2022/2022/63", "2022");
        assert!(store.ensure_edition(&older).await.unwrap());
        assert!(!store.ensure_edition(&older).await.unwrap());
        let n = audit_grew(store, n, 1, "ensure twice").await;
        let demo = new_edition("demo/2023/34", "2023");
        let results = join_all((0..5).map(|_| store.ensure_edition(&demo)).collect()).await;
        let written = results.iter().filter(|r| matches!(r, Ok(true))).count();
        assert_eq!(written, 1, "{results:?}");
        assert!(results.iter().all(|r| r.is_ok()), "{results:?}");
        let entries = verified_chain(store).await;
        assert_eq!(entries.len(), n + 1, "concurrent ensures write once");
        assert_eq!(entries.last().unwrap().action, "edition.load");
        assert_eq!(entries.last().unwrap().actor, "reference");
        assert!(is_conflict(
            store
                .publish_edition(&older, Change::new(ADMIN, "edition.publish", "edition"))
                .await
        ));

        // Listed newest period first, without payloads; one by id with its payload.
        let listed = store.editions().await.unwrap();
        assert_eq!(
            listed.iter().map(|e| e.slug.as_str()).collect::<Vec<_>>(),
            vec![
                "dti-province-2022/2024/63",
                "demo/2023/34",
                "dti-province-2022/2022/63"
            ]
        );
        assert!(listed.iter().all(|e| e.payload.is_empty()));
        for e in &listed {
            let full = store.edition(e.id).await.unwrap().unwrap();
            assert_eq!(
                Edition {
                    payload: String::new(),
                    ..full.clone()
                },
                *e
            );
            assert_eq!(full.payload, new_edition("x", &full.period).payload);
        }
        assert_eq!(store.edition(published.id).await.unwrap(), Some(published));
        assert_eq!(store.edition(-1).await.unwrap(), None);
    }

    pub async fn concurrent_opens_make_one_report(store: &dyn Store) {
        let key = report_key("48");
        let opens = (0..8)
            .map(|_| {
                store.open_report(&key, ADMIN, Change::new(ADMIN, "report.open", key.object()))
            })
            .collect();
        let opened: Vec<Report> = join_all(opens)
            .await
            .into_iter()
            .collect::<Result<_, _>>()
            .expect("every open succeeds");
        assert!(opened.iter().all(|r| *r == opened[0]), "{opened:?}");
        assert_eq!(
            store.report_revisions(&key).await.unwrap(),
            vec![opened[0].clone()]
        );
        let entries = verified_chain(store).await;
        assert_eq!(
            entries.iter().filter(|e| e.action == "report.open").count(),
            1,
            "one report, one audit entry"
        );
        assert_eq!(
            entries.last().unwrap().new.as_deref(),
            Some(
                r#"{"methodology":"dti-province-2022","period":"2024","level":"province","unit":"48"}"#
            )
        );
    }
}

macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $case() {
                    let h = super::sqlite().await;
                    super::cases::$case(&*h.store).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $case() {
                    if let Some(h) = super::postgres().await {
                        super::cases::$case(&*h.store).await;
                    }
                }
            )*
        }
    };
}

conformance!(
    reference_loads_exactly_once,
    concurrent_loaders_load_once,
    counts_through_time,
    parents_filter_children,
    a_code_is_not_an_identity,
    lineage_follows_the_reorganisation,
    accounts_are_unique_by_email,
    sessions_live_until_they_expire,
    sign_in_failures_lock_then_clear,
    api_keys_are_listed_touched_and_revoked,
    unit_contacts_are_upserted,
    audit_filters_select_entries,
    concurrent_appends_keep_the_chain,
    newest_dossier_version_wins,
    later_versions_move_contributions,
    services_online_counts_distinct_services,
    stored_snapshots_round_trip_exactly,
    indicator_rows_filter_and_sort,
    batch_boundaries_do_not_matter,
    concurrent_ingestion_counts_each_dossier_once,
    grouped_rows_count_services_distinctly,
    reports_go_through_the_workflow,
    stale_report_steps_conflict,
    reopening_starts_a_new_revision,
    evidence_keeps_its_bytes,
    editions_are_published_once,
    concurrent_opens_make_one_report,
);

/// Two stores on one database, as two processes would be, ingest in turn: a store that
/// keeps what it knows of the stored blocks between its batches must see the other's.
async fn stores_ingest_in_turn(a: &dyn Store, b: &dyn Store) {
    const PROVINCES: [&str; 3] = ["01", "48", "79"];
    let mut rng = Rng(0x7E_2415);
    let mut model = Latest::new();
    let feed = |rng: &mut Rng, source: &str, n: usize, distinct: bool| {
        random_feed(rng, source, n, 500, &PROVINCES, distinct)
    };
    // `a` starts on an empty database; `b`'s keys sort after `a`'s, so its batch adds
    // blocks after every block `a` wrote.
    ingest_checked(a, &mut model, feed(&mut rng, "turna", 2_000, true)).await;
    ingest_checked(b, &mut model, feed(&mut rng, "turnb", 2_000, true)).await;
    // Then each changes dossiers of both, in turn.
    for round in 0..3 {
        let (this, other) = if round % 2 == 0 { (a, b) } else { (b, a) };
        let mut batch = feed(&mut rng, "turna", 600, false);
        batch.extend(feed(&mut rng, "turnb", 600, false));
        batch.extend(feed(&mut rng, &format!("turn{round}"), 300, false));
        ingest_checked(this, &mut model, batch).await;
        assert_eq!(all_rows(other).await, from_scratch(&model), "round {round}");
    }
}

#[tokio::test]
async fn sqlite_stores_on_one_database_ingest_in_turn() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let a = dxhub_db::open(&url).await.expect("open SQLite store");
    let b = dxhub_db::open(&url).await.expect("open SQLite store again");
    stores_ingest_in_turn(&*a, &*b).await;
}

#[tokio::test]
async fn postgres_stores_on_one_database_ingest_in_turn() {
    let Some(url) = postgres_url().await else {
        return;
    };
    let a = dxhub_db::open(&url).await.expect("open PostgreSQL store");
    let b = dxhub_db::open(&url)
        .await
        .expect("open PostgreSQL store again");
    stores_ingest_in_turn(&*a, &*b).await;
}

/// Checks that `sql` failed because a V10 trigger refused it (not for another reason).
fn assert_refused_by_trigger(sql: &str, result: Result<(), tokio_postgres::Error>) {
    let err = result.expect_err(&format!("{sql} was allowed"));
    let message = err.as_db_error().map(|d| d.message()).unwrap_or_default();
    assert!(
        message.contains("locked") || message.contains("never"),
        "{sql}: {err:?}"
    );
}

/// Hand-run SQL cannot change an approved report, its values or evidence, nor an edition:
/// the triggers refuse it underneath dxhub (PostgreSQL here; the SQLite triggers are tested
/// beside the SQLite store, which owns the rusqlite dependency).
#[tokio::test]
async fn postgres_refuses_hand_run_changes_to_approved_reports() {
    let Some(url) = postgres_url().await else {
        return;
    };
    let store = dxhub_db::open(&url).await.expect("open PostgreSQL store");
    let (approved, ev) = cases::approved_report(&*store, "01").await;
    let values = store.report_values(approved.id).await.unwrap();
    store
        .ensure_edition(&cases::new_edition("dti-province-2022/2022/63", "2022"))
        .await
        .unwrap();
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .expect("connect to the test database");
    tokio::spawn(conn);
    for sql in [
        "UPDATE reports SET comment = 'changed' WHERE id = $1",
        "UPDATE reports SET state = 'draft' WHERE id = $1",
        "DELETE FROM reports WHERE id = $1",
        "UPDATE report_values SET value = value + 1 WHERE report_id = $1",
        "DELETE FROM report_values WHERE report_id = $1",
        "INSERT INTO report_values (report_id, code, value, updated_by, updated_at)
         VALUES ($1, 'z', 1, 'sql', 'now')",
        "UPDATE report_evidence SET content = '\\x00' WHERE report_id = $1",
        "DELETE FROM report_evidence WHERE report_id = $1",
    ] {
        let refused = client.execute(sql, &[&approved.id]).await;
        assert_refused_by_trigger(sql, refused.map(|_| ()));
    }
    for sql in [
        "UPDATE editions SET title_en = 'changed'",
        "DELETE FROM editions",
        "TRUNCATE editions",
        "TRUNCATE report_evidence",
        "TRUNCATE report_values",
        "TRUNCATE reports CASCADE",
    ] {
        assert_refused_by_trigger(sql, client.batch_execute(sql).await);
    }
    assert_eq!(
        store.report(approved.id).await.unwrap(),
        Some(approved.clone())
    );
    assert_eq!(store.report_values(approved.id).await.unwrap(), values);
    let (got, content) = store.evidence_content(ev.id).await.unwrap().unwrap();
    assert_eq!(
        (got.sha256.clone(), got),
        (dxhub_core::reports::sha256_hex(&content), ev)
    );
    assert_eq!(store.editions().await.unwrap().len(), 1);
}
