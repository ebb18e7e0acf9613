//! Property test through the stores: a random feed (duplicates, reordering, bad lines) is
//! parsed, split into random batches delivered in random order, and ingested into the
//! SQLite store (and the PostgreSQL store when `DXHUB_TEST_DATABASE_URL` is set; without
//! it the test fails unless `DXHUB_SKIP_POSTGRES=1`). The indicator table, the dossier
//! count and the applied/stale counts must equal the from-scratch computation of the
//! in-memory reference (`dxhub_ingest::Latest` + `Aggregates::from_latest`) over the same
//! delivery order. Also: snapshots stored by the V3 schema are moved to the V12 table on the
//! first ingest and then behave like any other.

mod common;

use std::sync::Arc;

use dxhub_ingest::latest::Offer;
use dxhub_ingest::{Aggregates, DossierSnapshot, Format, Latest, parse_all};
use dxhub_store::{IndicatorQuery, IngestCounts, Store};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

const HEADER: &str = "dossier_id,source,version,service_code,province_code,commune_code,channel,end_to_end,status,received_at,due_at,completed_at,fee_vnd,paid_online";

/// One generated line: a valid snapshot of a small key space, or a broken one.
#[derive(Clone, Debug)]
struct Line {
    key: u8,
    version: u8,
    province: u8,
    day: u8,
    service: u8,
    channel: u8,
    status: u8,
    due: bool,
    fee: u8,
    paid: bool,
    e2e: bool,
    /// 0 = valid; otherwise which rule the line breaks.
    fault: u8,
}

fn line_strategy() -> impl Strategy<Value = Line> {
    (
        (0u8..24, 0u8..5, 0u8..3, 0u8..62, 0u8..4, 0u8..3),
        (0u8..5, any::<bool>(), 0u8..4, any::<bool>(), any::<bool>()),
        prop_oneof![8 => Just(0u8), 1 => 1u8..6],
    )
        .prop_map(
            |(
                (key, version, province, day, service, channel),
                (status, due, fee, paid, e2e),
                fault,
            )| Line {
                key,
                version,
                province,
                day,
                service,
                channel,
                status,
                due,
                fee,
                paid,
                e2e,
                fault,
            },
        )
}

impl Line {
    fn csv(&self) -> String {
        let source = ["dvcqg", "hcc-79", "bca-dvc"][self.key as usize % 3];
        let id = format!("D-{:03}", self.key);
        let province = ["79", "01", "48"][self.province as usize];
        // Around a month boundary, so later versions can move a dossier between cells.
        let received = jiff::Timestamp::from_second(1_753_981_200 + i64::from(self.day) * 43_200)
            .expect("in range");
        let status = [
            "received",
            "processing",
            "completed",
            "rejected",
            "cancelled",
        ][self.status as usize];
        let completed = if matches!(self.status, 2 | 3) {
            (received + jiff::SignedDuration::from_hours(30)).to_string()
        } else {
            String::new()
        };
        let due = if self.due {
            (received + jiff::SignedDuration::from_hours(48)).to_string()
        } else {
            String::new()
        };
        let mut f = vec![
            id,
            source.to_owned(),
            self.version.to_string(),
            format!("1.00000{}", self.service),
            province.to_owned(),
            String::new(),
            ["online", "direct", "postal"][self.channel as usize].to_owned(),
            self.e2e.to_string(),
            status.to_owned(),
            received.to_string(),
            due,
            completed,
            [String::new(), "0".into(), "15000".into(), "200000".into()][self.fee as usize].clone(),
            if self.paid { "true" } else { "" }.to_owned(),
        ];
        match self.fault {
            0 => {}
            1 => f[2] = format!("v{}", self.version),
            2 => f[6] = "fax".into(),
            3 => f[4] = "7A".into(),
            4 => {
                f.pop();
            }
            _ => f[9] = "2025-07-01 08:00".into(),
        }
        f.join(",")
    }
}

/// A feed and how to deliver it: batch sizes and a permutation of the batches.
fn case_strategy() -> impl Strategy<Value = (Vec<Line>, Vec<usize>, Vec<usize>)> {
    prop::collection::vec(line_strategy(), 1..160).prop_flat_map(|lines| {
        let n = lines.len();
        (
            Just(lines),
            prop::collection::vec(1usize..40, 1..12),
            Just((0..n).collect::<Vec<usize>>()).prop_shuffle(),
        )
    })
}

/// Cuts `feed` into batches of the given sizes (cycled), then reorders the batches.
fn deliveries(
    feed: Vec<DossierSnapshot>,
    sizes: &[usize],
    order: &[usize],
) -> Vec<Vec<DossierSnapshot>> {
    let mut batches = Vec::new();
    let mut rest = feed;
    let mut k = 0;
    while !rest.is_empty() {
        let size = sizes[k % sizes.len()].min(rest.len());
        let tail = rest.split_off(size);
        batches.push(std::mem::replace(&mut rest, tail));
        k += 1;
    }
    let mut keyed: Vec<(usize, Vec<DossierSnapshot>)> = batches
        .into_iter()
        .enumerate()
        .map(|(i, b)| (order.get(i).copied().unwrap_or(i), b))
        .collect();
    keyed.sort_by_key(|(k, _)| *k);
    keyed.into_iter().map(|(_, b)| b).collect()
}

async fn check(store: Arc<dyn Store>, batches: &[Vec<DossierSnapshot>]) {
    let mut model = Latest::new();
    let mut want = IngestCounts::default();
    let mut got = IngestCounts::default();
    for b in batches {
        for s in b {
            match model.offer(s.clone()) {
                Offer::Ignored => want.stale += 1,
                _ => want.applied += 1,
            }
        }
        let c = store
            .ingest_dossiers(b.clone())
            .await
            .expect("ingest a batch");
        got += c;
    }
    assert_eq!(got, want, "{} counts", store.backend());
    let rows = store
        .indicator_rows(&IndicatorQuery::default())
        .await
        .expect("indicator rows");
    assert_eq!(
        rows,
        Aggregates::from_latest(model.values()).rows(),
        "{} table",
        store.backend()
    );
    assert_eq!(
        store.dossier_count().await.expect("count"),
        model.len() as u64,
        "{} dossiers",
        store.backend()
    );
}

#[test]
fn stores_equal_the_from_scratch_computation() {
    let postgres = common::postgres_database();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("temporary directory");
    let case = std::sync::atomic::AtomicU32::new(0);
    let mut runner = TestRunner::new(Config {
        cases: 24,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&case_strategy(), |(lines, sizes, order)| {
            let case = case.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let text = std::iter::once(HEADER.to_owned())
                .chain(lines.iter().map(Line::csv))
                .collect::<Vec<_>>()
                .join("\n");
            let (feed, rejected, _) = parse_all(text.as_bytes(), Format::Csv).expect("parse");
            let bad = lines.iter().filter(|l| l.fault != 0).count();
            prop_assert_eq!(rejected.len(), bad, "rejections: {:?}", rejected);
            let batches = deliveries(feed, &sizes, &order);
            rt.block_on(async {
                let url = format!(
                    "sqlite://{}",
                    dir.path().join(format!("p{case}.db")).display()
                );
                check(dxhub_db::open(&url).await.expect("open SQLite"), &batches).await;
                if let Some(admin) = &postgres {
                    // One database per test run; each case uses a fresh schema-free start by
                    // deleting what the previous case left.
                    let store = dxhub_db::open(admin).await.expect("open PostgreSQL");
                    clear_postgres(admin).await;
                    check(store, &batches).await;
                }
            });
            Ok(())
        })
        .expect("property holds");
}

/// Empties the dossier tables of the test database between cases.
async fn clear_postgres(url: &str) {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect to the test database");
    tokio::spawn(conn);
    client
        .batch_execute(
            "TRUNCATE dossiers, dossier_snapshots, dossier_blocks, ps_cells, ps_cell_services",
        )
        .await
        .expect("empty the dossier tables");
}

/// What the V3 code left behind in either backend: a text row and the cells it counted in
/// (in today's cell tables; `$TRUE` / `$FALSE` / `$TAB` become the backend's spelling of
/// the booleans and of a tab character).
const V3_ROWS: &str =
    "INSERT INTO dossiers VALUES ('src', 'D1', 1, '1.000001', '79', NULL, 'online', $TRUE,
                              'received', '2025-08-01T01:00:00Z', NULL, NULL, 0, $FALSE);
     INSERT INTO ps_cells (province_code, month, received, online, end_to_end, completed,
                           completed_on_time, online_payments, online_payment_vnd, services_online)
          VALUES ('79', '2025-08', 1, 1, 1, 0, 0, 0, 0, 1);
     INSERT INTO ps_cell_services VALUES ('79', '2025-08', '1.000001' || $TAB || '1');";

fn parse_lines(lines: &[&str]) -> Vec<DossierSnapshot> {
    let text = std::iter::once(HEADER)
        .chain(lines.iter().copied())
        .collect::<Vec<_>>()
        .join("\n");
    let (feed, rejected, _) = parse_all(text.as_bytes(), Format::Csv).expect("parse");
    assert!(rejected.is_empty(), "{rejected:?}");
    feed
}

/// After [`V3_ROWS`] were written behind the store's back: the first ingest moves the V3
/// row into `dossier_snapshots`, and later versions replace it (subtracting what it
/// contributed) exactly as if the new code had stored it.
async fn check_v3_move(store: Arc<dyn Store>) {
    let old = "D1,src,1,1.000001,79,,online,true,received,2025-08-01T01:00:00Z,,,0,false";
    let later = [
        old,
        "D1,src,2,1.000002,01,00004,direct,false,completed,2025-08-01T01:00:00Z,2025-08-03T00:00:00Z,2025-08-02T00:00:00Z,15000,true",
        "D2,src,1,1.000001,79,,online,false,received,2025-08-02T01:00:00Z,,,,",
    ];
    let what = store.backend();
    assert_eq!(store.dossier_count().await.unwrap(), 1, "{what}");
    let mut model = Latest::new();
    model.offer(parse_lines(&[old]).remove(0));
    let counts = store
        .ingest_dossiers(parse_lines(&later))
        .await
        .expect("ingest");
    for s in parse_lines(&later) {
        model.offer(s);
    }
    let want = IngestCounts {
        applied: 2,
        stale: 1,
    };
    assert_eq!(counts, want, "{what}");
    assert_eq!(store.dossier_count().await.unwrap(), 2, "{what}");
    let rows = store
        .indicator_rows(&IndicatorQuery::default())
        .await
        .unwrap();
    assert_eq!(
        rows,
        Aggregates::from_latest(model.values()).rows(),
        "{what}"
    );
}

/// A database upgraded from V3 keeps its snapshots: SQLite, and PostgreSQL too when
/// `DXHUB_TEST_DATABASE_URL` is set.
#[test]
fn snapshots_of_v3_are_moved_on_the_first_ingest() {
    let postgres = common::postgres_database();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("v3.db");
    rt.block_on(async {
        let store = dxhub_db::open(&format!("sqlite://{}", path.display()))
            .await
            .expect("open SQLite");
        let db = rusqlite::Connection::open(&path).expect("open the file");
        let sql = V3_ROWS
            .replace("$TRUE", "1")
            .replace("$FALSE", "0")
            .replace("$TAB", "char(9)");
        db.execute_batch(&sql).expect("write V3 rows");
        check_v3_move(store).await;
        let left: i64 = db
            .query_row("SELECT count(*) FROM dossiers", [], |r| r.get(0))
            .unwrap();
        assert_eq!(left, 0, "the V3 table is emptied");
        if let Some(url) = &postgres {
            let store = dxhub_db::open(url).await.expect("open PostgreSQL");
            let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
                .await
                .expect("connect to the test database");
            tokio::spawn(conn);
            let sql = V3_ROWS
                .replace("$TRUE", "true")
                .replace("$FALSE", "false")
                .replace("$TAB", "chr(9)");
            client.batch_execute(&sql).await.expect("write V3 rows");
            check_v3_move(store).await;
            let left: i64 = client
                .query_one("SELECT count(*) FROM dossiers", &[])
                .await
                .unwrap()
                .get(0);
            assert_eq!(left, 0, "the V3 table is emptied");
        }
    });
}
