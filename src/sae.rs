//! SAE OpenAPI requests (version 2019-05-06, ROA style): building, signing
//! and encoding them for the wire.
//!
//! Building and signing are pure: the date and nonce are arguments, so the
//! same inputs always give the same bytes.

use std::time::SystemTime;

use base64::Engine;
use md5::{Digest, Md5};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::config::{Credentials, Endpoint};
use crate::signer;

/// SAE OpenAPI version sent as `x-acs-version`.
pub(crate) const API_VERSION: &str = "2019-05-06";

/// Characters left as they are in query strings and form bodies: RFC 3986
/// unreserved. Everything else, `+` and space included, is percent-encoded,
/// so a decoder that turns `+` into a space still reads the signed value.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Form content type for request bodies.
const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded";

/// `User-Agent` sent with every call; not part of the signature.
const USER_AGENT: &str = concat!("sae-deploy-trigger/", env!("CARGO_PKG_VERSION"));

/// One SAE OpenAPI call before signing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SaeRequest {
    /// Action name, sent as `x-acs-action`, e.g. `DeployApplication`.
    pub(crate) action: &'static str,
    /// HTTP method.
    pub(crate) method: &'static str,
    /// Where to send it.
    pub(crate) endpoint: Endpoint,
    /// ROA path of the action.
    pub(crate) path: &'static str,
    /// Query parameters, decoded.
    pub(crate) query: Vec<(String, String)>,
    /// Form body parameters, decoded; empty means no body.
    pub(crate) form: Vec<(String, String)>,
}

/// A signed request, ready for the host's outbound HTTP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SignedRequest {
    /// Action name, for logs.
    pub(crate) action: &'static str,
    /// HTTP method.
    pub(crate) method: &'static str,
    /// Full URL with the percent-encoded query.
    pub(crate) url: String,
    /// Headers, lower-case names, `authorization` last.
    pub(crate) headers: Vec<(String, String)>,
    /// Form body, when the call has one.
    pub(crate) body: Option<Vec<u8>>,
}

/// Parameters of `DeployApplication` that this product sets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct DeployParams {
    /// SAE application id.
    pub(crate) app_id: String,
    /// Image to deploy.
    pub(crate) image_url: String,
    /// Text shown on the change order in the SAE console.
    pub(crate) change_order_desc: String,
    /// ACR Enterprise instance id, sent in the form body.
    pub(crate) acr_instance_id: Option<String>,
    /// `MinReadyInstances`.
    pub(crate) min_ready_instances: Option<i64>,
    /// `MinReadyInstanceRatio`.
    pub(crate) min_ready_instance_ratio: Option<i64>,
    /// `BatchWaitTime`, seconds.
    pub(crate) batch_wait_time: Option<i64>,
    /// `UpdateStrategy`, SAE's JSON string.
    pub(crate) update_strategy: Option<String>,
}

/// Builds `DeployApplication` (`POST /pop/v1/sam/app/deployApplication`).
pub(crate) fn deploy_application(endpoint: &Endpoint, params: &DeployParams) -> SaeRequest {
    let mut query = vec![
        ("AppId".to_string(), params.app_id.clone()),
        ("ImageUrl".to_string(), params.image_url.clone()),
        ("ChangeOrderDesc".to_string(), params.change_order_desc.clone()),
    ];
    let numbers = [
        ("MinReadyInstances", params.min_ready_instances),
        ("MinReadyInstanceRatio", params.min_ready_instance_ratio),
        ("BatchWaitTime", params.batch_wait_time),
    ];
    for (name, value) in numbers {
        if let Some(value) = value {
            query.push((name.to_string(), value.to_string()));
        }
    }
    if let Some(strategy) = &params.update_strategy {
        query.push(("UpdateStrategy".to_string(), strategy.clone()));
    }
    let form = params
        .acr_instance_id
        .iter()
        .map(|id| ("AcrInstanceId".to_string(), id.clone()))
        .collect();
    SaeRequest {
        action: "DeployApplication",
        method: "POST",
        endpoint: endpoint.clone(),
        path: "/pop/v1/sam/app/deployApplication",
        query,
        form,
    }
}

/// Builds a GET read call with query parameters.
pub(crate) fn read_call(
    endpoint: &Endpoint,
    action: &'static str,
    path: &'static str,
    query: Vec<(String, String)>,
) -> SaeRequest {
    SaeRequest {
        action,
        method: "GET",
        endpoint: endpoint.clone(),
        path,
        query,
        form: Vec::new(),
    }
}

/// Builds `DescribeApplicationConfig`, which returns the image an app runs.
pub(crate) fn describe_application_config(endpoint: &Endpoint, app_id: &str) -> SaeRequest {
    read_call(
        endpoint,
        "DescribeApplicationConfig",
        "/pop/v1/sam/app/describeApplicationConfig",
        vec![("AppId".into(), app_id.into())],
    )
}

/// Builds `DescribeChangeOrder`.
pub(crate) fn describe_change_order(endpoint: &Endpoint, change_order_id: &str) -> SaeRequest {
    read_call(
        endpoint,
        "DescribeChangeOrder",
        "/pop/v1/sam/changeorder/DescribeChangeOrder",
        vec![("ChangeOrderId".into(), change_order_id.into())],
    )
}

/// Builds `ListChangeOrders` for the newest change orders of an app.
pub(crate) fn list_change_orders(endpoint: &Endpoint, app_id: &str, page_size: u32) -> SaeRequest {
    read_call(
        endpoint,
        "ListChangeOrders",
        "/pop/v1/sam/changeorder/ListChangeOrders",
        vec![
            ("AppId".into(), app_id.into()),
            ("CurrentPage".into(), "1".into()),
            ("PageSize".into(), page_size.to_string()),
        ],
    )
}

/// Signs a request: adds the protocol headers, `Date`, the nonce, the STS
/// headers when the credentials are temporary, and `Authorization`.
pub(crate) fn sign(
    request: &SaeRequest,
    credentials: &Credentials,
    date: SystemTime,
    nonce: &str,
) -> SignedRequest {
    let body = (!request.form.is_empty()).then(|| encode_pairs(&request.form).into_bytes());

    // Headers in the order they go on the wire; all names lower case.
    let mut headers: Vec<(String, String)> = vec![
        ("accept".into(), "application/json".into()),
        ("date".into(), httpdate::fmt_http_date(date)),
        ("x-acs-action".into(), request.action.into()),
        ("x-acs-version".into(), API_VERSION.into()),
        ("x-acs-signature-method".into(), "HMAC-SHA1".into()),
        ("x-acs-signature-version".into(), "1.0".into()),
        ("x-acs-signature-nonce".into(), nonce.into()),
    ];
    if let Some(token) = &credentials.security_token {
        headers.push(("x-acs-accesskey-id".into(), credentials.access_key_id.expose().into()));
        headers.push(("x-acs-security-token".into(), token.expose().into()));
    }
    if let Some(body) = &body {
        headers.push(("content-type".into(), FORM_CONTENT_TYPE.into()));
        headers.push(("content-md5".into(), content_md5(body)));
    }

    // The signature covers the decoded query and the headers above.
    let string_to_sign = signer::string_to_sign(request.method, request.path, &request.query, &headers);
    let signature = signer::signature(credentials.access_key_secret.expose(), &string_to_sign);
    headers.push(("user-agent".into(), USER_AGENT.into()));
    headers.push((
        "authorization".into(),
        signer::authorization(credentials.access_key_id.expose(), &signature),
    ));

    SignedRequest {
        action: request.action,
        method: request.method,
        url: url(request),
        headers,
        body,
    }
}

/// Returns the full URL with the query percent-encoded.
pub(crate) fn url(request: &SaeRequest) -> String {
    let mut url = format!("{}{}", request.endpoint.base_url(), request.path);
    if !request.query.is_empty() {
        url.push('?');
        url.push_str(&encode_pairs(&request.query));
    }
    url
}

/// Encodes `key=value` pairs joined by `&`, with every reserved byte escaped.
pub(crate) fn encode_pairs(pairs: &[(String, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                utf8_percent_encode(k, QUERY_VALUE),
                utf8_percent_encode(v, QUERY_VALUE)
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// Returns `Base64(MD5(body))`.
fn content_md5(body: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Md5::digest(body))
}

#[cfg(test)]
#[path = "sae_tests.rs"]
mod tests;
