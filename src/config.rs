//! Settings from Spin variables: loading, validation and the SAE endpoint.
//!
//! Loading goes through the [`Variables`] trait, so this module makes no
//! host calls and tests feed it a map. Errors name the variable and what to
//! set, never its value.

use std::fmt;
use std::time::Duration;

use crate::reference::check_registry_host;

/// SAE regions with a public OpenAPI endpoint `https://sae.<region>.aliyuncs.com`.
/// `spin.toml` lists the same endpoints in `allowed_outbound_hosts`, and a
/// unit test keeps the two in step.
pub(crate) const SAE_REGIONS: &[&str] = &[
    "cn-hangzhou",
    "cn-shanghai",
    "cn-beijing",
    "cn-zhangjiakou",
    "cn-huhehaote",
    "cn-wulanchabu",
    "cn-shenzhen",
    "cn-heyuan",
    "cn-guangzhou",
    "cn-chengdu",
    "cn-hongkong",
    "ap-southeast-1",
    "ap-southeast-3",
    "ap-southeast-5",
    "ap-northeast-1",
    "us-east-1",
    "us-west-1",
    "eu-central-1",
    "eu-west-1",
];

/// Minimum length of `webhook_token`. A shorter token can be guessed from the
/// public internet, so the component refuses to run with one.
pub(crate) const MIN_TOKEN_LEN: usize = 16;

/// Time limit for one SAE call when `sae_timeout_seconds` is unset. Hosted
/// Spin platforms end a request after 30 s, so a deploy answer must come well
/// before that.
pub(crate) const DEFAULT_SAE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long deploy records count for duplicates and stay in history when
/// `retention_hours` is unset: one week.
pub(crate) const DEFAULT_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);

/// Largest `retention_hours` accepted: one year.
const MAX_RETENTION_HOURS: u64 = 24 * 366;

/// Largest `sae_timeout_seconds` accepted, leaving room under the 30 s limit.
const MAX_SAE_TIMEOUT_SECS: u64 = 25;

/// Maximum length of any variable value this module reads (STS tokens run to
/// a few KB).
const MAX_VALUE_LEN: usize = 8192;

/// Source of variable values; the Spin edge implements it over
/// `spin_sdk::variables`.
pub(crate) trait Variables {
    /// Returns the value, or `None` when the variable is not defined or not
    /// mapped for this component.
    fn get(&self, name: &str) -> Option<String>;
}

/// A variable that is missing or has an invalid value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("variable `{variable}` {reason}")]
pub(crate) struct ConfigError {
    /// Name of the Spin variable.
    pub(crate) variable: &'static str,
    /// What is wrong and what to set instead; never contains the value.
    pub(crate) reason: String,
}

/// A secret value whose `Debug` form never shows it.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub(crate) fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// Returns the value, for signing and comparison only.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret(len={})", self.0.len())
    }
}

/// The AccessKey (or STS credentials) used to sign SAE calls.
#[derive(Debug, Clone)]
pub(crate) struct Credentials {
    /// AccessKey id, sent in `Authorization`; treated as a secret in logs.
    pub(crate) access_key_id: Secret,
    /// AccessKey secret, the HMAC key.
    pub(crate) access_key_secret: Secret,
    /// STS security token, when the AccessKey is temporary.
    pub(crate) security_token: Option<Secret>,
}

/// Scheme and authority of an SAE OpenAPI endpoint, e.g. `https://sae.cn-hangzhou.aliyuncs.com`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Endpoint {
    /// `http` or `https`.
    pub(crate) scheme: String,
    /// `host` or `host:port`, exactly as it goes into the URL.
    pub(crate) authority: String,
}

impl Endpoint {
    /// Returns the public endpoint of an SAE region.
    pub(crate) fn for_region(region: &str) -> Self {
        Endpoint {
            scheme: "https".into(),
            authority: format!("sae.{region}.aliyuncs.com"),
        }
    }

    /// Returns `scheme://authority`.
    pub(crate) fn base_url(&self) -> String {
        format!("{}://{}", self.scheme, self.authority)
    }
}

/// Everything a deploy needs besides the push itself.
#[derive(Debug, Clone)]
pub(crate) struct DeployConfig {
    /// Signing credentials.
    pub(crate) credentials: Credentials,
    /// Fixed SAE region; `None` means the region of each push.
    pub(crate) region: Option<String>,
    /// Fixed SAE endpoint; `None` means the region's public endpoint.
    pub(crate) sae_endpoint: Option<Endpoint>,
    /// Fixed registry host; `None` means `registry-vpc.<region>.aliyuncs.com`.
    pub(crate) registry_host: Option<String>,
    /// ACR Enterprise instance id (`cri-…`).
    pub(crate) acr_instance_id: Option<String>,
    /// Time limit for one SAE call.
    pub(crate) sae_timeout: Duration,
    /// How long deploy records are kept.
    pub(crate) retention: Duration,
}

/// Loads and checks `webhook_token`.
pub(crate) fn load_token(vars: &dyn Variables) -> Result<Secret, ConfigError> {
    let token = required(vars, "webhook_token")?;
    if token.chars().count() < MIN_TOKEN_LEN {
        return Err(ConfigError {
            variable: "webhook_token",
            reason: format!(
                "is shorter than {MIN_TOKEN_LEN} characters; set a long random value, e.g. the output of `openssl rand -hex 32`"
            ),
        });
    }
    Ok(Secret::new(token))
}

/// Loads and checks every variable a deploy uses.
pub(crate) fn load_deploy_config(vars: &dyn Variables) -> Result<DeployConfig, ConfigError> {
    let access_key_id = required(vars, "access_key_id")?;
    check_credential("access_key_id", &access_key_id)?;
    let access_key_secret = required(vars, "access_key_secret")?;
    check_credential("access_key_secret", &access_key_secret)?;
    let security_token = optional(vars, "security_token")?;
    if let Some(token) = &security_token {
        check_credential("security_token", token)?;
    }

    let region = optional(vars, "region")?;
    if let Some(region) = &region {
        check_region_id(region).map_err(|reason| ConfigError { variable: "region", reason })?;
    }
    let sae_endpoint = match optional(vars, "sae_endpoint")? {
        Some(value) => Some(parse_endpoint(&value).map_err(|reason| ConfigError {
            variable: "sae_endpoint",
            reason,
        })?),
        None => None,
    };
    let registry_host = optional(vars, "registry_host")?;
    if let Some(host) = &registry_host {
        check_registry_host(host).map_err(|reason| ConfigError { variable: "registry_host", reason })?;
    }
    let acr_instance_id = optional(vars, "acr_instance_id")?;
    if let Some(id) = &acr_instance_id {
        check_acr_instance_id(id).map_err(|reason| ConfigError { variable: "acr_instance_id", reason })?;
    }

    let sae_timeout = duration(vars, "sae_timeout_seconds", 1, MAX_SAE_TIMEOUT_SECS, "seconds")?
        .unwrap_or(DEFAULT_SAE_TIMEOUT);
    let retention = duration(vars, "retention_hours", 3600, MAX_RETENTION_HOURS, "hours")?
        .unwrap_or(DEFAULT_RETENTION);

    Ok(DeployConfig {
        credentials: Credentials {
            access_key_id: Secret::new(access_key_id),
            access_key_secret: Secret::new(access_key_secret),
            security_token: security_token.map(Secret::new),
        },
        region,
        sae_endpoint,
        registry_host,
        acr_instance_id,
        sae_timeout,
        retention,
    })
}

/// Reads a whole number of `unit`s from 1 to `max` as a duration of
/// `unit_secs` seconds each; `None` when the variable is unset.
fn duration(
    vars: &dyn Variables,
    name: &'static str,
    unit_secs: u64,
    max: u64,
    unit: &str,
) -> Result<Option<Duration>, ConfigError> {
    let Some(value) = optional(vars, name)? else {
        return Ok(None);
    };
    match value.parse::<u64>() {
        Ok(count) if (1..=max).contains(&count) => Ok(Some(Duration::from_secs(count * unit_secs))),
        _ => Err(ConfigError {
            variable: name,
            reason: format!("must be a whole number of {unit} from 1 to {max}"),
        }),
    }
}

fn required(vars: &dyn Variables, name: &'static str) -> Result<String, ConfigError> {
    match optional(vars, name)? {
        Some(value) => Ok(value),
        None => Err(ConfigError {
            variable: name,
            reason: format!(
                "is missing or empty; set it with `--variable {name}=…` or the environment variable SPIN_VARIABLE_{}",
                name.to_ascii_uppercase()
            ),
        }),
    }
}

/// Reads a variable, treating `""` as unset and trimming nothing: a value
/// with surrounding whitespace is rejected so a pasted newline is noticed.
fn optional(vars: &dyn Variables, name: &'static str) -> Result<Option<String>, ConfigError> {
    let Some(value) = vars.get(name).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if value.len() > MAX_VALUE_LEN {
        return Err(ConfigError {
            variable: name,
            reason: format!("is {} bytes, over the {MAX_VALUE_LEN}-byte limit", value.len()),
        });
    }
    if value.trim() != value {
        return Err(ConfigError {
            variable: name,
            reason: "has leading or trailing whitespace; remove it (often a pasted newline)".into(),
        });
    }
    Ok(Some(value))
}

/// Credentials go into HTTP headers, so they must be visible ASCII.
fn check_credential(name: &'static str, value: &str) -> Result<(), ConfigError> {
    if !value.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ConfigError {
            variable: name,
            reason: "contains characters other than visible ASCII; copy it again from the RAM console".into(),
        });
    }
    Ok(())
}

/// Checks a region id such as `cn-hangzhou` or `ap-southeast-1`.
pub(crate) fn check_region_id(value: &str) -> Result<(), String> {
    let parts: Vec<&str> = value.split('-').collect();
    let valid = value.len() <= 32
        && parts.len() >= 2
        && parts[0].len() >= 2
        && parts[0].bytes().all(|b| b.is_ascii_lowercase())
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));
    if !valid {
        return Err("is not a region id like `cn-hangzhou` or `ap-southeast-1`".into());
    }
    Ok(())
}

/// Checks an ACR Enterprise instance id (`cri-` and lower-case letters or digits).
pub(crate) fn check_acr_instance_id(value: &str) -> Result<(), String> {
    let valid = value.len() <= 64
        && value
            .strip_prefix("cri-")
            .is_some_and(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));
    if !valid {
        return Err("is not an ACR Enterprise instance id like `cri-abc123`".into());
    }
    Ok(())
}

/// Parses `http(s)://host[:port]` with an optional trailing `/`.
pub(crate) fn parse_endpoint(value: &str) -> Result<Endpoint, String> {
    let (scheme, rest) = value
        .split_once("://")
        .ok_or_else(|| "must start with `https://` (or `http://` for a local stand-in)".to_string())?;
    if scheme != "https" && scheme != "http" {
        return Err(format!("has scheme `{scheme}`; use `https://` or `http://`"));
    }
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    if authority.contains(['/', '?', '#', '@']) {
        return Err("must be `scheme://host[:port]` without path, query or user info".into());
    }
    check_registry_host(authority).map_err(|_| "has an invalid host or port".to_string())?;
    Ok(Endpoint {
        scheme: scheme.into(),
        authority: authority.into(),
    })
}

/// Returns the endpoint for a region: the configured one, or the region's
/// public endpoint when SAE has one there.
pub(crate) fn endpoint_for(config: &DeployConfig, region: &str) -> Option<Endpoint> {
    if let Some(endpoint) = &config.sae_endpoint {
        return Some(endpoint.clone());
    }
    SAE_REGIONS.contains(&region).then(|| Endpoint::for_region(region))
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
