//! Dossier snapshots and the public-service indicator cells in SQLite: each batch is one
//! IMMEDIATE transaction that reads the stored snapshots it touches, writes the newer ones
//! and applies the net indicator change, so the cells never drift from the snapshots.

use std::collections::HashMap;

use async_trait::async_trait;
use dxhub_ingest::{
    Channel, CommuneCode, DossierSnapshot, IndicatorRow, ProvinceCode, ShortStr, Status,
};
use dxhub_store::{
    DossierStore, GroupedRow, Grouping, IndicatorQuery, IngestCounts, PeriodKind, StoreError,
    StoreResult, fold_batch,
};
use rusqlite::{OptionalExtension, TransactionBehavior, params};

use crate::{SqliteStore, db_err};

fn ts_text(t: jiff::Timestamp) -> String {
    t.to_string()
}

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

#[async_trait]
impl DossierStore for SqliteStore {
    async fn ingest_dossiers(&self, batch: Vec<DossierSnapshot>) -> StoreResult<IngestCounts> {
        if batch.is_empty() {
            return Ok(IngestCounts::default());
        }
        self.with_conn(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db_err)?;
            let mut stored: HashMap<(String, String), DossierSnapshot> = HashMap::new();
            {
                let mut get = tx
                    .prepare_cached(&format!("SELECT {SNAPSHOT_COLUMNS} FROM dossiers WHERE source = ?1 AND dossier_id = ?2"))
                    .map_err(db_err)?;
                for s in &batch {
                    let key = (s.source.as_str().to_owned(), s.dossier_id.as_str().to_owned());
                    if stored.contains_key(&key) {
                        continue;
                    }
                    if let Some(old) = get.query_row(params![key.0, key.1], snapshot_from_row).optional().map_err(db_err)? {
                        stored.insert(key, old);
                    }
                }
            }
            let (counts, finals, delta) = fold_batch(batch, &stored);
            {
                let mut put = tx
                    .prepare_cached(&format!(
                        "INSERT INTO dossiers ({SNAPSHOT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
                         ON CONFLICT (source, dossier_id) DO UPDATE SET
                           version = excluded.version, service_code = excluded.service_code,
                           province_code = excluded.province_code, commune_code = excluded.commune_code,
                           channel = excluded.channel, end_to_end = excluded.end_to_end, status = excluded.status,
                           received_at = excluded.received_at, due_at = excluded.due_at,
                           completed_at = excluded.completed_at, fee_vnd = excluded.fee_vnd,
                           paid_online = excluded.paid_online"
                    ))
                    .map_err(db_err)?;
                for s in &finals {
                    put.execute(params![
                        s.source.as_str(),
                        s.dossier_id.as_str(),
                        to_i64(s.version, "version")?,
                        s.service_code.as_str(),
                        s.province_code.as_str(),
                        s.commune_code.as_ref().map(|c| c.as_str().to_owned()),
                        s.channel.as_str(),
                        s.end_to_end,
                        s.status.as_str(),
                        ts_text(s.received_at),
                        s.due_at.map(ts_text),
                        s.completed_at.map(ts_text),
                        to_i64(s.fee_vnd, "fee_vnd")?,
                        s.paid_online,
                    ])
                    .map_err(db_err)?;
                }
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
                // Writes the new count, not the change: SQLite checks `CHECK (online > 0)` on
                // the proposed row before ON CONFLICT, so a negative change (one of several
                // online dossiers of a service leaving) could not be proposed.
                let mut service = tx
                    .prepare_cached(
                        "INSERT INTO ps_services (province_code, month, service_code, online) VALUES (?1, ?2, ?3, ?4)
                         ON CONFLICT (province_code, month, service_code) DO UPDATE SET online = excluded.online",
                    )
                    .map_err(db_err)?;
                let mut drop_service = tx
                    .prepare_cached("DELETE FROM ps_services WHERE province_code = ?1 AND month = ?2 AND service_code = ?3")
                    .map_err(db_err)?;
                let mut current = tx
                    .prepare_cached("SELECT online FROM ps_services WHERE province_code = ?1 AND month = ?2 AND service_code = ?3")
                    .map_err(db_err)?;
                for (key, d) in delta.cells() {
                    let (p, m) = (key.province_code.as_str().to_owned(), key.month.to_string());
                    let vnd = i64::try_from(d.online_payment_vnd)
                        .map_err(|_| StoreError::Database("online_payment_vnd change out of range".into()))?;
                    cell.execute(params![p, m, d.received, d.online, d.end_to_end, d.completed, d.completed_on_time, d.online_payments, vnd])
                        .map_err(db_err)?;
                    for (svc, n) in &d.online_services {
                        let now: i64 = current
                            .query_row(params![p, m, svc.as_str()], |r| r.get(0))
                            .optional()
                            .map_err(db_err)?
                            .unwrap_or(0);
                        if now + n > 0 {
                            service.execute(params![p, m, svc.as_str(), now + n]).map_err(db_err)?;
                        } else if now + n == 0 {
                            drop_service.execute(params![p, m, svc.as_str()]).map_err(db_err)?;
                        } else {
                            return Err(StoreError::Corrupt(format!("online count of {svc} in {p} {m} would fall below zero")));
                        }
                    }
                }
                tx.execute("DELETE FROM ps_cells WHERE received = 0", []).map_err(db_err)?;
            }
            tx.commit().map_err(db_err)?;
            Ok(counts)
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
                            (SELECT count(*) FROM ps_services s
                              WHERE s.province_code = c.province_code AND s.month = c.month)
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
        // services_online is a distinct count over the group's ps_services rows: a service
        // online in two provinces or months of the group counts once.
        let sql = format!(
            "WITH g AS (
               SELECT {unit} AS unit, {period} AS period, sum(received) AS received, sum(online) AS online,
                      sum(end_to_end) AS end_to_end, sum(completed) AS completed,
                      sum(completed_on_time) AS completed_on_time, sum(online_payments) AS online_payments,
                      sum(online_payment_vnd) AS online_payment_vnd
                 FROM ps_cells WHERE {filter} GROUP BY 1, 2),
             s AS (
               SELECT {unit} AS unit, {period} AS period, count(DISTINCT service_code) AS n
                 FROM ps_services WHERE {filter} GROUP BY 1, 2)
             SELECT g.unit, g.period, g.received, g.online, g.end_to_end, g.completed, g.completed_on_time,
                    g.online_payments, g.online_payment_vnd, coalesce(s.n, 0)
               FROM g LEFT JOIN s ON s.unit = g.unit AND s.period = g.period
              ORDER BY g.unit, g.period"
        );
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
            rows.collect::<Result<_, _>>().map_err(db_err)
        })
        .await
    }

    async fn dossier_count(&self) -> StoreResult<u64> {
        self.with_conn(|c| {
            c.query_row("SELECT count(*) FROM dossiers", [], |r| r.get::<_, i64>(0))
                .map(|n| n as u64)
                .map_err(db_err)
        })
        .await
    }
}
