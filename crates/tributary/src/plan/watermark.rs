//! The event-time watermark node: `df.with_watermark(column, delay)`.
//!
//! In the logical plan it is a pass-through node that names the event-time column and the
//! allowed delay. Its physical operator passes rows on unchanged and records the minimum,
//! maximum and mean event time it saw; the epoch driver reads these after each epoch to advance
//! the watermark (max seen - delay). In a batch it changes nothing.
//!
//! ```text
//!   Aggregate(window(event_time, ...))          stateful operators drop rows behind the watermark
//!     EventTimeWatermark(event_time, 10 min)    observes event times ──► EventTimeStats ──► driver
//!       TableScan(events)
//! ```

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::{DataType, Int64Type, TimeUnit};
use datafusion::common::{plan_err, Column, DFSchemaRef, Result};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::{Expr, Extension, LogicalPlan, UserDefinedLogicalNodeCore};
use datafusion::physical_plan::execution_plan::{ChildrenPropertiesMode, ReplaceChildrenOptions};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties};
use futures::StreamExt;

/// Event times seen by one watermark node during one epoch, in milliseconds.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub(crate) struct EventTimeSummary {
    /// Earliest event time.
    pub min_ms: i64,
    /// Latest event time.
    pub max_ms: i64,
    /// Sum, for the mean.
    pub sum_ms: i128,
    /// Rows with an event time.
    pub count: u64,
}

impl EventTimeSummary {
    pub(crate) fn merge(&mut self, o: &EventTimeSummary) {
        if self.count == 0 {
            *self = *o;
            return;
        }
        if o.count == 0 {
            return;
        }
        self.min_ms = self.min_ms.min(o.min_ms);
        self.max_ms = self.max_ms.max(o.max_ms);
        self.sum_ms += o.sum_ms;
        self.count += o.count;
    }

    /// Mean event time.
    pub(crate) fn avg_ms(&self) -> Option<i64> {
        (self.count > 0).then(|| (self.sum_ms / self.count as i128) as i64)
    }
}

/// Shared between a node's physical operators and the driver.
#[derive(Debug, Default)]
pub(crate) struct EventTimeStats(Mutex<EventTimeSummary>);

impl EventTimeStats {
    /// Take (and reset) what was seen since the last call.
    pub(crate) fn take(&self) -> EventTimeSummary {
        std::mem::take(&mut *self.0.lock().expect("stats"))
    }

    pub(crate) fn observe(&self, batch_summary: EventTimeSummary) {
        self.0.lock().expect("stats").merge(&batch_summary);
    }
}

/// The logical watermark node.
#[derive(Debug, Clone)]
pub(crate) struct EventTimeWatermark {
    /// The input.
    pub input: LogicalPlan,
    /// The event-time column.
    pub column: Column,
    /// The allowed delay, in milliseconds.
    pub delay_ms: i64,
    /// What the node saw in the running epoch.
    pub stats: Arc<EventTimeStats>,
}

impl EventTimeWatermark {
    /// Add a watermark over `input`, checking that the column is a timestamp.
    pub(crate) fn try_new(input: LogicalPlan, column: &str, delay_ms: i64) -> Result<Self> {
        let col = input
            .schema()
            .qualified_field_with_unqualified_name(column)
            .map_err(|_| {
                datafusion::error::DataFusionError::Plan(format!(
                    "there is no column '{column}' for the watermark; the columns are [{}]",
                    crate::plan::column_list(input.schema().fields())
                ))
            })?;
        if !matches!(col.1.data_type(), DataType::Timestamp(..)) {
            return plan_err!(
                "with_watermark: column '{column}' is {}, but the watermark needs a TIMESTAMP \
                 column; cast it first",
                col.1.data_type()
            );
        }
        if delay_ms < 0 {
            return plan_err!("with_watermark: the delay must not be negative");
        }
        Ok(EventTimeWatermark {
            column: Column::new(col.0.cloned(), column),
            input,
            delay_ms,
            stats: Arc::new(EventTimeStats::default()),
        })
    }

    /// The node as a plan.
    pub(crate) fn into_plan(self) -> LogicalPlan {
        LogicalPlan::Extension(Extension {
            node: Arc::new(self),
        })
    }

    /// The watermark node of a plan node, if it is one.
    pub(crate) fn of(plan: &LogicalPlan) -> Option<&EventTimeWatermark> {
        match plan {
            LogicalPlan::Extension(e) => e.node.as_any().downcast_ref::<EventTimeWatermark>(),
            _ => None,
        }
    }
}

impl PartialEq for EventTimeWatermark {
    fn eq(&self, o: &Self) -> bool {
        self.input == o.input && self.column == o.column && self.delay_ms == o.delay_ms
    }
}
impl Eq for EventTimeWatermark {}
impl Hash for EventTimeWatermark {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.input.hash(state);
        self.column.hash(state);
        self.delay_ms.hash(state);
    }
}
impl PartialOrd for EventTimeWatermark {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        (&self.column, self.delay_ms).partial_cmp(&(&o.column, o.delay_ms))
    }
}

impl EventTimeWatermark {
    /// The physical operator over `input`.
    pub(crate) fn physical(&self, input: Arc<dyn ExecutionPlan>) -> Result<Arc<dyn ExecutionPlan>> {
        let column = input.schema().index_of(&self.column.name)?;
        Ok(Arc::new(WatermarkExec::new(
            input,
            column,
            self.stats.clone(),
        )))
    }
}

impl UserDefinedLogicalNodeCore for EventTimeWatermark {
    fn name(&self) -> &str {
        "EventTimeWatermark"
    }
    fn inputs(&self) -> Vec<&LogicalPlan> {
        vec![&self.input]
    }
    fn schema(&self) -> &DFSchemaRef {
        self.input.schema()
    }
    fn expressions(&self) -> Vec<Expr> {
        vec![]
    }
    fn prevent_predicate_push_down_columns(&self) -> std::collections::HashSet<String> {
        // Filters may move below: the watermark is an observation, and Spark pushes filters
        // through it too, except on the event-time column.
        std::iter::once(self.column.name.clone()).collect()
    }
    fn fmt_for_explain(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "EventTimeWatermark: {}, delay={}ms",
            self.column, self.delay_ms
        )
    }
    fn with_exprs_and_inputs(
        &self,
        _exprs: Vec<Expr>,
        mut inputs: Vec<LogicalPlan>,
    ) -> Result<Self> {
        Ok(EventTimeWatermark {
            input: inputs.swap_remove(0),
            column: self.column.clone(),
            delay_ms: self.delay_ms,
            stats: self.stats.clone(),
        })
    }
    fn necessary_children_exprs(&self, output_columns: &[usize]) -> Option<Vec<Vec<usize>>> {
        // Keep the event-time column, whatever the parent needs.
        let idx = self.input.schema().index_of_column(&self.column).ok()?;
        let mut cols = output_columns.to_vec();
        if !cols.contains(&idx) {
            cols.push(idx);
            cols.sort_unstable();
        }
        Some(vec![cols])
    }
}

/// The physical observer.
#[derive(Debug)]
pub(super) struct WatermarkExec {
    input: Arc<dyn ExecutionPlan>,
    column: usize,
    stats: Arc<EventTimeStats>,
    properties: Arc<PlanProperties>,
}

impl WatermarkExec {
    fn new(input: Arc<dyn ExecutionPlan>, column: usize, stats: Arc<EventTimeStats>) -> Self {
        let properties = input.properties().clone();
        WatermarkExec {
            input,
            column,
            stats,
            properties,
        }
    }
}

/// The event times of one column of a batch, in milliseconds.
fn summarize(batch: &RecordBatch, column: usize) -> Result<EventTimeSummary> {
    let array = batch.column(column);
    let ms = arrow::compute::cast(array, &DataType::Timestamp(TimeUnit::Millisecond, None))?;
    let ms = arrow::compute::cast(&ms, &DataType::Int64)?;
    let ms = ms.as_primitive::<Int64Type>();
    let mut s = EventTimeSummary::default();
    if let (Some(min), Some(max)) = (arrow::compute::min(ms), arrow::compute::max(ms)) {
        s.min_ms = min;
        s.max_ms = max;
        s.count = (ms.len() - arrow::array::Array::null_count(ms)) as u64;
        s.sum_ms = ms.iter().flatten().map(|v| v as i128).sum();
    }
    Ok(s)
}

impl DisplayAs for WatermarkExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "WatermarkExec: column={}", self.column)
    }
}

impl ExecutionPlan for WatermarkExec {
    crate::plan::physical::unary_exec_methods!("WatermarkExec");
    crate::plan::physical::no_expressions!();
    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true]
    }
    fn replace_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
        options: ReplaceChildrenOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let input = children.swap_remove(0);
        let mut node = WatermarkExec::new(input, self.column, self.stats.clone());
        if matches!(options.children_properties, ChildrenPropertiesMode::Keep) {
            node.properties = self.properties.clone();
        }
        Ok(Arc::new(node))
    }
    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let input = self.input.execute(partition, context)?;
        let schema = input.schema();
        let (stats, column) = (self.stats.clone(), self.column);
        let stream = input.map(move |b| {
            let b = b?;
            stats.observe(summarize(&b, column)?);
            Ok(b)
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, stream)))
    }
}
