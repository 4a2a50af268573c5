//! The deduplication node: `df.drop_duplicates(cols)`, `df.drop_duplicates_within_watermark(cols)`,
//! and `SELECT DISTINCT` on a stream.
//!
//! In a batch, the physical operator keeps the first row of each key in input order. On a stream
//! the epoch driver runs it as a stateful operator (`exec::dedup`) that remembers the keys it
//! has seen, and forgets them behind the watermark.

use std::cmp::Ordering;
use std::collections::HashSet;
use std::fmt;
use std::sync::{Arc, Mutex};

use arrow::array::{BooleanArray, RecordBatch};
use datafusion::common::{plan_err, Column, DFSchemaRef, Result};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::{Expr, Extension, LogicalPlan, UserDefinedLogicalNodeCore};
use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, ExecutionPlanProperties, Partitioning,
    PlanProperties, ReplaceChildrenOptions,
};
use futures::StreamExt;

/// The logical deduplication node.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Deduplicate {
    /// The input.
    pub input: LogicalPlan,
    /// The key columns (all columns for `SELECT DISTINCT` or an empty list).
    pub keys: Vec<Column>,
    /// `drop_duplicates_within_watermark`: a key is remembered until the watermark passes its
    /// first event time plus the watermark's delay.
    pub within_watermark: bool,
}

impl PartialOrd for Deduplicate {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        (&self.keys, self.within_watermark).partial_cmp(&(&o.keys, o.within_watermark))
    }
}

impl Deduplicate {
    /// Deduplicate `input` on `columns` (every column when empty).
    pub(crate) fn try_new(
        input: LogicalPlan,
        columns: &[&str],
        within_watermark: bool,
    ) -> Result<Self> {
        let schema = input.schema().clone();
        let keys = if columns.is_empty() {
            schema.columns()
        } else {
            let mut keys = Vec::new();
            for c in columns {
                match schema.qualified_field_with_unqualified_name(c) {
                    Ok((q, f)) => keys.push(Column::new(q.cloned(), f.name())),
                    Err(_) => {
                        return plan_err!(
                            "drop_duplicates: there is no column '{c}'; the columns are [{}]",
                            crate::plan::column_list(schema.fields())
                        )
                    }
                }
            }
            keys
        };
        Ok(Deduplicate {
            input,
            keys,
            within_watermark,
        })
    }

    /// The node as a plan.
    pub(crate) fn into_plan(self) -> LogicalPlan {
        LogicalPlan::Extension(Extension {
            node: Arc::new(self),
        })
    }

    /// The deduplication node of a plan node, if it is one.
    pub(crate) fn of(plan: &LogicalPlan) -> Option<&Deduplicate> {
        match plan {
            LogicalPlan::Extension(e) => e.node.as_any().downcast_ref::<Deduplicate>(),
            _ => None,
        }
    }

    /// Indices of the key columns in the input schema.
    pub(crate) fn key_indices(&self) -> Result<Vec<usize>> {
        self.keys
            .iter()
            .map(|k| self.input.schema().index_of_column(k))
            .collect()
    }
}

impl Deduplicate {
    /// The batch operator over `input`.
    pub(crate) fn physical(&self, input: Arc<dyn ExecutionPlan>) -> Result<Arc<dyn ExecutionPlan>> {
        let keys = super::physical::column_indices(&input, &self.keys)?;
        Ok(Arc::new(DedupExec::new(input, keys)))
    }
}

impl UserDefinedLogicalNodeCore for Deduplicate {
    fn name(&self) -> &str {
        "Deduplicate"
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
    fn fmt_for_explain(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "Deduplicate{}: keys=[{}]",
            if self.within_watermark {
                " within watermark"
            } else {
                ""
            },
            self.keys
                .iter()
                .map(|k| k.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
    fn with_exprs_and_inputs(
        &self,
        _exprs: Vec<Expr>,
        mut inputs: Vec<LogicalPlan>,
    ) -> Result<Self> {
        Ok(Deduplicate {
            input: inputs.swap_remove(0),
            keys: self.keys.clone(),
            within_watermark: self.within_watermark,
        })
    }
    fn necessary_children_exprs(&self, _output_columns: &[usize]) -> Option<Vec<Vec<usize>>> {
        // Every column: the rows are whole rows.
        None
    }
}

/// Batch deduplication: the first row of each key, in input order (one partition).
#[derive(Debug)]
pub(crate) struct DedupExec {
    input: Arc<dyn ExecutionPlan>,
    keys: Vec<usize>,
    properties: Arc<PlanProperties>,
}

impl DedupExec {
    fn new(input: Arc<dyn ExecutionPlan>, keys: Vec<usize>) -> Self {
        let input: Arc<dyn ExecutionPlan> = if input.output_partitioning().partition_count() > 1 {
            Arc::new(CoalescePartitionsExec::new(input))
        } else {
            input
        };
        let properties = Arc::new(PlanProperties::new(
            input.equivalence_properties().clone(),
            Partitioning::UnknownPartitioning(1),
            EmissionType::Incremental,
            Boundedness::Bounded,
        ));
        DedupExec {
            input,
            keys,
            properties,
        }
    }
}

/// Keep the rows of `batch` whose key is not in `seen`, adding them; the first of equal keys wins.
pub(crate) fn first_occurrences(
    batch: &RecordBatch,
    keys: &[usize],
    seen: &mut HashSet<Vec<u8>>,
) -> Result<BooleanArray> {
    let key_batch = batch.project(keys)?;
    let rows = crate::state::KeyRows::new(&key_batch, keys.len())
        .map_err(|e| datafusion::error::DataFusionError::External(Box::new(e)))?;
    Ok((0..rows.len())
        .map(|i| Some(seen.insert(rows.key(i).to_vec())))
        .collect())
}

impl DisplayAs for DedupExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "DedupExec: keys={:?}", self.keys)
    }
}

impl ExecutionPlan for DedupExec {
    crate::plan::physical::unary_exec_methods!("DedupExec");
    crate::plan::physical::no_expressions!();
    fn replace_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
        _options: ReplaceChildrenOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(Arc::new(DedupExec::new(
            children.swap_remove(0),
            self.keys.clone(),
        )))
    }
    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let input = self.input.execute(partition, context)?;
        let schema = input.schema();
        let keys = self.keys.clone();
        let seen = Arc::new(Mutex::new(HashSet::new()));
        let stream = input.map(move |b| {
            let b = b?;
            let mask = first_occurrences(&b, &keys, &mut seen.lock().expect("dedup"))?;
            Ok(arrow::compute::filter_record_batch(&b, &mask)?)
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, stream)))
    }
}

/// `SELECT DISTINCT` over a stream becomes a deduplication on every column (as in Spark).
pub(crate) fn distinct_to_dedup(plan: LogicalPlan) -> crate::error::Result<LogicalPlan> {
    use datafusion::common::tree_node::{Transformed, TreeNode};
    use datafusion::logical_expr::Distinct;
    plan.transform_up(|n| match &n {
        LogicalPlan::Distinct(Distinct::All(input)) if super::is_streaming(input) => Ok(
            Transformed::yes(Deduplicate::try_new((**input).clone(), &[], false)?.into_plan()),
        ),
        _ => Ok(Transformed::no(n)),
    })
    .map(|t| t.data)
    .map_err(crate::error::TributaryError::df(
        "planning DISTINCT on a stream",
    ))
}
