//! Tributary's serving layer: a running job's results, live state and tables, queried by
//! applications and BI tools over the PostgreSQL wire protocol and Arrow Flight SQL.
//!
//! ```text
//!  job's tables ──► Catalog ──────────────────────────────────────────┐
//!   Delta sinks and sources (latest committed version, VERSION AS OF)  │
//!   memory sinks (live, in the process)                                │
//!                                                                      ▼
//!  psql / psycopg / SQLAlchemy / BI ──► PgEndpoint (pgwire, password) ──► statement: BEGIN, SET,
//!                                         SHOW answered; client catalog queries (\dt, \d,
//!                                         reflection) from the catalog; the rest query::plan
//!  ADBC / JDBC Flight SQL clients ─────► FlightSqlEndpoint (tonic, token) ──► query::plan,
//!                                         streamed as Arrow; GetTables etc. from the catalog
//! ```
//!
//! `tributary serve JOB.sql` serves a job's tables; `tributary run JOB.sql --serve ADDR` serves
//! them while the job runs, with its memory sinks.

mod catalog;
mod client_catalog;
mod credentials;
mod flight;
mod pg;
mod query;
mod statement;

pub use catalog::{Catalog, ServedTable};
pub use credentials::{random_secret, Credentials};
pub use flight::FlightSqlEndpoint;
pub use pg::PgEndpoint;

/// The PostgreSQL version the endpoint says it speaks (clients choose their catalog queries by
/// it).
pub const SERVER_VERSION: &str = "16.6";
