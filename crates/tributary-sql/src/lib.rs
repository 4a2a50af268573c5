//! Job files: a SQL file that declares tables and has one or more `INSERT INTO sink SELECT ...`.
//!
//! ```text
//!   job.sql ──${NAME} substitution──► DataFusion's parser ──► JobFile { tables, inserts }
//!                                                                 │
//!        run:    UNBOUNDED tables ─► read_stream()   sinks ─► write_stream().start()  (one query per INSERT)
//!        batch:  every table      ─► read()          sinks ─► write().save()
//!        verify: both into temporary outputs, then compare the rows
//! ```
//!
//! ```sql
//! CREATE UNBOUNDED EXTERNAL TABLE events (event_time TIMESTAMP, user_id BIGINT, region VARCHAR)
//!   STORED AS JSON LOCATION '${input}' OPTIONS ('bad_records_path' '${bad}');
//! CREATE EXTERNAL TABLE regions (region VARCHAR, country VARCHAR) STORED AS CSV LOCATION '${regions}';
//! CREATE EXTERNAL TABLE silver (event_time TIMESTAMP, user_id BIGINT, region VARCHAR, country VARCHAR)
//!   STORED AS DELTA LOCATION '${output}';
//! INSERT INTO silver SELECT e.event_time, e.user_id, e.region, r.country
//!   FROM events e LEFT JOIN regions r ON e.region = r.region;
//! ```
//!
//! `UNBOUNDED` marks a table that `run` reads as a stream; the others are static (read once per
//! query). A table that is the target of an INSERT is a sink.
#![warn(missing_docs)]

mod error;
#[doc(hidden)]
pub mod fuzzing;
mod job;
mod runner;
mod vars;

pub use error::JobError;
pub use job::{InsertStmt, JobFile, TableDecl};
pub use runner::{JobOptions, JobRunner, ReadableTable, VerifyOutcome};
pub use vars::{substitute, variables};
