//! Dossier snapshots and the public-service indicator cells in PostgreSQL: each batch is
//! one transaction that reads the stored snapshots it touches, writes the newer ones and
//! applies the net indicator change, so the cells never drift from the snapshots. Every
//! write is one statement over `unnest` arrays, whatever the size of the batch. The batch
//! is first reduced in memory to one snapshot per key ([`KeyedBatch`]); snapshots are kept
//! in `dossier_snapshots` as key, version and [`codec`]-encoded fields (V12).
//!
//! # Several processes ingesting at once
//!
//! A batch reads stored snapshots and then writes what it derived from them, so two
//! batches touching the same dossier must not interleave (both would subtract the same
//! old contribution). This first version serialises *every* batch on one transaction-level
//! advisory lock ([`LOCK_DOSSIERS`]), taken in a statement of its own before the read:
//! under READ COMMITTED each later statement then sees everything the previous holder
//! committed. (Taking the lock inside the reading statement would not do: that
//! statement's snapshot predates the wait.) Locking per dossier key, in a fixed order, so
//! that batches over disjoint dossiers run side by side, is an optimisation for later.

use std::sync::Arc;

use async_trait::async_trait;
use dxhub_ingest::services::ServiceCounts;
use dxhub_ingest::{
    Cell, CellKey, Channel, CommuneCode, DossierSnapshot, IndicatorRow, KeyedBatch, ProvinceCode,
    Resolution, ShortStr, Status, YearMonth, blocks, codec,
};
use dxhub_store::{
    DossierStore, GroupedRow, Grouping, IndicatorQuery, IngestCounts, PeriodKind, StoreError,
    StoreResult,
};
use tokio_postgres::types::ToSql;
use tokio_postgres::{IsolationLevel, Row};

use crate::{PostgresStore, db_err};

/// Advisory-lock key (an arbitrary constant, distinct from the migration, reference and
/// audit locks) that serialises dossier batches across every process sharing the database.
const LOCK_DOSSIERS: i64 = 0x6478_6875_6204;

const UPSERT_DOSSIERS: &str = "INSERT INTO dossier_snapshots (source, dossier_id, version, fields)
 SELECT * FROM unnest($1::text[], $2::text[], $3::int8[], $4::bytea[])
 ON CONFLICT (source, dossier_id) DO UPDATE SET
   version = excluded.version, fields = excluded.fields";

/// The part of the block directory a batch needs ([`blocks::spans`], `$1` starts and `$2`
/// ends of the spans): the first block, and per span the last block starting at or before
/// its start and every block starting inside it.
const DIRECTORY: &str = "SELECT first_key FROM dossier_blocks
  WHERE first_key = (SELECT first_key FROM dossier_blocks ORDER BY first_key LIMIT 1)
 UNION
 SELECT d.first_key
   FROM unnest($1::bytea[], $2::bytea[]) AS s(lo, hi)
  CROSS JOIN LATERAL (
    SELECT first_key FROM dossier_blocks
     WHERE first_key >= coalesce((SELECT first_key FROM dossier_blocks WHERE first_key <= s.lo
                                   ORDER BY first_key DESC LIMIT 1), ''::bytea)
       AND first_key <= s.hi) d";

const GET_BLOCKS: &str = "SELECT first_key, data FROM dossier_blocks WHERE first_key = ANY($1)";

const DROP_BLOCKS: &str = "DELETE FROM dossier_blocks WHERE first_key = ANY($1)";

const PUT_BLOCKS: &str = "INSERT INTO dossier_blocks (first_key, n, data)
 SELECT * FROM unnest($1::bytea[], $2::int4[], $3::bytea[])";

/// Blocks read, merged and written per round trip: bounds the memory of a batch that
/// touches many blocks.
const BLOCKS_PER_ROUND: usize = 4096;

/// The next 100,000 rows of the V12 table after a key, in key order (`COLLATE "C"`
/// columns: byte order, the order of blocks).
const TAKE_V12: &str = "SELECT source, dossier_id, version, fields FROM dossier_snapshots
  WHERE (source, dossier_id) > ($1, $2) ORDER BY source, dossier_id LIMIT 100000";

/// Takes up to 50,000 snapshots out of the V3 text table, to be moved into
/// `dossier_snapshots` (the encoding is not expressible in SQL).
const TAKE_V3: &str = "DELETE FROM dossiers WHERE ctid IN (SELECT ctid FROM dossiers LIMIT 50000)
 RETURNING source, dossier_id, version, service_code, province_code, commune_code, channel,
           end_to_end, status, received_at, due_at, completed_at, fee_vnd, paid_online";

const UPSERT_CELLS: &str =
    "INSERT INTO ps_cells (province_code, month, received, online, end_to_end, completed,
                       completed_on_time, online_payments, online_payment_vnd)
 SELECT * FROM unnest($1::text[], $2::text[], $3::int8[], $4::int8[], $5::int8[], $6::int8[],
                      $7::int8[], $8::int8[], $9::int8[])
 ON CONFLICT (province_code, month) DO UPDATE SET
   received = ps_cells.received + excluded.received,
   online = ps_cells.online + excluded.online,
   end_to_end = ps_cells.end_to_end + excluded.end_to_end,
   completed = ps_cells.completed + excluded.completed,
   completed_on_time = ps_cells.completed_on_time + excluded.completed_on_time,
   online_payments = ps_cells.online_payments + excluded.online_payments,
   online_payment_vnd = ps_cells.online_payment_vnd + excluded.online_payment_vnd";

/// Cells of the batch left without any dossier disappear (as a `GROUP BY` row would).
const DROP_EMPTY_CELLS: &str =
    "DELETE FROM ps_cells c USING unnest($1::text[], $2::text[]) AS k(province_code, month)
  WHERE c.province_code = k.province_code AND c.month = k.month AND c.received = 0";

/// The per-service online counts of the batch's cells (`$1` provinces, `$2` months).
const GET_CELL_SERVICES: &str = "SELECT s.province_code, s.month, s.services
   FROM ps_cell_services s
   JOIN unnest($1::text[], $2::text[]) AS k(province_code, month)
     ON s.province_code = k.province_code AND s.month = k.month";

const PUT_CELL_SERVICES: &str = "INSERT INTO ps_cell_services (province_code, month, services)
 SELECT * FROM unnest($1::text[], $2::text[], $3::text[])
 ON CONFLICT (province_code, month) DO UPDATE SET services = excluded.services";

const DROP_CELL_SERVICES: &str = "DELETE FROM ps_cell_services s
  USING unnest($1::text[], $2::text[]) AS k(province_code, month)
  WHERE s.province_code = k.province_code AND s.month = k.month";

const COUNT_CELL_SERVICES: &str = "UPDATE ps_cells c SET services_online = k.n
  FROM unnest($1::text[], $2::text[], $3::int8[]) AS k(province_code, month, n)
  WHERE c.province_code = k.province_code AND c.month = k.month";

const SELECT_ROWS: &str =
    "SELECT c.province_code, c.month, c.received, c.online, c.end_to_end, c.completed,
        c.completed_on_time, c.online_payments, c.online_payment_vnd, c.services_online
   FROM ps_cells c
  WHERE ($1::text IS NULL OR c.province_code = $1)
    AND ($2::text IS NULL OR c.month >= $2) AND ($3::text IS NULL OR c.month <= $3)
  ORDER BY c.province_code, c.month";

fn bad(what: &str, v: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("stored {what} '{v}' is invalid"))
}

fn ts(v: String) -> StoreResult<jiff::Timestamp> {
    v.parse().map_err(|_| bad("timestamp", &v))
}

fn to_i64(v: u64, what: &str) -> StoreResult<i64> {
    i64::try_from(v).map_err(|_| {
        StoreError::Database(format!("{what} {v} does not fit in 64-bit signed storage"))
    })
}

fn to_u64(v: i64, what: &str) -> StoreResult<u64> {
    u64::try_from(v).map_err(|_| bad(what, v))
}

fn snapshot_from_row(r: &Row) -> StoreResult<DossierSnapshot> {
    let text = |i: usize| r.try_get::<_, String>(i).map_err(db_err);
    let province = text(4)?;
    let commune: Option<String> = r.try_get(5).map_err(db_err)?;
    let channel = text(6)?;
    let status = text(8)?;
    Ok(DossierSnapshot {
        source: ShortStr::from(text(0)?),
        dossier_id: ShortStr::from(text(1)?),
        version: to_u64(r.try_get(2).map_err(db_err)?, "version")?,
        service_code: ShortStr::from(text(3)?),
        province_code: ProvinceCode::parse(&province)
            .ok_or_else(|| bad("province_code", &province))?,
        commune_code: match commune {
            Some(c) => Some(CommuneCode::parse(&c).ok_or_else(|| bad("commune_code", &c))?),
            None => None,
        },
        channel: Channel::parse(&channel).ok_or_else(|| bad("channel", &channel))?,
        end_to_end: r.try_get(7).map_err(db_err)?,
        status: Status::parse(&status).ok_or_else(|| bad("status", &status))?,
        received_at: ts(text(9)?)?,
        due_at: r
            .try_get::<_, Option<String>>(10)
            .map_err(db_err)?
            .map(ts)
            .transpose()?,
        completed_at: r
            .try_get::<_, Option<String>>(11)
            .map_err(db_err)?
            .map(ts)
            .transpose()?,
        fee_vnd: to_u64(r.try_get(12).map_err(db_err)?, "fee_vnd")?,
        paid_online: r.try_get(13).map_err(db_err)?,
    })
}

/// The counters of an indicator row, in columns 2 to 8 of both indicator queries.
fn cell_at(r: &Row) -> StoreResult<Cell> {
    let n = |i: usize, what: &str| to_u64(r.try_get(i).map_err(db_err)?, what);
    Ok(Cell {
        received: n(2, "received")?,
        online: n(3, "online")?,
        end_to_end: n(4, "end_to_end")?,
        completed: n(5, "completed")?,
        completed_on_time: n(6, "completed_on_time")?,
        online_payments: n(7, "online_payments")?,
        online_payment_vnd: n(8, "online_payment_vnd")?,
    })
}

fn row_from_db(r: &Row) -> StoreResult<IndicatorRow> {
    let p: String = r.try_get(0).map_err(db_err)?;
    let m: String = r.try_get(1).map_err(db_err)?;
    let n = |i: usize, what: &str| to_u64(r.try_get(i).map_err(db_err)?, what);
    Ok(IndicatorRow {
        key: CellKey {
            province_code: ProvinceCode::parse(&p).ok_or_else(|| bad("province_code", &p))?,
            month: YearMonth::parse(&m).ok_or_else(|| bad("month", &m))?,
        },
        cell: cell_at(r)?,
        services_online: n(9, "services online count")?,
    })
}

/// Results of statements sent together (pipelined on one connection), reported in the
/// order they were sent: after the first failure PostgreSQL aborts the transaction and
/// the later statements fail only because of it.
fn first_error<T>(
    results: impl IntoIterator<Item = Result<T, tokio_postgres::Error>>,
) -> StoreResult<()> {
    for r in results {
        r.map_err(db_err)?;
    }
    Ok(())
}

/// Moves the snapshots of the V3 text table `dossiers` into `dossier_snapshots`, in
/// chunks, inside the caller's transaction: on the first ingest after the V12 migration (a
/// no-op query afterwards).
async fn move_v3_snapshots(tx: &tokio_postgres::Transaction<'_>) -> StoreResult<()> {
    loop {
        let rows = tx.query(TAKE_V3, &[]).await.map_err(db_err)?;
        if rows.is_empty() {
            return Ok(());
        }
        let (mut sources, mut ids, mut versions, mut fields) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for row in &rows {
            let s = snapshot_from_row(row)?;
            let mut f = Vec::with_capacity(40);
            codec::encode(&s, &mut f);
            versions.push(to_i64(s.version, "version")?);
            sources.push(s.source.as_str().to_owned());
            ids.push(s.dossier_id.as_str().to_owned());
            fields.push(f);
        }
        tx.execute(UPSERT_DOSSIERS, &[&sources, &ids, &versions, &fields])
            .await
            .map_err(db_err)?;
    }
}

/// Moves the snapshots of the V12 table `dossier_snapshots` into `dossier_blocks`, in key
/// order and in chunks, inside the caller's transaction: on the first ingest after the V14
/// migration (a no-op query afterwards).
async fn move_v12_snapshots(tx: &deadpool_postgres::Transaction<'_>) -> StoreResult<()> {
    let row = tx
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM dossier_snapshots), EXISTS (SELECT 1 FROM dossier_blocks)",
            &[],
        )
        .await
        .map_err(db_err)?;
    let (rows, blocks): (bool, bool) = (
        row.try_get(0).map_err(db_err)?,
        row.try_get(1).map_err(db_err)?,
    );
    if !rows {
        return Ok(());
    }
    if blocks {
        return Err(StoreError::Corrupt(
            "both dossier_snapshots and dossier_blocks hold snapshots".into(),
        ));
    }
    let take = tx.prepare(TAKE_V12).await.map_err(db_err)?;
    let (mut after_source, mut after_id) = (String::new(), String::new());
    let mut builder = blocks::Builder::new();
    let mut key = Vec::with_capacity(64);
    loop {
        let rows = tx
            .query(&take, &[&after_source, &after_id])
            .await
            .map_err(db_err)?;
        let Some(last) = rows.last() else { break };
        for r in &rows {
            let source: &str = r.try_get(0).map_err(db_err)?;
            let id: &str = r.try_get(1).map_err(db_err)?;
            let version = to_u64(r.try_get(2).map_err(db_err)?, "version")?;
            let fields: &[u8] = r.try_get(3).map_err(db_err)?;
            key.clear();
            blocks::key_of(source, id, &mut key);
            builder.push(&key, version, fields);
        }
        after_source = last.try_get(0).map_err(db_err)?;
        after_id = last.try_get(1).map_err(db_err)?;
        put_blocks(tx, builder.finish()).await?;
    }
    tx.execute("DELETE FROM dossier_snapshots", &[])
        .await
        .map_err(db_err)?;
    Ok(())
}

/// Inserts new blocks in one statement.
async fn put_blocks(
    tx: &deadpool_postgres::Transaction<'_>,
    new: Vec<blocks::Block>,
) -> StoreResult<()> {
    if new.is_empty() {
        return Ok(());
    }
    let mut keys = Vec::with_capacity(new.len());
    let mut counts = Vec::with_capacity(new.len());
    let mut data = Vec::with_capacity(new.len());
    for b in new {
        keys.push(b.first_key);
        counts.push(i32::try_from(b.count).map_err(|_| bad("block size", b.count))?);
        data.push(b.data);
    }
    let put = tx.prepare_cached(PUT_BLOCKS).await.map_err(db_err)?;
    tx.execute(&put, &[&keys, &counts, &data])
        .await
        .map_err(db_err)?;
    Ok(())
}

/// Merges the batch into the blocks it touches: reads the part of the block directory it
/// needs, then per round of up to [`BLOCKS_PER_ROUND`] blocks fetches them in one
/// statement, merges each ([`blocks::merge`]) and replaces those that changed (one delete,
/// one insert).
async fn merge_blocks(
    tx: &deadpool_postgres::Transaction<'_>,
    batch: &KeyedBatch,
    resolution: &mut Resolution,
) -> StoreResult<()> {
    let directory: Vec<Vec<u8>> = {
        let (los, his): (Vec<Vec<u8>>, Vec<Vec<u8>>) = blocks::spans(batch).into_iter().unzip();
        let stmt = tx.prepare_cached(DIRECTORY).await.map_err(db_err)?;
        let rows = tx.query(&stmt, &[&los, &his]).await.map_err(db_err)?;
        let mut keys = rows
            .iter()
            .map(|r| r.try_get::<_, Vec<u8>>(0).map_err(db_err))
            .collect::<StoreResult<Vec<_>>>()?;
        keys.sort_unstable();
        keys
    };
    let groups = blocks::group_by_directory(batch, &directory);
    let get = tx.prepare_cached(GET_BLOCKS).await.map_err(db_err)?;
    let drop = tx.prepare_cached(DROP_BLOCKS).await.map_err(db_err)?;
    let mut builder = blocks::Builder::new();
    for round in groups.chunks(BLOCKS_PER_ROUND) {
        let wanted: Vec<&[u8]> = round
            .iter()
            .filter_map(|(b, _)| b.map(|i| directory[i].as_slice()))
            .collect();
        let mut stored: Vec<(Vec<u8>, Vec<u8>)> = Vec::with_capacity(wanted.len());
        if !wanted.is_empty() {
            for r in tx.query(&get, &[&wanted]).await.map_err(db_err)? {
                stored.push((r.try_get(0).map_err(db_err)?, r.try_get(1).map_err(db_err)?));
            }
            stored.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        }
        let mut dropped: Vec<&[u8]> = Vec::new();
        let mut new = Vec::new();
        for (block, range) in round {
            let old = match block {
                Some(i) => {
                    let key = directory[*i].as_slice();
                    let at = stored
                        .binary_search_by(|(k, _)| k.as_slice().cmp(key))
                        .map_err(|_| StoreError::Corrupt("a dossier block vanished".into()))?;
                    Some(stored[at].1.as_slice())
                }
                None => None,
            };
            let merged = blocks::merge(batch, range.clone(), old, resolution, &mut builder)?;
            if let Some(blocks) = merged {
                if let Some(i) = block {
                    dropped.push(directory[*i].as_slice());
                }
                new.extend(blocks);
            }
        }
        if !dropped.is_empty() {
            tx.execute(&drop, &[&dropped]).await.map_err(db_err)?;
        }
        put_blocks(tx, new).await?;
    }
    Ok(())
}

#[async_trait]
impl DossierStore for PostgresStore {
    async fn ingest_parts(&self, batch: Arc<KeyedBatch>) -> StoreResult<Vec<IngestCounts>> {
        if batch.is_empty() {
            return Ok(vec![IngestCounts::default(); batch.parts()]);
        }
        let mut client = self.client().await?;
        let tx = client
            .build_transaction()
            .isolation_level(IsolationLevel::ReadCommitted)
            .start()
            .await
            .map_err(db_err)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_DOSSIERS])
            .await
            .map_err(db_err)?;

        move_v3_snapshots(&tx).await?;
        move_v12_snapshots(&tx).await?;
        let mut resolution = batch.resolution();
        merge_blocks(&tx, &batch, &mut resolution).await?;
        let counts = IngestCounts::per_part(&resolution);
        let delta = resolution.delta;

        // The net change of every touched cell.
        let cells = delta.cells();
        let mut c_key: [Vec<String>; 2] = Default::default();
        let mut c_num: [Vec<i64>; 7] = Default::default();
        // Only cells whose count went down can become empty: the delete looks at those.
        let mut c_shrunk: [Vec<String>; 2] = Default::default();
        // Cells whose per-service online counts change.
        let mut s_key: [Vec<String>; 2] = Default::default();
        for (key, d) in &cells {
            let (p, m) = (key.province_code.as_str().to_owned(), key.month.to_string());
            let nums = d.counters().ok_or_else(|| {
                StoreError::Database("online_payment_vnd change out of range".into())
            })?;
            for (col, v) in c_num.iter_mut().zip(nums) {
                col.push(v);
            }
            if nums[0] < 0 {
                c_shrunk[0].push(p.clone());
                c_shrunk[1].push(m.clone());
            }
            if !d.online_services.is_empty() {
                s_key[0].push(p.clone());
                s_key[1].push(m.clone());
            }
            c_key[0].push(p);
            c_key[1].push(m);
        }

        let cell = tx.prepare_cached(UPSERT_CELLS).await.map_err(db_err)?;
        let get_services = tx.prepare_cached(GET_CELL_SERVICES).await.map_err(db_err)?;
        let cell_params: [&(dyn ToSql + Sync); 9] = [
            &c_key[0], &c_key[1], &c_num[0], &c_num[1], &c_num[2], &c_num[3], &c_num[4], &c_num[5],
            &c_num[6],
        ];
        // The cell upsert and the read of the cells' per-service counts are independent:
        // sent together, one round trip.
        let service_keys: [&(dyn ToSql + Sync); 2] = [&s_key[0], &s_key[1]];
        let (a, b) = tokio::join!(
            tx.execute(&cell, &cell_params),
            tx.query(&get_services, &service_keys),
        );
        let stored = b.map_err(db_err);
        first_error([a])?;
        let mut texts: std::collections::HashMap<(String, String), String> = stored?
            .iter()
            .map(|r| {
                Ok((
                    (
                        r.try_get::<_, String>(0).map_err(db_err)?,
                        r.try_get::<_, String>(1).map_err(db_err)?,
                    ),
                    r.try_get::<_, String>(2).map_err(db_err)?,
                ))
            })
            .collect::<StoreResult<_>>()?;
        let (mut put, mut emptied, mut count): (
            [Vec<String>; 3],
            [Vec<String>; 2],
            [Vec<String>; 2],
        ) = Default::default();
        let mut n_online: Vec<i64> = Vec::new();
        for (key, d) in &cells {
            if d.online_services.is_empty() {
                continue;
            }
            let (p, m) = (key.province_code.as_str().to_owned(), key.month.to_string());
            let text = texts.remove(&(p.clone(), m.clone()));
            let (text, services) =
                ServiceCounts::rewrite(text.as_deref(), &d.online_services, &format!("{p} {m}"))?;
            n_online.push(services as i64);
            count[0].push(p.clone());
            count[1].push(m.clone());
            if services == 0 {
                emptied[0].push(p);
                emptied[1].push(m);
            } else {
                put[0].push(p);
                put[1].push(m);
                put[2].push(text);
            }
        }
        let put_services = tx.prepare_cached(PUT_CELL_SERVICES).await.map_err(db_err)?;
        let drop_services = tx
            .prepare_cached(DROP_CELL_SERVICES)
            .await
            .map_err(db_err)?;
        let count_services = tx
            .prepare_cached(COUNT_CELL_SERVICES)
            .await
            .map_err(db_err)?;
        let drop_cells = tx.prepare_cached(DROP_EMPTY_CELLS).await.map_err(db_err)?;
        // Independent writes, one round trip; the empty cells go last (a cell emptied of
        // dossiers has no online service left either).
        let put_params: [&(dyn ToSql + Sync); 3] = [&put[0], &put[1], &put[2]];
        let drop_params: [&(dyn ToSql + Sync); 2] = [&emptied[0], &emptied[1]];
        let count_params: [&(dyn ToSql + Sync); 3] = [&count[0], &count[1], &n_online];
        let (a, b, c) = tokio::join!(
            tx.execute(&put_services, &put_params),
            tx.execute(&drop_services, &drop_params),
            tx.execute(&count_services, &count_params),
        );
        first_error([a, b, c])?;
        tx.execute(&drop_cells, &[&c_shrunk[0], &c_shrunk[1]])
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(counts)
    }

    async fn indicator_rows(&self, q: &IndicatorQuery) -> StoreResult<Vec<IndicatorRow>> {
        let client = self.client().await?;
        let stmt = client.prepare_cached(SELECT_ROWS).await.map_err(db_err)?;
        let rows = client
            .query(&stmt, &[&q.province, &q.from_month, &q.to_month])
            .await
            .map_err(db_err)?;
        rows.iter().map(row_from_db).collect()
    }

    async fn grouped_indicator_rows(
        &self,
        q: &IndicatorQuery,
        by: Grouping,
    ) -> StoreResult<Vec<GroupedRow>> {
        let unit = if by.nation() {
            "'VN'::text"
        } else {
            "province_code"
        };
        let period = match by.period() {
            PeriodKind::Month => "month",
            PeriodKind::Year => "substr(month, 1, 4)",
            PeriodKind::Quarter => {
                "substr(month, 1, 4) || '-Q' || ((substr(month, 6, 2)::int + 2) / 3)::text"
            }
        };
        let filter = "($1::text IS NULL OR province_code = $1) AND ($2::text IS NULL OR month >= $2) AND ($3::text IS NULL OR month <= $3)";
        // A province × month group is one cell, which keeps its services_online. Larger
        // groups count distinct services over their cells' per-service counts: a service
        // online in two provinces or months of the group counts once.
        let sql = format!(
            "SELECT * FROM (
               SELECT {unit} AS unit, {period} AS period, sum(received)::bigint, sum(online)::bigint,
                      sum(end_to_end)::bigint, sum(completed)::bigint, sum(completed_on_time)::bigint,
                      sum(online_payments)::bigint, sum(online_payment_vnd)::bigint,
                      sum(services_online)::bigint
                 FROM ps_cells WHERE {filter} GROUP BY 1, 2) g
              ORDER BY unit COLLATE \"C\", period COLLATE \"C\""
        );
        let services_sql =
            format!("SELECT province_code, month, services FROM ps_cell_services WHERE {filter}");
        let client = self.client().await?;
        let stmt = client.prepare_cached(&sql).await.map_err(db_err)?;
        let params: [&(dyn ToSql + Sync); 3] = [&q.province, &q.from_month, &q.to_month];
        let rows = client.query(&stmt, &params).await.map_err(db_err)?;
        let mut rows = rows
            .iter()
            .map(|r| {
                let n = |i: usize, what: &str| to_u64(r.try_get(i).map_err(db_err)?, what);
                Ok(GroupedRow {
                    unit: r.try_get(0).map_err(db_err)?,
                    period: r.try_get(1).map_err(db_err)?,
                    cell: cell_at(r)?,
                    services_online: n(9, "services online count")?,
                })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        if by != Grouping::ProvinceMonth {
            let stmt = client.prepare_cached(&services_sql).await.map_err(db_err)?;
            let cells = client
                .query(&stmt, &params)
                .await
                .map_err(db_err)?
                .iter()
                .map(|r| {
                    Ok((
                        r.try_get(0).map_err(db_err)?,
                        r.try_get(1).map_err(db_err)?,
                        r.try_get(2).map_err(db_err)?,
                    ))
                })
                .collect::<StoreResult<Vec<_>>>()?;
            by.set_services_online(&mut rows, cells)?;
        }
        Ok(rows)
    }

    async fn dossier_count(&self) -> StoreResult<u64> {
        let client = self.client().await?;
        let row = client
            // The V3 and V12 tables are counted too: they hold snapshots until the first
            // ingest moves them.
            .query_one(
                "SELECT (SELECT coalesce(sum(n), 0) FROM dossier_blocks)
                      + (SELECT count(*) FROM dossier_snapshots) + (SELECT count(*) FROM dossiers)",
                &[],
            )
            .await
            .map_err(db_err)?;
        to_u64(row.try_get(0).map_err(db_err)?, "dossier count")
    }
}
