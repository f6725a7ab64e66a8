//! Keep-alive for outbound HTTP/1.1: idle connections kept per scheme and
//! `host:port` and reused by later requests of any component instance.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use http_body_util::BodyExt;
use tokio::time::timeout;
use wasmtime_wasi_http::bindings::http::types::ErrorCode;
use wasmtime_wasi_http::body::HyperOutgoingBody;
use wasmtime_wasi_http::hyper_request_error;
use wasmtime_wasi_http::types::{IncomingResponse, OutgoingRequestConfig};

use super::connect::{self, PoolKey, Sender};

/// How long a connection may sit idle before it is closed instead of reused.
/// Shorter than Apache httpd's default `KeepAliveTimeout` of 5 s, so a
/// server with that setting rarely closes a connection just as it is reused.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(4);

/// Idle connections kept per scheme and `host:port`. More concurrent requests
/// than this still get a connection each, but the surplus is closed after use.
pub const MAX_IDLE_PER_HOST: usize = 32;

struct IdleConnection {
    sender: Sender,
    since: Instant,
}

impl IdleConnection {
    fn is_usable(&self, now: Instant) -> bool {
        !self.sender.is_closed() && now.duration_since(self.since) < IDLE_TIMEOUT
    }
}

/// The idle connections of the whole process.
#[derive(Default)]
pub(super) struct ConnectionPool {
    idle: Mutex<HashMap<PoolKey, Vec<IdleConnection>>>,
}

impl ConnectionPool {
    /// Returns the pool that every request of this process shares.
    pub(super) fn shared() -> &'static ConnectionPool {
        static POOL: OnceLock<ConnectionPool> = OnceLock::new();
        POOL.get_or_init(ConnectionPool::default)
    }

    /// Sends `request` on an idle connection, or on a new one when none is
    /// idle, and returns the response head.
    ///
    /// `connect_timeout` bounds the TCP connect, the TLS handshake and the
    /// HTTP handshake of a new connection, each on its own, and
    /// `first_byte_timeout` bounds sending the request and waiting for the
    /// response head. A request that an idle connection closed before writing
    /// it is sent again on the next connection. A request that was written is
    /// never sent twice.
    pub(super) async fn send(
        &'static self,
        request: hyper::Request<HyperOutgoingBody>,
        config: &OutgoingRequestConfig,
    ) -> Result<IncomingResponse, ErrorCode> {
        let key = PoolKey::for_uri(request.uri(), config.use_tls)?;
        let mut request = into_origin_form(request);
        loop {
            let (mut sender, reused) = match self.checkout(&key) {
                Some(sender) => (sender, true),
                None => (connect::open(&key, config.connect_timeout).await?, false),
            };
            let sent = timeout(config.first_byte_timeout, sender.try_send_request(request))
                .await
                .map_err(|_| ErrorCode::ConnectionReadTimeout)?;
            match sent {
                Ok(response) => {
                    self.checkin_when_idle(key, sender);
                    return Ok(IncomingResponse {
                        resp: response.map(|body| body.map_err(hyper_request_error).boxed_unsync()),
                        // The connection task belongs to the pool, not to
                        // this response.
                        worker: None,
                        between_bytes_timeout: config.between_bytes_timeout,
                    });
                }
                Err(mut error) => match error.take_message() {
                    Some(unsent) if reused => request = unsent,
                    _ => return Err(hyper_request_error(error.into_error())),
                },
            }
        }
    }

    /// Takes the most recently used idle connection for `key` that is still
    /// open, closing the ones that are closed or idle too long.
    fn checkout(&self, key: &PoolKey) -> Option<Sender> {
        let now = Instant::now();
        let mut idle = self
            .idle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let connections = idle.get_mut(key)?;
        while let Some(connection) = connections.pop() {
            if connection.is_usable(now) && connection.sender.is_ready() {
                return Some(connection.sender);
            }
        }
        None
    }

    /// Returns `sender` to the pool once its connection can take another
    /// request, that is once the response body has been read to the end.
    /// A connection that the server or an unread body closes is dropped.
    fn checkin_when_idle(&'static self, key: PoolKey, mut sender: Sender) {
        tokio::spawn(async move {
            if sender.ready().await.is_err() {
                return;
            }
            let now = Instant::now();
            let mut idle = self
                .idle
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let connections = idle.entry(key).or_default();
            connections.retain(|connection| connection.is_usable(now));
            if connections.len() < MAX_IDLE_PER_HOST {
                connections.push(IdleConnection { sender, since: now });
            }
        });
    }
}

/// Rewrites the request target to origin form (`/path?query`), because the
/// scheme and authority belong in the request line only when talking to a
/// proxy.
fn into_origin_form(
    mut request: hyper::Request<HyperOutgoingBody>,
) -> hyper::Request<HyperOutgoingBody> {
    let path_and_query = request
        .uri()
        .path_and_query()
        .map(|value| value.as_str())
        .unwrap_or("/");
    if let Ok(uri) = http::Uri::builder().path_and_query(path_and_query).build() {
        *request.uri_mut() = uri;
    }
    request
}
