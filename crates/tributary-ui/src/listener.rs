//! The accept loop: at most [`Limits::max_connections`] connections at a time, each closed when
//! it sends no request head in time or when a request takes too long, so that clients of the UI
//! can never take the file descriptors the queries need.
//!
//! ```text
//!  kernel backlog ──(a permit is free)──► accept ──► HTTP/1 connection task (holds the permit)
//!                                                     ├─ no complete head within header_read_timeout → closed
//!                                                     └─ a request older than request_timeout       → closed
//! ```

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::Service as _;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;

/// Default of [`Limits::max_connections`].
pub const MAX_CONNECTIONS: usize = 64;
/// Default of [`Limits::header_read_timeout`].
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Default of [`Limits::request_timeout`].
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// What the UI server lets its clients hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Connections served at once (at least 1). More wait in the kernel's listen backlog, where
    /// they hold no file descriptor of the process. Default [`MAX_CONNECTIONS`].
    pub max_connections: usize,
    /// Time a client has to send a complete request head, from the connection's start or from
    /// the end of its previous answer: an idle keep-alive connection is closed after it.
    /// Default [`HEADER_READ_TIMEOUT`].
    pub header_read_timeout: Duration,
    /// Time a request has from its start until the next one starts (its answer written): a
    /// connection whose request takes longer (a slow handler, a client that does not read the
    /// answer) is closed. Default [`REQUEST_TIMEOUT`].
    pub request_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: MAX_CONNECTIONS,
            header_read_timeout: HEADER_READ_TIMEOUT,
            request_timeout: REQUEST_TIMEOUT,
        }
    }
}

/// Serve `app` on `listener` within `limits`, until the future is dropped (which drops every
/// connection too).
pub(crate) async fn run(listener: TcpListener, app: Router, limits: Limits) {
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let mut connections = JoinSet::new();
    loop {
        while connections.try_join_next().is_some() {}
        // Take a permit before accepting: past the cap, clients wait in the backlog.
        let Ok(permit) = permits.clone().acquire_owned().await else {
            return;
        };
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of descriptors, or a connection reset before it was accepted: back off a
                // little instead of spinning.
                tracing::warn!(error = %e, "the UI server could not accept a connection");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let app = app.clone();
        connections.spawn(async move {
            serve_connection(stream, app, limits).await;
            drop(permit);
        });
    }
}

/// One HTTP/1 connection, closed at the first timeout.
async fn serve_connection(stream: TcpStream, app: Router, limits: Limits) {
    // When the latest request started (the connection's start before the first one).
    let (started_tx, mut started) = watch::channel(Instant::now());
    let started_tx = Arc::new(started_tx);
    let service = {
        let started_tx = started_tx.clone();
        let app = TowerToHyperService::new(app);
        hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
            started_tx.send_replace(Instant::now());
            app.call(req)
        })
    };
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    let connection = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    loop {
        let deadline = *started.borrow_and_update() + limits.request_timeout;
        tokio::select! {
            done = connection.as_mut() => {
                if let Err(e) = done {
                    tracing::debug!(error = %e, "a UI connection ended with an error");
                }
                return;
            }
            // `started_tx` lives as long as this task: the channel cannot close.
            _ = started.changed() => {}
            _ = tokio::time::sleep_until(deadline) => {
                tracing::debug!(
                    timeout = ?limits.request_timeout,
                    "closing a UI connection whose request took too long"
                );
                return;
            }
        }
    }
}
