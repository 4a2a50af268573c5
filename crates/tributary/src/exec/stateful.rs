//! The stateful operator trait: what the epoch driver runs between the plan below a stateful
//! node (on the epoch's input) and the plan above it (on the operator's output).
//!
//! ```text
//!   process(inputs, watermarks) ─► OperatorEpoch { output, state changes, late rows, progress }
//!   persist(epoch)            ─► state files (before the sink commits; idempotent)
//!   commit(epoch)             ─► the changes become the current state (after the commit log)
//! ```

use std::sync::Arc;

use arrow::array::RecordBatch;
use async_trait::async_trait;
use datafusion::datasource::MemTable;
use datafusion::execution::SessionState;
use tributary_checkpoint::Epoch;

use super::operator_inputs::OperatorInputs;
use crate::error::Result;
use crate::plan::SplitPlan;
use crate::state::{
    CloseTime, GroupBy, KeyedStore, LiveChange, LiveState, StateChange, StateSize, StateStore,
};

/// The watermarks an operator runs an epoch with (Spark's two watermarks, since Spark 3.4).
///
/// An operator evicts (and, in append mode, emits) behind the epoch's watermark, but drops as
/// late only the input rows behind the *previous* epoch's watermark: a row that arrives in the
/// epoch the watermark passes it still counts, and its state is closed at once. An operator on
/// the output of another one receives, in the same epoch, the rows the one below closed up to
/// that watermark: both its watermarks are behind by the lag its input can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct EpochWatermarks {
    /// Input rows whose event time is at or before this are late.
    pub late: Option<i64>,
    /// State whose event time is at or before this is closed (emitted in append mode) and evicted.
    pub evict: Option<i64>,
    /// The previous epoch's `evict`: what closed at or before it was emitted then (a sliding
    /// window kept by pane states closes the windows ending after it).
    pub prev_evict: Option<i64>,
}

impl EpochWatermarks {
    /// The watermarks of operator `split` in an epoch that runs with the watermark `current`,
    /// after one that ran with `prev`: rows behind `prev` are late and state behind `current` is
    /// evicted, each less the lag of a chained operator's input (0 on the sources' rows).
    pub(crate) fn of(split: &SplitPlan, prev: Option<i64>, current: Option<i64>) -> Self {
        let behind = |w: Option<i64>| w.map(|w| w.saturating_sub(split.lag_ms));
        EpochWatermarks {
            late: behind(prev),
            evict: behind(current),
            prev_evict: behind(prev),
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
    /// The change of the operator's live view, when it keeps one.
    pub live: Option<LiveChange>,
}

/// A stateful streaming operator.
#[async_trait]
pub(crate) trait StatefulOperator: Send + Sync {
    /// Where the operator sits in the plan.
    fn split(&self) -> &SplitPlan;

    /// The operator's state stores, one per partition.
    fn stores(&self) -> Vec<&dyn StateStore>;

    /// The state stores, to commit into.
    fn stores_mut(&mut self) -> Vec<&mut dyn StateStore>;

    /// Run the epoch: `inputs` are the operator's node's inputs over the epoch's rows (and the
    /// outputs of the operators below), with the epoch's planned time
    /// ([`OperatorInputs::now_ms`], the same when the epoch re-runs).
    async fn process(
        &self,
        state: &SessionState,
        inputs: &OperatorInputs<'_>,
        watermarks: EpochWatermarks,
    ) -> Result<OperatorEpoch>;

    /// Per kind of store (a join: left, right), the state columns whose values give a row's
    /// partition; `None` where the key is computed from the row (an offline repartition then
    /// cannot place it).
    fn partition_columns(&self) -> Vec<Option<Vec<usize>>> {
        vec![None]
    }

    /// The live view of the operator's state, when the query keeps one.
    fn live_state(&self) -> Option<&Arc<LiveState>> {
        None
    }

    /// Whether some key's processing-time timeout has passed at `now_ms` (the driver then runs
    /// an epoch without data).
    fn has_due_timeouts(&self, _now_ms: i64) -> bool {
        false
    }

    /// Write the epoch's state changes durably (before the sink commits).
    async fn persist(&self, epoch: Epoch, result: &OperatorEpoch) -> Result<()> {
        let stores = self.stores();
        let writes = stores
            .iter()
            .zip(&result.changes)
            .map(|(s, c)| s.persist(epoch, c));
        futures::future::try_join_all(writes).await?;
        Ok(())
    }

    /// Make the epoch's state current (after the commit log entry).
    fn commit(&mut self, epoch: Epoch, result: OperatorEpoch) -> Result<()> {
        for (s, c) in self.stores_mut().into_iter().zip(result.changes) {
            s.commit(epoch, c)?;
        }
        Ok(())
    }
}

/// Open and restore the keyed stores of operator `id`, `partitions` of them, each under
/// `state/<id>/<p>`: rows of `schema` keyed by its first `key_len` columns, closed by `close`,
/// grouped by the key columns `groups` when given, keeping at most `memory_limit` bytes of rows
/// in memory each.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn open_keyed_stores(
    checkpoint: &crate::location::Location,
    id: usize,
    partitions: usize,
    schema: arrow::datatypes::SchemaRef,
    key_len: usize,
    close: Option<CloseTime>,
    groups: Option<GroupBy>,
    restore_to: Option<Epoch>,
    memory_limit: Option<usize>,
) -> Result<Vec<KeyedStore>> {
    let mut stores = Vec::with_capacity(partitions);
    for p in 0..partitions {
        let mut s = KeyedStore::new(
            checkpoint.child(&tributary_checkpoint::CheckpointPaths::state(id, p)),
            schema.clone(),
            key_len,
            close,
            groups.clone(),
        )?
        .with_memory_limit(memory_limit);
        s.restore(restore_to).await?;
        stores.push(s);
    }
    Ok(stores)
}

/// Run `f` for partitions `0..n` on threads of their own (one partition's state is independent
/// of the others'), and gather the results in partition order.
pub(crate) fn for_each_partition<T: Send>(
    n: usize,
    f: impl Fn(usize) -> Result<T> + Sync,
) -> Result<Vec<T>> {
    if n <= 1 {
        return (0..n).map(&f).collect();
    }
    std::thread::scope(|scope| {
        let f = &f;
        let running: Vec<_> = (0..n).map(|p| scope.spawn(move || f(p))).collect();
        running
            .into_iter()
            .map(|t| {
                t.join().map_err(|_| {
                    crate::error::TributaryError::Internal(
                        "a state partition's work panicked".into(),
                    )
                })?
            })
            .collect()
    })
}

/// The stores of an operator as trait objects.
pub(crate) fn dyn_stores<S: StateStore>(stores: &[S]) -> Vec<&dyn StateStore> {
    stores.iter().map(|s| s as &dyn StateStore).collect()
}

/// The stores of an operator as mutable trait objects.
pub(crate) fn dyn_stores_mut<S: StateStore>(stores: &mut [S]) -> Vec<&mut dyn StateStore> {
    stores
        .iter_mut()
        .map(|s| s as &mut dyn StateStore)
        .collect()
}

/// What an operator did in an epoch, for its `stateOperators` progress entry.
pub(crate) struct OperatorMetrics<'a> {
    pub name: &'a str,
    pub id: usize,
    /// The state after the epoch.
    pub state: StateSize,
    pub partitions: usize,
    pub updated: usize,
    pub removed: usize,
    pub dropped_by_watermark: u64,
    pub custom: serde_json::Value,
}

impl OperatorMetrics<'_> {
    /// The progress entry, with Spark's field names.
    pub(crate) fn progress(&self) -> serde_json::Value {
        let (rows, memory) = (self.state.rows, self.state.bytes);
        serde_json::json!({
            "operatorName": self.name,
            "operatorId": self.id,
            "numRowsTotal": rows,
            "numRowsUpdated": self.updated,
            "numRowsRemoved": self.removed,
            // Set by the driver, which times the operator's epoch and its state commit.
            "allUpdatesTimeMs": 0,
            "commitTimeMs": 0,
            "memoryUsedBytes": memory,
            "numRowsDroppedByWatermark": self.dropped_by_watermark,
            "numRowsOnDisk": self.state.on_disk,
            "numShufflePartitions": self.partitions,
            "numStateStoreInstances": self.partitions,
            "customMetrics": self.custom,
        })
    }
}
