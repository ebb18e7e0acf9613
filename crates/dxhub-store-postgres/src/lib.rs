//! The PostgreSQL store: for servers, where several dxhub processes share one database.
//! Scaling out is PostgreSQL's own business (replicas, partitioning).

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use dxhub_core::Date;
use dxhub_core::units::{LineageEntry, LineageKind, ORIGIN, Unit, UnitKey, UnitLevel};
use dxhub_reference::ReferenceData;
use dxhub_store::{
    Lineage, ReferenceLoad, Store, StoreError, StoreResult, UnitFilter, UnitStore, sort_lineage,
};
use tokio_postgres::{NoTls, Row};

mod accounts;
mod dossiers;
mod reports;

mod migrations {
    refinery::embed_migrations!("migrations");
}

/// Stored instead of an open upper bound of validity.
const OPEN_END: Date = jiff::civil::date(9999, 12, 31);

/// Advisory-lock keys (arbitrary constants) that serialise schema migration and reference
/// loading across every dxhub process sharing the database.
const LOCK_MIGRATE: i64 = 0x6478_6875_6201;
const LOCK_REFERENCE: i64 = 0x6478_6875_6202;

/// The PostgreSQL store.
#[derive(Clone)]
pub struct PostgresStore {
    pool: Pool,
}

fn db_err(e: tokio_postgres::Error) -> StoreError {
    // The driver's Display for server errors is terse ("db error"); the source carries
    // the server's message.
    match e.as_db_error() {
        Some(db) => StoreError::Database(format!("{}: {}", db.code().code(), db.message())),
        None => StoreError::Database(e.to_string()),
    }
}

fn pool_err(e: deadpool_postgres::PoolError) -> StoreError {
    match e {
        deadpool_postgres::PoolError::Backend(e) => db_err(e),
        other => StoreError::Connect(other.to_string()),
    }
}

impl PostgresStore {
    /// Connects to the database a `postgres://` URL names and brings its schema up to date.
    pub async fn open(url: &str) -> StoreResult<PostgresStore> {
        let config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| StoreError::Connect(format!("invalid PostgreSQL URL: {e}")))?;
        let (mut client, conn) = config
            .connect(NoTls)
            .await
            .map_err(|e| StoreError::Connect(e.to_string()))?;
        let driver = tokio::spawn(conn);
        client
            .execute("SELECT pg_advisory_lock($1)", &[&LOCK_MIGRATE])
            .await
            .map_err(db_err)?;
        // One transaction for all pending migrations and their history rows (see the
        // SQLite store: refinery's default commits them separately).
        let report = migrations::migrations::runner()
            .set_grouped(true)
            .run_async(&mut client)
            .await
            .map_err(|e| StoreError::Migration(e.to_string()));
        let _ = client
            .execute("SELECT pg_advisory_unlock($1)", &[&LOCK_MIGRATE])
            .await;
        for m in report?.applied_migrations() {
            tracing::info!(migration = %m, "applied PostgreSQL migration");
        }
        drop(client);
        let _ = driver.await;

        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(16)
            .build()
            .map_err(|e| StoreError::Connect(e.to_string()))?;
        Ok(PostgresStore { pool })
    }

    async fn client(&self) -> StoreResult<deadpool_postgres::Object> {
        self.pool.get().await.map_err(pool_err)
    }
}

const UNIT_COLUMNS: &str = "u.level, u.code, u.valid_from, u.valid_to, u.name, u.short_name, u.kind, u.parent_code, u.province_code";

fn open_date(d: Date) -> Option<Date> {
    (d != ORIGIN && d != OPEN_END).then_some(d)
}

fn unit_from_row(row: &Row) -> StoreResult<Unit> {
    let level: String = row.try_get(0).map_err(db_err)?;
    let level = level
        .parse::<UnitLevel>()
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let get_date = |i| row.try_get::<_, Date>(i).map_err(db_err);
    Ok(Unit {
        level,
        code: row.try_get(1).map_err(db_err)?,
        valid_from: open_date(get_date(2)?),
        valid_to: open_date(get_date(3)?),
        name: row.try_get(4).map_err(db_err)?,
        short_name: row.try_get(5).map_err(db_err)?,
        kind: row.try_get(6).map_err(db_err)?,
        parent: row.try_get(7).map_err(db_err)?,
        province: row.try_get(8).map_err(db_err)?,
    })
}

impl PostgresStore {
    async fn walk(&self, key: &UnitKey, forward: bool) -> StoreResult<Vec<LineageEntry>> {
        let (start, next) = if forward {
            ("from_id", "to_id")
        } else {
            ("to_id", "from_id")
        };
        // Bounded recursion: a cycle written by hand into the database cannot loop forever.
        let sql = format!(
            "WITH RECURSIVE walk(id, full_chain, steps) AS (
                 SELECT l.{next}, l.kind = 'full', 1
                   FROM unit_lineage l JOIN units s ON s.id = l.{start}
                  WHERE s.level = $1 AND s.code = $2 AND s.valid_from = $3
                 UNION
                 SELECT l.{next}, walk.full_chain AND l.kind = 'full', walk.steps + 1
                   FROM unit_lineage l JOIN walk ON l.{start} = walk.id
                  WHERE walk.steps < 32
             )
             SELECT {UNIT_COLUMNS}, bool_or(walk.full_chain), min(walk.steps)
               FROM walk JOIN units u ON u.id = walk.id
              GROUP BY u.id"
        );
        let client = self.client().await?;
        let rows = client
            .query(&sql, &[&key.level.as_str(), &key.code, &key.valid_from])
            .await
            .map_err(db_err)?;
        let mut out = rows
            .iter()
            .map(|row| {
                let full: bool = row.try_get(9).map_err(db_err)?;
                let steps: i32 = row.try_get(10).map_err(db_err)?;
                Ok(LineageEntry {
                    unit: unit_from_row(row)?,
                    kind: if full {
                        LineageKind::Full
                    } else {
                        LineageKind::Partial
                    },
                    steps: u32::try_from(steps).unwrap_or(0),
                })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        sort_lineage(&mut out);
        Ok(out)
    }
}

#[async_trait]
impl UnitStore for PostgresStore {
    async fn reference_version(&self) -> StoreResult<Option<String>> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT version FROM reference_loads ORDER BY loaded_at DESC LIMIT 1",
                &[],
            )
            .await
            .map_err(db_err)?;
        row.map(|r| r.try_get(0).map_err(db_err)).transpose()
    }

    async fn load_reference(&self, data: &ReferenceData) -> StoreResult<ReferenceLoad> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_err)?;
        // One loader at a time across all processes; the others then see it loaded.
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_REFERENCE])
            .await
            .map_err(db_err)?;
        let done = tx
            .query_opt(
                "SELECT 1 FROM reference_loads WHERE version = $1",
                &[&data.version],
            )
            .await
            .map_err(db_err)?;
        if done.is_some() {
            return Ok(ReferenceLoad::AlreadyLoaded);
        }
        // Column arrays sent in one statement: one round trip for ~14,000 units.
        let n = data.units.len();
        let mut cols: [Vec<Option<String>>; 7] = Default::default();
        let mut from = Vec::with_capacity(n);
        let mut to = Vec::with_capacity(n);
        for u in &data.units {
            cols[0].push(Some(u.level.as_str().to_owned()));
            cols[1].push(Some(u.code.clone()));
            cols[2].push(Some(u.name.clone()));
            cols[3].push(u.short_name.clone());
            cols[4].push(Some(u.kind.clone()));
            cols[5].push(u.parent.clone());
            cols[6].push(u.province.clone());
            from.push(u.valid_from.unwrap_or(ORIGIN));
            to.push(u.valid_to.unwrap_or(OPEN_END));
        }
        tx.execute(
            "INSERT INTO units (level, code, name, short_name, kind, parent_code, province_code,
                                valid_from, valid_to)
             SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                                  $6::text[], $7::text[], $8::date[], $9::date[])
             ON CONFLICT (level, code, valid_from) DO UPDATE SET
                 valid_to = excluded.valid_to, name = excluded.name,
                 short_name = excluded.short_name, kind = excluded.kind,
                 parent_code = excluded.parent_code, province_code = excluded.province_code",
            &[
                &cols[0], &cols[1], &cols[2], &cols[3], &cols[4], &cols[5], &cols[6], &from, &to,
            ],
        )
        .await
        .map_err(db_err)?;

        let m = data.lineage.len();
        let mut e_cols: [Vec<String>; 5] = Default::default();
        let mut e_from = Vec::with_capacity(m);
        let mut e_to = Vec::with_capacity(m);
        for e in &data.lineage {
            e_cols[0].push(e.from.level.as_str().to_owned());
            e_cols[1].push(e.from.code.clone());
            e_cols[2].push(e.to.level.as_str().to_owned());
            e_cols[3].push(e.to.code.clone());
            e_cols[4].push(e.kind.as_str().to_owned());
            e_from.push(e.from.valid_from);
            e_to.push(e.to.valid_from);
        }
        let written = tx
            .execute(
                "INSERT INTO unit_lineage (from_id, to_id, kind)
                 SELECT f.id, t.id, e.kind
                   FROM unnest($1::text[], $2::text[], $3::date[], $4::text[], $5::text[],
                               $6::date[], $7::text[])
                        AS e(fl, fc, ff, tl, tc, tf, kind)
                   JOIN units f ON f.level = e.fl AND f.code = e.fc AND f.valid_from = e.ff
                   JOIN units t ON t.level = e.tl AND t.code = e.tc AND t.valid_from = e.tf
                 ON CONFLICT (from_id, to_id) DO UPDATE SET kind = excluded.kind",
                &[
                    &e_cols[0], &e_cols[1], &e_from, &e_cols[2], &e_cols[3], &e_to, &e_cols[4],
                ],
            )
            .await
            .map_err(db_err)?;
        if written as usize != m {
            return Err(StoreError::Corrupt(format!(
                "{m} lineage edges given but {written} matched known units"
            )));
        }
        tx.execute(
            "INSERT INTO reference_loads (version, units, edges) VALUES ($1, $2, $3)",
            &[&data.version, &(n as i32), &(m as i32)],
        )
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(ReferenceLoad::Loaded { units: n, edges: m })
    }

    async fn units(&self, filter: &UnitFilter) -> StoreResult<Vec<Unit>> {
        let sql = format!(
            "SELECT {UNIT_COLUMNS} FROM units u
              WHERE u.valid_from <= $1 AND $1 <= u.valid_to
                AND ($2::text IS NULL OR u.level = $2)
                AND ($3::text IS NULL OR u.parent_code = $3
                     OR (u.province_code = $3 AND u.level <> 'province'))
              ORDER BY CASE u.level WHEN 'province' THEN 0 WHEN 'district' THEN 1
                                    WHEN 'commune' THEN 2 ELSE 3 END, u.code"
        );
        let client = self.client().await?;
        let level = filter.level.map(|l| l.as_str());
        let rows = client
            .query(&sql, &[&filter.at, &level, &filter.parent])
            .await
            .map_err(db_err)?;
        rows.iter().map(unit_from_row).collect()
    }

    async fn unit_at(
        &self,
        code: &str,
        level: Option<UnitLevel>,
        at: Date,
    ) -> StoreResult<Option<Unit>> {
        let sql = format!(
            "SELECT {UNIT_COLUMNS} FROM units u
              WHERE u.code = $1 AND ($2::text IS NULL OR u.level = $2)
                AND u.valid_from <= $3 AND $3 <= u.valid_to
              ORDER BY u.level LIMIT 1"
        );
        let client = self.client().await?;
        let level = level.map(|l| l.as_str());
        let row = client
            .query_opt(&sql, &[&code, &level, &at])
            .await
            .map_err(db_err)?;
        row.as_ref().map(unit_from_row).transpose()
    }

    async fn unit_versions(&self, code: &str, level: Option<UnitLevel>) -> StoreResult<Vec<Unit>> {
        let sql = format!(
            "SELECT {UNIT_COLUMNS} FROM units u
              WHERE u.code = $1 AND ($2::text IS NULL OR u.level = $2)
              ORDER BY u.valid_from, u.level"
        );
        let client = self.client().await?;
        let level = level.map(|l| l.as_str());
        let rows = client.query(&sql, &[&code, &level]).await.map_err(db_err)?;
        rows.iter().map(unit_from_row).collect()
    }

    async fn lineage(&self, key: &UnitKey) -> StoreResult<Lineage> {
        Ok(Lineage {
            predecessors: self.walk(key, false).await?,
            successors: self.walk(key, true).await?,
        })
    }
}

#[async_trait]
impl Store for PostgresStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn ping(&self) -> StoreResult<()> {
        let client = self.client().await?;
        client.execute("SELECT 1", &[]).await.map_err(db_err)?;
        Ok(())
    }
}
