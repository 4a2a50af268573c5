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
#![warn(missing_docs)]

mod metrics;
mod server;
mod store;

pub use metrics::render as render_metrics;
pub use server::{serve, UiServer};
pub use store::{Monitor, QueryRecord, Totals, HISTORY};
