//! Plans prepared once per query and re-bound per epoch: the plan an epoch runs is optimized and
//! physically planned at the first epoch, with a slot where each epoch's rows enter; every later
//! epoch puts its rows in the slots and runs the same physical plan again.
//!
//! ```text
//!  first epoch:  template ─ bind slots ─► optimizer + physical planner ─► plan with SlotExec leaves
//!                (sources and operator outputs become SlotTables: schema only, no rows)
//!  every epoch:  for each SlotExec: the epoch's table scanned with the slot's projection
//!                ─► reset_plan_states(plan) ─► execute
//! ```
//!
//! Planning cost about a millisecond per epoch for the simplest query, half the work of a
//! real-time arrival. A plan is prepared only when running it again is known to give what
//! planning it again would:
//! - no stable function (`now()`, `current_date`, ..): the optimizer folds those into literals
//!   of the time it plans at, and a stream's epochs each have their own time;
//! - every leaf is a slot or rows in memory (the static side of a stream-static join is read once
//!   per query already); a file or table scan is planned per epoch, as before;
//! - dynamic filters off: a join or top-k that pushed a filter into its input would keep the
//!   first epoch's bounds (DataFusion's `reset_plan_states` does not reset pushed filters);
//! - each epoch's table has the schema the slot was prepared with; otherwise that epoch is
//!   planned as before.
//!
//! Anything else plans each epoch as before, so preparing is an optimisation only.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use async_trait::async_trait;
use datafusion::catalog::Session;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::datasource::source::DataSourceExec;
use datafusion::datasource::{source_as_provider, MemTable};
use datafusion::datasource::{TableProvider, TableType};
use datafusion::execution::context::SessionState;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::{Expr, LogicalPlan, Volatility};
use datafusion::physical_expr::EquivalenceProperties;
use datafusion::physical_plan::empty::EmptyExec;
use datafusion::physical_plan::execution_plan::{reset_plan_states, Boundedness, EmissionType};
use datafusion::physical_plan::placeholder_row::PlaceholderRowExec;
use datafusion::physical_plan::repartition::RepartitionExec;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, ExecutionPlanProperties, Partitioning,
    PlanProperties, ReplaceChildrenOptions,
};
use futures::StreamExt;

use super::{bind_epoch, bind_operator_outputs, SourceKey};
use crate::error::{from_df_error, Result};

/// Where an epoch's rows enter a plan: a streaming source, or a stateful operator's output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum SlotKey {
    Source(SourceKey),
    Operator(usize),
}

/// An epoch's rows: the sources' tables, and the outputs of the stateful operators by id.
pub(crate) type EpochRows<'a> = (
    &'a HashMap<SourceKey, Arc<dyn TableProvider>>,
    &'a HashMap<usize, Arc<dyn TableProvider>>,
);

/// One epoch's tables, by slot.
type EpochTables = HashMap<SlotKey, Arc<dyn TableProvider>>;

/// An epoch's tables by slot: the sources' rows and the stateful operators' outputs.
fn epoch_tables(
    sources: &HashMap<SourceKey, Arc<dyn TableProvider>>,
    outputs: &HashMap<usize, Arc<dyn TableProvider>>,
) -> EpochTables {
    let sources = sources
        .iter()
        .map(|(k, t)| (SlotKey::Source(*k), t.clone()));
    let outputs = outputs
        .iter()
        .map(|(id, t)| (SlotKey::Operator(*id), t.clone()));
    sources.chain(outputs).collect()
}

/// A table with a schema and no rows of its own: its scan is a [`SlotExec`].
#[derive(Debug)]
struct SlotTable {
    key: SlotKey,
    schema: SchemaRef,
    partitions: usize,
}

#[async_trait]
impl TableProvider for SlotTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
    fn table_type(&self) -> TableType {
        TableType::Temporary
    }
    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        limit: Option<usize>,
    ) -> datafusion::common::Result<Arc<dyn ExecutionPlan>> {
        let schema = match projection {
            Some(p) => Arc::new(self.schema.project(p)?),
            None => self.schema.clone(),
        };
        Ok(Arc::new(SlotExec {
            key: self.key,
            table_schema: self.schema.clone(),
            projection: projection.cloned(),
            limit,
            properties: Arc::new(PlanProperties::new(
                EquivalenceProperties::new(schema),
                Partitioning::UnknownPartitioning(self.partitions),
                EmissionType::Incremental,
                Boundedness::Bounded,
            )),
            bound: Arc::default(),
        }))
    }
}

/// The leaf of a prepared plan: runs the scan of the epoch's table that [`PreparedPlan::bind`]
/// put in it. Partition `p` of `n` reads the scan's partitions `p`, `p + n`, ..
struct SlotExec {
    key: SlotKey,
    table_schema: SchemaRef,
    projection: Option<Vec<usize>>,
    limit: Option<usize>,
    properties: Arc<PlanProperties>,
    /// The epoch's scan; shared by every copy of this node that resetting the plan makes.
    bound: Arc<Mutex<Option<Arc<dyn ExecutionPlan>>>>,
}

impl fmt::Debug for SlotExec {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "SlotExec({:?})", self.key)
    }
}

impl DisplayAs for SlotExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "SlotExec: the epoch's rows of {:?}", self.key)
    }
}

impl ExecutionPlan for SlotExec {
    fn name(&self) -> &str {
        "SlotExec"
    }
    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }
    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
    }
    #[allow(deprecated)]
    fn with_new_children(
        self: Arc<Self>,
        _children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> datafusion::common::Result<Arc<dyn ExecutionPlan>> {
        Ok(self)
    }
    crate::plan::physical::no_expressions!();
    fn replace_children(
        self: Arc<Self>,
        _children: Vec<Arc<dyn ExecutionPlan>>,
        _options: ReplaceChildrenOptions,
    ) -> datafusion::common::Result<Arc<dyn ExecutionPlan>> {
        Ok(self)
    }
    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> datafusion::common::Result<SendableRecordBatchStream> {
        let inner = self
            .bound
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or_else(|| {
                datafusion::error::DataFusionError::Internal(format!(
                    "{self:?} ran before an epoch's rows were bound to it"
                ))
            })?;
        let n = self.properties.output_partitioning().partition_count();
        let streams = (partition..inner.output_partitioning().partition_count())
            .step_by(n.max(1))
            .map(|q| inner.execute(q, context.clone()))
            .collect::<datafusion::common::Result<Vec<_>>>()?;
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            self.schema(),
            futures::stream::iter(streams).flatten(),
        )))
    }
}

/// A leaf of a prepared plan, as binding needs it.
struct Slot {
    key: SlotKey,
    table_schema: SchemaRef,
    schema: SchemaRef,
    projection: Option<Vec<usize>>,
    limit: Option<usize>,
    partitions: usize,
    bound: Arc<Mutex<Option<Arc<dyn ExecutionPlan>>>>,
}

/// A physical plan with slots for each epoch's rows.
pub(crate) struct PreparedPlan {
    physical: Arc<dyn ExecutionPlan>,
    slots: Vec<Slot>,
}

/// `state` with `now()` and the other stable functions reading `now_ms`, an epoch's planned time.
pub(crate) fn at_epoch_time(state: &SessionState, now_ms: i64) -> SessionState {
    let mut s = state.clone();
    s.execution_props_mut().query_execution_start_time =
        chrono::DateTime::from_timestamp_millis(now_ms);
    s
}

/// Whether `e` calls a stable function (one the optimizer evaluates once, at planning).
pub(crate) fn calls_stable_expr(e: &Expr) -> bool {
    e.exists(|e| {
        Ok(matches!(e, Expr::ScalarFunction(f)
            if f.func.signature().volatility == Volatility::Stable))
    })
    .unwrap_or(false)
}

/// Whether `plan` calls a stable function.
fn calls_stable_function(plan: &LogicalPlan) -> bool {
    let mut found = false;
    let _ = plan.apply_with_subqueries(|node| {
        found = node.expressions().iter().any(calls_stable_expr);
        Ok(if found {
            TreeNodeRecursion::Stop
        } else {
            TreeNodeRecursion::Continue
        })
    });
    found
}

/// Whether every table `plan` scans is a slot or a table of rows fixed in memory (a static
/// join side read once per query). A memory sink's table also scans as rows in memory, but it
/// grows every epoch: a plan that reads one is planned per epoch.
fn scans_fixed_tables(plan: &LogicalPlan) -> bool {
    let mut fixed = true;
    let _ = plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node {
            fixed = source_as_provider(&scan.source)
                .is_ok_and(|p| p.as_ref().is::<SlotTable>() || p.as_ref().is::<MemTable>());
        }
        Ok(if fixed {
            TreeNodeRecursion::Continue
        } else {
            TreeNodeRecursion::Stop
        })
    });
    fixed
}

/// Whether a leaf other than a slot gives the same rows every time it runs.
fn fixed_leaf(plan: &dyn ExecutionPlan) -> bool {
    plan.is::<EmptyExec>()
        || plan.is::<PlaceholderRowExec>()
        || plan
            .downcast_ref::<DataSourceExec>()
            .is_some_and(|d| d.data_source().is::<MemorySourceConfig>())
}

impl PreparedPlan {
    /// Prepare `template` (the plan with its sources and operator outputs unbound) for tables
    /// shaped as `tables`; `None` when it cannot be (see the module's list).
    pub(crate) async fn prepare(
        state: &SessionState,
        template: &LogicalPlan,
        tables: &EpochTables,
    ) -> Result<Option<PreparedPlan>> {
        if calls_stable_function(template) {
            return Ok(None);
        }
        let partitions = state.config().target_partitions().max(1);
        let mut sources: HashMap<SourceKey, Arc<dyn TableProvider>> = HashMap::new();
        let mut outputs: HashMap<usize, Arc<dyn TableProvider>> = HashMap::new();
        for (key, table) in tables {
            let slot: Arc<dyn TableProvider> = Arc::new(SlotTable {
                key: *key,
                schema: table.schema(),
                partitions,
            });
            match key {
                SlotKey::Source(k) => sources.insert(*k, slot),
                SlotKey::Operator(id) => outputs.insert(*id, slot),
            };
        }
        let bound = bind_epoch(&bind_operator_outputs(template, &outputs)?, &sources)?;
        if !scans_fixed_tables(&bound) {
            return Ok(None);
        }
        let mut config = state.config().clone();
        config
            .options_mut()
            .optimizer
            .enable_dynamic_filter_pushdown = false;
        config
            .options_mut()
            .optimizer
            .enable_join_dynamic_filter_pushdown = false;
        config
            .options_mut()
            .optimizer
            .enable_topk_dynamic_filter_pushdown = false;
        config
            .options_mut()
            .optimizer
            .enable_aggregate_dynamic_filter_pushdown = false;
        let planning = SessionStateBuilder::new_from_existing(state.clone())
            .with_config(config)
            .build();
        let physical = planning
            .create_physical_plan(&bound)
            .await
            .map_err(|e| from_df_error("preparing the epoch's plan", e))?;
        let mut slots = Vec::new();
        let mut fixed = true;
        physical
            .apply(|node| {
                if let Some(s) = node.downcast_ref::<SlotExec>() {
                    slots.push(Slot {
                        key: s.key,
                        table_schema: s.table_schema.clone(),
                        schema: s.schema(),
                        projection: s.projection.clone(),
                        limit: s.limit,
                        partitions: s.properties.output_partitioning().partition_count(),
                        bound: s.bound.clone(),
                    });
                } else if node.children().is_empty() && !fixed_leaf(node.as_ref()) {
                    fixed = false;
                    return Ok(TreeNodeRecursion::Stop);
                }
                Ok(TreeNodeRecursion::Continue)
            })
            .map_err(|e| from_df_error("preparing the epoch's plan", e))?;
        Ok(fixed.then_some(PreparedPlan { physical, slots }))
    }

    /// The plan, ready to run over `tables`; `None` when a table is missing or its schema is
    /// not the one the plan was prepared for (the epoch is then planned on its own).
    pub(crate) async fn bind(
        &self,
        state: &SessionState,
        tables: &EpochTables,
    ) -> Result<Option<Arc<dyn ExecutionPlan>>> {
        let mut scans = Vec::with_capacity(self.slots.len());
        for slot in &self.slots {
            let Some(table) = tables.get(&slot.key) else {
                return Ok(None);
            };
            if table.schema().fields() != slot.table_schema.fields() {
                tracing::debug!(
                    slot = ?slot.key,
                    "an epoch's table has another schema than the prepared plan: it is planned on its own"
                );
                return Ok(None);
            }
            let mut scan = table
                .scan(state, slot.projection.as_ref(), &[], slot.limit)
                .await
                .map_err(|e| from_df_error("reading the epoch's rows", e))?;
            if scan.schema().fields() != slot.schema.fields() {
                tracing::debug!(
                    slot = ?slot.key,
                    "an epoch's scan has another schema than the prepared plan: it is planned on its own"
                );
                return Ok(None);
            }
            if scan.output_partitioning().partition_count() < slot.partitions {
                scan = fit_partitions(scan, slot.partitions, state.config().batch_size())
                    .map_err(|e| from_df_error("reading the epoch's rows", e))?;
            }
            scans.push(scan);
        }
        for (slot, scan) in self.slots.iter().zip(scans) {
            *slot.bound.lock().unwrap_or_else(|e| e.into_inner()) = Some(scan);
        }
        reset_plan_states(self.physical.clone())
            .map(Some)
            .map_err(|e| from_df_error("resetting the epoch's plan", e))
    }
}

/// `scan` over the `partitions` the plan was made for. Rows in memory (an epoch's Kafka, rate
/// or memory rows, a real-time arrival's) keep their order: partition 0 takes the first rows,
/// the next partition the rows after them, and so on, so that reading the partitions one after
/// another gives them in the source's order, as reading one partition did when the epoch was
/// planned on its own (a deduplication keeps the first row of a key). Rows that fit in one
/// batch all stay in partition 0, the others empty: spreading them would cost a task and a
/// channel per partition, a good part of running a small arrival. Other scans are spread
/// round-robin, as the planner spreads them.
fn fit_partitions(
    scan: Arc<dyn ExecutionPlan>,
    partitions: usize,
    batch_size: usize,
) -> datafusion::common::Result<Arc<dyn ExecutionPlan>> {
    let memory = scan
        .downcast_ref::<DataSourceExec>()
        .and_then(|d| d.data_source().downcast_ref::<MemorySourceConfig>());
    let Some(m) = memory else {
        return Ok(Arc::new(RepartitionExec::try_new(
            scan,
            Partitioning::RoundRobinBatch(partitions),
        )?));
    };
    let batches: Vec<&RecordBatch> = m.partitions().iter().flatten().collect();
    let source = MemorySourceConfig::try_new(
        &in_order(&batches, partitions, batch_size),
        m.original_schema(),
        m.projection().clone(),
    )?
    .with_limit(datafusion::datasource::source::DataSource::fetch(m));
    Ok(DataSourceExec::from_data_source(source))
}

/// `batches` cut into `partitions` runs of consecutive rows, in order: all in the first when
/// they fit in one batch, else about as many rows in each.
fn in_order(
    batches: &[&RecordBatch],
    partitions: usize,
    batch_size: usize,
) -> Vec<Vec<RecordBatch>> {
    let total: usize = batches.iter().map(|b| b.num_rows()).sum();
    let per = if total <= batch_size {
        total
    } else {
        total.div_ceil(partitions)
    };
    let mut out = vec![Vec::new(); partitions.max(1)];
    let (mut p, mut room) = (0, per);
    for b in batches {
        let mut at = 0;
        while at < b.num_rows() {
            if room == 0 && p + 1 < out.len() {
                p += 1;
                room = per;
            }
            let n = if p + 1 == out.len() {
                b.num_rows() - at
            } else {
                room.min(b.num_rows() - at)
            };
            out[p].push(b.slice(at, n));
            at += n;
            room = room.saturating_sub(n);
        }
    }
    out
}

/// A query's prepared plan: prepared at the first epoch that asks, or known not to be preparable.
#[derive(Default)]
pub(crate) struct PlanCache {
    state: Mutex<Cached>,
}

#[derive(Default)]
enum Cached {
    #[default]
    Untried,
    Prepared(Arc<PreparedPlan>),
    Unpreparable,
}

impl PlanCache {
    /// The physical plan of `template` over an epoch's `sources` and operator `outputs`: the
    /// prepared plan bound to them when the template can be prepared, else the template bound
    /// and planned on its own (`what` names it in errors). `now_ms` is the epoch's planned
    /// time: what `now()` and the other stable functions read, the same when the epoch runs
    /// again (Spark's `current_timestamp()` is a micro-batch's time too). A prepared plan is
    /// bound to one epoch at a time: run it before asking for the next.
    pub(crate) async fn plan(
        &self,
        state: &SessionState,
        template: &LogicalPlan,
        (sources, outputs): EpochRows<'_>,
        now_ms: i64,
        what: &str,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if !self.is_unpreparable() {
            let tables = epoch_tables(sources, outputs);
            if let Some(physical) = self.bind(state, template, &tables).await? {
                return Ok(physical);
            }
        }
        let bound = bind_epoch(&bind_operator_outputs(template, outputs)?, sources)?;
        let at_epoch;
        let state = if calls_stable_function(template) {
            at_epoch = at_epoch_time(state, now_ms);
            &at_epoch
        } else {
            state
        };
        state
            .create_physical_plan(&bound)
            .await
            .map_err(|e| from_df_error(&format!("planning {what}"), e))
    }

    /// The prepared plan of `template` bound to `tables`, or `None`: the caller plans the epoch.
    async fn bind(
        &self,
        state: &SessionState,
        template: &LogicalPlan,
        tables: &EpochTables,
    ) -> Result<Option<Arc<dyn ExecutionPlan>>> {
        let cached = match &*self.lock() {
            Cached::Unpreparable => return Ok(None),
            Cached::Prepared(p) => Some(p.clone()),
            Cached::Untried => None,
        };
        let prepared = match cached {
            Some(p) => p,
            None => {
                // A plan that fails to prepare is planned per epoch, where its error (if it
                // has one) is reported as it always was.
                let p = match PreparedPlan::prepare(state, template, tables).await {
                    Ok(p) => p.map(Arc::new),
                    Err(e) => {
                        tracing::debug!(error = %e, "the query's plan is planned per epoch");
                        None
                    }
                };
                *self.lock() = p.clone().map_or(Cached::Unpreparable, Cached::Prepared);
                match p {
                    Some(p) => p,
                    None => return Ok(None),
                }
            }
        };
        prepared.bind(state, tables).await
    }

    /// Whether the plan is known not to be preparable (every epoch plans on its own).
    pub(crate) fn is_unpreparable(&self) -> bool {
        matches!(*self.lock(), Cached::Unpreparable)
    }

    /// Whether the plan was prepared.
    #[cfg(test)]
    pub(crate) fn is_prepared(&self) -> bool {
        matches!(*self.lock(), Cached::Prepared(_))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Cached> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::find_sources;
    use arrow::array::{Int64Array, RecordBatch};
    use arrow::datatypes::{DataType, Field, Schema};
    use datafusion::catalog::default_table_source::provider_as_source;
    use datafusion::datasource::MemTable;
    use datafusion::logical_expr::{col, lit, LogicalPlanBuilder};

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("k", DataType::Int64, false),
            Field::new("v", DataType::Int64, false),
        ]))
    }

    /// A scan of an in-memory stream, filtered and projected.
    fn template(extra: Option<Expr>) -> LogicalPlan {
        let table = Arc::new(crate::source::StreamTable::new(Arc::new(
            crate::connector::memory::MemoryStream::new("s", schema()),
        )));
        let mut exprs = vec![col("k"), (col("v") * lit(2)).alias("v2")];
        exprs.extend(extra);
        LogicalPlanBuilder::scan("s", provider_as_source(table), None)
            .unwrap()
            .filter(col("k").gt(lit(1)))
            .unwrap()
            .project(exprs)
            .unwrap()
            .build()
            .unwrap()
    }

    fn epoch(plan: &LogicalPlan, ks: &[i64]) -> EpochTables {
        let batch = RecordBatch::try_new(
            schema(),
            vec![
                Arc::new(Int64Array::from(ks.to_vec())),
                Arc::new(Int64Array::from_iter_values(ks.iter().map(|k| k * 10))),
            ],
        )
        .unwrap();
        let table = MemTable::try_new(schema(), vec![vec![batch]]).unwrap();
        let key = find_sources(plan)[0].0;
        HashMap::from([(
            SlotKey::Source(key),
            Arc::new(table) as Arc<dyn TableProvider>,
        )])
    }

    async fn rows(state: &SessionState, plan: Arc<dyn ExecutionPlan>) -> Vec<String> {
        let batches = datafusion::physical_plan::collect(plan, Arc::new(TaskContext::from(state)))
            .await
            .unwrap();
        let mut out: Vec<String> = arrow::util::pretty::pretty_format_batches(&batches)
            .unwrap()
            .to_string()
            .lines()
            .filter(|l| l.starts_with("| ") && !l.contains(" k "))
            .map(str::to_string)
            .collect();
        out.sort();
        out
    }

    /// What planning the epoch on its own gives.
    async fn planned(
        state: &SessionState,
        plan: &LogicalPlan,
        tables: &EpochTables,
    ) -> Vec<String> {
        let sources = tables
            .iter()
            .filter_map(|(k, t)| match k {
                SlotKey::Source(s) => Some((*s, t.clone())),
                SlotKey::Operator(_) => None,
            })
            .collect();
        let bound = bind_epoch(plan, &sources).unwrap();
        rows(state, state.create_physical_plan(&bound).await.unwrap()).await
    }

    #[tokio::test]
    async fn a_prepared_plan_runs_each_epoch_as_planning_it_would() {
        let state = crate::Session::new().context().state();
        let plan = template(None);
        let cache = PlanCache::default();
        for ks in [vec![1, 2, 3], vec![5, 0, 7, 9, 2], vec![], vec![4]] {
            let tables = epoch(&plan, &ks);
            let physical = cache
                .bind(&state, &plan, &tables)
                .await
                .unwrap()
                .expect("prepared");
            assert!(cache.is_prepared());
            let got = rows(&state, physical).await;
            assert_eq!(got, planned(&state, &plan, &tables).await, "epoch {ks:?}");
            let expected = ks.iter().filter(|k| **k > 1).count();
            assert_eq!(got.len(), expected, "epoch {ks:?}: {got:?}");
        }
    }

    #[tokio::test]
    async fn a_plan_that_reads_the_time_is_planned_each_epoch() {
        let state = crate::Session::new().context().state();
        let plan = template(Some(
            datafusion::functions::datetime::expr_fn::now().alias("at"),
        ));
        let cache = PlanCache::default();
        let tables = epoch(&plan, &[2, 3]);
        assert!(cache.bind(&state, &plan, &tables).await.unwrap().is_none());
        assert!(!cache.is_prepared());
        assert!(calls_stable_function(&plan));
        assert!(!calls_stable_function(&template(None)));
    }

    #[tokio::test]
    async fn an_epoch_of_another_shape_is_planned_on_its_own() {
        let state = crate::Session::new().context().state();
        let plan = template(None);
        let cache = PlanCache::default();
        assert!(cache
            .bind(&state, &plan, &epoch(&plan, &[2]))
            .await
            .unwrap()
            .is_some());
        // The same source with a column more: the prepared plan is not used for it.
        let wider = Arc::new(Schema::new(vec![
            Field::new("k", DataType::Int64, false),
            Field::new("v", DataType::Int64, false),
            Field::new("w", DataType::Int64, true),
        ]));
        let key = find_sources(&plan)[0].0;
        let tables: EpochTables = HashMap::from([(
            SlotKey::Source(key),
            Arc::new(MemTable::try_new(wider, vec![vec![]]).unwrap()) as Arc<dyn TableProvider>,
        )]);
        assert!(cache.bind(&state, &plan, &tables).await.unwrap().is_none());
        assert!(
            cache.is_prepared(),
            "the plan stays prepared for the next epoch"
        );
    }

    #[tokio::test]
    async fn a_plan_that_scans_files_is_planned_each_epoch() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("d.csv"), "k,v\n4,40\n").unwrap();
        let ctx = crate::Session::new().context().clone();
        ctx.register_csv(
            "files",
            dir.path().to_str().unwrap(),
            datafusion::prelude::CsvReadOptions::new(),
        )
        .await
        .unwrap();
        let files = ctx.table("files").await.unwrap().into_unoptimized_plan();
        let stream = template(None);
        let plan = LogicalPlanBuilder::from(stream.clone())
            .union(
                LogicalPlanBuilder::from(files)
                    .project(vec![col("k"), (col("v") * lit(2)).alias("v2")])
                    .unwrap()
                    .build()
                    .unwrap(),
            )
            .unwrap()
            .build()
            .unwrap();
        let state = ctx.state();
        let cache = PlanCache::default();
        let tables = epoch(&plan, &[2, 3]);
        assert!(cache.bind(&state, &plan, &tables).await.unwrap().is_none());
        assert!(!cache.is_prepared());
        // Rows in memory (a static side read once per query) are fine.
        let mem = MemTable::try_new(schema(), vec![vec![]]).unwrap();
        let mem = LogicalPlanBuilder::scan("m", provider_as_source(Arc::new(mem)), None)
            .unwrap()
            .project(vec![col("k"), (col("v") * lit(2)).alias("v2")])
            .unwrap()
            .build()
            .unwrap();
        let plan = LogicalPlanBuilder::from(stream)
            .union(mem)
            .unwrap()
            .build()
            .unwrap();
        let cache = PlanCache::default();
        let tables = epoch(&plan, &[2, 3]);
        let physical = cache.bind(&state, &plan, &tables).await.unwrap();
        assert_eq!(rows(&state, physical.expect("prepared")).await.len(), 2);
    }

    #[tokio::test]
    async fn rows_in_memory_are_cut_into_partitions_in_their_order() {
        let state = crate::Session::new().context().state();
        let batch = state.config().batch_size() as i64;
        let plan = template(None);
        for (ks, used) in [
            ((0..batch).collect::<Vec<_>>(), 1),
            (vec![3], 1),
            (vec![], 0),
            ((0..batch + 1).collect(), 3),
            ((0..3 * batch + 7).rev().collect(), 3),
        ] {
            let table = epoch(&plan, &ks).into_values().next().unwrap();
            let scan = table.scan(&state, Some(&vec![1]), &[], None).await.unwrap();
            assert_eq!(scan.output_partitioning().partition_count(), 1);
            let fitted = fit_partitions(scan, 3, batch as usize).unwrap();
            assert_eq!(fitted.output_partitioning().partition_count(), 3);
            assert!(!fitted.is::<RepartitionExec>(), "{} rows", ks.len());
            let task = Arc::new(TaskContext::from(&state));
            let parts = datafusion::physical_plan::collect_partitioned(fitted, task)
                .await
                .unwrap();
            let non_empty = parts
                .iter()
                .filter(|p| p.iter().any(|b| b.num_rows() > 0))
                .count();
            assert_eq!(non_empty, used, "{} rows", ks.len());
            // Partition after partition, the rows come in their order, projected.
            let values: Vec<i64> = parts
                .iter()
                .flatten()
                .flat_map(|b| {
                    assert_eq!(b.num_columns(), 1, "the projection is kept");
                    b.column(0)
                        .as_any()
                        .downcast_ref::<Int64Array>()
                        .unwrap()
                        .values()
                        .to_vec()
                })
                .collect();
            assert_eq!(values, ks.iter().map(|k| k * 10).collect::<Vec<_>>());
        }
        // Rows not in memory are spread round-robin.
        let empty = Arc::new(EmptyExec::new(schema()));
        assert!(fit_partitions(empty, 3, 10)
            .unwrap()
            .is::<RepartitionExec>());
    }

    #[tokio::test]
    async fn a_plan_that_reads_a_memory_sink_is_planned_each_epoch() {
        let sink = crate::connector::memory::MemorySinkTable::new(schema());
        let scan = LogicalPlanBuilder::scan("out", provider_as_source(Arc::new(sink)), None)
            .unwrap()
            .project(vec![col("k"), (col("v") * lit(2)).alias("v2")])
            .unwrap()
            .build()
            .unwrap();
        let plan = LogicalPlanBuilder::from(template(None))
            .union(scan)
            .unwrap()
            .build()
            .unwrap();
        let state = crate::Session::new().context().state();
        let cache = PlanCache::default();
        let tables = epoch(&plan, &[2, 3]);
        assert!(cache.bind(&state, &plan, &tables).await.unwrap().is_none());
        assert!(cache.is_unpreparable());
    }
}
