//! Application and component variables, resolved as `spin up` resolves them.
//!
//! A value comes from the first source that has one: a `--variable` flag,
//! then the `SPIN_VARIABLE_<NAME>` environment variable (name upper-cased),
//! then the manifest default. Like `spin up` (Spin 3's
//! `ensure_required_variables_resolvable`, run from the trigger's
//! `VariablesValidatorHook` before serving), startup fails when a required
//! variable has no value, even if no component maps it.

use std::collections::BTreeMap;

use anyhow::{anyhow, bail, Context, Result};

use crate::manifest::{ComponentDecl, VariableDecl};
use crate::names::validate_variable_name;

/// Prefix of the environment variables Spin's environment provider reads.
pub const ENV_PREFIX: &str = "SPIN_VARIABLE_";

/// Parses one `--variable` argument, `name=value` or `name=@path`.
///
/// The `@path` form reads the file's whole content, unchanged, as the value.
pub fn parse_variable_flag(argument: &str) -> Result<(String, String)> {
    let Some((name, value)) = argument.split_once('=') else {
        bail!("invalid --variable {argument:?}: expected NAME=VALUE or NAME=@FILE");
    };
    let name = name.trim();
    validate_variable_name(name)
        .map_err(|reason| anyhow!("invalid --variable name {name:?}: {reason}"))?;
    let value = match value.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path).with_context(|| {
            format!("failed to read the value of --variable {name} from file {path}")
        })?,
        None => value.to_string(),
    };
    Ok((name.to_string(), value))
}

/// Returns the environment variable name that supplies variable `name`.
pub fn env_name(name: &str) -> String {
    format!("{ENV_PREFIX}{}", name.to_ascii_uppercase())
}

/// Resolves every application variable.
///
/// `flags` contains the `--variable` values and `env` looks up an environment
/// variable. Returns an error naming every required variable without a value,
/// and the error never contains a value.
pub fn resolve_application_variables(
    declared: &BTreeMap<String, VariableDecl>,
    flags: &BTreeMap<String, String>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<BTreeMap<String, String>> {
    let mut values = BTreeMap::new();
    let mut missing = Vec::new();
    for (name, decl) in declared {
        let value = flags
            .get(name)
            .cloned()
            .or_else(|| env(&env_name(name)))
            .or_else(|| decl.default.clone());
        match value {
            Some(value) => {
                values.insert(name.clone(), value);
            }
            None => missing.push(name.as_str()),
        }
    }
    if !missing.is_empty() {
        let hints: Vec<String> = missing
            .iter()
            .map(|name| format!("--variable {name}=... or {}", env_name(name)))
            .collect();
        bail!(
            "no value for required variable(s) {missing:?}; set each with {}",
            hints.join(", ")
        );
    }
    Ok(values)
}

/// Returns the names in `flags` that the manifest does not declare.
pub fn undeclared_flags<'a>(
    declared: &BTreeMap<String, VariableDecl>,
    flags: &'a BTreeMap<String, String>,
) -> Vec<&'a str> {
    flags
        .keys()
        .filter(|name| !declared.contains_key(*name))
        .map(String::as_str)
        .collect()
}

/// The variables one component can read, already resolved.
#[derive(Debug, Clone, Default)]
pub struct ComponentVariables {
    component_id: String,
    values: BTreeMap<String, String>,
}

/// The error variants of `fermyon:spin/variables@2.0.0`, as Spin returns them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VariableError {
    /// The requested name is not a valid variable name.
    InvalidName(String),
    /// The component maps no variable with this name.
    Undefined(String),
}

impl ComponentVariables {
    /// Renders the component's `[component.<id>.variables]` templates with the
    /// application variable values.
    pub fn resolve(
        component_id: &str,
        component: &ComponentDecl,
        application: &BTreeMap<String, String>,
    ) -> Result<Self> {
        let mut values = BTreeMap::new();
        for (name, template) in &component.variables {
            let value = template
                .render(|variable| application.get(variable).map(String::as_str))
                .map_err(|variable| {
                    anyhow!("component {component_id:?} variable {name:?} references variable {variable:?}, which has no value")
                })?;
            values.insert(name.clone(), value);
        }
        Ok(Self {
            component_id: component_id.to_string(),
            values,
        })
    }

    /// Returns the value of `name` for the guest's `variables.get` call.
    pub fn get(&self, name: &str) -> Result<String, VariableError> {
        validate_variable_name(name)
            .map_err(|reason| VariableError::InvalidName(format!("{name:?}: {reason}")))?;
        self.values.get(name).cloned().ok_or_else(|| {
            VariableError::Undefined(format!("no variable for {:?}.{name:?}", self.component_id))
        })
    }
}
