//! Group commit of pushed dossier batches on a real SQLite store: batches waiting at the
//! same time are stored in one transaction, and each is answered with its own counts, as
//! if the batches had been applied one after the other in queue order.

use std::sync::Arc;

use dxhub_ingest::DossierSnapshot;
use dxhub_store::{IndicatorQuery, IngestCounts, Store};
use dxhub_web::group_commit::GroupCommit;

const HEADER: &str = "dossier_id,source,version,service_code,province_code,commune_code,channel,end_to_end,status,received_at,due_at,completed_at,fee_vnd,paid_online";

fn lines(spec: &[(&str, u64)]) -> Vec<DossierSnapshot> {
    let mut text = format!("{HEADER}\n");
    for (id, version) in spec {
        text.push_str(&format!(
            "{id},t,{version},1.000001,79,,online,true,received,2026-01-05T01:00:00Z,,,0,false\n"
        ));
    }
    let (v, rejected, _) =
        dxhub_ingest::parse_all(text.as_bytes(), dxhub_ingest::Format::Csv).unwrap();
    assert!(rejected.is_empty(), "{rejected:?}");
    v
}

fn counts(applied: u64, stale: u64) -> IngestCounts {
    IngestCounts { applied, stale }
}

// A current-thread runtime: the three requests are all queued before the writing task
// first runs, so they form one group, applied in queue order.
#[tokio::test]
async fn concurrent_batches_share_a_transaction_and_keep_their_own_counts() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = dxhub_db::open(&dxhub_db::sqlite_url_in(dir.path()))
        .await
        .unwrap();
    let writer = GroupCommit::start(store.clone());
    let (a, b, c) = tokio::join!(
        writer.ingest(lines(&[("A", 1), ("S", 1)])),
        writer.ingest(lines(&[("A", 1), ("S", 2), ("B", 1)])),
        writer.ingest(lines(&[("S", 2), ("S", 3), ("C", 1)])),
    );
    // 1: both new. 2: A is not newer than 1's, S 2 and B are. 3: S 2 is not newer than
    // 2's, S 3 and C are.
    assert_eq!(a.unwrap(), counts(2, 0));
    assert_eq!(b.unwrap(), counts(2, 1));
    assert_eq!(c.unwrap(), counts(2, 1));
    assert_eq!(store.dossier_count().await.unwrap(), 4);
    let rows = store
        .indicator_rows(&IndicatorQuery::default())
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].cell.received, 4);
    // A later request is a group of its own, against what the group stored.
    let d = writer.ingest(lines(&[("S", 3), ("S", 4), ("D", 1)])).await;
    assert_eq!(d.unwrap(), counts(2, 1));
    // An empty batch changes nothing and needs no transaction.
    assert_eq!(writer.ingest(Vec::new()).await.unwrap(), counts(0, 0));
}

// The writing task runs on the runtime of the first push; once that runtime is shut down,
// the state starts a new one on the next push instead of failing every push from then on.
#[test]
fn a_writer_whose_runtime_is_gone_is_started_again() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    };
    let first = runtime();
    let store: Arc<dyn Store> = first
        .block_on(dxhub_db::open(&dxhub_db::sqlite_url_in(dir.path())))
        .unwrap();
    let state = dxhub_web::AppState::new(store.clone());
    let pushed = first.block_on(async { state.dossier_writer().ingest(lines(&[("A", 1)])).await });
    assert_eq!(pushed.unwrap(), counts(1, 0));
    let old = state.dossier_writer();
    drop(first);
    assert!(!old.is_running());
    let second = runtime();
    let pushed = second.block_on(async {
        let writer = state.dossier_writer();
        assert!(writer.is_running());
        writer.ingest(lines(&[("A", 2), ("B", 1)])).await
    });
    assert_eq!(pushed.unwrap(), counts(2, 0));
    assert_eq!(second.block_on(store.dossier_count()).unwrap(), 2);
}
