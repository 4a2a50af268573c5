//! Rows behind the watermark: the filter in front of a stateful operator. A row whose
//! event-time key is at or before the watermark belongs to state that was already emitted or
//! evicted; it is dropped and counted (Spark's `numRowsDroppedByWatermark`), and kept aside when
//! the query asks for its late rows (`late_rows_path`).

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arrow::array::{ArrayRef, AsArray, BooleanArray, RecordBatch};
use arrow::datatypes::{DataType, Int64Type, TimeUnit};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::Result;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    ChildrenPropertiesMode, DisplayAs, DisplayFormatType, ExecutionPlan, PhysicalExpr,
    PlanProperties, ReplaceChildrenOptions,
};
use futures::StreamExt;

use crate::plan::EventTimeKind;

/// The event time of a key column, in the column's ticks, and ticks per millisecond.
pub(crate) fn key_ticks(key: &ArrayRef, kind: EventTimeKind) -> Result<(ArrayRef, i64)> {
    let time = match kind {
        // A NULL window has no end, whatever its fields hold.
        EventTimeKind::Window => {
            let w = key.as_struct();
            let end = w.column(1);
            match arrow::array::Array::nulls(w) {
                Some(nulls) => arrow::array::make_array(
                    end.to_data()
                        .into_builder()
                        .nulls(arrow::buffer::NullBuffer::union(
                            Some(nulls),
                            arrow::array::Array::nulls(end),
                        ))
                        .build()?,
                ),
                None => end.clone(),
            }
        }
        EventTimeKind::Time => key.clone(),
    };
    let k = match time.data_type() {
        DataType::Timestamp(TimeUnit::Nanosecond, _) => 1_000_000,
        DataType::Timestamp(TimeUnit::Microsecond, _) => 1_000,
        DataType::Timestamp(TimeUnit::Millisecond, _) => 1,
        DataType::Timestamp(TimeUnit::Second, _) => 0,
        other => {
            return datafusion::common::exec_err!(
                "an event-time key must be a timestamp, not {other}"
            )
        }
    };
    Ok((arrow::compute::cast(&time, &DataType::Int64)?, k))
}

/// Event times of a timestamp column, in milliseconds.
pub(crate) fn event_ms(col: &ArrayRef) -> crate::error::Result<arrow::array::Int64Array> {
    let err = crate::error::TributaryError::arrow;
    let ms = arrow::compute::cast(col, &DataType::Timestamp(TimeUnit::Millisecond, None))
        .map_err(err("reading event times"))?;
    let ms = arrow::compute::cast(&ms, &DataType::Int64).map_err(err("reading event times"))?;
    Ok(ms.as_primitive::<Int64Type>().clone())
}

/// True where the key's event time is at or before the watermark (closed / late).
pub(crate) fn behind_watermark(
    key: &ArrayRef,
    kind: EventTimeKind,
    watermark_ms: i64,
) -> Result<BooleanArray> {
    let (ticks, k) = key_ticks(key, kind)?;
    let ticks = ticks.as_primitive::<Int64Type>();
    let threshold: i64 = if k == 0 {
        watermark_ms.div_euclid(1000)
    } else {
        watermark_ms.saturating_mul(k)
    };
    Ok(ticks
        .iter()
        .map(|t| Some(t.is_some_and(|t| t <= threshold)))
        .collect())
}

/// `rows` without those whose event time (column `time`) is at or before `watermark_ms`, as
/// exactly as the column's unit allows; the rows left out and how many, the rows themselves
/// only when `keep` (for `late_rows_path`).
pub(crate) fn split_late(
    rows: RecordBatch,
    time: usize,
    watermark_ms: i64,
    keep: bool,
) -> crate::error::Result<(RecordBatch, usize, Option<RecordBatch>)> {
    let err = crate::error::TributaryError::arrow;
    let behind = behind_watermark(rows.column(time), EventTimeKind::Time, watermark_ms)
        .map_err(|e| crate::error::from_df_error("finding late rows", e))?;
    let dropped = behind.true_count();
    if dropped == 0 {
        return Ok((rows, 0, None));
    }
    let late = if keep {
        Some(arrow::compute::filter_record_batch(&rows, &behind).map_err(err("late rows"))?)
    } else {
        None
    };
    let on_time = arrow::compute::not(&behind).map_err(err("late rows"))?;
    let rows = arrow::compute::filter_record_batch(&rows, &on_time).map_err(err("late rows"))?;
    Ok((rows, dropped, late))
}

/// What the filter saw.
#[derive(Debug, Default)]
pub(crate) struct LateRows {
    pub dropped: AtomicU64,
    pub kept: Mutex<Vec<RecordBatch>>,
    pub keep: bool,
}

/// Drops rows behind the watermark.
#[derive(Debug)]
pub(crate) struct LateFilterExec {
    input: Arc<dyn ExecutionPlan>,
    key: Arc<dyn PhysicalExpr>,
    kind: EventTimeKind,
    watermark_ms: i64,
    late: Arc<LateRows>,
    /// The key is the pane of a sliding window: a row is late once all its windows are.
    panes: Option<super::panes::Panes>,
    properties: Arc<PlanProperties>,
}

impl LateFilterExec {
    pub(crate) fn new(
        input: Arc<dyn ExecutionPlan>,
        key: Arc<dyn PhysicalExpr>,
        kind: EventTimeKind,
        watermark_ms: i64,
        late: Arc<LateRows>,
    ) -> Self {
        let properties = input.properties().clone();
        LateFilterExec {
            input,
            key,
            kind,
            watermark_ms,
            late,
            panes: None,
            properties,
        }
    }

    /// The key is the pane of a sliding window, by `panes`.
    pub(crate) fn with_panes(mut self, panes: Option<super::panes::Panes>) -> Self {
        self.panes = panes;
        self
    }
}

impl DisplayAs for LateFilterExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "LateFilterExec: {} behind {}",
            self.key, self.watermark_ms
        )
    }
}

impl ExecutionPlan for LateFilterExec {
    crate::plan::physical::unary_exec_methods!("LateFilterExec");
    fn apply_expressions(
        &self,
        f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        f(&self.key)
    }
    fn replace_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
        options: ReplaceChildrenOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let mut node = LateFilterExec::new(
            children.swap_remove(0),
            self.key.clone(),
            self.kind,
            self.watermark_ms,
            self.late.clone(),
        )
        .with_panes(self.panes);
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
        let (key, kind, wm, late, panes) = (
            self.key.clone(),
            self.kind,
            self.watermark_ms,
            self.late.clone(),
            self.panes,
        );
        let stream = input.map(move |b| {
            let b = b?;
            let k = key.evaluate(&b)?.into_array(b.num_rows())?;
            let behind = match &panes {
                Some(p) => p
                    .behind_watermark(&k, wm)
                    .map_err(|e| datafusion::error::DataFusionError::External(Box::new(e)))?,
                None => behind_watermark(&k, kind, wm)?,
            };
            let n_late = behind.true_count();
            if n_late == 0 {
                return Ok(b);
            }
            late.dropped.fetch_add(n_late as u64, Ordering::Relaxed);
            if late.keep {
                let rows = arrow::compute::filter_record_batch(&b, &behind)?;
                late.kept.lock().expect("late rows").push(rows);
            }
            let on_time = arrow::compute::not(&behind)?;
            Ok(arrow::compute::filter_record_batch(&b, &on_time)?)
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, stream)))
    }
}
