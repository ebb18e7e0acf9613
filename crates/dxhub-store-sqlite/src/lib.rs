//! The embedded SQLite store: one database file (created on first use), WAL mode, a small
//! pool of connections used from blocking threads so async callers never wait on disk.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use dxhub_core::Date;
use dxhub_core::units::{LineageEntry, LineageKind, ORIGIN, Unit, UnitKey, UnitLevel};
use dxhub_reference::ReferenceData;
use dxhub_store::{
    Lineage, ReferenceLoad, Store, StoreError, StoreResult, UnitFilter, UnitStore, sort_lineage,
};
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

mod accounts;
mod dossiers;
mod reports;

mod migrations {
    refinery::embed_migrations!("migrations");
}

/// Stored instead of an open upper bound of validity.
const OPEN_END: &str = "9999-12-31";

/// How many connections the pool keeps at most; SQLite serialises writers anyway, and
/// readers in WAL mode do not block each other.
const MAX_IDLE: usize = 8;

/// The SQLite store.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    /// The block directory the last dossier batch left (see [`dossiers::Directory`]).
    directory: Mutex<Option<dossiers::Directory>>,
}

pub(crate) fn db_err(e: rusqlite::Error) -> StoreError {
    StoreError::Database(e.to_string())
}

/// How long a connection waits for another process's lock before answering "database is
/// locked".
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

fn open_connection(path: &Path) -> StoreResult<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    let failed = |e: rusqlite::Error| StoreError::Connect(format!("{}: {e}", path.display()));
    let conn = Connection::open_with_flags(path, flags).map_err(failed)?;
    // WAL lets readers run beside the one writer; NORMAL sync is durable across process
    // crashes (only an OS crash can lose the last transactions); the busy timeout makes
    // concurrent writers from several processes wait instead of failing. A new database
    // gets 8 KiB pages (an existing one keeps its size): a batch rewriting ~1 KiB dossier
    // blocks (`dossier_blocks`) scattered over the recent part of the table then reads and
    // writes 40 % fewer pages than with 4 KiB, for about a fifth more bytes; 16 KiB pages
    // wrote too many bytes.
    conn.busy_timeout(BUSY_TIMEOUT)
        .and_then(|()| conn.execute_batch("PRAGMA page_size = 8192;"))
        .map_err(failed)?;
    // Switching a new file to WAL needs the file to itself, and SQLite answers "database
    // is locked" at once (without the busy timeout) while another process opening the
    // same new file holds it; so the switch is tried again for as long as that timeout.
    let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
    loop {
        match conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(())) {
            Ok(()) => break,
            Err(e)
                if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy)
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
            Err(e) => return Err(failed(e)),
        }
    }
    conn.execute_batch(
        "PRAGMA synchronous = NORMAL;
         PRAGMA foreign_keys = ON;",
    )
    .map_err(failed)?;
    Ok(conn)
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and brings its schema up to date.
    /// The parent directory is created too.
    pub async fn open(path: impl Into<PathBuf>) -> StoreResult<SqliteStore> {
        let path = path.into();
        let store = SqliteStore {
            inner: Arc::new(Inner {
                path: path.clone(),
                idle: Mutex::new(Vec::new()),
                directory: Mutex::new(None),
            }),
        };
        store
            .with_conn(move |conn| {
                // All pending migrations and their rows in the history table commit in one
                // transaction: refinery's default commits each migration and its history
                // row separately, so a process killed between the two left a schema that
                // no later run could bring up to date ("table already exists").
                let run = |conn: &mut Connection| {
                    migrations::migrations::runner().set_grouped(true).run(conn)
                };
                // Another process opening the same new file may migrate it first; this
                // run's transaction then fails as a whole, and running again finds the
                // schema up to date.
                let report = run(conn).or_else(|first| {
                    tracing::debug!(error = %first, "SQLite migration failed; trying once more");
                    run(conn)
                });
                report
                    .map(|report| {
                        for m in report.applied_migrations() {
                            tracing::info!(migration = %m, "applied SQLite migration");
                        }
                    })
                    .map_err(|e| StoreError::Migration(e.to_string()))
            })
            .await?;
        Ok(store)
    }

    /// Opens the store named by a `sqlite://` URL: `sqlite:///abs/path.db`,
    /// `sqlite://relative/path.db` or `sqlite::memory:` is not supported (a store is a file).
    pub fn path_from_url(url: &str) -> Result<PathBuf, String> {
        let rest = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .ok_or_else(|| format!("'{url}' is not a sqlite: URL"))?;
        let rest = rest.split('?').next().unwrap_or(rest);
        if rest.is_empty() {
            return Err(format!("'{url}' names no database file"));
        }
        Ok(PathBuf::from(rest))
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Runs `f` with a pooled connection on a blocking thread.
    pub(crate) async fn with_conn<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> StoreResult<T> + Send + 'static,
    {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let pooled = inner.idle.lock().map(|mut v| v.pop()).unwrap_or(None);
            let mut conn = match pooled {
                Some(c) => c,
                None => open_connection(&inner.path)?,
            };
            let out = f(&mut conn);
            if let Ok(mut idle) = inner.idle.lock()
                && idle.len() < MAX_IDLE
            {
                idle.push(conn);
            }
            out
        })
        .await
        .map_err(|e| StoreError::Database(format!("store task failed: {e}")))?
    }
}

fn date_text(d: Option<Date>, open: &str) -> String {
    d.map(|d| d.to_string()).unwrap_or_else(|| open.to_owned())
}

fn from_text(d: &str) -> Option<Date> {
    if d == OPEN_END || d == ORIGIN.to_string() {
        return None;
    }
    d.parse().ok()
}

const UNIT_COLUMNS: &str = "u.level, u.code, u.valid_from, u.valid_to, u.name, u.short_name, u.kind, u.parent_code, u.province_code";

fn unit_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Unit> {
    let level: String = row.get(0)?;
    let level = level.parse::<UnitLevel>().map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
    })?;
    let valid_from: String = row.get(2)?;
    let valid_to: String = row.get(3)?;
    Ok(Unit {
        level,
        code: row.get(1)?,
        valid_from: from_text(&valid_from),
        valid_to: from_text(&valid_to),
        name: row.get(4)?,
        short_name: row.get(5)?,
        kind: row.get(6)?,
        parent: row.get(7)?,
        province: row.get(8)?,
    })
}

fn load(conn: &mut Connection, data: &ReferenceData) -> StoreResult<ReferenceLoad> {
    // IMMEDIATE takes the write lock up front, so two processes starting at once cannot both
    // see "not loaded" and load twice.
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(db_err)?;
    let done: Option<String> = tx
        .query_row(
            "SELECT version FROM reference_loads WHERE version = ?1",
            [&data.version],
            |r| r.get(0),
        )
        .optional()
        .map_err(db_err)?;
    if done.is_some() {
        return Ok(ReferenceLoad::AlreadyLoaded);
    }
    let mut ids: HashMap<UnitKey, i64> = HashMap::with_capacity(data.units.len());
    {
        let mut upsert = tx
            .prepare(
                "INSERT INTO units (level, code, valid_from, valid_to, name, short_name, kind,
                                    parent_code, province_code)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                 ON CONFLICT (level, code, valid_from) DO UPDATE SET
                     valid_to = excluded.valid_to, name = excluded.name,
                     short_name = excluded.short_name, kind = excluded.kind,
                     parent_code = excluded.parent_code, province_code = excluded.province_code
                 RETURNING id",
            )
            .map_err(db_err)?;
        let origin = ORIGIN.to_string();
        for u in &data.units {
            let id: i64 = upsert
                .query_row(
                    params![
                        u.level.as_str(),
                        u.code,
                        date_text(u.valid_from, &origin),
                        date_text(u.valid_to, OPEN_END),
                        u.name,
                        u.short_name,
                        u.kind,
                        u.parent,
                        u.province,
                    ],
                    |r| r.get(0),
                )
                .map_err(db_err)?;
            ids.insert(u.key(), id);
        }
        let mut edge = tx
            .prepare(
                "INSERT INTO unit_lineage (from_id, to_id, kind) VALUES (?1, ?2, ?3)
                 ON CONFLICT (from_id, to_id) DO UPDATE SET kind = excluded.kind",
            )
            .map_err(db_err)?;
        for e in &data.lineage {
            let id = |k: &UnitKey| {
                ids.get(k).copied().ok_or_else(|| {
                    StoreError::Corrupt(format!(
                        "lineage names unknown unit {} {}",
                        k.level, k.code
                    ))
                })
            };
            edge.execute(params![id(&e.from)?, id(&e.to)?, e.kind.as_str()])
                .map_err(db_err)?;
        }
    }
    tx.execute(
        "INSERT INTO reference_loads (version, loaded_at, units, edges) VALUES (?1, ?2, ?3, ?4)",
        params![
            data.version,
            jiff::Timestamp::now().to_string(),
            data.units.len() as i64,
            data.lineage.len() as i64
        ],
    )
    .map_err(db_err)?;
    tx.commit().map_err(db_err)?;
    Ok(ReferenceLoad::Loaded {
        units: data.units.len(),
        edges: data.lineage.len(),
    })
}

fn walk(conn: &Connection, key: &UnitKey, forward: bool) -> StoreResult<Vec<LineageEntry>> {
    let (start, next) = if forward {
        ("from_id", "to_id")
    } else {
        ("to_id", "from_id")
    };
    // The recursion is bounded so that a cycle written by hand into the database cannot
    // loop forever; real reorganisations are a handful of steps deep.
    let sql = format!(
        "WITH RECURSIVE walk(id, full, steps) AS (
             SELECT l.{next}, l.kind = 'full', 1
               FROM unit_lineage l JOIN units s ON s.id = l.{start}
              WHERE s.level = ?1 AND s.code = ?2 AND s.valid_from = ?3
             UNION
             SELECT l.{next}, walk.full AND l.kind = 'full', walk.steps + 1
               FROM unit_lineage l JOIN walk ON l.{start} = walk.id
              WHERE walk.steps < 32
         )
         SELECT {UNIT_COLUMNS}, MAX(walk.full), MIN(walk.steps)
           FROM walk JOIN units u ON u.id = walk.id
          GROUP BY u.id"
    );
    let mut stmt = conn.prepare_cached(&sql).map_err(db_err)?;
    let rows = stmt
        .query_map(
            params![key.level.as_str(), key.code, key.valid_from.to_string()],
            |row| {
                let full: bool = row.get(9)?;
                let steps: u32 = row.get(10)?;
                Ok(LineageEntry {
                    unit: unit_from_row(row)?,
                    kind: if full {
                        LineageKind::Full
                    } else {
                        LineageKind::Partial
                    },
                    steps,
                })
            },
        )
        .map_err(db_err)?;
    let mut out = rows.collect::<Result<Vec<_>, _>>().map_err(db_err)?;
    sort_lineage(&mut out);
    Ok(out)
}

#[async_trait]
impl UnitStore for SqliteStore {
    async fn reference_version(&self) -> StoreResult<Option<String>> {
        self.with_conn(|c| {
            c.query_row(
                "SELECT version FROM reference_loads ORDER BY loaded_at DESC LIMIT 1",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(db_err)
        })
        .await
    }

    async fn load_reference(&self, data: &ReferenceData) -> StoreResult<ReferenceLoad> {
        let data = data.clone();
        self.with_conn(move |c| load(c, &data)).await
    }

    async fn units(&self, filter: &UnitFilter) -> StoreResult<Vec<Unit>> {
        let filter = filter.clone();
        self.with_conn(move |c| {
            let sql = format!(
                "SELECT {UNIT_COLUMNS} FROM units u
                  WHERE u.valid_from <= ?1 AND ?1 <= u.valid_to
                    AND (?2 IS NULL OR u.level = ?2)
                    AND (?3 IS NULL OR u.parent_code = ?3 OR (u.province_code = ?3 AND u.level <> 'province'))
                  ORDER BY CASE u.level WHEN 'province' THEN 0 WHEN 'district' THEN 1
                                        WHEN 'commune' THEN 2 ELSE 3 END, u.code"
            );
            let mut stmt = c.prepare_cached(&sql).map_err(db_err)?;
            let rows = stmt
                .query_map(
                    params![
                        filter.at.to_string(),
                        filter.level.map(|l| l.as_str()),
                        filter.parent
                    ],
                    unit_from_row,
                )
                .map_err(db_err)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(db_err)
        })
        .await
    }

    async fn unit_at(
        &self,
        code: &str,
        level: Option<UnitLevel>,
        at: Date,
    ) -> StoreResult<Option<Unit>> {
        let code = code.to_owned();
        self.with_conn(move |c| {
            let sql = format!(
                "SELECT {UNIT_COLUMNS} FROM units u
                  WHERE u.code = ?1 AND (?2 IS NULL OR u.level = ?2)
                    AND u.valid_from <= ?3 AND ?3 <= u.valid_to
                  ORDER BY u.level LIMIT 1"
            );
            c.prepare_cached(&sql)
                .map_err(db_err)?
                .query_row(
                    params![code, level.map(|l| l.as_str()), at.to_string()],
                    unit_from_row,
                )
                .optional()
                .map_err(db_err)
        })
        .await
    }

    async fn unit_versions(&self, code: &str, level: Option<UnitLevel>) -> StoreResult<Vec<Unit>> {
        let code = code.to_owned();
        self.with_conn(move |c| {
            let sql = format!(
                "SELECT {UNIT_COLUMNS} FROM units u
                  WHERE u.code = ?1 AND (?2 IS NULL OR u.level = ?2)
                  ORDER BY u.valid_from, u.level"
            );
            let mut stmt = c.prepare_cached(&sql).map_err(db_err)?;
            let rows = stmt
                .query_map(params![code, level.map(|l| l.as_str())], unit_from_row)
                .map_err(db_err)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(db_err)
        })
        .await
    }

    async fn lineage(&self, key: &UnitKey) -> StoreResult<Lineage> {
        let key = key.clone();
        self.with_conn(move |c| {
            Ok(Lineage {
                predecessors: walk(c, &key, false)?,
                successors: walk(c, &key, true)?,
            })
        })
        .await
    }
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn ping(&self) -> StoreResult<()> {
        self.with_conn(|c| c.query_row("SELECT 1", [], |_| Ok(())).map_err(db_err))
            .await
    }
}

/// A fresh directory for a test's database file, named after the test and removed when
/// dropped.
#[cfg(test)]
pub(crate) struct TestDir(PathBuf);

#[cfg(test)]
impl TestDir {
    pub(crate) fn new(what: &str) -> TestDir {
        let dir = std::env::temp_dir().join(format!(
            "dxhub-{what}-{}-{}",
            std::process::id(),
            jiff::Timestamp::now().as_nanosecond()
        ));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        TestDir(dir)
    }

    /// The database file in it.
    pub(crate) fn db(&self) -> PathBuf {
        self.0.join("t.db")
    }
}

#[cfg(test)]
impl Drop for TestDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Several stores opening one new file at once (a server and an import started
    /// together): one creates the schema and the others find it up to date.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn stores_opening_one_new_file_at_once_all_open_it() {
        for round in 0..5 {
            let dir = TestDir::new(&format!("open-together-{round}"));
            let tasks: Vec<_> = (0..4)
                .map(|_| tokio::spawn(SqliteStore::open(dir.db())))
                .collect();
            for (i, task) in tasks.into_iter().enumerate() {
                if let Err(e) = task.await.expect("the task ran") {
                    panic!("round {round}, store {i}: {e}");
                }
            }
        }
    }
}
