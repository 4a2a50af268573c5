//! The shape of a query's stateful operators: what each keeps in its state, as the checkpoint
//! records it at every start (`shapes/<epoch>.json`), so that a changed query can be compared
//! with the one that wrote the state ([`super::evolution`]).
//!
//! ```text
//!   split_stateful(plan) ─► OperatorShape per operator: kind, keys, values, event time, the
//!                           columns it keeps, the plan below it (as text)
//!   open operators       ─► + the state stores' columns (StoreShape), read from the stores
//!   start                ─► shapes/<first epoch of the run>.json, versioned
//! ```
//! Everything here is text that a person can read in the file and in `tributary plan`: two
//! shapes are compared field by field, never by a library's internal encoding.

use datafusion::common::DFSchema;
use datafusion::logical_expr::{Expr, ExprSchemable, LogicalPlan};
use serde::{Deserialize, Serialize};

use super::chain::SplitPlan;
use super::dedup::Deduplicate;
use super::map_groups::FlatMapGroupsWithState;
use super::stateful::event_time_key;
use super::topn::TopN;
use super::watermark::EventTimeWatermark;

/// The version of the shape files this build writes (and the newest it reads).
pub const SHAPE_VERSION: u32 = 1;

/// The stateful shape of a query, as of the first epoch of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueryShape {
    /// The format of this record ([`SHAPE_VERSION`]).
    pub version: u32,
    /// The first epoch the run that wrote it computed.
    pub epoch: u64,
    /// `append`, `update` or `complete`.
    pub output_mode: String,
    /// The partitions of the state (fixed in the checkpoint's metadata).
    pub state_partitions: usize,
    /// The query's event-time watermarks.
    pub watermarks: Vec<WatermarkShape>,
    /// The stateful operators, children before parents (their number is their state folder,
    /// `state/<id>`).
    pub operators: Vec<OperatorShape>,
}

/// One `with_watermark` of the query.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatermarkShape {
    /// The event-time column.
    pub column: String,
    /// How late rows may arrive, in milliseconds.
    pub delay_ms: i64,
}

/// What kind of state an operator keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OperatorKind {
    /// A grouped aggregation (windowed or not): one row of partial aggregates per group.
    Aggregation,
    /// `drop_duplicates` / `SELECT DISTINCT`: the keys seen.
    Deduplication,
    /// A join of two streams: each side's rows still able to match.
    StreamStreamJoin,
    /// `ROW_NUMBER() <= N`: the best N rows per key.
    TopN,
    /// `map_groups_with_state` / `flat_map_groups_with_state`: the user's state per key.
    MapGroupsWithState,
}

impl std::fmt::Display for OperatorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            OperatorKind::Aggregation => "aggregation",
            OperatorKind::Deduplication => "deduplication",
            OperatorKind::StreamStreamJoin => "stream-stream join",
            OperatorKind::TopN => "top-n",
            OperatorKind::MapGroupsWithState => "map_groups_with_state",
        })
    }
}

/// One stateful operator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperatorShape {
    /// Its number: the state lives under `state/<id>/`.
    pub id: usize,
    /// What it is.
    pub kind: OperatorKind,
    /// What the state is keyed by, each as `expression: type` (grouping keys, deduplication
    /// columns, join keys, Top-N partition columns, user state keys), the event-time one apart.
    pub keys: Vec<String>,
    /// The grouping key that carries event time (a window, or the watermarked column).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_time: Option<String>,
    /// What is kept per key: the aggregates (`expression: type`), the Top-N order and count,
    /// the user state's timeout.
    pub values: Vec<String>,
    /// A join's condition beyond its keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    /// The columns of the rows the state keeps whole (join sides, Top-N rows, user state
    /// input), as `name: type`; empty for an aggregation or deduplication.
    pub rows: Vec<String>,
    /// How the state is laid out when the same keys could be stored two ways (a sliding
    /// window's panes, a deduplication within the watermark).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub layout: String,
    /// The plan below the operator, as text: a change there (a filter, a projection) applies
    /// to the rows still to come.
    pub below: String,
    /// The operators whose output it reads.
    pub children: Vec<usize>,
    /// The state stores' columns, as the running query opened them (a join has one per side).
    #[serde(default)]
    pub state: Vec<StoreShape>,
}

/// The columns of one kind of state store of an operator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreShape {
    /// How many leading columns are the key.
    pub key_len: usize,
    /// `name: type` per column.
    pub columns: Vec<String>,
    /// The columns whose values give a row's state partition (`None`: keys computed from the
    /// row, which an offline repartition cannot compute again).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition_by: Option<Vec<usize>>,
}

impl StoreShape {
    /// The shape of a store of rows of `schema` keyed by its first `key_len` columns.
    pub(crate) fn of(
        schema: &arrow::datatypes::Schema,
        key_len: usize,
        partition_by: Option<Vec<usize>>,
    ) -> Self {
        StoreShape {
            key_len,
            partition_by,
            columns: schema
                .fields()
                .iter()
                .map(|f| format!("{}: {}", f.name(), f.data_type()))
                .collect(),
        }
    }
}

fn typed(e: &Expr, schema: &DFSchema) -> String {
    let name = e.schema_name().to_string();
    match e.get_type(schema) {
        Ok(t) => format!("{name}: {t}"),
        Err(_) => name,
    }
}

/// Where a key's values come from: a column is followed down through the projections below
/// (and the nodes that pass it on) to the expression that computes it, so that a key whose
/// name stays while its definition changes (`lower(region)` to `upper(region)`, a window of 5
/// minutes to one of 10) is seen to change.
fn definition(e: &Expr, plan: &LogicalPlan) -> Option<String> {
    let mut e = e.clone();
    let mut plan = plan;
    for _ in 0..64 {
        let name = match strip_alias(&e) {
            Expr::Column(c) => c.name.clone(),
            other => return Some(other.to_string()),
        };
        match plan {
            LogicalPlan::Projection(p) => {
                let i = p.schema.fields().iter().position(|f| f.name() == &name)?;
                e = p.expr[i].clone();
                plan = &p.input;
            }
            other => {
                let inputs = other.inputs();
                plan = inputs
                    .into_iter()
                    .find(|i| i.schema().fields().iter().any(|f| f.name() == &name))?;
            }
        }
    }
    None
}

fn strip_alias(e: &Expr) -> &Expr {
    match e {
        Expr::Alias(a) => strip_alias(&a.expr),
        other => other,
    }
}

/// A key as `expression: type`, with its definition below when it is computed there.
fn key_text(e: &Expr, input: &LogicalPlan) -> String {
    let t = typed(e, input.schema());
    match definition(e, input) {
        Some(d) if d != strip_alias(e).to_string() => format!("{t} = {d}"),
        _ => t,
    }
}

fn columns_of(plan: &LogicalPlan) -> Vec<String> {
    plan.schema()
        .fields()
        .iter()
        .map(|f| format!("{}: {}", f.name(), f.data_type()))
        .collect()
}

fn below_of(node: &LogicalPlan) -> String {
    node.inputs()
        .iter()
        .map(|p| p.display_indent().to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

/// What decides an aggregation's state layout beside its plan.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LayoutChoice {
    /// The query keeps late rows aside (a sliding window is then not computed by panes).
    pub keep_late_rows: bool,
    /// The operator's output mode.
    pub mode: crate::modes::OutputMode,
    /// The query keeps live views of its aggregations.
    pub live: bool,
    /// The checkpoint allows a sliding window's state kept by pane.
    pub pane_states: bool,
}

/// The shape of one operator of a split plan (its state columns are added once it is opened).
pub(crate) fn operator_shape(split: &SplitPlan, choice: LayoutChoice) -> OperatorShape {
    let node = &split.node;
    let mut shape = OperatorShape {
        id: split.id,
        kind: OperatorKind::Aggregation,
        keys: Vec::new(),
        event_time: None,
        values: Vec::new(),
        condition: None,
        rows: Vec::new(),
        layout: String::new(),
        below: below_of(node),
        children: split.children.clone(),
        state: Vec::new(),
    };
    if let Some(m) = FlatMapGroupsWithState::of(node) {
        shape.kind = OperatorKind::MapGroupsWithState;
        shape.keys = m
            .keys
            .iter()
            .map(|c| key_text(&Expr::Column(c.clone()), &m.input))
            .collect();
        shape.values = vec![format!("timeout: {:?}", m.timeout)];
        shape.rows = columns_of(&m.input);
    } else if let Some(t) = TopN::of(node) {
        shape.kind = OperatorKind::TopN;
        shape.keys = t
            .partition_by
            .iter()
            .map(|c| key_text(&Expr::Column(c.clone()), &t.input))
            .collect();
        shape.values = t
            .order_by
            .iter()
            .map(|o| {
                format!(
                    "order by {} {}{}",
                    o.column.flat_name(),
                    if o.asc { "asc" } else { "desc" },
                    if o.nulls_first { " nulls first" } else { "" }
                )
            })
            .chain([format!("n: {}", t.n)])
            .collect();
        shape.rows = columns_of(&t.input);
    } else if let Some(d) = Deduplicate::of(node) {
        shape.kind = OperatorKind::Deduplication;
        shape.keys = d
            .keys
            .iter()
            .map(|c| key_text(&Expr::Column(c.clone()), &d.input))
            .collect();
        if d.within_watermark {
            shape.layout = "within watermark".into();
        }
    } else if let LogicalPlan::Join(j) = node {
        shape.kind = OperatorKind::StreamStreamJoin;
        shape.keys =
            j.on.iter()
                .map(|(l, r)| format!("{} == {}", key_text(l, &j.left), key_text(r, &j.right)))
                .collect();
        shape.values = vec![format!("join type: {}", j.join_type)];
        shape.condition = j.filter.as_ref().map(|f| f.to_string());
        shape.rows = columns_of(&j.left)
            .into_iter()
            .map(|c| format!("left {c}"))
            .chain(
                columns_of(&j.right)
                    .into_iter()
                    .map(|c| format!("right {c}")),
            )
            .collect();
    } else if let LogicalPlan::Aggregate(a) = node {
        let time = event_time_key(a).map(|k| k.index);
        for (i, g) in a.group_expr.iter().enumerate() {
            let t = key_text(g, &a.input);
            if Some(i) == time {
                shape.event_time = Some(t);
            } else {
                shape.keys.push(t);
            }
        }
        shape.values = a
            .aggr_expr
            .iter()
            .map(|e| typed(e, a.input.schema()))
            .collect();
        if let Some(p) = crate::exec::panes::Panes::of(a).filter(|_| !choice.keep_late_rows) {
            let by_pane = p.keeps_pane_states(
                a,
                choice.mode,
                split.is_chained(),
                choice.live,
                choice.pane_states,
            );
            shape.layout = if by_pane { "pane states" } else { "panes" }.into();
        }
    }
    let all = |v: Vec<String>| v.into_iter().map(stable).collect();
    OperatorShape {
        keys: all(shape.keys),
        event_time: shape.event_time.map(stable),
        values: all(shape.values),
        condition: shape.condition.map(stable),
        rows: all(shape.rows),
        below: stable(shape.below),
        ..shape
    }
}

/// `text` without the names that differ from one run of the same program to the next: the
/// views the Python layer registers for each step of a DataFrame program are numbered
/// (`__tributary_view_12_13`), so a column of one is written the same whatever its number.
fn stable(text: String) -> String {
    static VIEW: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let re = VIEW.get_or_init(|| {
        regex::Regex::new(r"__tributary_view_[0-9]+(_[0-9]+)*").expect("a valid pattern")
    });
    match re.replace_all(&text, "__tributary_view") {
        std::borrow::Cow::Borrowed(_) => text,
        std::borrow::Cow::Owned(o) => o,
    }
}

/// The query's watermarks, in plan order.
pub(crate) fn watermarks_of(plan: &LogicalPlan) -> Vec<WatermarkShape> {
    use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
    let mut out = Vec::new();
    let _ = plan.apply(|n| {
        if let Some(w) = EventTimeWatermark::of(n) {
            out.push(WatermarkShape {
                column: w.column.name.clone(),
                delay_ms: w.delay_ms,
            });
        }
        Ok(TreeNodeRecursion::Continue)
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_numbered_views_of_a_dataframe_program_are_not_a_change() {
        assert_eq!(
            stable("sum(__tributary_view_178_179.amount)".into()),
            stable("sum(__tributary_view_184_185.amount)".into())
        );
        assert_eq!(stable("sum(events.amount)".into()), "sum(events.amount)");
    }

    #[test]
    fn a_shape_survives_its_json_and_reads_without_the_optional_fields() {
        let op = OperatorShape {
            id: 0,
            kind: OperatorKind::StreamStreamJoin,
            keys: vec!["l.k: Int64 = r.k: Int64".into()],
            event_time: None,
            values: vec![],
            condition: Some("l.t > r.t".into()),
            rows: vec!["left k: Int64".into()],
            layout: String::new(),
            below: "TableScan: l".into(),
            children: vec![],
            state: vec![StoreShape {
                key_len: 1,
                columns: vec!["k: Int64".into()],
                partition_by: Some(vec![0]),
            }],
        };
        let q = QueryShape {
            version: SHAPE_VERSION,
            epoch: 3,
            output_mode: "append".into(),
            state_partitions: 4,
            watermarks: vec![],
            operators: vec![op],
        };
        let text = serde_json::to_string(&q).unwrap();
        assert!(text.contains("\"stream_stream_join\""), "{text}");
        assert_eq!(serde_json::from_str::<QueryShape>(&text).unwrap(), q);
        let bare = r#"{"version":1,"epoch":0,"output_mode":"update","state_partitions":2,
            "watermarks":[],"operators":[{"id":0,"kind":"aggregation","keys":[],"values":[],
            "rows":[],"below":"","children":[]}]}"#;
        let q: QueryShape = serde_json::from_str(bare).unwrap();
        assert!(q.operators[0].state.is_empty() && q.operators[0].layout.is_empty());
    }
}
