//! Entry points for fuzz targets and benchmarks, behind the `internals`
//! feature. Not a stable API: the component itself exports only the Spin
//! HTTP handler.

use std::time::SystemTime;

use crate::config::{Credentials, DeployConfig, Secret, DEFAULT_RETENTION, DEFAULT_SAE_TIMEOUT};
use crate::plan::plan;
use crate::routes::{parse_routes, RouteTable};
use crate::sae::{deploy_application, sign, DeployParams, SignedRequest};
use crate::webhook::{parse_push, PushEvent};

/// A parsed and validated push.
pub struct Push(PushEvent);

impl Push {
    /// Returns the namespace, name, tag, digest and region, with `""` for an
    /// absent digest or region.
    pub fn parts(&self) -> [&str; 5] {
        let event = &self.0;
        [
            &event.namespace,
            &event.name,
            &event.tag,
            event.digest.as_deref().unwrap_or(""),
            event.region.as_deref().unwrap_or(""),
        ]
    }
}

/// A parsed route table.
pub struct Routes(Option<RouteTable>);

/// The `DeployApplication` calls planned for a push, before signing.
pub struct Planned(Vec<crate::sae::SaeRequest>);

/// Parses an ACR webhook body.
pub fn parse_webhook(body: &[u8]) -> Result<Push, String> {
    parse_push(body).map(Push).map_err(|e| e.to_string())
}

/// Parses a `routes` value; an empty text gives an empty table.
pub fn parse_route_table(text: &str) -> Result<Routes, String> {
    parse_routes(text).map(Routes).map_err(|e| e.to_string())
}

/// Checks the parts of an image reference; returns which parts are valid.
pub fn check_reference(namespace: &str, name: &str, tag: &str, digest: &str, host: &str) -> [bool; 5] {
    use crate::reference::*;
    [
        check_path_component(namespace).is_ok(),
        check_path_component(name).is_ok(),
        check_tag(tag).is_ok(),
        check_digest(digest).is_ok(),
        check_registry_host(host).is_ok(),
    ]
}

/// Plans the deploys of a push: routes when a table is given, else
/// `app_id`. Uses the push's region and the public SAE endpoints.
pub fn plan_deploys(push: &Push, routes: &Routes, app_id: &str) -> Result<Planned, String> {
    let config = bench_config();
    let url_app = routes.0.is_none().then_some(app_id);
    let items = plan(&config, routes.0.as_ref(), &push.0, url_app).map_err(|e| e.to_string())?;
    let requests = items
        .into_iter()
        .filter_map(|item| item.target.ok())
        .map(|target| deploy_application(&target.endpoint, &target.params))
        .collect();
    Ok(Planned(requests))
}

/// Signs every planned call; returns the `Authorization` values.
pub fn sign_all(planned: &Planned, access_key_secret: &str, now: SystemTime, nonce: &str) -> Vec<String> {
    let mut credentials = bench_config().credentials;
    credentials.access_key_secret = Secret::new(access_key_secret);
    planned
        .0
        .iter()
        .map(|request| authorization(&sign(request, &credentials, now, nonce)))
        .collect()
}

/// A signed request as it goes on the wire: URL, headers and body.
pub type WireRequest = (String, Vec<(String, String)>, Option<Vec<u8>>);

/// Builds and signs one `DeployApplication` call from raw parameters, as a
/// property test or fuzz target needs: returns the URL, the headers and the
/// body exactly as they go on the wire.
pub fn signed_deploy(
    endpoint: &str,
    params: [&str; 3],
    acr_instance_id: Option<&str>,
    credentials: [&str; 2],
    security_token: Option<&str>,
    now: SystemTime,
    nonce: &str,
) -> Result<WireRequest, String> {
    let endpoint = crate::config::parse_endpoint(endpoint)?;
    let [app_id, image_url, change_order_desc] = params;
    let deploy = DeployParams {
        app_id: app_id.into(),
        image_url: image_url.into(),
        change_order_desc: change_order_desc.into(),
        acr_instance_id: acr_instance_id.map(str::to_owned),
        ..DeployParams::default()
    };
    let [access_key_id, access_key_secret] = credentials;
    let credentials = Credentials {
        access_key_id: Secret::new(access_key_id),
        access_key_secret: Secret::new(access_key_secret),
        security_token: security_token.map(Secret::new),
    };
    let signed = sign(&deploy_application(&endpoint, &deploy), &credentials, now, nonce);
    Ok((signed.url, signed.headers, signed.body))
}

/// Returns the string to sign of the ROA scheme.
pub fn string_to_sign(method: &str, path: &str, query: &[(String, String)], headers: &[(String, String)]) -> String {
    crate::signer::string_to_sign(method, path, query, headers)
}

/// Returns the ROA signature of a string to sign.
pub fn signature(secret: &str, string_to_sign: &str) -> String {
    crate::signer::signature(secret, string_to_sign)
}

fn authorization(request: &SignedRequest) -> String {
    request
        .headers
        .iter()
        .find(|(name, _)| name == "authorization")
        .map(|(_, value)| value.clone())
        .unwrap_or_default()
}

fn bench_config() -> DeployConfig {
    DeployConfig {
        credentials: Credentials {
            access_key_id: Secret::new("LTAIbenchmarkKeyId"),
            access_key_secret: Secret::new("benchmark-secret"),
            security_token: None,
        },
        region: None,
        sae_endpoint: None,
        registry_host: None,
        acr_instance_id: None,
        sae_timeout: DEFAULT_SAE_TIMEOUT,
        retention: DEFAULT_RETENTION,
    }
}
