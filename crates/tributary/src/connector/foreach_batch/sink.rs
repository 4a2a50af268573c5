//! `foreach_batch`: the user's function gets each epoch's output as a DataFrame.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::dataframe::DataFrame;
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;
use futures::future::BoxFuture;

use crate::error::{Result, TributaryError};
use crate::sink::{EpochOutput, Sink};
use tributary_checkpoint::Epoch;

/// The user's function: the epoch's DataFrame and the epoch id.
pub type ForeachBatchFn =
    Arc<dyn Fn(DataFrame, u64) -> BoxFuture<'static, Result<()>> + Send + Sync>;

/// Calls a function per epoch. At-least-once: after a crash the same epoch id comes again, so
/// the function can make its writes idempotent with it (as in Spark).
#[derive(Clone)]
pub struct ForeachBatchSink {
    f: ForeachBatchFn,
}

impl std::fmt::Debug for ForeachBatchSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ForeachBatchSink")
    }
}

impl ForeachBatchSink {
    /// A sink calling `f`.
    pub fn new(f: ForeachBatchFn) -> Self {
        ForeachBatchSink { f }
    }
}

#[async_trait]
impl Sink for ForeachBatchSink {
    fn description(&self) -> String {
        "ForeachBatchSink".to_string()
    }

    async fn add_batch(&self, epoch: Epoch, output: EpochOutput) -> Result<()> {
        let table = MemTable::try_new(output.schema.clone(), vec![output.batches])
            .map_err(TributaryError::df("foreach_batch"))?;
        let ctx = SessionContext::new_with_state(output.state);
        let df = ctx
            .read_table(Arc::new(table))
            .map_err(TributaryError::df("foreach_batch"))?;
        (self.f)(df, epoch.0).await
    }

    /// Real-time mode: the function is called for each arrival of rows, with the epoch's id
    /// (several calls per id; a failed epoch's calls are made again).
    fn emits_immediately(&self) -> bool {
        true
    }
}
