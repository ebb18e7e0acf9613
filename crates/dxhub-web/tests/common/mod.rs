//! What the web tests share: a SQLite store in a temporary directory with the shipped
//! reference data loaded.

use std::sync::Arc;

use dxhub_store::Store;

/// A fresh store with the reference data; keep the directory alive as long as the store.
pub async fn store_with_reference() -> (Arc<dyn Store>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = dxhub_db::open(&dxhub_db::sqlite_url_in(dir.path()))
        .await
        .unwrap();
    store
        .load_reference(&dxhub_reference::ReferenceData::embedded().unwrap())
        .await
        .unwrap();
    (store, dir)
}
