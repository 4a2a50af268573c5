//! A stateful operator's inputs in one epoch: the plans below its node (over the epoch's source
//! rows and the outputs of the operators below it), each prepared once per query and re-bound
//! per epoch, as the plan above the operators is.
//!
//! ```text
//!  driver ─► OperatorInputs { node's template, epoch tables, InputPlans } ─► operator.process
//!                 │
//!                 └─ plan(i) ─► PlanCache::plan (prepared: slots re-bound, reset, ~0.03 ms;
//!                               or, when it cannot be prepared, the input bound and planned)
//! ```
//!
//! A real-time epoch runs its operators once per arrival, a few thousand times per epoch:
//! planning each input again (DataFusion's optimizer and physical planner, about a
//! millisecond) was most of a deduplication's arrival. Whether an input can be prepared is
//! decided as for the output plan ([`PlanCache`]).

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::RecordBatch;
use datafusion::datasource::TableProvider;
use datafusion::execution::{SessionState, TaskContext};
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::ExecutionPlan;

use crate::error::{from_df_error, Result, TributaryError};
use crate::plan::{EpochRows, PlanCache, SourceKey};

/// The prepared plans of one operator's inputs, kept by the driver across epochs.
pub(crate) struct InputPlans(Vec<PlanCache>);

impl InputPlans {
    /// Plans for the inputs of `node` (none prepared yet).
    pub(crate) fn of(node: &LogicalPlan) -> Self {
        InputPlans(node.inputs().iter().map(|_| PlanCache::default()).collect())
    }

    /// Whether input `i`'s plan was prepared.
    #[cfg(test)]
    pub(crate) fn is_prepared(&self, i: usize) -> bool {
        self.0.get(i).is_some_and(PlanCache::is_prepared)
    }
}

/// One operator's inputs in one epoch.
pub(crate) struct OperatorInputs<'a> {
    /// The operator's node with its inputs unbound.
    node: &'a LogicalPlan,
    sources: &'a HashMap<SourceKey, Arc<dyn TableProvider>>,
    outputs: &'a HashMap<usize, Arc<dyn TableProvider>>,
    plans: &'a InputPlans,
    /// The epoch's planned time, which `now()` reads.
    now_ms: i64,
}

impl<'a> OperatorInputs<'a> {
    /// The inputs of `node` over the epoch's `sources` and the `outputs` of the operators
    /// below, planned through `plans` for an epoch planned at `now_ms`.
    pub(crate) fn new(
        node: &'a LogicalPlan,
        (sources, outputs): EpochRows<'a>,
        plans: &'a InputPlans,
        now_ms: i64,
    ) -> Self {
        OperatorInputs {
            node,
            sources,
            outputs,
            plans,
            now_ms,
        }
    }

    /// The epoch's planned time: what `now()` reads, and processing-time timeouts.
    pub(crate) fn now_ms(&self) -> i64 {
        self.now_ms
    }

    /// The physical plan of input `i` over the epoch's rows; `rewritten`, when given, is a
    /// rewrite of the input (the same at every epoch) to plan instead.
    pub(crate) async fn plan(
        &self,
        state: &SessionState,
        i: usize,
        rewritten: Option<&LogicalPlan>,
        what: &str,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let missing = || TributaryError::Internal(format!("an operator has no input {i}"));
        let template = match rewritten {
            Some(t) => t,
            None => self.node.inputs().get(i).copied().ok_or_else(missing)?,
        };
        let cache = self.plans.0.get(i).ok_or_else(missing)?;
        let tables = (self.sources, self.outputs);
        cache.plan(state, template, tables, self.now_ms, what).await
    }

    /// Input `i`'s rows of the epoch, as one batch (`what` names it in errors).
    pub(crate) async fn collect(
        &self,
        state: &SessionState,
        i: usize,
        what: &str,
    ) -> Result<RecordBatch> {
        let physical = self.plan(state, i, None, what).await?;
        let schema = physical.schema();
        let task = Arc::new(TaskContext::from(state));
        // Partition after partition: an epoch's rows are cut into partitions in their order,
        // and a deduplication keeps the first row of a key.
        let partitions = datafusion::physical_plan::collect_partitioned(physical, task)
            .await
            .map_err(|e| from_df_error(&format!("reading {what}"), e))?;
        arrow::compute::concat_batches(&schema, partitions.iter().flatten())
            .map_err(TributaryError::arrow("concatenating an operator's input"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{bind_epoch, find_sources};
    use arrow::array::Int64Array;
    use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
    use datafusion::catalog::default_table_source::provider_as_source;
    use datafusion::common::JoinType;
    use datafusion::datasource::MemTable;
    use datafusion::logical_expr::{col, lit, Expr, LogicalPlanBuilder};

    fn schema(name: &str) -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new(format!("{name}_k"), DataType::Int64, false),
            Field::new(format!("{name}_v"), DataType::Int64, false),
        ]))
    }

    /// A stream's scan, filtered and projected, with `extra` projected too.
    fn side(name: &str, extra: Option<Expr>) -> LogicalPlanBuilder {
        let table = Arc::new(crate::source::StreamTable::new(Arc::new(
            crate::connector::memory::MemoryStream::new(name, schema(name)),
        )));
        let k = col(format!("{name}_k"));
        let mut exprs = vec![
            k.clone(),
            (col(format!("{name}_v")) + lit(1)).alias(format!("{name}_w")),
        ];
        exprs.extend(extra);
        LogicalPlanBuilder::scan(name, provider_as_source(table), None)
            .unwrap()
            .filter(k.gt(lit(0)))
            .unwrap()
            .project(exprs)
            .unwrap()
    }

    /// A join of two streams: the node of a stream-stream join operator.
    fn node(extra: Option<Expr>) -> LogicalPlan {
        side("l", None)
            .join(
                side("r", extra).build().unwrap(),
                JoinType::Inner,
                (vec!["l_k"], vec!["r_k"]),
                None,
            )
            .unwrap()
            .build()
            .unwrap()
    }

    fn rows_of(name: &str, ks: &[i64]) -> Arc<dyn TableProvider> {
        let batch = RecordBatch::try_new(
            schema(name),
            vec![
                Arc::new(Int64Array::from(ks.to_vec())),
                Arc::new(Int64Array::from_iter_values(ks.iter().map(|k| k * 10))),
            ],
        )
        .unwrap();
        Arc::new(MemTable::try_new(schema(name), vec![vec![batch]]).unwrap())
    }

    fn sorted(batch: &RecordBatch) -> Vec<String> {
        let mut rows: Vec<String> =
            arrow::util::pretty::pretty_format_batches(std::slice::from_ref(batch))
                .unwrap()
                .to_string()
                .lines()
                .filter(|l| l.starts_with("| ") && !l.contains("_k "))
                .map(str::to_string)
                .collect();
        rows.sort();
        rows
    }

    /// Each input, collected through its plan, over three epochs planned a minute apart; with
    /// what planning each input bound to the epoch's rows at the epoch's time gives. The rows
    /// of every epoch, sorted.
    async fn run(node: &LogicalPlan, plans: &InputPlans) -> Vec<Vec<String>> {
        let state = crate::Session::new().context().state();
        let keys: Vec<SourceKey> = find_sources(node).into_iter().map(|(k, _)| k).collect();
        let outputs = HashMap::new();
        let mut all = Vec::new();
        for (e, (l, r)) in [
            (vec![1, 2, 0], vec![2, 3]),
            (vec![], vec![5, -1, 7]),
            (vec![4], vec![]),
        ]
        .into_iter()
        .enumerate()
        {
            let now_ms = 1_000_000 + 60_000 * e as i64;
            let sources = HashMap::from([(keys[0], rows_of("l", &l)), (keys[1], rows_of("r", &r))]);
            let inputs = OperatorInputs::new(node, (&sources, &outputs), plans, now_ms);
            for (i, ks) in [&l, &r].into_iter().enumerate() {
                let got = sorted(&inputs.collect(&state, i, "a test input").await.unwrap());
                let bound = bind_epoch(node.inputs()[i], &sources).unwrap();
                let mut at = state.clone();
                at.execution_props_mut().query_execution_start_time =
                    chrono::DateTime::from_timestamp_millis(now_ms);
                let physical = at.create_physical_plan(&bound).await.unwrap();
                let schema = physical.schema();
                let task = Arc::new(TaskContext::from(&state));
                let planned = datafusion::physical_plan::collect(physical, task)
                    .await
                    .unwrap();
                let planned = arrow::compute::concat_batches(&schema, &planned).unwrap();
                assert_eq!(got, sorted(&planned), "input {i} of {ks:?}");
                assert_eq!(
                    got.len(),
                    ks.iter().filter(|k| **k > 0).count(),
                    "input {i}: {got:?}"
                );
                all.push(got);
            }
        }
        all
    }

    #[tokio::test]
    async fn each_input_is_prepared_once_and_gives_each_epoch_what_planning_it_would() {
        let node = node(None);
        let plans = InputPlans::of(&node);
        assert!(!plans.is_prepared(0) && !plans.is_prepared(1));
        assert_eq!(run(&node, &plans).await.len(), 6);
        assert!(plans.is_prepared(0) && plans.is_prepared(1));
    }

    #[tokio::test]
    async fn an_input_that_reads_the_time_is_planned_each_epoch() {
        let now = datafusion::functions::datetime::expr_fn::now().alias("at");
        let node = node(Some(now));
        let plans = InputPlans::of(&node);
        let rows = run(&node, &plans).await;
        assert!(plans.is_prepared(0), "the left input reads no time");
        assert!(!plans.is_prepared(1), "the right input reads now()");
        // The right input's rows of the first and second epochs: now() is each epoch's time.
        assert!(
            rows[1]
                .iter()
                .all(|r| r.ends_with("| 1970-01-01T00:16:40 |")),
            "{rows:?}"
        );
        assert!(
            rows[3]
                .iter()
                .all(|r| r.ends_with("| 1970-01-01T00:17:40 |")),
            "{rows:?}"
        );
        assert_eq!((rows[1].len(), rows[3].len()), (2, 2));
    }

    #[tokio::test]
    async fn an_input_of_many_batches_comes_in_the_order_of_its_rows() {
        let state = crate::Session::new().context().state();
        let node = node(None);
        let plans = InputPlans::of(&node);
        let keys: Vec<SourceKey> = find_sources(&node).into_iter().map(|(k, _)| k).collect();
        let n = 2 * state.config().batch_size() as i64 + 5;
        let outputs = HashMap::new();
        for epoch in 0..2 {
            // Descending, with a few rows the filter drops, so that any reordering shows.
            let ks: Vec<i64> = (0..n)
                .rev()
                .map(|k| if k % 97 == epoch { -k } else { k })
                .collect();
            let sources =
                HashMap::from([(keys[0], rows_of("l", &ks)), (keys[1], rows_of("r", &[1]))]);
            let inputs = OperatorInputs::new(&node, (&sources, &outputs), &plans, 0);
            let rows = inputs.collect(&state, 0, "a test input").await.unwrap();
            let got = rows
                .column(0)
                .as_any()
                .downcast_ref::<Int64Array>()
                .unwrap()
                .values()
                .to_vec();
            let expected: Vec<i64> = ks.iter().copied().filter(|k| *k > 0).collect();
            assert_eq!(got, expected, "epoch {epoch}");
        }
        assert!(plans.is_prepared(0));
    }
}
