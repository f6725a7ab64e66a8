//! Compiling components and preparing everything each request needs.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{anyhow, Context, Result};
use wasmtime::component::{Component, Linker};
use wasmtime::{Engine, Store};
use wasmtime_wasi::WasiCtx;
use wasmtime_wasi_http::bindings::ProxyPre;

use crate::allowed_hosts::OutboundPolicy;
use crate::bindings::fermyon::spin::{key_value as spin_kv, variables};
use crate::bindings::wasi::keyvalue::{atomics, batch, store as wasi_store};
use crate::kv::host::{KvAccess, KvBindings};
use crate::kv::SqliteKv;
use crate::log;
use crate::manifest::ComponentDecl;
use crate::precompiled::load_component;
use crate::state::{Grants, HostState, VariablesBindings};
use crate::stdio::TeeOutput;
use crate::variables::ComponentVariables;

/// A compiled component with its grants, ready to serve requests.
pub struct ComponentRuntime {
    id: String,
    pre: ProxyPre<HostState>,
    grants: Grants,
    environment: Vec<(String, String)>,
    stdout: TeeOutput,
    stderr: TeeOutput,
}

/// Inputs shared by all components while they are loaded.
pub struct LoadContext<'a> {
    /// The engine every component is compiled with.
    pub engine: &'a Engine,
    /// Resolved application variables.
    pub application_variables: &'a BTreeMap<String, String>,
    /// The key-value database, when any component uses a store.
    pub database: Option<Arc<SqliteKv>>,
    /// `<state-dir>/logs`.
    pub logs_dir: &'a Path,
    /// Directory of precompiled components, or `None` to compile every time.
    pub cache_dir: Option<&'a Path>,
}

impl ComponentRuntime {
    /// Compiles component `id` and resolves its variables and outbound hosts.
    pub fn load(context: &LoadContext<'_>, id: &str, decl: &ComponentDecl) -> Result<Self> {
        let variables = ComponentVariables::resolve(id, decl, context.application_variables)?;
        let outbound = resolve_outbound_policy(id, decl, context.application_variables)?;

        let kv = if decl.key_value_stores.is_empty() {
            KvAccess::none()
        } else {
            let database = context.database.clone().ok_or_else(|| {
                anyhow!("component {id:?} lists key-value stores, but no database is open")
            })?;
            let labels: HashSet<String> = decl.key_value_stores.iter().cloned().collect();
            KvAccess::new(database, labels)
        };

        let started = Instant::now();
        let loaded =
            load_component(context.engine, &decl.source, context.cache_dir).with_context(|| {
                format!(
                    "failed to load component {id:?} from {}",
                    decl.source.display()
                )
            })?;
        if let Some(problem) = &loaded.cache_problem {
            log::event(
                "component_cache_unused",
                &[("component", id), ("reason", problem)],
            );
        }
        let pre = link(context.engine, &loaded.component)
            .with_context(|| format!("failed to link component {id:?}"))?;
        log::event(
            "component_loaded",
            &[
                ("component", id),
                ("source", loaded.path.as_str()),
                ("load_ms", &started.elapsed().as_millis().to_string()),
                ("allowed_outbound_hosts", &outbound.len().to_string()),
            ],
        );

        Ok(Self {
            id: id.to_string(),
            pre,
            grants: Grants {
                component_id: Arc::from(id),
                variables: Arc::new(variables),
                kv,
                outbound: Arc::new(outbound),
            },
            environment: decl.environment.clone().into_iter().collect(),
            stdout: TeeOutput::open(context.logs_dir, id, "stdout")?,
            stderr: TeeOutput::open(context.logs_dir, id, "stderr")?,
        })
    }

    /// Returns the component id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Returns the pre-instantiated component.
    pub fn pre(&self) -> &ProxyPre<HostState> {
        &self.pre
    }

    /// Creates a fresh store for one request.
    pub fn new_store(&self) -> Store<HostState> {
        let mut wasi = WasiCtx::builder();
        wasi.stdout(self.stdout.clone()).stderr(self.stderr.clone());
        for (key, value) in &self.environment {
            wasi.env(key, value);
        }
        let state = HostState::new(wasi.build(), self.grants.clone());
        Store::new(self.pre.engine(), state)
    }
}

/// Resolves the templates in `allowed_outbound_hosts` and parses the result.
/// Entries that resolve to an empty string are skipped.
pub fn resolve_outbound_policy(
    id: &str,
    decl: &ComponentDecl,
    application_variables: &BTreeMap<String, String>,
) -> Result<OutboundPolicy> {
    let mut resolved = Vec::new();
    for template in &decl.allowed_outbound_hosts {
        let entry = template
            .render(|name| application_variables.get(name).map(String::as_str))
            .map_err(|name| anyhow!("component {id:?}: allowed_outbound_hosts uses variable {name:?}, which has no value"))?;
        resolved.push(entry);
    }
    // The error names the entry, which may contain a variable's value, but
    // these entries are host names, not secrets.
    OutboundPolicy::parse(&resolved).map_err(|reason| {
        anyhow!("component {id:?}: invalid allowed_outbound_hosts entry {reason}")
    })
}

fn link(engine: &Engine, component: &Component) -> Result<ProxyPre<HostState>> {
    let mut linker = Linker::<HostState>::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi_http::add_only_http_to_linker_async(&mut linker)?;
    variables::add_to_linker::<HostState, VariablesBindings>(
        &mut linker,
        HostState::variables_view,
    )?;
    spin_kv::add_to_linker::<HostState, KvBindings>(&mut linker, HostState::kv_view)?;
    wasi_store::add_to_linker::<HostState, KvBindings>(&mut linker, HostState::kv_view)?;
    atomics::add_to_linker::<HostState, KvBindings>(&mut linker, HostState::kv_view)?;
    batch::add_to_linker::<HostState, KvBindings>(&mut linker, HostState::kv_view)?;
    // NOTE: `Linker::define_unknown_imports_as_traps` is not used. In
    // wasmtime 41.0.4 it fails with "map entry `wasi:io/poll@0.2.6` defined
    // twice" for a component that imports WASI 0.2.0, because its stubs
    // collide with the semver-compatible 0.2.6 definitions. An import this
    // host lacks therefore fails the load with an error that names it.
    let instance_pre = linker.instantiate_pre(component)?;
    ProxyPre::new(instance_pre)
}
