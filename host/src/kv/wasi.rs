//! `wasi:keyvalue/{store,atomics,batch}@0.2.0-draft2` over the same rows as
//! the Spin interface in [`super::host`].

use wasmtime::component::Resource;

use super::host::{CasHandle, KvView, StoreHandle};
use crate::bindings::wasi::keyvalue::{atomics, batch, store as wasi_store};

impl wasi_store::Host for KvView<'_> {
    async fn open(
        &mut self,
        identifier: String,
    ) -> wasmtime::Result<Result<Resource<StoreHandle>, wasi_store::Error>> {
        Ok(self
            .open_label(identifier)?
            .ok_or(wasi_store::Error::AccessDenied))
    }
}

impl wasi_store::HostBucket for KvView<'_> {
    async fn get(
        &mut self,
        bucket: Resource<StoreHandle>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, wasi_store::Error>> {
        let label = self.label_of(&bucket)?;
        let result = self.access.run("get", move |db| db.get(&label, &key)).await;
        Ok(result.map_err(wasi_store::Error::Other))
    }

    async fn set(
        &mut self,
        bucket: Resource<StoreHandle>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), wasi_store::Error>> {
        let label = self.label_of(&bucket)?;
        let result = self
            .access
            .run("set", move |db| db.set(&label, &key, &value))
            .await;
        Ok(result.map_err(wasi_store::Error::Other))
    }

    async fn delete(
        &mut self,
        bucket: Resource<StoreHandle>,
        key: String,
    ) -> wasmtime::Result<Result<(), wasi_store::Error>> {
        let label = self.label_of(&bucket)?;
        let result = self
            .access
            .run("delete", move |db| db.delete(&label, &key))
            .await;
        Ok(result.map_err(wasi_store::Error::Other))
    }

    async fn exists(
        &mut self,
        bucket: Resource<StoreHandle>,
        key: String,
    ) -> wasmtime::Result<Result<bool, wasi_store::Error>> {
        let label = self.label_of(&bucket)?;
        let result = self
            .access
            .run("exists", move |db| db.exists(&label, &key))
            .await;
        Ok(result.map_err(wasi_store::Error::Other))
    }

    async fn list_keys(
        &mut self,
        bucket: Resource<StoreHandle>,
        cursor: Option<String>,
    ) -> wasmtime::Result<Result<wasi_store::KeyResponse, wasi_store::Error>> {
        // Spin returns every key in one page and rejects cursors.
        if cursor.is_some() {
            return Ok(Err(wasi_store::Error::Other(
                "list-keys: cursors are not supported".to_string(),
            )));
        }
        let label = self.label_of(&bucket)?;
        let result = self
            .access
            .run_blocking("list_keys", move |db| db.keys(&label))
            .await;
        Ok(result
            .map(|keys| wasi_store::KeyResponse { keys, cursor: None })
            .map_err(wasi_store::Error::Other))
    }

    async fn drop(&mut self, bucket: Resource<StoreHandle>) -> wasmtime::Result<()> {
        self.table.delete(bucket)?;
        Ok(())
    }
}

impl batch::Host for KvView<'_> {
    async fn get_many(
        &mut self,
        bucket: Resource<StoreHandle>,
        keys: Vec<String>,
    ) -> wasmtime::Result<Result<Vec<(String, Option<Vec<u8>>)>, wasi_store::Error>> {
        let label = self.label_of(&bucket)?;
        let result = self
            .access
            .run_blocking("get_many", move |db| db.get_many(&label, &keys))
            .await;
        Ok(result.map_err(wasi_store::Error::Other))
    }

    async fn set_many(
        &mut self,
        bucket: Resource<StoreHandle>,
        key_values: Vec<(String, Vec<u8>)>,
    ) -> wasmtime::Result<Result<(), wasi_store::Error>> {
        let label = self.label_of(&bucket)?;
        let result = self
            .access
            .run_blocking("set_many", move |db| db.set_many(&label, &key_values))
            .await;
        Ok(result.map_err(wasi_store::Error::Other))
    }

    async fn delete_many(
        &mut self,
        bucket: Resource<StoreHandle>,
        keys: Vec<String>,
    ) -> wasmtime::Result<Result<(), wasi_store::Error>> {
        let label = self.label_of(&bucket)?;
        let result = self
            .access
            .run_blocking("delete_many", move |db| db.delete_many(&label, &keys))
            .await;
        Ok(result.map_err(wasi_store::Error::Other))
    }
}

impl atomics::Host for KvView<'_> {
    async fn increment(
        &mut self,
        bucket: Resource<StoreHandle>,
        key: String,
        delta: i64,
    ) -> wasmtime::Result<Result<i64, wasi_store::Error>> {
        let label = self.label_of(&bucket)?;
        let result = self
            .access
            .run("increment", move |db| db.increment(&label, &key, delta))
            .await;
        Ok(result.map_err(wasi_store::Error::Other))
    }

    async fn swap(
        &mut self,
        cas: Resource<CasHandle>,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), atomics::CasError>> {
        let handle = self.table.delete(cas)?;
        let (label, key, expected) = (handle.label.clone(), handle.key.clone(), handle.snapshot);
        let swapped = self
            .access
            .run("swap", move |db| {
                db.compare_and_swap(&label, &key, expected.as_deref(), &value)
            })
            .await;
        match swapped {
            Ok(true) => Ok(Ok(())),
            // Another writer changed the key: return a handle that has read
            // the latest value, as the interface requires.
            Ok(false) => Ok(match self.new_cas(handle.label, handle.key).await? {
                Ok(fresh) => Err(atomics::CasError::CasFailed(fresh)),
                Err(message) => Err(atomics::CasError::StoreError(wasi_store::Error::Other(
                    message,
                ))),
            }),
            Err(message) => Ok(Err(atomics::CasError::StoreError(
                wasi_store::Error::Other(message),
            ))),
        }
    }
}

impl atomics::HostCas for KvView<'_> {
    async fn new(
        &mut self,
        bucket: Resource<StoreHandle>,
        key: String,
    ) -> wasmtime::Result<Result<Resource<CasHandle>, wasi_store::Error>> {
        let label = self.label_of(&bucket)?;
        Ok(self
            .new_cas(label, key)
            .await?
            .map_err(wasi_store::Error::Other))
    }

    async fn current(
        &mut self,
        cas: Resource<CasHandle>,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, wasi_store::Error>> {
        Ok(Ok(self.table.get(&cas)?.snapshot.clone()))
    }

    async fn drop(&mut self, cas: Resource<CasHandle>) -> wasmtime::Result<()> {
        self.table.delete(cas)?;
        Ok(())
    }
}
