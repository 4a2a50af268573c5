//! # tributary-ui
//!
//! The monitoring of a session's streaming queries: a listener that keeps every query's recent
//! progress, a web UI (pages with charts, all assets embedded), JSON endpoints and Prometheus
//! metrics.
//!
//! ```text
//!  epoch driver ─ listener events ─► Monitor (per query: status, totals, last 300 progress records)
//!                                        │
//!   GET /                    active and finished queries      ◄──┤  (pages poll the JSON)
//!   GET /query/{id}          charts of one query               ◄──┤
//!   GET /api/queries[/{id}]  JSON (progress records as Spark's) ◄──┤
//!   GET /metrics             Prometheus text                   ◄──┘
//! ```
//!
//! ## Monitoring UI security
//!
//! The UI runs in the process of the queries, so it must never be able to hurt them, and it
//! shows query names, plans and errors, so it answers only whom it should:
//!
//! - **Connections are capped and timed** ([`Limits`]): at most [`MAX_CONNECTIONS`] (64)
//!   connections are served at once, and more wait in the kernel's listen backlog without
//!   holding a file descriptor of the process; a connection that sends no complete request head
//!   within [`HEADER_READ_TIMEOUT`] (10 s, idle keep-alive included) is closed, and so is one
//!   whose request is not done within [`REQUEST_TIMEOUT`] (30 s: a slow answer, or a client that
//!   does not read it). [`serve_with_limits`] sets other values.
//! - **Every route needs the token when one is set**, pages, assets, JSON and `/metrics` alike:
//!   `Authorization: Bearer <token>` (the scheme in any case, as RFC 7235 says) or `?token=`.
//!   The token is compared in constant time.
//! - **The Host header is checked** against DNS rebinding: a server listening on a loopback
//!   address answers only requests for `127.0.0.1`, `localhost` or `[::1]` (any port), and
//!   refuses others with 403 and the reason. A server listening on any other address accepts
//!   any host, but only with a token: without one it refuses every request with 403.
//! - **Every dynamic value put into HTML is escaped** (`escape_html` on the server, `esc` in the
//!   pages' script): a query name or id read from a checkpoint is shown, never run.
//! - **Every response carries security headers**: `Content-Security-Policy` (`default-src
//!   'self'`, no inline script or style, `frame-ancestors 'none'`), `X-Content-Type-Options:
//!   nosniff`, `X-Frame-Options: DENY`, `Referrer-Policy: no-referrer` and `Cache-Control:
//!   no-store`.
//! - **Links keep the token**: a page opened with `?token=` carries it (percent-encoded and
//!   escaped) in its links, and its script adds it to the JSON requests. No cookie is set, so
//!   nothing is sent to the UI without being asked for; the `no-referrer` policy keeps the
//!   token out of other sites' logs.
#![warn(missing_docs)]

mod guard;
mod html;
mod listener;
mod metrics;
mod server;
mod store;

pub use listener::{Limits, HEADER_READ_TIMEOUT, MAX_CONNECTIONS, REQUEST_TIMEOUT};
pub use metrics::render as render_metrics;
pub use server::{serve, serve_with_limits, UiServer};
pub use store::{Monitor, QueryRecord, Totals, HISTORY};
