//! Dossier snapshots and the public-service indicator cells in SQLite: each batch is one
//! IMMEDIATE transaction that reads the stored snapshots it touches, writes the newer ones
//! and applies the net indicator change, so the cells never drift from the snapshots.
//!
//! Speed: the batch is first reduced in memory to one snapshot per key, sorted by key
//! ([`KeyedBatch`]); snapshots are kept in key-ordered blocks of a few kilobytes
//! (`dossier_blocks`, V14, format in [`blocks`]), and a batch reads and rewrites each
//! block it touches once.

use std::sync::Arc;

use async_trait::async_trait;
use dxhub_ingest::services::ServiceCounts;
use dxhub_ingest::{
    Channel, CommuneCode, Delta, DossierSnapshot, IndicatorRow, KeyedBatch, ProvinceCode,
    Resolution, ShortStr, Status, blocks, codec,
};
use dxhub_store::{
    DossierStore, GroupedRow, Grouping, IndicatorQuery, IngestCounts, PeriodKind, StoreError,
    StoreResult,
};
use rusqlite::{OptionalExtension, TransactionBehavior, params};

use crate::{SqliteStore, db_err};

fn bad(what: &str, v: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        0,
        rusqlite::types::Type::Text,
        Box::<dyn std::error::Error + Send + Sync>::from(format!("stored {what} '{v}' is invalid")),
    )
}

fn ts(v: String) -> rusqlite::Result<jiff::Timestamp> {
    v.parse().map_err(|_| bad("timestamp", &v))
}

const SNAPSHOT_COLUMNS: &str = "source, dossier_id, version, service_code, province_code, commune_code, \
     channel, end_to_end, status, received_at, due_at, completed_at, fee_vnd, paid_online";

fn snapshot_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<DossierSnapshot> {
    let province: String = r.get(4)?;
    let commune: Option<String> = r.get(5)?;
    let channel: String = r.get(6)?;
    let status: String = r.get(8)?;
    let version: i64 = r.get(2)?;
    let fee: i64 = r.get(12)?;
    Ok(DossierSnapshot {
        source: ShortStr::from(r.get::<_, String>(0)?),
        dossier_id: ShortStr::from(r.get::<_, String>(1)?),
        version: u64::try_from(version).map_err(|_| bad("version", &version.to_string()))?,
        service_code: ShortStr::from(r.get::<_, String>(3)?),
        province_code: ProvinceCode::parse(&province)
            .ok_or_else(|| bad("province_code", &province))?,
        commune_code: match commune {
            Some(c) => Some(CommuneCode::parse(&c).ok_or_else(|| bad("commune_code", &c))?),
            None => None,
        },
        channel: Channel::parse(&channel).ok_or_else(|| bad("channel", &channel))?,
        end_to_end: r.get(7)?,
        status: Status::parse(&status).ok_or_else(|| bad("status", &status))?,
        received_at: ts(r.get(9)?)?,
        due_at: r.get::<_, Option<String>>(10)?.map(ts).transpose()?,
        completed_at: r.get::<_, Option<String>>(11)?.map(ts).transpose()?,
        fee_vnd: u64::try_from(fee).map_err(|_| bad("fee_vnd", &fee.to_string()))?,
        paid_online: r.get(13)?,
    })
}

/// The counters of an indicator row, in columns 2 to 8 of both indicator queries.
fn cell_at(r: &rusqlite::Row<'_>) -> rusqlite::Result<dxhub_ingest::Cell> {
    let n = |i: usize| r.get::<_, i64>(i).map(|v| v as u64);
    Ok(dxhub_ingest::Cell {
        received: n(2)?,
        online: n(3)?,
        end_to_end: n(4)?,
        completed: n(5)?,
        completed_on_time: n(6)?,
        online_payments: n(7)?,
        online_payment_vnd: n(8)?,
    })
}

fn to_i64(v: u64, what: &str) -> StoreResult<i64> {
    i64::try_from(v).map_err(|_| {
        StoreError::Database(format!("{what} {v} does not fit in 64-bit signed storage"))
    })
}

/// Per-connection settings for ingestion (durability is unchanged: WAL with
/// `synchronous = NORMAL`, set when the connection opens, so a committed batch survives
/// the process being killed): a 128 MiB page cache, in-memory temporary storage, and a
/// checkpoint once the WAL holds [`CHECKPOINT_BYTES`] rather than after every batch. The
/// cache holds the pages an import's batch (2 M lines) reads and changes: with 64 MiB,
/// SQLite wrote pages out during the batch and read them back. (With 1.5 M-line batches
/// a 192 MiB cache changed neither the page writes nor the time. SQLite takes the memory
/// only as pages are used, so small batches do not.)
const BULK_PRAGMAS: &str = "PRAGMA cache_size = -131072; PRAGMA temp_store = MEMORY;";

/// WAL size at which an ingesting connection checkpoints (`wal_autocheckpoint` counts
/// pages, whose size depends on the database): a page that several batches change is then
/// copied into the database once, and fsyncs are rarer.
const CHECKPOINT_BYTES: i64 = 256 << 20;

/// Applies [`BULK_PRAGMAS`] and the checkpoint interval to an ingesting connection.
fn bulk_settings(c: &rusqlite::Connection) -> StoreResult<()> {
    c.execute_batch(BULK_PRAGMAS).map_err(db_err)?;
    let page: i64 = c
        .query_row("PRAGMA page_size", [], |r| r.get(0))
        .map_err(db_err)?;
    c.execute_batch(&format!(
        "PRAGMA wal_autocheckpoint = {}",
        CHECKPOINT_BYTES / page.max(512)
    ))
    .map_err(db_err)
}

/// Moves the snapshots of the V3 text table `dossiers` into `dossier_snapshots`, once:
/// on the first ingest after the V12 migration (a no-op query afterwards).
fn move_v3_snapshots(tx: &rusqlite::Transaction<'_>) -> StoreResult<()> {
    let any: bool = tx
        .query_row("SELECT EXISTS (SELECT 1 FROM dossiers)", [], |r| r.get(0))
        .map_err(db_err)?;
    if !any {
        return Ok(());
    }
    let mut read = tx
        .prepare(&format!("SELECT {SNAPSHOT_COLUMNS} FROM dossiers"))
        .map_err(db_err)?;
    let mut put = tx
        .prepare("INSERT INTO dossier_snapshots (source, dossier_id, version, fields) VALUES (?1, ?2, ?3, ?4)")
        .map_err(db_err)?;
    let mut fields = Vec::new();
    for s in read.query_map([], snapshot_from_row).map_err(db_err)? {
        let s = s.map_err(db_err)?;
        fields.clear();
        codec::encode(&s, &mut fields);
        put.execute(params![
            s.source.as_str(),
            s.dossier_id.as_str(),
            to_i64(s.version, "version")?,
            fields
        ])
        .map_err(db_err)?;
    }
    tx.execute("DELETE FROM dossiers", []).map_err(db_err)?;
    Ok(())
}

/// Moves the snapshots of the V12 table `dossier_snapshots` into `dossier_blocks`, once: on
/// the first ingest after the V14 migration (a no-op query afterwards). The rows are read
/// in key order, so the blocks are written in order.
fn move_v12_snapshots(tx: &rusqlite::Transaction<'_>) -> StoreResult<()> {
    let (rows, blocks): (bool, bool) = tx
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM dossier_snapshots), EXISTS (SELECT 1 FROM dossier_blocks)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .map_err(db_err)?;
    if !rows {
        return Ok(());
    }
    if blocks {
        return Err(StoreError::Corrupt(
            "both dossier_snapshots and dossier_blocks hold snapshots".into(),
        ));
    }
    let mut read = tx
        .prepare("SELECT source, dossier_id, version, fields FROM dossier_snapshots ORDER BY source, dossier_id")
        .map_err(db_err)?;
    let mut builder = blocks::Builder::new();
    let mut key = Vec::with_capacity(64);
    let mut pending = 0usize;
    let mut rows = read.query([]).map_err(db_err)?;
    while let Some(r) = rows.next().map_err(db_err)? {
        let source: String = r.get(0).map_err(db_err)?;
        let id: String = r.get(1).map_err(db_err)?;
        let version: i64 = r.get(2).map_err(db_err)?;
        let version = u64::try_from(version).map_err(|_| {
            StoreError::Corrupt(format!("stored version {version} of {source}/{id}"))
        })?;
        let fields = r
            .get_ref(3)
            .map_err(db_err)?
            .as_blob()
            .map_err(db_err_from_type)?;
        key.clear();
        blocks::key_of(&source, &id, &mut key);
        builder.push(&key, version, fields);
        pending += 1;
        if pending == 100_000 {
            put_blocks(tx, builder.finish())?;
            pending = 0;
        }
    }
    put_blocks(tx, builder.finish())?;
    drop(rows);
    tx.execute("DELETE FROM dossier_snapshots", [])
        .map_err(db_err)?;
    // The blocks changed: a directory kept in memory is out of date.
    tx.execute(BUMP_GENERATION, []).map_err(db_err)?;
    Ok(())
}

/// Raises the blocks' generation (V16): see [`Directory`].
const BUMP_GENERATION: &str =
    "UPDATE dossier_blocks_generation SET generation = generation + 1 WHERE only = 1";

/// The whole block directory (every block's first key and id, in key order) as of a
/// generation of the blocks (V16; every ingest raises it in its transaction). The store
/// keeps the one its last batch left, so that the next batch, if the generation is still
/// the same (no other connection or process has ingested since), reads no directory at
/// all; a 20 M-line import spent about 0.9 s reading directory spans.
pub(crate) struct Directory {
    generation: i64,
    blocks: Vec<DirectoryEntry>,
}

/// A block's first key and id.
type DirectoryEntry = (Box<[u8]>, i64);

fn db_err_from_type(e: rusqlite::types::FromSqlError) -> StoreError {
    StoreError::Corrupt(format!("stored snapshot fields: {e}"))
}

/// Inserts new blocks.
fn put_blocks(tx: &rusqlite::Transaction<'_>, new: Vec<blocks::Block>) -> StoreResult<()> {
    put_blocks_noting(tx, new, None)
}

/// Inserts new blocks, and adds their first keys and ids to `added` if given.
fn put_blocks_noting(
    tx: &rusqlite::Transaction<'_>,
    new: Vec<blocks::Block>,
    mut added: Option<&mut Vec<DirectoryEntry>>,
) -> StoreResult<()> {
    let mut insert = tx
        .prepare_cached("INSERT INTO dossier_blocks (first_key, n, data) VALUES (?1, ?2, ?3)")
        .map_err(db_err)?;
    for b in new {
        insert
            .execute(params![b.first_key, b.count, b.data])
            .map_err(db_err)?;
        if let Some(added) = added.as_deref_mut() {
            added.push((b.first_key.into_boxed_slice(), tx.last_insert_rowid()));
        }
    }
    Ok(())
}

/// Whether a batch should read the whole block directory (and keep it for the next): when
/// it has at least a quarter as many finals as there are blocks, since it then touches a
/// large part of them anyway. Smaller batches (a day's changes, pushes over HTTP) read
/// only the spans of the directory they need ([`blocks::spans`]).
fn whole_directory_pays(tx: &rusqlite::Transaction<'_>, batch: &KeyedBatch) -> StoreResult<bool> {
    // Ids are rowids, handed out in increasing order: the largest is about the count.
    let blocks: Option<i64> = tx
        .query_row("SELECT max(id) FROM dossier_blocks", [], |r| r.get(0))
        .map_err(db_err)?;
    Ok(blocks.is_none_or(|b| batch.len() as i64 >= b / 4))
}

/// Merges the batch into the blocks it touches ([`blocks::group_by_directory`], then
/// [`blocks::merge`] per block: each block read once and rewritten once, only if a
/// snapshot in it changed) and applies the indicator change, inside the caller's
/// transaction.
fn ingest_in(
    tx: &rusqlite::Transaction<'_>,
    batch: &KeyedBatch,
    kept: Option<Directory>,
) -> StoreResult<(Vec<IngestCounts>, Option<Directory>)> {
    move_v3_snapshots(tx)?;
    move_v12_snapshots(tx)?;
    let generation: i64 = tx
        .query_row(
            "SELECT generation FROM dossier_blocks_generation WHERE only = 1",
            [],
            |r| r.get(0),
        )
        .map_err(db_err)?;
    // The whole directory: the one kept if still current, or read now if that pays.
    let mut whole = match kept {
        Some(d) if d.generation == generation => Some(d.blocks),
        _ if whole_directory_pays(tx, batch)? => {
            let mut all = tx
                .prepare_cached("SELECT first_key, id FROM dossier_blocks ORDER BY first_key")
                .map_err(db_err)?;
            let row = |r: &rusqlite::Row<'_>| {
                Ok((
                    r.get::<_, Vec<u8>>(0)?.into_boxed_slice(),
                    r.get::<_, i64>(1)?,
                ))
            };
            let blocks = all
                .query_map([], row)
                .map_err(db_err)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(db_err)?;
            Some(blocks)
        }
        _ => None,
    };
    // Or the part of the block directory the batch needs ([`blocks::spans`]).
    let mut directory: Vec<(Vec<u8>, i64)> = Vec::new();
    if whole.is_none() {
        let mut first = tx
            .prepare_cached("SELECT first_key, id FROM dossier_blocks ORDER BY first_key LIMIT 1")
            .map_err(db_err)?;
        let mut span = tx
            .prepare_cached(
                "SELECT first_key, id FROM dossier_blocks
                  WHERE first_key >= coalesce((SELECT first_key FROM dossier_blocks WHERE first_key <= ?1
                                                ORDER BY first_key DESC LIMIT 1), x'')
                    AND first_key <= ?2
                  ORDER BY first_key",
            )
            .map_err(db_err)?;
        let row = |r: &rusqlite::Row<'_>| Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, i64>(1)?));
        for b in first.query_map([], row).map_err(db_err)? {
            directory.push(b.map_err(db_err)?);
        }
        for (lo, hi) in blocks::spans(batch) {
            for b in span.query_map(params![lo, hi], row).map_err(db_err)? {
                directory.push(b.map_err(db_err)?);
            }
        }
    }
    directory.sort_unstable();
    directory.dedup();
    let (keys, ids): (Vec<&[u8]>, Vec<i64>) = match &whole {
        Some(w) => w.iter().map(|(k, id)| (&**k, *id)).unzip(),
        None => directory.iter().map(|(k, id)| (k.as_slice(), *id)).unzip(),
    };
    // What the batch changes in the directory, to bring the whole one up to date: blocks
    // whose first key changed (by index), and new blocks (in key order, as written).
    let mut renamed: Vec<(usize, Box<[u8]>)> = Vec::new();
    let mut added: Vec<DirectoryEntry> = Vec::new();
    let noting = whole.is_some();
    let mut get = tx
        .prepare_cached("SELECT data FROM dossier_blocks WHERE id = ?1")
        .map_err(db_err)?;
    let mut update = tx
        .prepare_cached("UPDATE dossier_blocks SET first_key = ?2, n = ?3, data = ?4 WHERE id = ?1")
        .map_err(db_err)?;
    let mut update_data = tx
        .prepare_cached("UPDATE dossier_blocks SET n = ?2, data = ?3 WHERE id = ?1")
        .map_err(db_err)?;
    // A merging thread merges each block while this one reads the next and writes the
    // ones merged before: the database work and the merging overlap (SQLite's connection
    // stays on this thread). Blocks go over in jobs of `job` blocks, at most `JOBS_IN_FLIGHT`
    // jobs at once.
    let groups = blocks::group_by_directory(batch, &keys);
    let job = job_blocks(groups.len());
    let (to_merge, merge_rx) = std::sync::mpsc::channel::<Vec<Job>>();
    let (merged_tx, merged_rx) = std::sync::mpsc::channel::<Vec<Merged>>();
    let resolution = std::thread::scope(|scope| -> StoreResult<Resolution> {
        let merge = move || {
            let mut resolution = batch.resolution();
            let mut builder = blocks::Builder::new();
            for jobs in merge_rx {
                let mut out = Vec::with_capacity(jobs.len());
                let mut failed = false;
                for (block, old, range) in jobs {
                    let merged =
                        blocks::merge(batch, range, old.as_deref(), &mut resolution, &mut builder);
                    failed = merged.is_err();
                    out.push(merged.map(|m| (block, m)));
                    if failed {
                        break;
                    }
                }
                if merged_tx.send(out).is_err() || failed {
                    break;
                }
            }
            resolution
        };
        let merger = std::thread::Builder::new()
            .name("dx-merge".into())
            .spawn_scoped(scope, merge)
            .map_err(|e| StoreError::Database(format!("cannot start the merging thread: {e}")))?;
        let mut write = |merged: Merged| -> StoreResult<()> {
            let (block, new) = merged?;
            let Some(new) = new else { return Ok(()) };
            let mut new = new.into_iter();
            if let Some(b) = block {
                let first = new.next().expect("a merged block keeps its entries");
                if keys[b] == first.first_key.as_slice() {
                    update_data
                        .execute(params![ids[b], first.count, first.data])
                        .map_err(db_err)?;
                } else {
                    update
                        .execute(params![ids[b], first.first_key, first.count, first.data])
                        .map_err(db_err)?;
                    if noting {
                        renamed.push((b, first.first_key.into_boxed_slice()));
                    }
                }
            }
            put_blocks_noting(tx, new.collect(), noting.then_some(&mut added))
        };
        // Blocks sent to the merger and not written yet.
        let mut in_flight = 0usize;
        let mut write_all = |merged: Vec<Merged>, in_flight: &mut usize| -> StoreResult<()> {
            *in_flight -= merged.len();
            merged.into_iter().try_for_each(&mut write)
        };
        let work = || -> StoreResult<()> {
            let mut jobs = Vec::with_capacity(job);
            let mut groups = groups.into_iter().peekable();
            while let Some((block, range)) = groups.next() {
                let old: Option<Vec<u8>> = match block {
                    Some(b) => Some(get.query_row([ids[b]], |r| r.get(0)).map_err(db_err)?),
                    None => None,
                };
                jobs.push((block, old, range));
                if jobs.len() < job && groups.peek().is_some() {
                    continue;
                }
                in_flight += jobs.len();
                let sent = std::mem::replace(&mut jobs, Vec::with_capacity(job));
                if to_merge.send(sent).is_err() {
                    break; // the merger stopped: its error is in `merged_rx`
                }
                while let Ok(m) = merged_rx.try_recv() {
                    write_all(m, &mut in_flight)?;
                }
                while in_flight >= JOBS_IN_FLIGHT * job {
                    let Ok(m) = merged_rx.recv() else { break };
                    write_all(m, &mut in_flight)?;
                }
            }
            drop(to_merge);
            for m in merged_rx.iter() {
                write_all(m, &mut in_flight)?;
            }
            Ok(())
        };
        let done = work();
        // On an error here the merger ends once `to_merge` is dropped (by `work`'s end).
        let resolution = merger
            .join()
            .map_err(|_| StoreError::Database("the merging thread panicked".into()))?;
        done.map(|()| resolution)
    })?;
    apply_delta(tx, &resolution.delta)?;
    tx.execute(BUMP_GENERATION, []).map_err(db_err)?;
    drop(keys);
    let directory = whole.as_mut().map(|w| {
        for (b, key) in renamed {
            w[b].0 = key;
        }
        Directory {
            generation: generation + 1,
            blocks: merge_sorted(std::mem::take(w), added),
        }
    });
    Ok((IngestCounts::per_part(&resolution), directory))
}

/// Two lists sorted by key, with no key in both, as one sorted list.
fn merge_sorted(a: Vec<DirectoryEntry>, b: Vec<DirectoryEntry>) -> Vec<DirectoryEntry> {
    if b.is_empty() {
        return a;
    }
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut a, mut b) = (a.into_iter().peekable(), b.into_iter().peekable());
    loop {
        let next = match (a.peek(), b.peek()) {
            (Some(x), Some(y)) if x.0 <= y.0 => a.next(),
            (_, Some(_)) => b.next(),
            (Some(_), None) => a.next(),
            (None, None) => break,
        };
        out.extend(next);
    }
    out
}

/// Jobs handed to the merging thread and not yet written back, at most: bounds the memory a
/// large batch holds while the merging thread works (at most 2,048 blocks read and not
/// written).
const JOBS_IN_FLIGHT: usize = 8;

/// Blocks handed to the merging thread at a time (and answered at a time), for a batch that
/// touches `blocks` blocks: about a thirty-second of them, from 32 to 256. Each hand-over
/// wakes the other thread, which on a busy machine waits for a core: with 32 blocks a job
/// the 20 M import's merging thread waited about 100 ms of each batch's 360 for work and the
/// SQLite thread about 180 ms for merged blocks; with 256, about 35 and 100 ms. Small batches
/// (pushes over HTTP) keep small jobs, so that merging starts after a few block reads.
fn job_blocks(blocks: usize) -> usize {
    (blocks / 32).clamp(32, 256)
}

/// A block for the merging thread: its index in the directory (`None` for keys before
/// every block), its stored bytes, and the batch's finals that fall in it.
type Job = (Option<usize>, Option<Vec<u8>>, std::ops::Range<usize>);

/// A merged block: its index in the directory and its new blocks (`None` if unchanged).
type Merged = Result<(Option<usize>, Option<Vec<blocks::Block>>), blocks::BlockError>;

/// Adds a batch's indicator change to `ps_cells` and `ps_cell_services`.
fn apply_delta(tx: &rusqlite::Transaction<'_>, delta: &Delta) -> StoreResult<()> {
    let mut cell = tx
        .prepare_cached(
            "INSERT INTO ps_cells (province_code, month, received, online, end_to_end, completed,
                                   completed_on_time, online_payments, online_payment_vnd)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
             ON CONFLICT (province_code, month) DO UPDATE SET
               received = received + excluded.received, online = online + excluded.online,
               end_to_end = end_to_end + excluded.end_to_end, completed = completed + excluded.completed,
               completed_on_time = completed_on_time + excluded.completed_on_time,
               online_payments = online_payments + excluded.online_payments,
               online_payment_vnd = online_payment_vnd + excluded.online_payment_vnd",
        )
        .map_err(db_err)?;
    let mut get_services = tx
        .prepare_cached(
            "SELECT services FROM ps_cell_services WHERE province_code = ?1 AND month = ?2",
        )
        .map_err(db_err)?;
    let mut put_services = tx
        .prepare_cached(
            "INSERT INTO ps_cell_services (province_code, month, services) VALUES (?1, ?2, ?3)
             ON CONFLICT (province_code, month) DO UPDATE SET services = excluded.services",
        )
        .map_err(db_err)?;
    let mut drop_services = tx
        .prepare_cached("DELETE FROM ps_cell_services WHERE province_code = ?1 AND month = ?2")
        .map_err(db_err)?;
    let mut count_services = tx
        .prepare_cached(
            "UPDATE ps_cells SET services_online = ?3 WHERE province_code = ?1 AND month = ?2",
        )
        .map_err(db_err)?;
    for (key, d) in delta.cells() {
        let (p, m) = (key.province_code.as_str().to_owned(), key.month.to_string());
        let n = d
            .counters()
            .ok_or_else(|| StoreError::Database("online_payment_vnd change out of range".into()))?;
        cell.execute(params![p, m, n[0], n[1], n[2], n[3], n[4], n[5], n[6]])
            .map_err(db_err)?;
        if d.online_services.is_empty() {
            continue;
        }
        // The cell's per-service online counts, changed and written back whole.
        let text: Option<String> = get_services
            .query_row(params![p, m], |r| r.get(0))
            .optional()
            .map_err(db_err)?;
        let (text, services) =
            ServiceCounts::rewrite(text.as_deref(), &d.online_services, &format!("{p} {m}"))?;
        if services == 0 {
            drop_services.execute(params![p, m]).map_err(db_err)?;
        } else {
            put_services.execute(params![p, m, text]).map_err(db_err)?;
        }
        count_services
            .execute(params![p, m, services as i64])
            .map_err(db_err)?;
    }
    tx.execute("DELETE FROM ps_cells WHERE received = 0", [])
        .map_err(db_err)?;
    Ok(())
}

#[async_trait]
impl DossierStore for SqliteStore {
    async fn ingest_parts(&self, batch: Arc<KeyedBatch>) -> StoreResult<Vec<IngestCounts>> {
        if batch.is_empty() {
            return Ok(vec![IngestCounts::default(); batch.parts()]);
        }
        let inner = Arc::clone(&self.inner);
        self.with_conn(move |c| {
            let directory = &inner.directory;
            // A large page cache (a batch touches many pages) and the checkpoint interval.
            bulk_settings(c)?;
            let tx = c
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(db_err)?;
            // The directory the last batch left; taken out, so that it is dropped if this
            // batch fails, and put back only once it is committed.
            let kept = directory.lock().ok().and_then(|mut d| d.take());
            let (counts, left) = ingest_in(&tx, &batch, kept)?;
            tx.commit().map_err(db_err)?;
            if let Ok(mut d) = directory.lock() {
                *d = left;
            }
            Ok(counts)
        })
        .await
    }

    async fn settle(&self) -> StoreResult<()> {
        self.with_conn(|c| {
            // PASSIVE: copies what no reader still needs, waits for nobody. The answer
            // (busy, frames in the log, frames copied) is not needed.
            c.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
                .map_err(db_err)
        })
        .await
    }

    async fn indicator_rows(&self, q: &IndicatorQuery) -> StoreResult<Vec<IndicatorRow>> {
        let q = q.clone();
        self.with_conn(move |c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT c.province_code, c.month, c.received, c.online, c.end_to_end, c.completed,
                            c.completed_on_time, c.online_payments, c.online_payment_vnd,
                            c.services_online
                       FROM ps_cells c
                      WHERE (?1 IS NULL OR c.province_code = ?1)
                        AND (?2 IS NULL OR c.month >= ?2) AND (?3 IS NULL OR c.month <= ?3)
                      ORDER BY c.province_code, c.month",
                )
                .map_err(db_err)?;
            let rows = stmt
                .query_map(params![q.province, q.from_month, q.to_month], |r| {
                    let p: String = r.get(0)?;
                    let m: String = r.get(1)?;
                    let n = |i: usize| r.get::<_, i64>(i).map(|v| v as u64);
                    Ok(IndicatorRow {
                        key: dxhub_ingest::CellKey {
                            province_code: ProvinceCode::parse(&p).ok_or_else(|| bad("province_code", &p))?,
                            month: dxhub_ingest::YearMonth::parse(&m).ok_or_else(|| bad("month", &m))?,
                        },
                        cell: cell_at(r)?,
                        services_online: n(9)?,
                    })
                })
                .map_err(db_err)?;
            rows.collect::<Result<_, _>>().map_err(db_err)
        })
        .await
    }

    async fn grouped_indicator_rows(
        &self,
        q: &IndicatorQuery,
        by: Grouping,
    ) -> StoreResult<Vec<GroupedRow>> {
        let q = q.clone();
        let unit = if by.nation() { "'VN'" } else { "province_code" };
        let period = match by.period() {
            PeriodKind::Month => "month",
            PeriodKind::Year => "substr(month, 1, 4)",
            PeriodKind::Quarter => {
                "substr(month, 1, 4) || '-Q' || ((CAST(substr(month, 6, 2) AS INTEGER) + 2) / 3)"
            }
        };
        let filter = "(?1 IS NULL OR province_code = ?1) AND (?2 IS NULL OR month >= ?2) AND (?3 IS NULL OR month <= ?3)";
        // A province × month group is one cell, which keeps its services_online. Larger
        // groups count distinct services over their cells' per-service counts: a service
        // online in two provinces or months of the group counts once.
        let sql = format!(
            "SELECT {unit}, {period}, sum(received), sum(online), sum(end_to_end), sum(completed),
                    sum(completed_on_time), sum(online_payments), sum(online_payment_vnd),
                    sum(services_online)
               FROM ps_cells WHERE {filter} GROUP BY 1, 2 ORDER BY 1, 2"
        );
        let services_sql =
            format!("SELECT province_code, month, services FROM ps_cell_services WHERE {filter}");
        self.with_conn(move |c| {
            let mut stmt = c.prepare_cached(&sql).map_err(db_err)?;
            let rows = stmt
                .query_map(params![q.province, q.from_month, q.to_month], |r| {
                    let n = |i: usize| r.get::<_, i64>(i).map(|v| v as u64);
                    Ok(GroupedRow {
                        unit: r.get(0)?,
                        period: r.get(1)?,
                        cell: cell_at(r)?,
                        services_online: n(9)?,
                    })
                })
                .map_err(db_err)?;
            let mut rows: Vec<GroupedRow> = rows.collect::<Result<_, _>>().map_err(db_err)?;
            if by != Grouping::ProvinceMonth {
                let mut stmt = c.prepare_cached(&services_sql).map_err(db_err)?;
                let cells = stmt
                    .query_map(params![q.province, q.from_month, q.to_month], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                    })
                    .map_err(db_err)?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(db_err)?;
                by.set_services_online(&mut rows, cells)?;
            }
            Ok(rows)
        })
        .await
    }

    async fn dossier_count(&self) -> StoreResult<u64> {
        self.with_conn(|c| {
            // The V3 and V12 tables are counted too: they hold snapshots until the first
            // ingest moves them.
            c.query_row(
                "SELECT (SELECT coalesce(sum(n), 0) FROM dossier_blocks)
                      + (SELECT count(*) FROM dossier_snapshots) + (SELECT count(*) FROM dossiers)",
                [],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n as u64)
            .map_err(db_err)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "dossier_id,source,version,service_code,province_code,commune_code,channel,end_to_end,status,received_at,due_at,completed_at,fee_vnd,paid_online";

    fn feed(ids: std::ops::Range<u32>, version: u64) -> Vec<DossierSnapshot> {
        let mut text = format!("{HEADER}\n");
        for n in ids {
            text.push_str(&format!(
                "D{n:06},dvcqg,{version},1.000001,79,,online,true,received,2025-07-01T08:00:00+07:00,,,0,false\n"
            ));
        }
        let (v, rej, _) = dxhub_ingest::parse_all(text.as_bytes(), dxhub_ingest::Format::Csv)
            .expect("the feed parses");
        assert!(rej.is_empty(), "{rej:?}");
        v
    }

    /// A damaged block fails the batch as `Corrupt` and rolls it back whole: the indicator
    /// cells keep their values, and batches that do not touch the damaged block are still
    /// taken.
    #[tokio::test]
    async fn a_damaged_block_rolls_the_batch_back() {
        let dir = crate::TestDir::new("blocks");
        let path = dir.db();
        let store = SqliteStore::open(&path).await.unwrap();
        // Many blocks; the damaged one is the last the batch below reaches.
        let counts = store.ingest_dossiers(feed(0..30_000, 1)).await.unwrap();
        assert_eq!(counts.applied, 30_000);
        let raw = rusqlite::Connection::open(&path).unwrap();
        let blocks: i64 = raw
            .query_row("SELECT count(*) FROM dossier_blocks", [], |r| r.get(0))
            .unwrap();
        assert!(blocks > 500, "{blocks} blocks");
        // Damage the block holding the last dossiers.
        raw.execute(
            "UPDATE dossier_blocks SET data = x'0103' WHERE first_key =
               (SELECT max(first_key) FROM dossier_blocks)",
            [],
        )
        .unwrap();
        let before = store
            .indicator_rows(&IndicatorQuery::default())
            .await
            .unwrap();
        let err = store.ingest_dossiers(feed(0..30_000, 2)).await.unwrap_err();
        assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
        assert_eq!(
            store
                .indicator_rows(&IndicatorQuery::default())
                .await
                .unwrap(),
            before
        );
        // The first dossiers live in other blocks: a batch of them is applied.
        let counts = store.ingest_dossiers(feed(0..100, 2)).await.unwrap();
        assert_eq!((counts.applied, counts.stale), (100, 0));
    }
}
