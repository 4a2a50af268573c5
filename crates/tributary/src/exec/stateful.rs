//! The stateful operator trait: what the epoch driver runs between the plan below a stateful
//! node (on the epoch's input) and the plan above it (on the operator's output).
//!
//! ```text
//!   process(below, watermark) ─► OperatorEpoch { output, state changes, late rows, progress }
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

    /// Run the epoch: `bound` is the operator's node with its inputs bound to the epoch's rows;
    /// `now_ms` is the epoch's planned time (the same when the epoch re-runs).
    async fn process(
        &self,
        state: &SessionState,
        bound: &LogicalPlan,
        watermark_ms: Option<i64>,
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
