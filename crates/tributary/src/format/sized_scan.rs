//! A scan that tells the planner how big its files are, so that a join builds its hash table on
//! the small side (DataFusion's join selection compares the sizes of the two sides and
//! swaps them; without a size it keeps the order the query wrote).

use std::fmt;
use std::sync::Arc;

use datafusion::common::stats::Precision;
use datafusion::common::{Result, Statistics};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_plan::statistics::StatisticsArgs;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties, ReplaceChildrenOptions,
};

/// `inner`, with an estimate of the bytes it produces.
pub(crate) struct SizedScanExec {
    inner: Arc<dyn ExecutionPlan>,
    bytes: usize,
}

impl SizedScanExec {
    /// `inner` reads files of `file_bytes` in all, of which it keeps `columns` of `of` columns:
    /// the estimate is the files' size scaled by the share of the columns kept.
    pub(crate) fn new(
        inner: Arc<dyn ExecutionPlan>,
        file_bytes: u64,
        columns: usize,
        of: usize,
    ) -> Self {
        let share = if of == 0 {
            1.0
        } else {
            columns.max(1) as f64 / of as f64
        };
        SizedScanExec {
            inner,
            bytes: (file_bytes as f64 * share.min(1.0)) as usize,
        }
    }
}

impl fmt::Debug for SizedScanExec {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "SizedScanExec({} bytes)", self.bytes)
    }
}

impl DisplayAs for SizedScanExec {
    fn fmt_as(&self, t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "SizedScanExec: about {} bytes, ", self.bytes)?;
        self.inner.fmt_as(t, f)
    }
}

impl ExecutionPlan for SizedScanExec {
    fn name(&self) -> &str {
        "SizedScanExec"
    }
    fn properties(&self) -> &Arc<PlanProperties> {
        self.inner.properties()
    }
    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
    }
    #[allow(deprecated)]
    fn with_new_children(
        self: Arc<Self>,
        _children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(self)
    }
    crate::plan::physical::no_expressions!();
    fn replace_children(
        self: Arc<Self>,
        _children: Vec<Arc<dyn ExecutionPlan>>,
        _options: ReplaceChildrenOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(self)
    }
    fn statistics_from_inputs(
        &self,
        _input_stats: &[Arc<Statistics>],
        args: &StatisticsArgs,
    ) -> Result<Arc<Statistics>> {
        let mut stats = Statistics::new_unknown(&self.schema());
        // Whole-plan figures only: a partition's share is not known.
        if args.partition().is_none() {
            stats.total_byte_size = Precision::Inexact(self.bytes);
        }
        Ok(Arc::new(stats))
    }
    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        self.inner.execute(partition, context)
    }
}
