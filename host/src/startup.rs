//! Turning command-line options into a running server.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{anyhow, Context, Result};
use tokio::net::TcpListener;

use crate::cli::Options;
use crate::engine::build_engine;
use crate::kv::SqliteKv;
use crate::log;
use crate::manifest::Manifest;
use crate::precompiled::default_cache_dir;
use crate::routes::Router;
use crate::runtime::{ComponentRuntime, LoadContext};
use crate::server::{self, App};
use crate::variables::{parse_variable_flag, resolve_application_variables, undeclared_flags};

/// Returns the manifest file `from` names: the path itself, or
/// `spin.toml` inside it when it is a directory.
pub fn manifest_path(from: &Path) -> PathBuf {
    if from.is_dir() {
        from.join("spin.toml")
    } else {
        from.to_path_buf()
    }
}

/// Loads the application, listens, logs `event=listening`, and serves until
/// the process is stopped.
pub async fn run(options: Options) -> Result<()> {
    let manifest_file = manifest_path(&options.from);
    let manifest = Manifest::load(&manifest_file)?;
    let manifest_dir = manifest_file
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));

    // Later flags win over earlier ones for the same name.
    let mut flags = BTreeMap::new();
    for argument in &options.variables {
        let (name, value) = parse_variable_flag(argument)?;
        flags.insert(name, value);
    }
    for name in undeclared_flags(&manifest.variables, &flags) {
        log::event("unknown_variable_ignored", &[("name", name)]);
    }
    let application_variables =
        resolve_application_variables(&manifest.variables, &flags, |name| std::env::var(name).ok())
            .with_context(|| format!("{}: cannot start", manifest.path.display()))?;

    let state_dir = options
        .state_dir
        .clone()
        .unwrap_or_else(|| manifest_dir.join(".spin"));
    let logs_dir = state_dir.join("logs");
    std::fs::create_dir_all(&logs_dir)
        .with_context(|| format!("failed to create state directory {}", logs_dir.display()))?;

    let uses_kv = manifest
        .components
        .values()
        .any(|component| !component.key_value_stores.is_empty());
    let database = if uses_kv {
        let path = state_dir.join("sqlite_key_value.db");
        let database = SqliteKv::open(&path).map_err(|error| {
            anyhow!(
                "failed to open key-value database {}: {error}",
                path.display()
            )
        })?;
        Some(Arc::new(database))
    } else {
        None
    };

    let engine = build_engine(options.max_instances)?;
    let cache_dir = default_cache_dir();
    let context = LoadContext {
        engine: &engine,
        application_variables: &application_variables,
        database,
        logs_dir: &logs_dir,
        cache_dir: cache_dir.as_deref(),
    };

    // Compile each component that a trigger uses, once.
    let mut loaded: BTreeMap<String, Arc<ComponentRuntime>> = BTreeMap::new();
    let mut handlers = Vec::new();
    for trigger in &manifest.http_triggers {
        let runtime = match loaded.get(&trigger.component) {
            Some(runtime) => runtime.clone(),
            None => {
                let decl = &manifest.components[&trigger.component];
                let runtime = Arc::new(ComponentRuntime::load(&context, &trigger.component, decl)?);
                loaded.insert(trigger.component.clone(), runtime.clone());
                runtime
            }
        };
        handlers.push(runtime);
    }
    let router = Router::new(
        manifest
            .http_triggers
            .iter()
            .map(|t| t.route.clone())
            .collect(),
    );
    let secret_values = manifest
        .variables
        .iter()
        .filter(|(_, decl)| decl.secret)
        .filter_map(|(name, _)| application_variables.get(name).cloned())
        .collect();
    let app = Arc::new(App::new(router, handlers, secret_values));

    let listener = TcpListener::bind(options.listen)
        .await
        .with_context(|| format!("failed to listen on {}", options.listen))?;
    let address = listener.local_addr()?.to_string();
    for trigger in &manifest.http_triggers {
        log::event(
            "route",
            &[
                ("route", &trigger.route.as_str()),
                ("component", &trigger.component),
            ],
        );
    }
    log::event(
        "listening",
        &[
            ("address", &address),
            ("application", &manifest.application_name),
        ],
    );

    server::serve(listener, app).await
}
