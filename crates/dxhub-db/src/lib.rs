//! Opens the store a database URL names: `sqlite:///path/dxhub.db` (the embedded default)
//! or `postgres://user@host/db`. The only crate that knows every backend.

use std::path::Path;
use std::sync::Arc;

pub use dxhub_store::{Store, StoreError};
use dxhub_store_postgres::PostgresStore;
use dxhub_store_sqlite::SqliteStore;

/// A database URL that names no supported backend.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// Neither `sqlite:` nor `postgres:`/`postgresql:`.
    #[error(
        "unsupported database URL '{0}': use sqlite:///path/to/dxhub.db or postgres://user@host/dbname"
    )]
    Scheme(String),
    /// A `sqlite:` URL without a file.
    #[error("{0}")]
    SqlitePath(String),
    /// The backend could not open the database.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Opens (and migrates) the store named by `url`.
pub async fn open(url: &str) -> Result<Arc<dyn Store>, OpenError> {
    if url.starts_with("sqlite:") {
        let path = SqliteStore::path_from_url(url).map_err(OpenError::SqlitePath)?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::Connect(format!("cannot create directory {}: {e}", dir.display()))
            })?;
        }
        Ok(Arc::new(SqliteStore::open(path).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PostgresStore::open(url).await?))
    } else {
        Err(OpenError::Scheme(redact(url)))
    }
}

/// The URL of the SQLite file inside a data directory.
pub fn sqlite_url_in(data_dir: &Path) -> String {
    format!("sqlite://{}", data_dir.join("dxhub.db").display())
}

/// The URL with any password replaced, for logs and error messages.
pub fn redact(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://")
        && let Some((userinfo, host)) = rest.split_once('@')
        && let Some((user, _)) = userinfo.split_once(':')
    {
        return format!("{scheme}://{user}:***@{host}");
    }
    url.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords() {
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact("sqlite:///tmp/x.db"), "sqlite:///tmp/x.db");
    }

    #[test]
    fn sqlite_urls() {
        assert_eq!(
            SqliteStore::path_from_url("sqlite:///tmp/a.db").unwrap(),
            Path::new("/tmp/a.db")
        );
        assert_eq!(
            SqliteStore::path_from_url("sqlite://rel/a.db").unwrap(),
            Path::new("rel/a.db")
        );
        assert!(SqliteStore::path_from_url("sqlite://").is_err());
    }
}
