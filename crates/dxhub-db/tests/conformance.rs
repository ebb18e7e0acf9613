//! The store conformance suite: every case runs against SQLite always and against
//! PostgreSQL whenever `DXHUB_TEST_DATABASE_URL` names a server (scripts/test starts one).

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use dxhub_core::units::{LineageKind, ORIGIN, REORG_2025, UnitKey, UnitLevel};
use dxhub_reference::ReferenceData;
use dxhub_store::{ReferenceLoad, Store, UnitFilter};
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

/// A fresh database on the test server, or `None` when PostgreSQL was explicitly skipped.
/// Without a server and without the explicit skip the test fails: a suite that silently
/// passes without running would hide a broken backend.
async fn postgres() -> Option<Harness> {
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
    let url = pg_url(&config);
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
);
