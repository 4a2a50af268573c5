//! Sinks: where each epoch's output goes, committed idempotently under (query id, epoch).
//!
//! | sink          | exactly-once through                                              |
//! |---------------|-------------------------------------------------------------------|
//! | Delta         | Delta's application transaction (`txn`: appId = query id, version = epoch) |
//! | Parquet/JSON  | a manifest per epoch in `_tributary_log/`, honoured by our readers |
//! | memory        | the last epoch added, kept in the table                           |
//! | console       | none (prints; a re-run epoch prints again)                        |
//! | foreach_batch | the user's function gets the epoch id to deduplicate itself       |

//!
//! The sinks themselves are connectors (`crate::connector`); they are re-exported here.

pub use crate::connector::console::ConsoleSink;
pub use crate::connector::delta::{
    create_table_if_missing, CdcFormat, CdcOptions, DeltaSink, DeltaSinkOptions,
};
pub use crate::connector::files::{FileSink, FILE_SINK_FORMATS};
pub use crate::connector::foreach_batch::{ForeachBatchFn, ForeachBatchSink};
pub use crate::connector::memory::{MemorySink, MemorySinkTable};

use std::fmt::Debug;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use async_trait::async_trait;
use datafusion::execution::SessionState;

use crate::error::Result;
use crate::OutputMode;
use tributary_checkpoint::Epoch;

/// What a sink learns when its query starts.
#[derive(Debug, Clone)]
pub struct SinkContext {
    /// The stable query id (Delta's appId, the manifest writer id).
    pub query_id: String,
    /// The query name, if any.
    pub query_name: Option<String>,
    /// The output mode.
    pub output_mode: OutputMode,
    /// The sink's own folder in the checkpoint (`sink/`), for state a sink keeps.
    pub dir: crate::location::Location,
    /// The checkpoint's last committed epoch (an idempotent sink checks that it holds it).
    pub committed_epoch: Option<tributary_checkpoint::Epoch>,
    /// The epoch planned but not committed, about to be run again (the sink may hold it).
    pub rerun_epoch: Option<tributary_checkpoint::Epoch>,
}

/// One epoch's output.
#[derive(Debug, Clone)]
pub struct EpochOutput {
    /// The schema of the rows.
    pub schema: SchemaRef,
    /// The rows.
    pub batches: Vec<RecordBatch>,
    /// The session that produced them (to hand a DataFrame to `foreach_batch`).
    pub state: SessionState,
}

impl EpochOutput {
    /// Number of rows.
    pub fn num_rows(&self) -> u64 {
        self.batches.iter().map(|b| b.num_rows() as u64).sum()
    }
}

/// A streaming sink.
#[async_trait]
pub trait Sink: Send + Sync + Debug {
    /// A stable description, e.g. `DeltaSink[/lake/silver]`; kept in the checkpoint.
    fn description(&self) -> String;

    /// Called once when the query starts.
    async fn open(&self, _ctx: &SinkContext) -> Result<()> {
        Ok(())
    }

    /// Commit the epoch's output. Called again with the same epoch after a crash: an epoch
    /// that was already committed must not be written twice.
    async fn add_batch(&self, epoch: Epoch, output: EpochOutput) -> Result<()>;

    /// Whether the sink already holds `epoch` (written before a crash, not yet in the commit
    /// log). Asked only for the epoch a restart runs again: the driver then does not write it
    /// and reports no rows out for it. A sink that cannot tell answers `false` (the default)
    /// and must skip the epoch in `add_batch` itself if it is idempotent.
    async fn holds_epoch(&self, _epoch: Epoch) -> Result<bool> {
        Ok(false)
    }
}

/// A batch in `schema`'s field names, types and nullability (columns by position).
pub(crate) fn conform(batch: &RecordBatch, schema: &SchemaRef) -> Result<RecordBatch> {
    let cols = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(c, f)| {
            if c.data_type() == f.data_type() {
                Ok(c.clone())
            } else {
                arrow::compute::cast(c, f.data_type())
            }
        })
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(crate::error::TributaryError::arrow(
            "conforming an epoch's rows",
        ))?;
    RecordBatch::try_new(schema.clone(), cols).map_err(crate::error::TributaryError::arrow(
        "conforming an epoch's rows",
    ))
}
