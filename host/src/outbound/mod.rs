//! Outbound HTTP: the `allowed_outbound_hosts` check, the request timeouts
//! and kept-alive connections.

use std::time::Duration;

use wasmtime_wasi_http::bindings::http::types::ErrorCode;
use wasmtime_wasi_http::body::HyperOutgoingBody;
use wasmtime_wasi_http::types::{HostFutureIncomingResponse, OutgoingRequestConfig};
use wasmtime_wasi_http::HttpResult;

use crate::allowed_hosts::OutboundPolicy;
use crate::log;
use pool::ConnectionPool;

mod connect;
pub mod pool;

/// Checks `request` against `policy` and, when allowed, sends it.
///
/// A denied request fails with `HttpRequestDenied` and logs one
/// `event=outbound_denied` line naming only the authority.
pub fn send_request(
    policy: &OutboundPolicy,
    component: &str,
    request: hyper::Request<HyperOutgoingBody>,
    config: OutgoingRequestConfig,
) -> HttpResult<HostFutureIncomingResponse> {
    let scheme = if config.use_tls { "https" } else { "http" };
    let authority = request.uri().authority().cloned();
    let allowed = authority
        .as_ref()
        .is_some_and(|authority| policy.allows(scheme, authority.host(), authority.port_u16()));
    if !allowed {
        let authority_text = authority.as_ref().map(|a| a.as_str()).unwrap_or("");
        log::event(
            "outbound_denied",
            &[
                ("component", component),
                ("scheme", scheme),
                ("host", authority_text),
            ],
        );
        return Err(ErrorCode::HttpRequestDenied.into());
    }
    Ok(send_allowed(request, config))
}

/// Sends an allowed request on a kept-alive connection (see [`pool`]).
///
/// The pool bounds the TCP connect, the TLS handshake and the HTTP handshake
/// by `connect_timeout` each, the wait for the response head by
/// `first_byte_timeout`, and wasmtime-wasi-http bounds each gap between body
/// chunks by `between_bytes_timeout`. This wrapper also bounds the whole wait
/// for the response head by `connect_timeout + first_byte_timeout` (at most
/// one day), which fails with `ConnectionTimeout`.
pub fn send_allowed(
    request: hyper::Request<HyperOutgoingBody>,
    config: OutgoingRequestConfig,
) -> HostFutureIncomingResponse {
    let head_deadline = config
        .connect_timeout
        .saturating_add(config.first_byte_timeout)
        .min(Duration::from_secs(60 * 60 * 24));
    let handle = wasmtime_wasi::runtime::spawn(async move {
        let pool = ConnectionPool::shared();
        let sent = tokio::time::timeout(head_deadline, pool.send(request, &config)).await;
        Ok(sent.unwrap_or(Err(ErrorCode::ConnectionTimeout)))
    });
    HostFutureIncomingResponse::pending(handle)
}
