//! User-defined state: the `FlatMapGroupsWithState` node (`group_by_key(..)` then
//! `map_groups_with_state` / `flat_map_groups_with_state`).
//!
//! The user's function sees one key at a time: the key, the key's rows of the epoch (typed
//! through serde), and its state. In a batch every key is called once with all its rows and an
//! empty state, and timeouts never fire (as in Spark). On a stream the operator
//! (`exec::map_groups`) keeps the state per key in the state store and calls the function for
//! keys whose timeout passed.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use datafusion::common::{Column, DFSchema, DFSchemaRef, Result};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::{Expr, Extension, LogicalPlan, UserDefinedLogicalNodeCore};
use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, ExecutionPlanProperties, Partitioning,
    PlanProperties, ReplaceChildrenOptions,
};
use futures::{StreamExt, TryStreamExt};
use serde_json::Value;

use crate::state::{GroupStateTimeout, KeyRows, RawGroupState};

/// The user's function, untyped: key and rows as JSON, output rows as JSON objects.
pub(crate) trait GroupFunction: Send + Sync {
    /// Call for one key.
    fn call(
        &self,
        key: Value,
        rows: Vec<Value>,
        state: &mut RawGroupState,
    ) -> crate::Result<Vec<Value>>;
}

/// The logical node.
#[derive(Clone)]
pub(crate) struct FlatMapGroupsWithState {
    /// The input.
    pub input: LogicalPlan,
    /// Key columns.
    pub keys: Vec<Column>,
    /// The user's function.
    pub func: Arc<dyn GroupFunction>,
    /// The output schema.
    pub output: DFSchemaRef,
    /// The timeout kind.
    pub timeout: GroupStateTimeout,
}

impl fmt::Debug for FlatMapGroupsWithState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FlatMapGroupsWithState")
            .field("keys", &self.keys)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl PartialEq for FlatMapGroupsWithState {
    fn eq(&self, o: &Self) -> bool {
        self.input == o.input
            && self.keys == o.keys
            && Arc::ptr_eq(&self.func, &o.func)
            && self.timeout == o.timeout
    }
}
impl Eq for FlatMapGroupsWithState {}
impl Hash for FlatMapGroupsWithState {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.input.hash(state);
        self.keys.hash(state);
        self.timeout.hash(state);
    }
}
impl PartialOrd for FlatMapGroupsWithState {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        (&self.keys, self.timeout).partial_cmp(&(&o.keys, o.timeout))
    }
}

impl FlatMapGroupsWithState {
    /// A node over `input` grouped by `keys`, producing rows of `output`.
    pub(crate) fn try_new(
        input: LogicalPlan,
        keys: &[&str],
        func: Arc<dyn GroupFunction>,
        output: SchemaRef,
        timeout: GroupStateTimeout,
    ) -> Result<Self> {
        let schema = input.schema().clone();
        let mut cols = Vec::new();
        for k in keys {
            match schema.qualified_field_with_unqualified_name(k) {
                Ok((q, f)) => cols.push(Column::new(q.cloned(), f.name())),
                Err(_) => {
                    return datafusion::common::plan_err!(
                        "group_by_key: there is no column '{k}'; the columns are [{}]",
                        crate::plan::column_list(schema.fields())
                    )
                }
            }
        }
        if cols.is_empty() {
            return datafusion::common::plan_err!("group_by_key needs at least one key column");
        }
        Ok(FlatMapGroupsWithState {
            input,
            keys: cols,
            func,
            output: Arc::new(DFSchema::try_from(output.as_ref().clone())?),
            timeout,
        })
    }

    /// The node as a plan.
    pub(crate) fn into_plan(self) -> LogicalPlan {
        LogicalPlan::Extension(Extension {
            node: Arc::new(self),
        })
    }

    /// The node of a plan node, if it is one.
    pub(crate) fn of(plan: &LogicalPlan) -> Option<&FlatMapGroupsWithState> {
        match plan {
            LogicalPlan::Extension(e) => e.node.as_any().downcast_ref::<FlatMapGroupsWithState>(),
            _ => None,
        }
    }
}

impl FlatMapGroupsWithState {
    /// The batch operator over `input`.
    pub(crate) fn physical(&self, input: Arc<dyn ExecutionPlan>) -> Result<Arc<dyn ExecutionPlan>> {
        let keys = super::physical::column_indices(&input, &self.keys)?;
        Ok(Arc::new(MapGroupsExec::new(
            input,
            Arc::new(self.clone()),
            keys,
        )))
    }
}

impl UserDefinedLogicalNodeCore for FlatMapGroupsWithState {
    fn name(&self) -> &str {
        "FlatMapGroupsWithState"
    }
    fn inputs(&self) -> Vec<&LogicalPlan> {
        vec![&self.input]
    }
    fn schema(&self) -> &DFSchemaRef {
        &self.output
    }
    fn expressions(&self) -> Vec<Expr> {
        vec![]
    }
    fn fmt_for_explain(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "FlatMapGroupsWithState: keys={:?}, timeout={:?}",
            self.keys, self.timeout
        )
    }
    fn with_exprs_and_inputs(
        &self,
        _exprs: Vec<Expr>,
        mut inputs: Vec<LogicalPlan>,
    ) -> Result<Self> {
        let mut n = self.clone();
        n.input = inputs.swap_remove(0);
        Ok(n)
    }
    fn necessary_children_exprs(&self, _output_columns: &[usize]) -> Option<Vec<Vec<usize>>> {
        Some(vec![(0..self.input.schema().fields().len()).collect()])
    }
}

/// Rows of a batch as JSON objects, for a user function: a NaN or an infinity is `null` (a
/// JSON number cannot hold it, and a string would not deserialize into the function's `f64`).
pub(crate) fn rows_to_json(batch: &RecordBatch) -> crate::Result<Vec<Value>> {
    if batch.num_rows() == 0 {
        return Ok(Vec::new());
    }
    let mut buf = Vec::new();
    {
        let mut w = arrow::json::ArrayWriter::new(&mut buf);
        w.write(batch)
            .map_err(crate::TributaryError::arrow("rows for a user function"))?;
        w.finish()
            .map_err(crate::TributaryError::arrow("rows for a user function"))?;
    }
    serde_json::from_slice(&buf).map_err(|e| crate::TributaryError::Internal(e.to_string()))
}

/// Output rows (JSON objects) as a batch of `schema`.
pub(crate) fn json_to_batch(schema: &SchemaRef, rows: &[Value]) -> crate::Result<RecordBatch> {
    let mut d = arrow::json::ReaderBuilder::new(schema.clone())
        .build_decoder()
        .map_err(crate::TributaryError::arrow("output of a user function"))?;
    d.serialize(rows).map_err(|e| {
        crate::TributaryError::Plan(format!(
            "the output of the group function does not fit its output schema: {e}"
        ))
    })?;
    Ok(d.flush()
        .map_err(crate::TributaryError::arrow("output of a user function"))?
        .unwrap_or_else(|| RecordBatch::new_empty(schema.clone())))
}

/// The key of a row: its key fields, one value or an array of them.
pub(crate) fn key_of(row: &Value, keys: &[String]) -> Value {
    let get = |k: &String| row.get(k).cloned().unwrap_or(Value::Null);
    if keys.len() == 1 {
        get(&keys[0])
    } else {
        Value::Array(keys.iter().map(get).collect())
    }
}

/// Call the user's function, turning a panic into an error.
pub(crate) fn call_user(
    func: &Arc<dyn GroupFunction>,
    key: Value,
    rows: Vec<Value>,
    state: &mut RawGroupState,
) -> crate::Result<Vec<Value>> {
    let shown = key.to_string();
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| func.call(key, rows, state))) {
        Ok(r) => r,
        Err(p) => {
            let msg = p
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            Err(crate::TributaryError::Plan(format!(
                "the group function panicked for key {shown}: {msg}"
            )))
        }
    }
}

/// Batch execution: every key once, with all its rows and an empty state.
#[derive(Debug)]
pub(super) struct MapGroupsExec {
    input: Arc<dyn ExecutionPlan>,
    node: Arc<FlatMapGroupsWithState>,
    keys: Vec<usize>,
    properties: Arc<PlanProperties>,
}

impl MapGroupsExec {
    fn new(
        input: Arc<dyn ExecutionPlan>,
        node: Arc<FlatMapGroupsWithState>,
        keys: Vec<usize>,
    ) -> Self {
        let input: Arc<dyn ExecutionPlan> = if input.output_partitioning().partition_count() > 1 {
            Arc::new(CoalescePartitionsExec::new(input))
        } else {
            input
        };
        let schema = Arc::new(node.output.as_arrow().clone());
        let properties = Arc::new(PlanProperties::new(
            datafusion::physical_expr::EquivalenceProperties::new(schema),
            Partitioning::UnknownPartitioning(1),
            EmissionType::Final,
            Boundedness::Bounded,
        ));
        MapGroupsExec {
            input,
            node,
            keys,
            properties,
        }
    }
}

/// Group rows by key in order of first appearance: (key bytes, row indices).
pub(crate) fn group_rows(
    batch: &RecordBatch,
    keys: &[usize],
) -> crate::Result<Vec<(Vec<u8>, Vec<usize>)>> {
    let k = KeyRows::of(batch, keys)?;
    let mut index: HashMap<&[u8], usize> = HashMap::new();
    let mut groups: Vec<(Vec<u8>, Vec<usize>)> = Vec::new();
    for i in 0..k.len() {
        let key = k.key(i);
        match index.get(key) {
            Some(g) => groups[*g].1.push(i),
            None => {
                index.insert(key, groups.len());
                groups.push((key.to_vec(), vec![i]));
            }
        }
    }
    Ok(groups)
}

impl DisplayAs for MapGroupsExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "MapGroupsExec: keys={:?}", self.keys)
    }
}

impl ExecutionPlan for MapGroupsExec {
    crate::plan::physical::unary_exec_methods!("MapGroupsExec");
    crate::plan::physical::no_expressions!();
    fn replace_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
        _options: ReplaceChildrenOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(Arc::new(MapGroupsExec::new(
            children.swap_remove(0),
            self.node.clone(),
            self.keys.clone(),
        )))
    }
    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let input = self.input.execute(partition, context)?;
        let in_schema = input.schema();
        let out_schema = Arc::new(self.node.output.as_arrow().clone());
        let (node, keys, schema) = (self.node.clone(), self.keys.clone(), out_schema.clone());
        let stream = futures::stream::once(async move {
            let batches: Vec<RecordBatch> = input.try_collect().await?;
            let all = arrow::compute::concat_batches(&in_schema, &batches)?;
            let run = || -> crate::Result<RecordBatch> {
                let json = rows_to_json(&all)?;
                let names: Vec<String> = node.keys.iter().map(|c| c.name.clone()).collect();
                let now = chrono::Utc::now().timestamp_millis();
                let mut out = Vec::new();
                for (_, rows) in group_rows(&all, &keys)? {
                    let group: Vec<Value> = rows.iter().map(|i| json[*i].clone()).collect();
                    let key = key_of(&group[0], &names);
                    let mut state = RawGroupState {
                        now_ms: now,
                        timeout: Some(node.timeout),
                        ..Default::default()
                    };
                    out.extend(call_user(&node.func, key, group, &mut state)?);
                }
                json_to_batch(&schema, &out)
            };
            run().map_err(|e| datafusion::error::DataFusionError::External(Box::new(e)))
        })
        .boxed();
        Ok(Box::pin(RecordBatchStreamAdapter::new(out_schema, stream)))
    }
}
