//! The per-request store data: WASI, wasi-http and the Spin interfaces.

use std::sync::Arc;

use wasmtime::component::{HasData, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::body::HyperOutgoingBody;
use wasmtime_wasi_http::types::{HostFutureIncomingResponse, OutgoingRequestConfig};
use wasmtime_wasi_http::{HttpResult, WasiHttpCtx, WasiHttpView};

use crate::allowed_hosts::OutboundPolicy;
use crate::bindings::fermyon::spin::variables;
use crate::kv::host::{KvAccess, KvView};
use crate::variables::{ComponentVariables, VariableError};

/// Everything one component instance may use, shared by all its requests.
#[derive(Clone)]
pub struct Grants {
    /// The component id, for log lines.
    pub component_id: Arc<str>,
    /// The component's resolved variables.
    pub variables: Arc<ComponentVariables>,
    /// The component's key-value access.
    pub kv: KvAccess,
    /// The component's resolved `allowed_outbound_hosts`.
    pub outbound: Arc<OutboundPolicy>,
}

/// The data of one request's `wasmtime::Store`.
pub struct HostState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    grants: Grants,
}

impl HostState {
    /// Creates the state for one request.
    pub fn new(wasi: WasiCtx, grants: Grants) -> Self {
        Self {
            wasi,
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            grants,
        }
    }

    /// Returns the view the key-value bindings use.
    pub fn kv_view(&mut self) -> KvView<'_> {
        KvView {
            table: &mut self.table,
            access: &self.grants.kv,
        }
    }

    /// Returns the view the variables binding uses.
    pub fn variables_view(&mut self) -> VariablesView<'_> {
        VariablesView {
            variables: &self.grants.variables,
        }
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for HostState {
    fn ctx(&mut self) -> &mut WasiHttpCtx {
        &mut self.http
    }

    fn table(&mut self) -> &mut ResourceTable {
        &mut self.table
    }

    fn send_request(
        &mut self,
        request: hyper::Request<HyperOutgoingBody>,
        config: OutgoingRequestConfig,
    ) -> HttpResult<HostFutureIncomingResponse> {
        crate::outbound::send_request(
            &self.grants.outbound,
            &self.grants.component_id,
            request,
            config,
        )
    }
}

/// The view `fermyon:spin/variables` works on.
pub struct VariablesView<'a> {
    variables: &'a ComponentVariables,
}

/// Marker type that selects [`VariablesView`] for `add_to_linker`.
pub struct VariablesBindings;

impl HasData for VariablesBindings {
    type Data<'a> = VariablesView<'a>;
}

impl variables::Host for VariablesView<'_> {
    async fn get(&mut self, name: String) -> wasmtime::Result<Result<String, variables::Error>> {
        Ok(self.variables.get(&name).map_err(|error| match error {
            VariableError::InvalidName(message) => variables::Error::InvalidName(message),
            VariableError::Undefined(message) => variables::Error::Undefined(message),
        }))
    }
}
