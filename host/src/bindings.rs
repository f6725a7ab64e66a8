//! Host bindings for the Spin interfaces in `host/wit/`.

#![allow(missing_docs)]

wasmtime::component::bindgen!({
    path: "wit",
    world: "sae-trigger:host/host",
    imports: { default: async | trappable },
    require_store_data_send: true,
    with: {
        "fermyon:spin/key-value.store": crate::kv::host::StoreHandle,
        "wasi:keyvalue/store.bucket": crate::kv::host::StoreHandle,
        "wasi:keyvalue/atomics.cas": crate::kv::host::CasHandle,
    },
});
