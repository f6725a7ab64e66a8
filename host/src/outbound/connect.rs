//! Opening one outbound HTTP/1.1 connection: TCP, TLS for `https`, and the
//! HTTP handshake, each step bounded by the request's `connect_timeout`.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use hyper::client::conn::http1;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio::time::timeout;
use wasmtime_wasi_http::bindings::http::types::{DnsErrorPayload, ErrorCode};
use wasmtime_wasi_http::body::HyperOutgoingBody;
use wasmtime_wasi_http::hyper_request_error;
use wasmtime_wasi_http::io::TokioIo;

use crate::log;

/// The sending half of an HTTP/1.1 client connection.
pub(super) type Sender = http1::SendRequest<HyperOutgoingBody>;

/// Destination of a connection. Connections are shared only between
/// requests with the same scheme and `host:port`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) struct PoolKey {
    pub(super) use_tls: bool,
    /// The host as in the URI, with brackets around an IPv6 address.
    pub(super) host: String,
    pub(super) port: u16,
}

impl PoolKey {
    /// Returns the key for `uri`, with port 443 or 80 when it has none.
    pub(super) fn for_uri(uri: &http::Uri, use_tls: bool) -> Result<Self, ErrorCode> {
        let authority = uri.authority().ok_or(ErrorCode::HttpRequestUriInvalid)?;
        let default_port = if use_tls { 443 } else { 80 };
        Ok(Self {
            use_tls,
            host: authority.host().to_string(),
            port: authority.port_u16().unwrap_or(default_port),
        })
    }
}

/// Opens a connection for `key` and starts the task that drives it.
pub(super) async fn open(key: &PoolKey, connect_timeout: Duration) -> Result<Sender, ErrorCode> {
    let address = format!("{}:{}", key.host, key.port);
    let tcp = timeout(connect_timeout, TcpStream::connect(&address))
        .await
        .map_err(|_| ErrorCode::ConnectionTimeout)?
        .map_err(|error| connect_error(&error))?;
    // Requests are small and written in pieces (head, then body), so Nagle's
    // algorithm would hold back the body until the head is acknowledged.
    let _ = tcp.set_nodelay(true);

    if !key.use_tls {
        return handshake(TokioIo::new(tcp), connect_timeout).await;
    }
    let server_name = server_name(&key.host)?;
    let tls = timeout(connect_timeout, tls_connector().connect(server_name, tcp))
        .await
        .map_err(|_| ErrorCode::ConnectionTimeout)?
        .map_err(|error| {
            log::event(
                "outbound_tls_failed",
                &[("host", &key.host), ("error", &error.to_string())],
            );
            ErrorCode::TlsProtocolError
        })?;
    handshake(TokioIo::new(tls), connect_timeout).await
}

async fn handshake<I>(io: I, connect_timeout: Duration) -> Result<Sender, ErrorCode>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (sender, connection) = timeout(connect_timeout, http1::handshake(io))
        .await
        .map_err(|_| ErrorCode::ConnectionTimeout)?
        .map_err(hyper_request_error)?;
    // The task ends when the server closes the connection or when every
    // `Sender` for it has been dropped and no request is in flight.
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            log::event(
                "outbound_connection_error",
                &[("error", &error.to_string())],
            );
        }
    });
    Ok(sender)
}

/// Maps a failed TCP connect to the error codes wasmtime-wasi-http 41's
/// default sender uses.
fn connect_error(error: &std::io::Error) -> ErrorCode {
    let lookup_failed = error.kind() == std::io::ErrorKind::AddrNotAvailable
        || error
            .to_string()
            .starts_with("failed to lookup address information");
    if lookup_failed {
        dns_error("address not available")
    } else {
        ErrorCode::ConnectionRefused
    }
}

fn dns_error(reason: &str) -> ErrorCode {
    ErrorCode::DnsError(DnsErrorPayload {
        rcode: Some(reason.to_string()),
        info_code: Some(0),
    })
}

fn server_name(host: &str) -> Result<ServerName<'static>, ErrorCode> {
    // `ServerName` parses an IPv6 address without its URI brackets.
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(bare.to_string()).map_err(|_| dns_error("invalid dns name"))
}

/// Returns the TLS client settings, built once: the Mozilla root
/// certificates from `webpki-roots`, as wasmtime-wasi-http's default sender
/// uses, and no client certificate.
fn tls_connector() -> tokio_rustls::TlsConnector {
    static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    let config = CONFIG.get_or_init(|| {
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        let config = rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth();
        Arc::new(config)
    });
    tokio_rustls::TlsConnector::from(config.clone())
}
