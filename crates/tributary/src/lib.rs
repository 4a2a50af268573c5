//! # Tributary
//!
//! One DataFrame or SQL program, run as a batch over data at rest or as an incremental,
//! exactly-once stream, with the same result, on Delta Lake tables.
//!
//! ```text
//!  Session ─ read() / read_stream() ─► DataFrame (DataFusion's; a stream is a TableScan over a StreamTable)
//!     │                                   │ your fn(DataFrame) -> Result<DataFrame>
//!     │                 ┌─────────────────┴──────────────────┐
//!     │          df.write() (batch)                  df.write_stream().start() (stream)
//!     │                 │                                    │  plan::check_supported, materialize_static
//!     │                 ▼                                    ▼
//!     │          one bounded run                 exec::driver: per epoch
//!     │                                            1 sources' latest offsets (rate limits)
//!     │                                            2 offsets/<epoch>  (write-ahead)
//!     │                                            3 bind_epoch + DataFusion execution, through
//!     │                                              the stateful operator if any (aggregation,
//!     │                                              dedup, stream-stream join, user state) and
//!     │                                              its state store (state/<op>/<partition>)
//!     │                                            4 sink.add_batch(epoch)  (idempotent)
//!     │                                            5 commits/<epoch> + watermark, progress, listeners
//!     └─ streams(): StreamingQueryManager (active, get, await_any_termination, listeners)
//! ```
//!
//! Stateful streaming (see `docs/stateful.md`): `with_watermark`, `window`, `session_window`,
//! aggregations in append/update/complete mode, `drop_duplicates`, stream-stream joins and
//! `group_by_key(..).map_groups_with_state(..)`.
//!
//! Sources: files (JSON lines, CSV, Parquet), rate, memory. Sinks: Delta (exactly once via
//! Delta's application transaction), Parquet/JSON folders (exactly once via a manifest log),
//! console, memory, `foreach_batch`. The checkpoint protocol lives in `tributary-checkpoint`
//! as pure types and decisions.
//!
//! ```no_run
//! use std::time::Duration;
//! use tributary::prelude::*;
//!
//! fn clean(events: DataFrame) -> tributary::Result<DataFrame> {
//!     Ok(events.filter(col("user_id").is_not_null())?)
//! }
//!
//! # async fn run(schema: SchemaRef) -> tributary::Result<()> {
//! let session = Session::new();
//! // As a batch:
//! let history = session.read().schema(schema.clone()).json("data/events").await?;
//! clean(history)?.write().format("delta").mode(SaveMode::Append).save("lake/silver").await?;
//! // As a stream, with the same function:
//! let live = session.read_stream().schema(schema).json("data/events").await?;
//! let query = clean(live)?
//!     .write_stream()
//!     .format("delta")
//!     .trigger(Trigger::ProcessingTime(Duration::from_secs(1)))
//!     .option("checkpoint_location", "checkpoints/silver")
//!     .start("lake/silver")
//!     .await?;
//! query.await_termination().await?;
//! # Ok(()) }
//! ```
#![warn(missing_docs)]

pub mod clock;
pub mod connector;
mod error;
mod exec;
pub mod format;
pub mod functions;
#[doc(hidden)]
pub mod fuzzing;
mod keyed;
pub mod location;
pub mod memory;
mod modes;
mod plan;
mod progress;
mod query;
mod read_buffers;
mod reader;
mod session;
pub mod sink;
pub mod source;
#[cfg(test)]
mod sql_rows;
pub mod state;
pub mod storage;
mod writer;

pub use connector::delta::maintenance;
#[cfg(feature = "kafka")]
pub use connector::kafka;
#[cfg(feature = "postgres")]
pub use connector::postgres;
pub use error::{ErrorDomain, Result, TributaryError};
pub use exec::verify::{compare_batches, Comparison};
pub use keyed::KeyedDataFrame;
pub use modes::{OutputMode, SaveMode, Trigger};
pub use plan::{evolution, shape, store_assignment, SparkTypePlanner};
pub use progress::{RealTimeProgress, SinkProgress, SourceProgress, StreamingQueryProgress};
pub use query::{
    QueryIdleEvent, QueryProgressEvent, QueryStartedEvent, QueryStatus, QueryTerminatedEvent,
    StreamingQuery, StreamingQueryListener, StreamingQueryManager,
};
pub use reader::{DataFrameReader, DataStreamReader};
pub use session::Session;
pub use source::MemoryStream;
pub use tributary_checkpoint as checkpoint;
pub use writer::{DataFrameExt, DataFrameWriter, DataStreamWriter, WriteSummary};

/// DataFusion's DataFrame: the one DataFrame type of batch and stream.
pub type DataFrame = datafusion::dataframe::DataFrame;

/// Everything a job needs: `use tributary::prelude::*;`.
pub mod prelude {
    pub use crate::functions::{
        from_json, session_window, sliding_window, window, window_time, window_with_start,
    };
    pub use crate::{
        DataFrame, DataFrameExt, MemoryStream, OutputMode, SaveMode, Session, StreamingQuery,
        Trigger,
    };
    pub use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
    pub use datafusion::functions::expr_fn::*;
    pub use datafusion::functions_aggregate::expr_fn::{
        approx_distinct, array_agg, avg, count, count_distinct, first_value, last_value, max, min,
        sum,
    };
    pub use datafusion::prelude::{col, lit, Expr};
}
