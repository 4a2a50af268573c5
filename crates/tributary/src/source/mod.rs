//! Streaming sources. A source is an offset space: each epoch reads exactly the range between
//! the previous epoch's end offset and its own, and offsets are JSON kept in the checkpoint.
//!
//! In a DataFrame a source is a [`StreamTable`]: a DataFusion table provider that marks the
//! plan as streaming and cannot be scanned directly. Each epoch, the incremental planner swaps
//! it for the bounded table that [`StreamSource::get_batch`] returns.

//!
//! The sources themselves are connectors (`crate::connector`); they are re-exported here.

mod backfill;

pub use crate::connector::delta::{DeltaSourceOptions, DeltaStreamSource, StartingPosition};
pub use crate::connector::files::FileStreamSource;
pub use crate::connector::memory::MemoryStream;
pub use crate::connector::rate::RateStreamSource;
pub use backfill::BackfillSource;

use std::any::Any;
use std::fmt::Debug;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use async_trait::async_trait;
use datafusion::catalog::Session as DfSession;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;
use serde_json::Value;

use crate::error::Result;
use crate::format::BadRecords;
use crate::location::Location;
use tributary_checkpoint::Epoch;

/// What a source is given when its query starts.
#[derive(Debug, Clone)]
pub struct SourceContext {
    /// The source's own folder in the checkpoint (`sources/<i>`).
    pub dir: Location,
    /// The end offset of the last epoch that was planned (committed or about to be re-run).
    pub last_planned: Option<(Epoch, Value)>,
    /// Whether the query runs in real-time mode: a source may then keep a reader open that
    /// fetches ahead, so that an arrival's rows are at hand when the driver asks.
    pub real_time: bool,
}

/// The bounded input of one epoch.
#[derive(Debug, Clone)]
pub struct EpochInput {
    /// A table with exactly the epoch's rows.
    pub table: Arc<dyn TableProvider>,
    /// The bad records met while reading it, if the source decodes records.
    pub bad_records: Option<Arc<BadRecords>>,
    /// Counts the rows read (filled in while the epoch runs).
    pub rows: Arc<std::sync::atomic::AtomicU64>,
}

/// A source of a streaming query.
#[async_trait]
pub trait StreamSource: Send + Sync + Debug {
    /// A stable description, e.g. `FileStream[/data/events]`; kept in the checkpoint.
    fn description(&self) -> String;

    /// The schema of the rows.
    fn schema(&self) -> SchemaRef;

    /// An independent instance over the same data, for one query: two queries that read the
    /// same DataFrame each keep their own progress.
    fn fork(&self) -> Arc<dyn StreamSource>;

    /// Called once when the query starts, before any other call.
    async fn open(&self, _ctx: &SourceContext) -> Result<()> {
        Ok(())
    }

    /// Fix the data that `AvailableNow` will read: what is there now, or, given `recorded` (a
    /// bound this source returned earlier and the caller kept, e.g. in a checkpoint), exactly
    /// that bound again. Returns the bound as JSON (`null` for a source without one).
    async fn prepare_available_now(&self, _recorded: Option<&Value>) -> Result<Value> {
        Ok(Value::Null)
    }

    /// The end offset of the next epoch, starting at `start` (`Value::Null` before the first
    /// epoch), honouring the source's rate limit when `limited`; `None` when nothing is new.
    async fn latest_offset(
        &self,
        start: &Value,
        limited: bool,
        epoch: Epoch,
    ) -> Result<Option<Value>>;

    /// The rows between `start` (exclusive) and `end` (inclusive), as a bounded table. Must give
    /// the same rows every time it is called with the same offsets.
    async fn get_batch(&self, start: &Value, end: &Value, epoch: Epoch) -> Result<EpochInput>;

    /// Real-time mode: a notification the source gives when new rows may have come, so that an
    /// idle epoch polls at once instead of at its next interval. `None`: the epoch polls at its
    /// intervals only.
    fn arrivals(&self) -> Option<Arc<tokio::sync::Notify>> {
        None
    }

    /// Where bad records of this source go, if the user said.
    fn bad_records_path(&self) -> Option<Location> {
        None
    }
}

/// The table provider of a streaming source: it marks a DataFrame as streaming.
#[derive(Debug, Clone)]
pub struct StreamTable {
    source: Arc<dyn StreamSource>,
}

impl StreamTable {
    /// Wrap a source.
    pub fn new(source: Arc<dyn StreamSource>) -> Self {
        StreamTable { source }
    }

    /// The source.
    pub fn source(&self) -> &Arc<dyn StreamSource> {
        &self.source
    }
}

#[async_trait]
impl TableProvider for StreamTable {
    fn schema(&self) -> SchemaRef {
        self.source.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        _state: &dyn DfSession,
        _projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        Err(DataFusionError::Plan(format!(
            "the DataFrame reads the streaming source {} and can only run as a streaming query: \
             start it with write_stream().start(..), or read the data with session.read() for a batch",
            self.source.description()
        )))
    }
}

/// The [`StreamTable`] behind a table provider, if it is one.
pub fn as_stream_table(provider: &Arc<dyn TableProvider>) -> Option<&StreamTable> {
    let any: &dyn Any = provider.as_ref();
    any.downcast_ref::<StreamTable>()
}
