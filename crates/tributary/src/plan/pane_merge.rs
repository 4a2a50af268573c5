//! The last step of a batch's sliding windows by panes: pane states merged into their windows
//! in pane order, so that only the windows still open are held (see `plan::panes`).
//!
//! ```text
//!  Partial(pane, k) ─► hash(k) ─► PaneMergeExec ─► window rows
//!                                   collect: the pane states of its keys, as they come;
//!                                            refused memory, they go to disk as a run
//!                                            sorted by pane start
//!                                   sweep:   the runs merged by pane start; once the panes
//!                                            seen pass a window's end, no pane can join it:
//!                                            the complete windows are merged from their
//!                                            panes (fresh group accumulators) and go out
//! ```
//! A final aggregation by window over the spread pane states (the plan this replaces) held
//! every window's state until its input ended: for the visitors job, the exact distinct sets of
//! 83,550 windows, five times the pane sets' values. Here the states held are the panes' (in
//! memory or on disk) and the windows of one chunk of panes at a time.

use std::fmt;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, RecordBatch};
use arrow::compute::{concat_batches, filter_record_batch, interleave_record_batch};
use arrow::datatypes::{DataType, Int64Type, Schema, SchemaRef};
use datafusion::common::Result;
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryReservation};
use datafusion::execution::{SendableRecordBatchStream, SpillFile, TaskContext};
use datafusion::logical_expr::{EmitTo, GroupsAccumulator};
use datafusion::physical_expr::aggregate::AggregateFunctionExpr;
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_expr::{EquivalenceProperties, GroupsAccumulatorAdapter};
use datafusion::physical_plan::aggregates::group_values::new_group_values;
use datafusion::physical_plan::aggregates::order::GroupOrdering;
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::metrics::{ExecutionPlanMetricsSet, MetricsSet, SpillMetrics};
use datafusion::physical_plan::stream::RecordBatchReceiverStream;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, Distribution, ExecutionPlan, ExecutionPlanProperties,
    Partitioning, PhysicalExpr, PlanProperties, ReplaceChildrenOptions, SpillManager,
};
use futures::StreamExt;

use crate::error::TributaryError;
use crate::exec::panes::Panes;

/// Pane rows gathered before their complete windows are merged, at least (a chunk also waits
/// for twice the rows kept from the chunk before, so that each row is spread a few times only).
const CHUNK_ROWS: usize = 1024;
/// Bytes of pane states per batch written to a run on disk (read back one batch per run).
const RUN_BATCH_BYTES: usize = 1 << 20;

fn ext(e: TributaryError) -> datafusion::error::DataFusionError {
    datafusion::error::DataFusionError::External(Box::new(e))
}

/// Merges pane states (grouped by pane and keys, as a partial aggregation leaves them) into
/// the windows holding them, partition by partition: each partition holds every pane of its
/// keys. The pane is grouped by its fields at columns `at` (start), `at + 1` (end) and `at + 2`
/// (whether it is NULL), as [`Panes::spread`] takes them; the output is the final aggregation's.
pub(crate) struct PaneMergeExec {
    input: Arc<dyn ExecutionPlan>,
    panes: Panes,
    at: usize,
    /// Group columns at the front of the input and of the output.
    groups: usize,
    aggr: Vec<Arc<AggregateFunctionExpr>>,
    properties: Arc<PlanProperties>,
    metrics: ExecutionPlanMetricsSet,
}

impl fmt::Debug for PaneMergeExec {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "PaneMergeExec")
    }
}

impl PaneMergeExec {
    pub(crate) fn new(
        input: Arc<dyn ExecutionPlan>,
        panes: Panes,
        at: usize,
        groups: usize,
        aggr: Vec<Arc<AggregateFunctionExpr>>,
        schema: SchemaRef,
    ) -> Self {
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(schema),
            Partitioning::UnknownPartitioning(input.output_partitioning().partition_count()),
            EmissionType::Final,
            Boundedness::Bounded,
        ));
        PaneMergeExec {
            input,
            panes,
            at,
            groups,
            aggr,
            properties,
            metrics: ExecutionPlanMetricsSet::new(),
        }
    }

    /// The group columns other than the pane's: a partition must hold every pane of its keys.
    pub(crate) fn keys(schema: &SchemaRef, at: usize, groups: usize) -> Vec<Arc<dyn PhysicalExpr>> {
        (0..groups)
            .filter(|i| !(at..at + 3).contains(i))
            .map(|i| Arc::new(Column::new(schema.field(i).name(), i)) as Arc<dyn PhysicalExpr>)
            .collect()
    }
}

impl DisplayAs for PaneMergeExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "PaneMergeExec: panes={} ms", self.panes.pane_ms())
    }
}

impl ExecutionPlan for PaneMergeExec {
    crate::plan::physical::unary_exec_methods!("PaneMergeExec");
    fn required_input_distribution(&self) -> Vec<Distribution> {
        let keys = Self::keys(&self.input.schema(), self.at, self.groups);
        vec![if keys.is_empty() {
            Distribution::SinglePartition
        } else {
            Distribution::KeyPartitioned(keys)
        }]
    }
    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        vec![false]
    }
    fn maintains_input_order(&self) -> Vec<bool> {
        vec![false]
    }
    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }
    crate::plan::physical::no_expressions!();
    fn replace_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
        _options: ReplaceChildrenOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(Arc::new(PaneMergeExec::new(
            children.swap_remove(0),
            self.panes,
            self.at,
            self.groups,
            self.aggr.clone(),
            self.schema(),
        )))
    }
    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let mut input = self.input.execute(partition, context.clone())?;
        let reservation = MemoryConsumer::new(format!("PaneMergeExec[{partition}]"))
            .with_can_spill(true)
            .register(context.memory_pool());
        let spill = SpillManager::new(
            context.runtime_env(),
            SpillMetrics::new(&self.metrics, partition),
            self.input.schema(),
        );
        let ticks = {
            let ty = self.input.schema().field(self.at).data_type().clone();
            Panes::ticks_per_ms(&ty).map_err(ext)?
        };
        let mut collect = Collect {
            at: self.at,
            batches: Vec::new(),
            nulls: Vec::new(),
            runs: Vec::new(),
            reservation,
            spill,
        };
        let merger = Merger::new(
            self.groups,
            self.aggr.clone(),
            self.input.schema(),
            self.schema(),
        )?;
        let (panes, at) = (self.panes, self.at);
        let batch_size = context.session_config().batch_size().max(1);
        let mut builder = RecordBatchReceiverStream::builder(self.schema(), 2);
        let tx = builder.tx();
        builder.spawn(async move {
            while let Some(b) = input.next().await {
                collect.push(b?)?;
            }
            let mut sweep = collect.into_sweep(panes, at, ticks, merger)?;
            while let Some(out) = sweep.next_chunk().await? {
                for i in (0..out.num_rows()).step_by(batch_size) {
                    let n = batch_size.min(out.num_rows() - i);
                    if tx.send(Ok(out.slice(i, n))).await.is_err() {
                        return Ok(());
                    }
                }
            }
            Ok(())
        });
        Ok(builder.build())
    }
}

/// Memory held by a batch's own rows (a slice counts its share, not its buffers').
fn slice_size(b: &RecordBatch) -> usize {
    b.columns()
        .iter()
        .map(|c| {
            c.to_data()
                .get_slice_memory_size()
                .unwrap_or_else(|_| c.get_array_memory_size())
        })
        .sum()
}

/// Pane starts of a batch without NULL panes, in ticks.
fn starts(b: &RecordBatch, at: usize) -> Result<Vec<i64>> {
    let s = arrow::compute::cast(b.column(at), &DataType::Int64)?;
    Ok(s.as_primitive::<Int64Type>().values().to_vec())
}

/// The pane states of one partition as they come, in memory while the pool grants it, else
/// on disk in runs sorted by pane start.
struct Collect {
    at: usize,
    batches: Vec<RecordBatch>,
    /// Rows without a pane (no event time): one NULL window each, merged last.
    nulls: Vec<RecordBatch>,
    runs: Vec<Arc<dyn SpillFile>>,
    reservation: MemoryReservation,
    spill: SpillManager,
}

impl Collect {
    fn push(&mut self, b: RecordBatch) -> Result<()> {
        if b.num_rows() == 0 {
            return Ok(());
        }
        let (is_null, start) = (b.column(self.at + 2).as_boolean(), b.column(self.at));
        let b = if is_null.true_count() > 0 || start.null_count() > 0 {
            let null: BooleanArray = (0..b.num_rows())
                .map(|i| Some(start.is_null(i) || (is_null.is_valid(i) && is_null.value(i))))
                .collect();
            self.nulls.push(filter_record_batch(&b, &null)?);
            filter_record_batch(&b, &arrow::compute::not(&null)?)?
        } else {
            b
        };
        let size = slice_size(&b);
        if self.reservation.try_grow(size).is_err() {
            self.spill_run()?;
            if self.reservation.try_grow(size).is_err() {
                // Alone beyond what the pool grants: written out at once.
                self.batches.push(b);
                return self.spill_run();
            }
        }
        self.batches.push(b);
        Ok(())
    }

    /// The rows held, sorted by pane start: (start, batch, row).
    fn order(&self) -> Result<Vec<(i64, usize, usize)>> {
        let mut order = Vec::new();
        for (i, b) in self.batches.iter().enumerate() {
            order.extend(
                starts(b, self.at)?
                    .into_iter()
                    .enumerate()
                    .map(|(row, s)| (s, i, row)),
            );
        }
        order.sort_unstable();
        Ok(order)
    }

    /// The rows held written to disk as a run sorted by pane start; their memory goes back.
    fn spill_run(&mut self) -> Result<()> {
        if self.batches.is_empty() {
            return Ok(());
        }
        let order = self.order()?;
        let bytes: usize = self.batches.iter().map(slice_size).sum();
        let per_batch = (RUN_BATCH_BYTES * order.len() / bytes.max(1)).max(1);
        let refs: Vec<&RecordBatch> = self.batches.iter().collect();
        let mut file = self
            .spill
            .create_in_progress_file("PaneMergeExec: pane states by pane start")?;
        for rows in order.chunks(per_batch) {
            let at: Vec<(usize, usize)> = rows.iter().map(|&(_, b, r)| (b, r)).collect();
            file.append_batch(&interleave_record_batch(&refs, &at)?)?;
        }
        if let Some(f) = file.finish()? {
            self.runs.push(f);
        }
        self.batches.clear();
        self.reservation.free();
        Ok(())
    }

    fn into_sweep(self, panes: Panes, at: usize, ticks: i64, merger: Merger) -> Result<Sweep> {
        let order = self.order()?;
        let mut runs = Vec::with_capacity(self.runs.len() + 1);
        for f in &self.runs {
            runs.push(Run::Disk {
                stream: self
                    .spill
                    .read_spill_as_stream_unbuffered(f.clone(), None)?,
                batch: None,
                starts: Vec::new(),
                row: 0,
                held: None,
            });
        }
        if !order.is_empty() {
            runs.push(Run::Memory { order, next: 0 });
        }
        Ok(Sweep {
            panes,
            at,
            ticks,
            memory: self.batches.len(),
            held: self.batches,
            rows: Vec::new(),
            kept: 0,
            emitted_through: None,
            runs,
            nulls: self.nulls,
            merger,
            done: false,
            _reservation: self.reservation,
            _files: self.runs,
        })
    }
}

/// A source of pane rows in pane order.
enum Run {
    /// The rows still held in memory, by their order: (start, batch, row).
    Memory {
        order: Vec<(i64, usize, usize)>,
        next: usize,
    },
    /// A run on disk, read a batch at a time; `held` is the batch's index in the sweep's held
    /// batches once a row of it is taken.
    Disk {
        stream: SendableRecordBatchStream,
        batch: Option<RecordBatch>,
        starts: Vec<i64>,
        row: usize,
        held: Option<usize>,
    },
}

/// The pane rows of every run in pane order, merged a chunk of complete windows at a time.
struct Sweep {
    panes: Panes,
    at: usize,
    ticks: i64,
    /// The batches rows point into: the memory run's first (`memory` of them), then disk
    /// batches taken from.
    held: Vec<RecordBatch>,
    memory: usize,
    /// Pane rows not yet merged into every window holding them: (held batch, row, start).
    rows: Vec<(usize, usize, i64)>,
    /// Rows kept from the chunk before.
    kept: usize,
    /// Windows ending at or before this (ticks) are out.
    emitted_through: Option<i64>,
    runs: Vec<Run>,
    nulls: Vec<RecordBatch>,
    merger: Merger,
    done: bool,
    /// The memory run stays accounted until the sweep ends; the runs' files live as long.
    _reservation: MemoryReservation,
    _files: Vec<Arc<dyn SpillFile>>,
}

impl Sweep {
    /// The run whose next row has the earliest pane start, and that start.
    async fn earliest(&mut self, at: usize) -> Result<Option<(usize, i64)>> {
        let mut best: Option<(usize, i64)> = None;
        for (i, run) in self.runs.iter_mut().enumerate() {
            let s = match run {
                Run::Memory { order, next } => order.get(*next).map(|r| r.0),
                Run::Disk {
                    stream,
                    batch,
                    starts: st,
                    row,
                    held,
                } => {
                    while *row >= st.len() {
                        match stream.next().await.transpose()? {
                            Some(b) => {
                                *st = starts(&b, at)?;
                                *batch = Some(b);
                                *row = 0;
                                *held = None;
                            }
                            None => {
                                *batch = None;
                                st.clear();
                                *row = 0;
                                break;
                            }
                        }
                    }
                    st.get(*row).copied()
                }
            };
            if let Some(s) = s {
                if best.is_none_or(|(_, b)| s < b) {
                    best = Some((i, s));
                }
            }
        }
        Ok(best)
    }

    /// Takes the next row of run `i` into the rows to merge.
    fn take(&mut self, i: usize, s: i64) {
        match &mut self.runs[i] {
            Run::Memory { order, next } => {
                let (_, b, r) = order[*next];
                *next += 1;
                self.rows.push((b, r, s));
            }
            Run::Disk {
                batch, row, held, ..
            } => {
                let h = match *held {
                    Some(h) => h,
                    None => {
                        self.held.push(batch.clone().expect("a batch is read"));
                        *held = Some(self.held.len() - 1);
                        self.held.len() - 1
                    }
                };
                self.rows.push((h, *row, s));
                *row += 1;
            }
        }
    }

    /// The next chunk of complete windows, merged; `None` when every window is out.
    async fn next_chunk(&mut self) -> Result<Option<RecordBatch>> {
        if self.done {
            return Ok(None);
        }
        let at = self.at;
        loop {
            match self.earliest(at).await? {
                None => {
                    self.done = true;
                    return self.merge(None).map(Some);
                }
                Some((i, s)) => {
                    let last = self.rows.last().map(|r| r.2);
                    if last.is_some_and(|l| s > l)
                        && self.rows.len() >= CHUNK_ROWS.max(2 * self.kept)
                    {
                        let out = self.merge(Some(s))?;
                        self.take(i, s);
                        return Ok(Some(out));
                    }
                    self.take(i, s);
                }
            }
        }
    }

    /// Merges the windows ending after those already out and at or before `through` (ticks;
    /// every window when `None`, the NULL window included), from the rows gathered; keeps the
    /// rows of panes still in a window to come.
    fn merge(&mut self, through: Option<i64>) -> Result<RecordBatch> {
        let late_ms = self.emitted_through.map(|t| t.div_euclid(self.ticks));
        let mut parts = Vec::new();
        if !self.rows.is_empty() {
            let refs: Vec<&RecordBatch> = self.held.iter().collect();
            let at: Vec<(usize, usize)> = self.rows.iter().map(|&(b, r, _)| (b, r)).collect();
            let panes = interleave_record_batch(&refs, &at)?;
            let windows = self.panes.spread(&panes, self.at, late_ms).map_err(ext)?;
            parts.push(match through {
                Some(t) => {
                    let end = arrow::compute::cast(windows.column(self.at + 1), &DataType::Int64)?;
                    let complete: BooleanArray = end
                        .as_primitive::<Int64Type>()
                        .iter()
                        .map(|e| Some(e.is_some_and(|e| e <= t)))
                        .collect();
                    filter_record_batch(&windows, &complete)?
                }
                None => windows,
            });
        }
        if through.is_none() {
            for n in self.nulls.drain(..) {
                parts.push(self.panes.spread(&n, self.at, None).map_err(ext)?);
            }
        }
        let out = self
            .merger
            .merge(&concat_batches(&self.merger.input, &parts)?)?;
        if let Some(t) = through {
            let (panes, k) = (self.panes, self.ticks);
            self.rows.retain(|&(_, _, s)| panes.last_end(s, k) > t);
            self.kept = self.rows.len();
            self.emitted_through = Some(t);
            self.compact();
        } else {
            self.rows.clear();
        }
        Ok(out)
    }

    /// Drops the disk batches no row points into any more.
    fn compact(&mut self) {
        let mut map = vec![usize::MAX; self.held.len()];
        let mut held: Vec<RecordBatch> = self.held[..self.memory].to_vec();
        for (i, m) in map.iter_mut().enumerate().take(self.memory) {
            *m = i;
        }
        for r in &mut self.rows {
            if map[r.0] == usize::MAX {
                held.push(self.held[r.0].clone());
                map[r.0] = held.len() - 1;
            }
            r.0 = map[r.0];
        }
        for run in &mut self.runs {
            if let Run::Disk { held: h, .. } = run {
                *h = h.and_then(|h| (map[h] != usize::MAX).then_some(map[h]));
            }
        }
        self.held = held;
    }
}

/// A final aggregation of one chunk of window rows, with fresh group accumulators.
struct Merger {
    groups: usize,
    /// The group columns' schema.
    group_schema: SchemaRef,
    /// The aggregates, each with the number of its state columns.
    aggr: Vec<(Arc<AggregateFunctionExpr>, usize)>,
    input: SchemaRef,
    output: SchemaRef,
}

impl Merger {
    fn new(
        groups: usize,
        aggr: Vec<Arc<AggregateFunctionExpr>>,
        input: SchemaRef,
        output: SchemaRef,
    ) -> Result<Self> {
        let aggr = aggr
            .into_iter()
            .map(|a| {
                let k = a.state_fields()?.len();
                Ok((a, k))
            })
            .collect::<Result<_>>()?;
        Ok(Merger {
            groups,
            group_schema: Arc::new(Schema::new(input.fields()[..groups].to_vec())),
            aggr,
            input,
            output,
        })
    }

    fn merge(&self, rows: &RecordBatch) -> Result<RecordBatch> {
        // No window in the chunk (a partition without keys, a chunk of panes whose windows are
        // all still open): DataFusion's accumulator adapter cannot evaluate zero groups.
        if rows.num_rows() == 0 {
            return Ok(RecordBatch::new_empty(self.output.clone()));
        }
        let mut values = new_group_values(self.group_schema.clone(), &GroupOrdering::None)?;
        let mut index = Vec::new();
        values.intern(&rows.columns()[..self.groups], &mut index)?;
        let n = values.len();
        let mut cols: Vec<ArrayRef> = values.emit(EmitTo::All)?;
        let mut c = self.groups;
        for &(ref a, k) in &self.aggr {
            let mut acc: Box<dyn GroupsAccumulator> = if a.groups_accumulator_supported() {
                a.create_groups_accumulator()?
            } else {
                let a = a.clone();
                Box::new(GroupsAccumulatorAdapter::new(move || {
                    a.create_accumulator()
                }))
            };
            acc.merge_batch(&rows.columns()[c..c + k], &index, n)?;
            cols.push(acc.evaluate(EmitTo::All)?);
            c += k;
        }
        Ok(RecordBatch::try_new_with_options(
            self.output.clone(),
            cols,
            &arrow::array::RecordBatchOptions::new().with_row_count(Some(n)),
        )?)
    }
}
