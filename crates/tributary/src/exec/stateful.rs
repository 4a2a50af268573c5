//! The stateful operator trait: what the epoch driver runs between the plan below a stateful
//! node (on the epoch's input) and the plan above it (on the operator's output).
//!
//! ```text
//!   process(below, watermarks) ─► OperatorEpoch { output, state changes, late rows, progress }
//!   persist(epoch)            ─► state files (before the sink commits; idempotent)
//!   commit(epoch)             ─► the changes become the current state (after the commit log)
//! ```

use std::sync::Arc;

use arrow::array::RecordBatch;
use async_trait::async_trait;
use datafusion::datasource::MemTable;
use datafusion::execution::SessionState;
use datafusion::logical_expr::LogicalPlan;
use tributary_checkpoint::Epoch;

use crate::error::Result;
use crate::plan::SplitPlan;
use crate::state::{MemoryStateStore, StateChange, StateStore};

/// The watermarks an operator runs an epoch with (Spark's two watermarks of chained operators).
///
/// An operator on the sources' rows drops and evicts behind the epoch's watermark. An operator
/// on the output of another one receives, in the same epoch, the rows the one below closed up
/// to that watermark: it drops as late only what was behind the previous epoch's watermark, and
/// evicts behind the epoch's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct EpochWatermarks {
    /// Input rows whose event time is at or before this are late.
    pub late: Option<i64>,
    /// State whose event time is at or before this is closed (emitted in append mode) and evicted.
    pub evict: Option<i64>,
}

impl EpochWatermarks {
    /// Both watermarks at `ms`.
    pub(crate) fn at(ms: Option<i64>) -> Self {
        EpochWatermarks {
            late: ms,
            evict: ms,
        }
    }
}

/// One epoch of a stateful operator, applied by [`StatefulOperator::commit`].
pub(crate) struct OperatorEpoch {
    /// The operator's output rows, in the placeholder's schema.
    pub output: Arc<MemTable>,
    /// Per state partition.
    pub changes: Vec<StateChange>,
    /// Rows dropped behind the watermark, when the query keeps them.
    pub late_rows: Vec<RecordBatch>,
    /// The `stateOperators` entry of the progress record.
    pub progress: serde_json::Value,
}

/// A stateful streaming operator.
#[async_trait]
pub(crate) trait StatefulOperator: Send + Sync {
    /// Where the operator sits in the plan.
    fn split(&self) -> &SplitPlan;

    /// The operator's state stores, one per partition.
    fn stores(&self) -> &[MemoryStateStore];

    /// The state stores, to commit into.
    fn stores_mut(&mut self) -> &mut [MemoryStateStore];

    /// Run the epoch: `bound` is the operator's node with its inputs bound to the epoch's rows
    /// (and to the outputs of the operators below); `now_ms` is the epoch's planned time (the
    /// same when the epoch re-runs).
    async fn process(
        &self,
        state: &SessionState,
        bound: &LogicalPlan,
        watermarks: EpochWatermarks,
        now_ms: i64,
    ) -> Result<OperatorEpoch>;

    /// Whether some key's processing-time timeout has passed at `now_ms` (the driver then runs
    /// an epoch without data).
    fn has_due_timeouts(&self, _now_ms: i64) -> bool {
        false
    }

    /// Write the epoch's state changes durably (before the sink commits).
    async fn persist(&self, epoch: Epoch, result: &OperatorEpoch) -> Result<()> {
        let writes = self
            .stores()
            .iter()
            .zip(&result.changes)
            .map(|(s, c)| s.persist(epoch, c));
        futures::future::try_join_all(writes).await?;
        Ok(())
    }

    /// Make the epoch's state current (after the commit log entry).
    fn commit(&mut self, epoch: Epoch, result: OperatorEpoch) {
        for (s, c) in self.stores_mut().iter_mut().zip(result.changes) {
            s.commit(epoch, c);
        }
    }
}

/// Snapshot cadence of the state stores, in epochs.
pub(crate) const SNAPSHOT_EVERY: u64 = 10;

/// Open and restore the stores of operator `id`: one per schema, store `p` under
/// `state/<id>/<p>` with the first `key_len` columns as its key.
pub(crate) async fn open_stores(
    checkpoint: &crate::location::Location,
    id: usize,
    schemas: Vec<arrow::datatypes::SchemaRef>,
    key_len: usize,
    restore_to: Option<Epoch>,
) -> Result<Vec<MemoryStateStore>> {
    let mut stores = Vec::with_capacity(schemas.len());
    for (p, schema) in schemas.into_iter().enumerate() {
        let mut s = MemoryStateStore::new(
            checkpoint.child(&tributary_checkpoint::CheckpointPaths::state(id, p)),
            schema,
            key_len,
            SNAPSHOT_EVERY,
        );
        s.restore(restore_to).await?;
        stores.push(s);
    }
    Ok(stores)
}

/// Run a bound input plan to one batch (`what` names it in errors).
pub(crate) async fn run_to_batch(
    state: &SessionState,
    plan: &LogicalPlan,
    what: &str,
) -> Result<RecordBatch> {
    let physical = state
        .create_physical_plan(plan)
        .await
        .map_err(|e| crate::error::from_df_error(&format!("planning {what}"), e))?;
    let schema = physical.schema();
    let task = Arc::new(datafusion::execution::TaskContext::from(state));
    let batches = datafusion::physical_plan::collect(physical, task)
        .await
        .map_err(|e| crate::error::from_df_error(&format!("reading {what}"), e))?;
    arrow::compute::concat_batches(&schema, &batches).map_err(crate::error::TributaryError::arrow(
        "concatenating an operator's input",
    ))
}

/// What an operator did in an epoch, for its `stateOperators` progress entry.
pub(crate) struct OperatorMetrics<'a> {
    pub name: &'a str,
    pub id: usize,
    pub changes: &'a [StateChange],
    pub updated: usize,
    pub removed: usize,
    pub dropped_by_watermark: u64,
    pub custom: serde_json::Value,
}

impl OperatorMetrics<'_> {
    /// The progress entry, with Spark's field names.
    pub(crate) fn progress(&self) -> serde_json::Value {
        let rows: usize = self.changes.iter().map(|c| c.rows.num_rows()).sum();
        let memory: usize = self
            .changes
            .iter()
            .map(|c| c.rows.get_array_memory_size())
            .sum();
        serde_json::json!({
            "operatorName": self.name,
            "operatorId": self.id,
            "numRowsTotal": rows,
            "numRowsUpdated": self.updated,
            "numRowsRemoved": self.removed,
            "allUpdatesTimeMs": 0,
            "memoryUsedBytes": memory,
            "numRowsDroppedByWatermark": self.dropped_by_watermark,
            "numShufflePartitions": self.changes.len(),
            "numStateStoreInstances": self.changes.len(),
            "customMetrics": self.custom,
        })
    }
}
