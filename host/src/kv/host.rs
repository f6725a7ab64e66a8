//! `fermyon:spin/key-value@2.0.0` over one [`SqliteKv`], and the handles and
//! access checks that `super::wasi` shares.
//!
//! Both interfaces share the same rows: a store label is the `store` column.
//! Opening a label the component's `key_value_stores` does not list returns
//! `access-denied`, as Spin does.

use std::collections::HashSet;
use std::sync::Arc;

use wasmtime::component::{HasData, Resource, ResourceTable};

use super::sqlite::{KvConnection, KvError, SqliteKv};
use crate::bindings::fermyon::spin::key_value as spin_kv;
use crate::log;

/// An open store (Spin) or bucket (wasi:keyvalue): the label it was opened with.
pub struct StoreHandle {
    label: String,
}

/// A compare-and-swap handle: the value the key held when the handle was made.
pub struct CasHandle {
    pub(super) label: String,
    pub(super) key: String,
    pub(super) snapshot: Option<Vec<u8>>,
}

/// The key-value database and the labels one component may open.
#[derive(Clone)]
pub struct KvAccess {
    /// `None` for a component that lists no store, which can open nothing.
    database: Option<Arc<SqliteKv>>,
    allowed_labels: Arc<HashSet<String>>,
}

impl KvAccess {
    /// Grants access to `allowed_labels` in `database`.
    pub fn new(database: Arc<SqliteKv>, allowed_labels: HashSet<String>) -> Self {
        Self {
            database: Some(database),
            allowed_labels: Arc::new(allowed_labels),
        }
    }

    /// Grants access to no store.
    pub fn none() -> Self {
        Self {
            database: None,
            allowed_labels: Arc::new(HashSet::new()),
        }
    }

    /// Runs a short SQLite call (one key): in the calling thread when the
    /// connection is free, and otherwise on tokio's blocking pool, so that a
    /// worker thread never waits for the mutex.
    ///
    /// Running in place saves the hand-off to the blocking pool and back.
    /// NOTE: a call in place still blocks its worker thread while SQLite
    /// works, and that can be long: when a commit runs a WAL checkpoint
    /// (every 1,000 pages by default), or when another process holds the
    /// database's write lock (up to `BUSY_TIMEOUT`).
    pub(super) async fn run<T: Send + 'static>(
        &self,
        operation: &'static str,
        call: impl FnOnce(&mut KvConnection<'_>) -> Result<T, KvError> + Send + 'static,
    ) -> Result<T, String> {
        let database = self.database()?;
        if let Some(mut connection) = database.try_lock() {
            return report(operation, Ok(call(&mut connection)));
        }
        self.run_blocking(operation, call).await
    }

    /// Runs a SQLite call on tokio's blocking pool: for calls whose cost
    /// grows with the store or the request (key lists and batches), and for
    /// short calls that found the connection busy.
    pub(super) async fn run_blocking<T: Send + 'static>(
        &self,
        operation: &'static str,
        call: impl FnOnce(&mut KvConnection<'_>) -> Result<T, KvError> + Send + 'static,
    ) -> Result<T, String> {
        let database = self.database()?;
        let result = tokio::task::spawn_blocking(move || call(&mut database.lock())).await;
        report(
            operation,
            result.map_err(|join_error| join_error.to_string()),
        )
    }

    fn database(&self) -> Result<Arc<SqliteKv>, String> {
        // Unreachable in practice: such a component cannot open a store.
        self.database
            .clone()
            .ok_or_else(|| "no key-value store is granted to this component".to_string())
    }
}

/// Returns the call's value, or logs its error and returns the message.
fn report<T>(
    operation: &'static str,
    result: Result<Result<T, KvError>, String>,
) -> Result<T, String> {
    let message = match result {
        Ok(Ok(value)) => return Ok(value),
        Ok(Err(error)) => error.to_string(),
        Err(join_error) => format!("key-value task failed: {join_error}"),
    };
    log::event("kv_error", &[("operation", operation), ("error", &message)]);
    Err(message)
}

/// The view of a store's state that the key-value bindings work on.
pub struct KvView<'a> {
    /// The instance's resource table, shared with WASI.
    pub table: &'a mut ResourceTable,
    /// The component's key-value access.
    pub access: &'a KvAccess,
}

/// Marker type that selects [`KvView`] for `add_to_linker`.
pub struct KvBindings;

impl HasData for KvBindings {
    type Data<'a> = KvView<'a>;
}

impl KvView<'_> {
    pub(super) fn label_of(&self, handle: &Resource<StoreHandle>) -> wasmtime::Result<String> {
        Ok(self.table.get(handle)?.label.clone())
    }

    pub(super) fn open_label(
        &mut self,
        label: String,
    ) -> wasmtime::Result<Option<Resource<StoreHandle>>> {
        if !self.access.allowed_labels.contains(&label) {
            log::event("kv_access_denied", &[("store", &label)]);
            return Ok(None);
        }
        Ok(Some(self.table.push(StoreHandle { label })?))
    }

    pub(super) async fn new_cas(
        &mut self,
        label: String,
        key: String,
    ) -> wasmtime::Result<Result<Resource<CasHandle>, String>> {
        let (read_label, read_key) = (label.clone(), key.clone());
        let snapshot = self
            .access
            .run("cas_new", move |db| db.get(&read_label, &read_key))
            .await;
        Ok(match snapshot {
            Ok(snapshot) => Ok(self.table.push(CasHandle {
                label,
                key,
                snapshot,
            })?),
            Err(message) => Err(message),
        })
    }
}

impl spin_kv::Host for KvView<'_> {}

impl spin_kv::HostStore for KvView<'_> {
    async fn open(
        &mut self,
        label: String,
    ) -> wasmtime::Result<Result<Resource<StoreHandle>, spin_kv::Error>> {
        Ok(self.open_label(label)?.ok_or(spin_kv::Error::AccessDenied))
    }

    async fn get(
        &mut self,
        store: Resource<StoreHandle>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, spin_kv::Error>> {
        let label = self.label_of(&store)?;
        let result = self.access.run("get", move |db| db.get(&label, &key)).await;
        Ok(result.map_err(spin_kv::Error::Other))
    }

    async fn set(
        &mut self,
        store: Resource<StoreHandle>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), spin_kv::Error>> {
        let label = self.label_of(&store)?;
        let result = self
            .access
            .run("set", move |db| db.set(&label, &key, &value))
            .await;
        Ok(result.map_err(spin_kv::Error::Other))
    }

    async fn delete(
        &mut self,
        store: Resource<StoreHandle>,
        key: String,
    ) -> wasmtime::Result<Result<(), spin_kv::Error>> {
        let label = self.label_of(&store)?;
        let result = self
            .access
            .run("delete", move |db| db.delete(&label, &key))
            .await;
        Ok(result.map_err(spin_kv::Error::Other))
    }

    async fn exists(
        &mut self,
        store: Resource<StoreHandle>,
        key: String,
    ) -> wasmtime::Result<Result<bool, spin_kv::Error>> {
        let label = self.label_of(&store)?;
        let result = self
            .access
            .run("exists", move |db| db.exists(&label, &key))
            .await;
        Ok(result.map_err(spin_kv::Error::Other))
    }

    async fn get_keys(
        &mut self,
        store: Resource<StoreHandle>,
    ) -> wasmtime::Result<Result<Vec<String>, spin_kv::Error>> {
        let label = self.label_of(&store)?;
        let result = self
            .access
            .run_blocking("get_keys", move |db| db.keys(&label))
            .await;
        Ok(result.map_err(spin_kv::Error::Other))
    }

    async fn drop(&mut self, store: Resource<StoreHandle>) -> wasmtime::Result<()> {
        self.table.delete(store)?;
        Ok(())
    }
}
