//! A batch's pane states spread over their windows in the order of the windows, so that the
//! final aggregation by window holds only the windows still open (see `plan::panes`).
//!
//! ```text
//!  pane states sorted by pane start ─► InOrder ─► window rows sorted by window start ─► Final
//!        p0 p0 p1 p2 p2 p3 ...            holds the panes of the windows not yet complete
//! ```
//! A window starting at w holds the panes that start in [w, w + size); once a pane starting at
//! or after w + size arrives, no other pane can join it, and its rows go out. The final
//! aggregation sees its input ordered by window start and emits each window as soon as the
//! start moves past it (DataFusion's partially sorted grouping), instead of holding every
//! window's state (the exact distinct sets of 83,550 windows) until its input ends.

use std::collections::{BTreeSet, VecDeque};
use std::fmt;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Int64Array, RecordBatch, RecordBatchOptions,
};
use arrow::compute::SortOptions;
use arrow::datatypes::{DataType, Int64Type, SchemaRef};
use datafusion::common::Result;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_expr::{EquivalenceProperties, LexOrdering, PhysicalSortExpr};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, ExecutionPlanProperties, Partitioning,
    PlanProperties, ReplaceChildrenOptions,
};
use futures::StreamExt;

use crate::error::TributaryError;
use crate::exec::panes::Panes;

/// Rows of pane states out at a time.
const OUT_ROWS: usize = 8192;

/// The ordering of pane states by pane start, and of window rows by window start: the start
/// field at column `at`, ascending, rows without a time last.
pub(crate) fn by_start(schema: &SchemaRef, at: usize) -> LexOrdering {
    let col = Arc::new(Column::new(schema.field(at).name(), at));
    LexOrdering::new([PhysicalSortExpr::new(
        col,
        SortOptions {
            descending: false,
            nulls_first: false,
        },
    )])
    .expect("one sort expression")
}

/// Spreads pane states, arriving sorted by pane start, over their windows in window order.
/// The pane is grouped by its fields at columns `at` (start), `at + 1` (end) and `at + 2`
/// (whether it is NULL), as `Panes::spread` takes them.
pub(crate) struct InOrder {
    panes: Panes,
    at: usize,
    /// Ticks of the start column per millisecond.
    ticks: i64,
    /// Input batches rows still point into, from `first`.
    held: VecDeque<RecordBatch>,
    first: usize,
    /// Rows of panes still in a window to come: (batch, row, pane start), by pane start.
    pending: VecDeque<(usize, usize, i64)>,
    /// Window starts not yet sent out.
    windows: BTreeSet<i64>,
    /// Rows out: (batch, row) and the window's start (`None`: the NULL window).
    out: Vec<(usize, usize)>,
    out_starts: Vec<Option<i64>>,
    /// Rows without a pane (no event time), each one NULL window, sent out last.
    nulls: Vec<RecordBatch>,
    last_start: Option<i64>,
    buf: Vec<i64>,
    /// Rows sent out together (`OUT_ROWS`).
    out_rows: usize,
}

fn ext(e: TributaryError) -> datafusion::error::DataFusionError {
    datafusion::error::DataFusionError::External(Box::new(e))
}

impl InOrder {
    pub(crate) fn new(panes: Panes, at: usize, start_type: &DataType) -> Result<Self> {
        Ok(InOrder {
            panes,
            at,
            ticks: Panes::ticks_per_ms(start_type).map_err(ext)?,
            held: VecDeque::new(),
            first: 0,
            pending: VecDeque::new(),
            windows: BTreeSet::new(),
            out: Vec::new(),
            out_starts: Vec::new(),
            nulls: Vec::new(),
            last_start: None,
            buf: Vec::new(),
            out_rows: OUT_ROWS,
        })
    }

    fn size(&self) -> i64 {
        self.panes.size_ms() * self.ticks
    }

    /// Take a batch of pane states; the window rows that are complete come out.
    pub(crate) fn push(&mut self, b: RecordBatch) -> Result<Option<RecordBatch>> {
        let index = self.first + self.held.len();
        let starts = arrow::compute::cast(b.column(self.at), &DataType::Int64)?;
        let is_null = b.column(self.at + 2).as_boolean().clone();
        let mut null_rows = Vec::new();
        for (row, s) in starts.as_primitive::<Int64Type>().iter().enumerate() {
            let s = match s {
                Some(s) if !is_null.value(row) => s,
                _ => {
                    null_rows.push(row as u32);
                    continue;
                }
            };
            if self.last_start.is_some_and(|l| s < l) {
                return datafusion::common::internal_err!(
                    "pane states out of order: a pane at {s} after one at {:?}",
                    self.last_start
                );
            }
            self.last_start = Some(s);
            // Every window that ends at or before this pane's start is complete.
            while let Some(&w) = self.windows.first() {
                if w + self.size() > s {
                    break;
                }
                self.windows.pop_first();
                self.send(w);
            }
            self.pending.push_back((index, row, s));
            self.buf.clear();
            let k = self.ticks;
            self.panes.spec().starts(s, k, &mut self.buf);
            self.windows.extend(self.buf.iter().copied());
        }
        if !null_rows.is_empty() {
            let take = arrow::array::UInt32Array::from(null_rows);
            self.nulls
                .push(arrow::compute::take_record_batch(&b, &take)?);
        }
        self.held.push_back(b);
        self.flush(false)
    }

    /// The input ended: every window left, then the NULL window's rows.
    pub(crate) fn finish(&mut self) -> Result<Vec<RecordBatch>> {
        while let Some(w) = self.windows.pop_first() {
            self.send(w);
        }
        let mut out: Vec<RecordBatch> = self.flush(true)?.into_iter().collect();
        for b in std::mem::take(&mut self.nulls) {
            let n = b.num_rows();
            let mut cols: Vec<ArrayRef> = b.columns().to_vec();
            cols[self.at] = arrow::array::new_null_array(cols[self.at].data_type(), n);
            cols[self.at + 1] = arrow::array::new_null_array(cols[self.at + 1].data_type(), n);
            cols[self.at + 2] = Arc::new(BooleanArray::from(vec![true; n]));
            out.push(RecordBatch::try_new(b.schema(), cols)?);
        }
        Ok(out)
    }

    /// Send window `w` out: every pending pane that starts within it.
    fn send(&mut self, w: i64) {
        let end = w + self.size();
        // Panes before the first window left are in no window to come.
        while self.pending.front().is_some_and(|(_, _, p)| *p < w) {
            self.pending.pop_front();
        }
        for (b, r, p) in &self.pending {
            if *p >= end {
                break;
            }
            self.out.push((*b, *r));
            self.out_starts.push(Some(w));
        }
    }

    /// The rows sent out so far as one batch (at least `OUT_ROWS` of them, or any with
    /// `all`); input batches no pending row needs are let go.
    fn flush(&mut self, all: bool) -> Result<Option<RecordBatch>> {
        let batch = if self.out.is_empty() || (!all && self.out.len() < self.out_rows) {
            None
        } else {
            Some(self.build()?)
        };
        let keep_from = self
            .pending
            .front()
            .map_or(self.first + self.held.len(), |(b, _, _)| *b);
        let keep_from = match self.out.first() {
            Some((b, _)) => keep_from.min(*b),
            None => keep_from,
        };
        while self.first < keep_from {
            self.held.pop_front();
            self.first += 1;
        }
        Ok(batch)
    }

    fn build(&mut self) -> Result<RecordBatch> {
        let out = std::mem::take(&mut self.out);
        let starts = std::mem::take(&mut self.out_starts);
        let schema = self.held[0].schema();
        let indices: Vec<(usize, usize)> = out.iter().map(|(b, r)| (b - self.first, *r)).collect();
        let size = self.size();
        let ty = schema.field(self.at).data_type().clone();
        let ends: Int64Array = starts.iter().map(|s| s.map(|s| s + size)).collect();
        let starts = Int64Array::from(starts);
        let mut cols: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
        for c in 0..schema.fields().len() {
            cols.push(match c {
                c if c == self.at => arrow::compute::cast(&starts, &ty)?,
                c if c == self.at + 1 => arrow::compute::cast(&ends, &ty)?,
                c if c == self.at + 2 => Arc::new(BooleanArray::from(vec![false; indices.len()])),
                c => {
                    let arrays: Vec<&dyn Array> =
                        self.held.iter().map(|b| b.column(c).as_ref()).collect();
                    arrow::compute::interleave(&arrays, &indices)?
                }
            });
        }
        Ok(RecordBatch::try_new_with_options(
            schema,
            cols,
            &RecordBatchOptions::new().with_row_count(Some(indices.len())),
        )?)
    }
}

/// Spreads pane states sorted by pane start over their windows, in window order (one
/// partition).
#[derive(Debug)]
pub(crate) struct PaneWindowsInOrderExec {
    input: Arc<dyn ExecutionPlan>,
    panes: Panes,
    at: usize,
    properties: Arc<PlanProperties>,
}

impl PaneWindowsInOrderExec {
    pub(crate) fn new(input: Arc<dyn ExecutionPlan>, panes: Panes, at: usize) -> Self {
        let schema = input.schema();
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new_with_orderings(schema.clone(), [by_start(&schema, at)]),
            Partitioning::UnknownPartitioning(1),
            input.pipeline_behavior(),
            input.boundedness(),
        ));
        PaneWindowsInOrderExec {
            input,
            panes,
            at,
            properties,
        }
    }
}

impl DisplayAs for PaneWindowsInOrderExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "PaneWindowsInOrderExec")
    }
}

impl ExecutionPlan for PaneWindowsInOrderExec {
    fn name(&self) -> &str {
        "PaneWindowsInOrderExec"
    }
    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }
    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }
    fn required_input_ordering(
        &self,
    ) -> Vec<Option<datafusion::physical_expr::OrderingRequirements>> {
        vec![Some(by_start(&self.input.schema(), self.at).into())]
    }
    fn required_input_distribution(&self) -> Vec<datafusion::physical_plan::Distribution> {
        vec![datafusion::physical_plan::Distribution::SinglePartition]
    }
    #[allow(deprecated)]
    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.replace_children(
            children,
            ReplaceChildrenOptions::new(
                datafusion::physical_plan::ChildrenPropertiesMode::Recompute,
            ),
        )
    }
    crate::plan::physical::no_expressions!();
    fn replace_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
        _options: ReplaceChildrenOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(Arc::new(PaneWindowsInOrderExec::new(
            children.swap_remove(0),
            self.panes,
            self.at,
        )))
    }
    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let schema = self.input.schema();
        let input = self.input.execute(partition, context)?;
        let mut state = InOrder::new(self.panes, self.at, schema.field(self.at).data_type())?;
        let stream = input
            .map(Some)
            .chain(futures::stream::once(async { None }))
            .flat_map(move |b| {
                let out: Vec<Result<RecordBatch>> = match b {
                    Some(Ok(b)) => match state.push(b) {
                        Ok(Some(b)) => vec![Ok(b)],
                        Ok(None) => Vec::new(),
                        Err(e) => vec![Err(e)],
                    },
                    Some(Err(e)) => vec![Err(e)],
                    None => match state.finish() {
                        Ok(v) => v.into_iter().map(Ok).collect(),
                        Err(e) => vec![Err(e)],
                    },
                };
                futures::stream::iter(out)
            });
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, stream)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::TimestampMillisecondArray;
    use arrow::datatypes::{Field, Schema, TimeUnit};

    /// (window start or None, key, value) of window rows.
    fn rows(b: &RecordBatch) -> Vec<(Option<i64>, i64, i64)> {
        let start = arrow::compute::cast(b.column(0), &DataType::Int64).unwrap();
        let start = start.as_primitive::<Int64Type>();
        let null = b.column(2).as_boolean();
        let k = b.column(3).as_primitive::<Int64Type>();
        let v = b.column(4).as_primitive::<Int64Type>();
        (0..b.num_rows())
            .map(|i| {
                let s = (!null.value(i)).then(|| start.value(i));
                (s, k.value(i), v.value(i))
            })
            .collect()
    }

    /// In window order, the same window rows as spreading every pane at once, whatever the
    /// batches; the input batches are let go as their panes leave every window to come.
    #[test]
    fn pane_states_in_order_give_every_window_row_in_window_order() {
        let ts = DataType::Timestamp(TimeUnit::Millisecond, None);
        let schema = Arc::new(Schema::new(vec![
            Field::new("start", ts.clone(), true),
            Field::new("end", ts.clone(), true),
            Field::new("null", DataType::Boolean, false),
            Field::new("k", DataType::Int64, false),
            Field::new("v", DataType::Int64, false),
        ]));
        let mut seed = 7u64;
        let mut next = |n: u64| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) % n
        };
        for (size, slide, offset) in [(10, 2, 0), (5, 2, 1), (6, 4, 0), (7, 7, 3)] {
            let panes = Panes::for_test(size, slide, offset);
            let g = panes.pane_ms();
            // Sorted pane starts, several rows (keys) per pane, gaps between some, NULLs last.
            let mut input: Vec<(Option<i64>, i64, i64)> = Vec::new();
            let mut p = offset.rem_euclid(g) - 20 * g;
            for i in 0..400 {
                p += g * next(3) as i64;
                for k in 0..1 + next(3) as i64 {
                    input.push((Some(p), k, i));
                }
            }
            input.push((None, 9, 1));
            input.push((None, 8, 2));
            let batch_of = |rows: &[(Option<i64>, i64, i64)]| {
                RecordBatch::try_new(
                    schema.clone(),
                    vec![
                        Arc::new(TimestampMillisecondArray::from(
                            rows.iter().map(|r| r.0).collect::<Vec<_>>(),
                        )),
                        Arc::new(TimestampMillisecondArray::from(
                            rows.iter().map(|r| r.0.map(|s| s + g)).collect::<Vec<_>>(),
                        )),
                        Arc::new(BooleanArray::from(
                            rows.iter().map(|r| r.0.is_none()).collect::<Vec<_>>(),
                        )),
                        Arc::new(Int64Array::from(
                            rows.iter().map(|r| r.1).collect::<Vec<_>>(),
                        )),
                        Arc::new(Int64Array::from(
                            rows.iter().map(|r| r.2).collect::<Vec<_>>(),
                        )),
                    ],
                )
                .unwrap()
            };
            let mut want = rows(&panes.spread(&batch_of(&input), 0, None).unwrap());
            let mut state = InOrder::new(panes, 0, &ts).unwrap();
            state.out_rows = 16;
            let mut got = Vec::new();
            let mut at = 0;
            let mut most_held = 0;
            while at < input.len() {
                let n = (1 + next(40) as usize).min(input.len() - at);
                if let Some(b) = state.push(batch_of(&input[at..at + n])).unwrap() {
                    got.extend(rows(&b));
                }
                most_held = most_held.max(state.held.len());
                at += n;
            }
            for b in state.finish().unwrap() {
                got.extend(rows(&b));
            }
            let starts: Vec<Option<i64>> = got.iter().map(|r| r.0).collect();
            let mut ordered = starts.clone();
            ordered.sort_by_key(|s| (s.is_none(), *s));
            assert_eq!(
                starts, ordered,
                "S={size} P={slide}: window order, NULL last"
            );
            got.sort();
            want.sort();
            assert_eq!(got, want, "S={size} P={slide}");
            // 400 panes in about 40 batches: only those of the windows not yet out (at most
            // 5 panes) and of the rows waiting for a batch out (16) stay held.
            assert!(
                most_held <= 8,
                "S={size} P={slide}: {most_held} batches held"
            );
        }
    }

    #[test]
    fn pane_states_out_of_order_are_an_error() {
        let ts = DataType::Timestamp(TimeUnit::Millisecond, None);
        let schema = Arc::new(Schema::new(vec![
            Field::new("start", ts.clone(), true),
            Field::new("end", ts.clone(), true),
            Field::new("null", DataType::Boolean, false),
        ]));
        let b = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(TimestampMillisecondArray::from(vec![4, 2])),
                Arc::new(TimestampMillisecondArray::from(vec![6, 4])),
                Arc::new(BooleanArray::from(vec![false, false])),
            ],
        )
        .unwrap();
        let mut state = InOrder::new(Panes::for_test(10, 2, 0), 0, &ts).unwrap();
        let e = state.push(b).unwrap_err().to_string();
        assert!(e.contains("out of order"), "{e}");
    }
}
