//! Loading and checking a Spin manifest (`spin.toml`, manifest version 2).
//!
//! Only the parts this host runs are read: `[application]`, `[variables]`,
//! `[[trigger.http]]` and `[component.<id>]`. Unknown keys are ignored. Spin
//! keys that would change how a component runs but that this host does not
//! implement (for example `files`) are rejected so that a manifest never runs
//! differently from `spin up` without notice.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use serde::Deserialize;

use crate::names::{validate_component_id, validate_variable_name};
use crate::routes::Route;
use crate::template::Template;

/// The store label that `spin up` provides without a runtime config file.
pub const DEFAULT_STORE_LABEL: &str = "default";

/// A checked manifest.
#[derive(Debug)]
pub struct Manifest {
    /// Path of the manifest file, used in error messages.
    pub path: PathBuf,
    /// `[application] name`.
    pub application_name: String,
    /// `[variables]`, by name.
    pub variables: BTreeMap<String, VariableDecl>,
    /// `[[trigger.http]]` entries in file order.
    pub http_triggers: Vec<HttpTrigger>,
    /// `[component.<id>]` tables, by id.
    pub components: BTreeMap<String, ComponentDecl>,
}

/// One `[variables]` entry. A variable without a default is required.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VariableDecl {
    /// The value used when no provider supplies one.
    pub default: Option<String>,
    /// `secret = true`: the host redacts the value from the request paths it logs.
    pub secret: bool,
}

/// One `[[trigger.http]]` entry.
#[derive(Debug, Clone)]
pub struct HttpTrigger {
    /// The parsed `route`.
    pub route: Route,
    /// The id of the component that serves the route.
    pub component: String,
}

/// One `[component.<id>]` table.
#[derive(Debug, Clone)]
pub struct ComponentDecl {
    /// Absolute or manifest-relative path joined to the manifest directory.
    pub source: PathBuf,
    /// `allowed_outbound_hosts`, still unresolved.
    pub allowed_outbound_hosts: Vec<Template>,
    /// `key_value_stores` labels.
    pub key_value_stores: Vec<String>,
    /// `[component.<id>.variables]`: component variable name to template.
    pub variables: BTreeMap<String, Template>,
    /// `environment`: environment variables for the guest.
    pub environment: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct RawManifest {
    spin_manifest_version: Option<toml::Value>,
    application: Option<RawApplication>,
    #[serde(default)]
    variables: BTreeMap<String, RawVariable>,
    #[serde(default)]
    trigger: BTreeMap<String, Vec<toml::Table>>,
    #[serde(default)]
    component: BTreeMap<String, RawComponent>,
}

#[derive(Deserialize)]
struct RawApplication {
    name: Option<String>,
}

#[derive(Deserialize)]
struct RawVariable {
    #[serde(default)]
    required: bool,
    default: Option<String>,
    #[serde(default)]
    secret: bool,
}

#[derive(Deserialize)]
struct RawComponent {
    source: Option<toml::Value>,
    #[serde(default)]
    allowed_outbound_hosts: Vec<String>,
    #[serde(default)]
    allowed_http_hosts: Vec<String>,
    #[serde(default)]
    key_value_stores: Vec<String>,
    #[serde(default)]
    variables: BTreeMap<String, String>,
    #[serde(default)]
    environment: BTreeMap<String, String>,
    #[serde(default)]
    files: Vec<toml::Value>,
    #[serde(default)]
    sqlite_databases: Vec<String>,
    #[serde(default)]
    ai_models: Vec<String>,
    #[serde(default)]
    dependencies: toml::Table,
}

/// Component keys that Spin honours but this host does not implement.
const UNSUPPORTED_COMPONENT_KEYS: [&str; 5] = [
    "files",
    "sqlite_databases",
    "ai_models",
    "dependencies",
    "allowed_http_hosts",
];

impl Manifest {
    /// Reads and checks the manifest at `path`.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("failed to read manifest {}", path.display()))?;
        Self::parse(&text, path)
    }

    /// Parses and checks manifest `text`. `path` names the file in errors and
    /// is the base for relative component sources.
    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        let file = path.display().to_string();
        let raw: RawManifest =
            toml::from_str(text).with_context(|| format!("{file}: invalid manifest"))?;

        check_manifest_version(&file, raw.spin_manifest_version.as_ref())?;

        let application_name = raw
            .application
            .and_then(|application| application.name)
            .ok_or_else(|| {
                anyhow!("{file}: missing `application.name`; add `[application]` with `name = \"my-app\"`")
            })?;

        let variables = parse_variables(&file, raw.variables)?;

        let mut components = BTreeMap::new();
        let base_dir = path.parent().unwrap_or(Path::new("."));
        for (id, component) in raw.component {
            let decl = parse_component(&file, base_dir, &id, component, &variables)?;
            components.insert(id, decl);
        }

        let http_triggers = parse_triggers(&file, raw.trigger, &components)?;

        Ok(Self {
            path: path.to_path_buf(),
            application_name,
            variables,
            http_triggers,
            components,
        })
    }
}

fn check_manifest_version(file: &str, version: Option<&toml::Value>) -> Result<()> {
    match version {
        Some(toml::Value::Integer(2)) => Ok(()),
        Some(other) => bail!(
            "{file}: `spin_manifest_version = {other}` is not supported; this host reads only manifest version 2 (`spin_manifest_version = 2`)"
        ),
        None => bail!(
            "{file}: missing `spin_manifest_version`; add `spin_manifest_version = 2` at the top of the file"
        ),
    }
}

fn parse_variables(
    file: &str,
    raw: BTreeMap<String, RawVariable>,
) -> Result<BTreeMap<String, VariableDecl>> {
    let mut variables = BTreeMap::new();
    for (name, variable) in raw {
        validate_variable_name(&name).map_err(|reason| {
            anyhow!("{file}: invalid variable name `variables.{name}`: {reason}")
        })?;
        match (variable.required, &variable.default) {
            (true, Some(_)) => bail!(
                "{file}: `variables.{name}` sets both `required = true` and `default`; keep only one of them"
            ),
            (false, None) => bail!(
                "{file}: `variables.{name}` needs either `required = true` or `default = \"...\"`"
            ),
            _ => {}
        }
        let decl = VariableDecl {
            default: variable.default,
            secret: variable.secret,
        };
        variables.insert(name, decl);
    }
    Ok(variables)
}

fn parse_component(
    file: &str,
    base_dir: &Path,
    id: &str,
    raw: RawComponent,
    variables: &BTreeMap<String, VariableDecl>,
) -> Result<ComponentDecl> {
    validate_component_id(id)
        .map_err(|reason| anyhow!("{file}: invalid component id `component.{id}`: {reason}"))?;

    let source = match raw.source {
        Some(toml::Value::String(source)) => base_dir.join(source),
        Some(_) => bail!(
            "{file}: `component.{id}.source` must be a path to a local .wasm file, such as `source = \"target/app.wasm\"`; this host does not download remote sources"
        ),
        None => bail!(
            "{file}: missing `component.{id}.source`; add `source = \"path/to/component.wasm\"`"
        ),
    };

    let used_unsupported: Vec<&str> = UNSUPPORTED_COMPONENT_KEYS
        .into_iter()
        .filter(|key| match *key {
            "files" => !raw.files.is_empty(),
            "sqlite_databases" => !raw.sqlite_databases.is_empty(),
            "ai_models" => !raw.ai_models.is_empty(),
            "dependencies" => !raw.dependencies.is_empty(),
            _ => !raw.allowed_http_hosts.is_empty(),
        })
        .collect();
    if let Some(key) = used_unsupported.first() {
        bail!(
            "{file}: `component.{id}.{key}` is not supported by this host; remove it or run the app with `spin up`"
        );
    }

    let mut allowed_outbound_hosts = Vec::new();
    for (index, entry) in raw.allowed_outbound_hosts.iter().enumerate() {
        let key = format!("component.{id}.allowed_outbound_hosts[{index}]");
        let template = parse_template(file, &key, entry, variables)?;
        if template.is_literal() {
            // Check literal entries now so that a typo fails at startup.
            crate::allowed_hosts::AllowedHost::parse(entry)
                .map_err(|reason| anyhow!("{file}: `{key}` = {entry:?} is invalid: {reason}"))?;
        }
        allowed_outbound_hosts.push(template);
    }

    for label in &raw.key_value_stores {
        if label != DEFAULT_STORE_LABEL {
            bail!(
                "{file}: `component.{id}.key_value_stores` lists unknown store {label:?}; this host provides only the store \"default\" and reads no runtime config file"
            );
        }
    }

    let mut component_variables = BTreeMap::new();
    for (name, value) in raw.variables {
        validate_variable_name(&name).map_err(|reason| {
            anyhow!("{file}: invalid variable name `component.{id}.variables.{name}`: {reason}")
        })?;
        let key = format!("component.{id}.variables.{name}");
        let template = parse_template(file, &key, &value, variables)?;
        component_variables.insert(name, template);
    }

    Ok(ComponentDecl {
        source,
        allowed_outbound_hosts,
        key_value_stores: raw.key_value_stores,
        variables: component_variables,
        environment: raw.environment,
    })
}

/// Parses a template and checks that every name it references is declared.
fn parse_template(
    file: &str,
    key: &str,
    text: &str,
    variables: &BTreeMap<String, VariableDecl>,
) -> Result<Template> {
    let template =
        Template::parse(text).map_err(|error| anyhow!("{file}: `{key}` is invalid: {error}"))?;
    for name in template.variables() {
        if !variables.contains_key(name) {
            bail!(
                "{file}: `{key}` references unknown variable `{name}`; declare it under [variables] or fix the name"
            );
        }
    }
    Ok(template)
}

fn parse_triggers(
    file: &str,
    raw: BTreeMap<String, Vec<toml::Table>>,
    components: &BTreeMap<String, ComponentDecl>,
) -> Result<Vec<HttpTrigger>> {
    let mut triggers = Vec::new();
    for (trigger_type, entries) in raw {
        if trigger_type != "http" {
            bail!(
                "{file}: `[[trigger.{trigger_type}]]` is not supported; this host serves only `[[trigger.http]]`"
            );
        }
        for (index, entry) in entries.into_iter().enumerate() {
            triggers.push(parse_http_trigger(file, index, &entry, components)?);
        }
    }
    if triggers.is_empty() {
        bail!("{file}: no `[[trigger.http]]` entry; add one with `route` and `component`");
    }

    for (index, trigger) in triggers.iter().enumerate() {
        if let Some(earlier) = triggers[..index]
            .iter()
            .find(|earlier| earlier.route == trigger.route)
        {
            bail!(
                "{file}: route {:?} is used by both component {:?} and component {:?}; give each trigger its own route",
                trigger.route.as_str(),
                earlier.component,
                trigger.component
            );
        }
    }
    Ok(triggers)
}

fn parse_http_trigger(
    file: &str,
    index: usize,
    entry: &toml::Table,
    components: &BTreeMap<String, ComponentDecl>,
) -> Result<HttpTrigger> {
    let key = format!("trigger.http[{index}]");

    let route = match entry.get("route") {
        Some(toml::Value::String(route)) => Route::parse(route)
            .map_err(|reason| anyhow!("{file}: `{key}.route` = {route:?} is invalid: {reason}"))?,
        Some(_) => bail!(
            "{file}: `{key}.route` must be a string such as \"/...\"; private routes are not supported by this host"
        ),
        None => bail!("{file}: missing `{key}.route`; add `route = \"/...\"`"),
    };

    let component = match entry.get("component") {
        Some(toml::Value::String(component)) => component.clone(),
        Some(_) => bail!(
            "{file}: `{key}.component` must name a `[component.<id>]` table; inline components are not supported by this host"
        ),
        None => bail!("{file}: missing `{key}.component`; add `component = \"<component id>\"`"),
    };
    if !components.contains_key(&component) {
        bail!(
            "{file}: `{key}.component` names {component:?}, but there is no `[component.{component}]` table"
        );
    }

    if let Some(executor) = entry.get("executor") {
        let is_default = executor
            .get("type")
            .and_then(toml::Value::as_str)
            .is_some_and(|kind| kind == "spin" || kind == "http");
        if !is_default {
            bail!("{file}: `{key}.executor` is not supported by this host; remove it to use the default wasi-http executor");
        }
    }

    Ok(HttpTrigger { route, component })
}
