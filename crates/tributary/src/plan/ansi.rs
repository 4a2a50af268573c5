//! Spark's ANSI evaluation in physical plans: integer arithmetic (and `-x`) that overflows raises
//! `[ARITHMETIC_OVERFLOW]` instead of wrapping around, and `AND`/`OR` evaluate a right side that
//! can fail only on the rows their left side leaves open ([`super::lazy_logic`]).
//!
//! ```text
//! logical plan ─ DataFusion's physical planner ─ SparkAnsiRule (first physical rule) ─ DataFusion's rules
//!                                                 a + b   → checked a + b
//!                                                 l AND r → LazyLogic when r can fail
//! ```
//!
//! DataFusion's `+`, `-` and `*` wrap integers around silently (`2147483647 + 1` is
//! `-2147483648`) and let a DECIMAL pass its precision ([`super::decimal_range`]), wrong answers
//! that nothing reports; Spark 4 raises, and so does PostgreSQL.
//! The rule runs first so that every later rule moves the checked expressions where they go
//! (into scans, through joins). It rewrites projections, filters, aggregations (arguments,
//! `FILTER` clauses and grouping keys), sorts, aggregate window functions (arguments, partition
//! and order keys), the equality keys of hash joins and the filters of hash and nested-loop
//! joins; the keys of sort-merge joins and the arguments of ranking and offset window functions
//! (`lag(a * 2)`) keep DataFusion's wrapping arithmetic. A non-DISTINCT `sum` of BIGINT or DECIMAL, which DataFusion adds
//! wrapping around, becomes Spark's ([`crate::functions::SparkSum`]) in aggregations and window
//! functions. Tributary's stateful operators plan their expressions
//! through [`spark_expr`] too. Constants are checked before DataFusion folds them
//! ([`super::ansi_constants`]).

use std::sync::Arc;

use arrow::datatypes::{DataType, Schema};
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::Operator;
use datafusion::logical_expr::{AggregateUDF, ReversedUDWF};
use datafusion::physical_expr::aggregate::{AggregateExprBuilder, AggregateFunctionExpr};
use datafusion::physical_expr::expressions::{BinaryExpr, CastExpr, Literal, NegativeExpr};
use datafusion::physical_expr::window::{
    PlainAggregateWindowExpr, SlidingAggregateWindowExpr, StandardWindowExpr, WindowExpr,
};
use datafusion::physical_expr::{LexOrdering, PhysicalSortExpr};
use datafusion::physical_expr::{PhysicalExpr, ScalarFunctionExpr};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::aggregates::{AggregateExec, PhysicalGroupBy};
use datafusion::physical_plan::filter::{FilterExec, FilterExecBuilder};
use datafusion::physical_plan::joins::utils::JoinFilter;
use datafusion::physical_plan::joins::{
    HashJoinExec, HashJoinExecBuilder, NestedLoopJoinExec, NestedLoopJoinExecBuilder,
};
use datafusion::physical_plan::projection::{ProjectionExec, ProjectionExpr};
use datafusion::physical_plan::sorts::sort::SortExec;
use datafusion::physical_plan::windows::{
    create_udwf_window_expr, BoundedWindowAggExec, WindowAggExec, WindowUDFExpr,
};
use datafusion::physical_plan::ExecutionPlan;

use super::decimal_range::DecimalInRange;
use super::lazy_logic::LazyLogic;
use crate::functions::{SparkAvg, SparkSum};

/// The physical rule (see the module).
#[derive(Debug, Default)]
pub(crate) struct SparkAnsiRule;

impl SparkAnsiRule {
    /// `rules` with this rule in front.
    pub(crate) fn before(
        rules: Vec<Arc<dyn PhysicalOptimizerRule + Send + Sync>>,
    ) -> Vec<Arc<dyn PhysicalOptimizerRule + Send + Sync>> {
        std::iter::once(Arc::new(SparkAnsiRule) as Arc<dyn PhysicalOptimizerRule + Send + Sync>)
            .chain(rules.into_iter().filter(|r| r.name() != "spark_ansi"))
            .collect()
    }
}

impl PhysicalOptimizerRule for SparkAnsiRule {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        // As DataFusion's planner decides it for the window operators it makes.
        let repartition_windows =
            config.execution.target_partitions > 1 && config.optimizer.repartition_windows;
        plan.transform_up(|node| rewrite_node(node, repartition_windows))
            .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "spark_ansi"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// An expression with Spark's evaluation, over rows of `schema`.
pub(crate) fn spark_expr(
    expr: Arc<dyn PhysicalExpr>,
    schema: &Schema,
) -> Result<Arc<dyn PhysicalExpr>> {
    rewrite_expr(expr, schema).map(|t| t.data)
}

fn rewrite_expr(
    expr: Arc<dyn PhysicalExpr>,
    schema: &Schema,
) -> Result<Transformed<Arc<dyn PhysicalExpr>>> {
    expr.transform_up(|e| {
        if let Some(n) = e.downcast_ref::<NegativeExpr>() {
            // `-x` wraps the smallest integer onto itself; `0 - x`, checked, raises.
            let t = n.arg().data_type(schema)?;
            if !t.is_integer() {
                return Ok(Transformed::no(e));
            }
            let zero = Arc::new(Literal::new(ScalarValue::new_zero(&t)?));
            return Ok(Transformed::yes(Arc::new(
                BinaryExpr::new(zero, Operator::Minus, n.arg().clone()).with_fail_on_overflow(true),
            )));
        }
        let Some(b) = e.downcast_ref::<BinaryExpr>() else {
            return Ok(Transformed::no(e));
        };
        let (left, op, right) = (b.left().clone(), *b.op(), b.right().clone());
        match op {
            Operator::Plus | Operator::Minus | Operator::Multiply
                if overflows(&left.data_type(schema)?) =>
            {
                // Idempotent: a checked expression compares equal to its rewrite.
                let checked: Arc<dyn PhysicalExpr> =
                    Arc::new(BinaryExpr::new(left, op, right).with_fail_on_overflow(true));
                if checked.eq(&e) {
                    return Ok(Transformed::no(e));
                }
                // A DECIMAL result held to its precision as well.
                Ok(Transformed::yes(DecimalInRange::wrap(checked, schema)?))
            }
            Operator::And | Operator::Or if may_fail(&right, schema)? => {
                Ok(Transformed::yes(Arc::new(LazyLogic::new(op, left, right))))
            }
            _ => Ok(Transformed::no(e)),
        }
    })
}

/// Integer (and decimal) arithmetic can overflow; floating point cannot.
fn overflows(t: &DataType) -> bool {
    t.is_integer() || t.is_decimal()
}

/// Whether evaluating `expr` on a row can fail: arithmetic on integers, a cast that can
/// refuse a value, or any function (which may raise).
fn may_fail(expr: &Arc<dyn PhysicalExpr>, schema: &Schema) -> Result<bool> {
    let mut fails = false;
    expr.apply(|e| {
        if let Some(b) = e.downcast_ref::<BinaryExpr>() {
            if matches!(
                b.op(),
                Operator::Plus
                    | Operator::Minus
                    | Operator::Multiply
                    | Operator::Divide
                    | Operator::Modulo
            ) && overflows(&b.left().data_type(schema)?)
            {
                fails = true;
            }
        } else if let Some(c) = e.downcast_ref::<CastExpr>() {
            fails = !cannot_fail(&c.expr().data_type(schema)?, c.cast_type());
        } else if let Some(f) = e.downcast_ref::<ScalarFunctionExpr>() {
            fails = !NEVER_FAIL.contains(&f.name());
        }
        Ok(if fails {
            TreeNodeRecursion::Stop
        } else {
            TreeNodeRecursion::Continue
        })
    })?;
    Ok(fails)
}

/// Functions that give a value (or NULL) for every row of the types they take: a right side of
/// `AND`/`OR` made of these (and of what cannot fail) keeps DataFusion's `AND`/`OR`. Any other
/// function may raise on some rows (`raise_error`, a cast inside it, a bad date text).
const NEVER_FAIL: &[&str] = &[
    "lower",
    "upper",
    "trim",
    "btrim",
    "ltrim",
    "rtrim",
    "length",
    "char_length",
    "character_length",
    "octet_length",
    "bit_length",
    "concat",
    "concat_ws",
    "coalesce",
    "nvl",
    "nvl2",
    "nullif",
    "starts_with",
    "ends_with",
    "strpos",
    "instr",
    "reverse",
    "initcap",
    "md5",
    "sha224",
    "sha256",
    "sha384",
    "sha512",
    "isnan",
    "iszero",
    "array_length",
    "cardinality",
    "array_has",
    "make_array",
    "named_struct",
    "struct",
    "get_field",
];

/// Casts that every value survives: to text, and numbers to a wider number.
fn cannot_fail(from: &DataType, to: &DataType) -> bool {
    use DataType::*;
    if from == to || matches!(to, Utf8 | LargeUtf8 | Utf8View) {
        return true;
    }
    match to {
        Int64 => matches!(from, Int8 | Int16 | Int32 | UInt8 | UInt16 | UInt32),
        Int32 => matches!(from, Int8 | Int16 | UInt8 | UInt16),
        Float64 => from.is_integer() || matches!(from, Float16 | Float32),
        _ => false,
    }
}

fn rewrite_node(
    node: Arc<dyn ExecutionPlan>,
    repartition_windows: bool,
) -> Result<Transformed<Arc<dyn ExecutionPlan>>> {
    if let Some(p) = node.downcast_ref::<ProjectionExec>() {
        let schema = p.input().schema();
        let mut changed = false;
        let exprs = p
            .expr()
            .iter()
            .map(|pe| {
                let t = rewrite_expr(pe.expr.clone(), &schema)?;
                changed |= t.transformed;
                Ok(ProjectionExpr {
                    expr: t.data,
                    alias: pe.alias.clone(),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        if !changed {
            return Ok(Transformed::no(node));
        }
        return Ok(Transformed::yes(Arc::new(
            ProjectionExec::try_new_with_schema_metadata(exprs, p.input().clone(), &p.schema())?,
        )));
    }
    if let Some(f) = node.downcast_ref::<FilterExec>() {
        let t = rewrite_expr(f.predicate().clone(), &f.input().schema())?;
        if !t.transformed {
            return Ok(Transformed::no(node));
        }
        return Ok(Transformed::yes(Arc::new(
            FilterExecBuilder::from(f).with_predicate(t.data).build()?,
        )));
    }
    if let Some(a) = node.downcast_ref::<AggregateExec>() {
        return rewrite_aggregate(a, &node);
    }
    if let Some(sort) = node.downcast_ref::<SortExec>() {
        let schema = sort.input().schema();
        let t = spark_sort_exprs(sort.expr(), &schema)?;
        let Some(order) = t.data.filter(|_| t.transformed) else {
            return Ok(Transformed::no(node));
        };
        let rebuilt = SortExec::new(order, sort.input().clone())
            .with_preserve_partitioning(sort.preserve_partitioning())
            .with_fetch(sort.fetch());
        return Ok(Transformed::yes(Arc::new(rebuilt)));
    }
    if let Some(w) = node.downcast_ref::<BoundedWindowAggExec>() {
        let Some(exprs) = spark_window_exprs(w.window_expr(), &w.input().schema())? else {
            return Ok(Transformed::no(node));
        };
        let rebuilt = BoundedWindowAggExec::try_new(
            exprs,
            w.input().clone(),
            w.input_order_mode.clone(),
            repartition_windows,
        )?;
        return Ok(Transformed::yes(Arc::new(rebuilt)));
    }
    if let Some(w) = node.downcast_ref::<WindowAggExec>() {
        let Some(exprs) = spark_window_exprs(w.window_expr(), &w.input().schema())? else {
            return Ok(Transformed::no(node));
        };
        let rebuilt = WindowAggExec::try_new(exprs, w.input().clone(), repartition_windows)?;
        return Ok(Transformed::yes(Arc::new(rebuilt)));
    }
    if let Some(j) = node.downcast_ref::<HashJoinExec>() {
        let filter = spark_join_filter(j.filter())?;
        let on = spark_join_keys(j.on(), &j.left().schema(), &j.right().schema())?;
        if filter.is_none() && on.is_none() {
            return Ok(Transformed::no(node));
        }
        let mut rebuilt = HashJoinExecBuilder::from(j);
        if let Some(filter) = filter {
            rebuilt = rebuilt.with_filter(Some(filter));
        }
        if let Some(on) = on {
            rebuilt = rebuilt.with_on(on);
        }
        return Ok(Transformed::yes(Arc::new(rebuilt.build()?)));
    }
    if let Some(j) = node.downcast_ref::<NestedLoopJoinExec>() {
        let Some(filter) = spark_join_filter(j.filter())? else {
            return Ok(Transformed::no(node));
        };
        let rebuilt = NestedLoopJoinExecBuilder::from(j)
            .with_filter(Some(filter))
            .build()?;
        return Ok(Transformed::yes(Arc::new(rebuilt)));
    }
    Ok(Transformed::no(node))
}

/// Sort keys with Spark's evaluation (`None` when none is an expression that changes).
fn spark_sort_exprs(
    order: &LexOrdering,
    schema: &Schema,
) -> Result<Transformed<Option<LexOrdering>>> {
    let mut changed = false;
    let exprs = order
        .iter()
        .map(|s| {
            let t = rewrite_expr(s.expr.clone(), schema)?;
            changed |= t.transformed;
            Ok(PhysicalSortExpr::new(t.data, s.options))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Transformed::new_transformed(
        LexOrdering::new(exprs),
        changed,
    ))
}

/// Window functions whose arguments, partition and order keys have Spark's evaluation (`None`
/// when nothing changes, or a function cannot take new expressions).
fn spark_window_exprs(
    exprs: &[Arc<dyn WindowExpr>],
    schema: &Schema,
) -> Result<Option<Vec<Arc<dyn WindowExpr>>>> {
    let mut changed = false;
    let mut out = Vec::with_capacity(exprs.len());
    for w in exprs {
        let mut one = |list: Vec<Arc<dyn PhysicalExpr>>| -> Result<Vec<_>> {
            list.into_iter()
                .map(|e| {
                    let t = rewrite_expr(e, schema)?;
                    changed |= t.transformed;
                    Ok(t.data)
                })
                .collect()
        };
        let args = one(w.expressions())?;
        let partition = one(w.partition_by().to_vec())?;
        let order = one(w.order_by().iter().map(|s| s.expr.clone()).collect())?;
        if let Some(sum) = spark_sum_window(w, &args, &partition, &order, schema)? {
            changed = true;
            out.push(sum);
        } else if let Some(new) =
            w.with_new_expressions(args.clone(), partition.clone(), order.clone())
        {
            out.push(new);
        } else if let Some(plain) = w
            .as_any()
            .downcast_ref::<PlainAggregateWindowExpr>()
            // Its FILTER clause cannot be read back (DataFusion keeps the accessor private):
            // only one without it is rebuilt; a change of that layout leaves it as it is.
            .filter(|p| has_no_filter(p))
        {
            // An aggregate over the whole partition (or a growing frame), which DataFusion
            // cannot rebuild itself.
            let aggregate = plain.get_aggregate_expr();
            let own_order = aggregate
                .order_bys()
                .iter()
                .map(|s| s.expr.clone())
                .collect();
            let Some(aggregate) = aggregate.with_new_expressions(args, own_order) else {
                out.push(w.clone());
                continue;
            };
            let order = window_order(w, &order);
            out.push(Arc::new(PlainAggregateWindowExpr::new(
                Arc::new(aggregate),
                &partition,
                &order,
                w.get_window_frame().clone(),
                None,
            )));
        } else if let Some(offset) = spark_offset_window(w, &partition, &order, schema)? {
            // lag, lead, nth_value, ... over arguments with Spark's evaluation.
            out.push(offset);
        } else {
            out.push(w.clone());
        }
    }
    Ok(changed.then_some(out))
}

/// A ranking or offset function (`lag(a * 2)`, `lead`, `nth_value`, ...) rebuilt over its
/// arguments with Spark's evaluation (`None` when it is no such function). DataFusion keeps
/// whether it was reversed (to read its input backwards) and `IGNORE NULLS` private, so they are
/// read from its Debug text; a change of that layout leaves the function as it is.
fn spark_offset_window(
    w: &Arc<dyn WindowExpr>,
    partition: &[Arc<dyn PhysicalExpr>],
    order: &[Arc<dyn PhysicalExpr>],
    schema: &Schema,
) -> Result<Option<Arc<dyn WindowExpr>>> {
    let Some(standard) = w.as_any().downcast_ref::<StandardWindowExpr>() else {
        return Ok(None);
    };
    let function = standard.get_standard_func_expr();
    let Some(udf) = function.as_any().downcast_ref::<WindowUDFExpr>() else {
        return Ok(None);
    };
    // The Debug text ends with the two flags: read there, where no argument's text can be.
    let text = format!("{udf:?}");
    let Some((reversed, ignore_nulls)) =
        [(false, false), (false, true), (true, false), (true, true)]
            .into_iter()
            .find(|(r, i)| text.ends_with(&format!("is_reversed: {r}, ignore_nulls: {i} }}")))
    else {
        return Ok(None);
    };
    let mut changed = false;
    let args = udf
        .args()
        .iter()
        .map(|a| {
            let t = rewrite_expr(a.clone(), schema)?;
            changed |= t.transformed;
            Ok(t.data)
        })
        .collect::<Result<Vec<_>>>()?;
    if !changed {
        return Ok(None);
    }
    // A reversed function is its reverse (lead for lag) marked reversed: built as the original,
    // then reversed again.
    let fun = match (reversed, udf.fun().reverse_expr()) {
        (false, _) => udf.fun().clone(),
        (true, ReversedUDWF::Reversed(original)) => original,
        (true, _) => return Ok(None),
    };
    let mut rebuilt =
        create_udwf_window_expr(&fun, &args, schema, function.name().into(), ignore_nulls)?;
    if reversed {
        let Some(again) = rebuilt.reverse_expr() else {
            return Ok(None);
        };
        rebuilt = again;
    }
    let order = window_order(w, order);
    Ok(Some(Arc::new(StandardWindowExpr::new(
        rebuilt,
        partition,
        &order,
        w.get_window_frame().clone(),
    ))))
}

/// A window function's order keys, each expression replaced by the one in `order`.
fn window_order(w: &Arc<dyn WindowExpr>, order: &[Arc<dyn PhysicalExpr>]) -> Vec<PhysicalSortExpr> {
    w.order_by()
        .iter()
        .zip(order)
        .map(|(s, e)| PhysicalSortExpr::new(e.clone(), s.options))
        .collect()
}

/// Whether a window aggregate has no `FILTER` clause. DataFusion keeps the accessor private, so
/// this reads its Debug text: a change of that layout makes it `false`, which leaves the
/// function as it is.
fn has_no_filter(w: &dyn std::fmt::Debug) -> bool {
    // The filter is the last field: a literal inside a filter is followed by its closing text.
    format!("{w:?}").ends_with("filter: None }")
}

/// Spark's `sum` in place of DataFusion's over `args`: `None` unless `agg` is a `sum` (or
/// `sum(DISTINCT ...)`) of a BIGINT or DECIMAL, which DataFusion computes wrapping around.
fn spark_sum(
    agg: &AggregateFunctionExpr,
    args: Vec<Arc<dyn PhysicalExpr>>,
    schema: &Schema,
) -> Result<Option<AggregateFunctionExpr>> {
    let inner: &dyn std::any::Any = agg.fun().inner().as_ref();
    if agg.fun().name() != "sum"
        || inner.is::<SparkSum>()
        || !SparkSum::checks(agg.field().data_type())
    {
        return Ok(None);
    }
    in_place_of(
        agg,
        AggregateUDF::new_from_impl(SparkSum::sum()),
        args,
        schema,
    )
    .map(Some)
}

/// `agg` computed by `udaf` over `args`, everything else kept (name, DISTINCT, IGNORE NULLS,
/// order, display).
fn in_place_of(
    agg: &AggregateFunctionExpr,
    udaf: AggregateUDF,
    args: Vec<Arc<dyn PhysicalExpr>>,
    schema: &Schema,
) -> Result<AggregateFunctionExpr> {
    let mut builder = AggregateExprBuilder::new(Arc::new(udaf), args)
        .schema(Arc::new(schema.clone()))
        .alias(agg.name())
        .with_ignore_nulls(agg.ignore_nulls())
        .with_distinct(agg.is_distinct())
        .order_by(agg.order_bys().to_vec());
    if let Some(display) = agg.human_display() {
        builder = builder.human_display(display);
    }
    builder.build()
}

/// Spark's `avg` in place of DataFusion's over `args`: `None` unless `agg` is an `avg` (not
/// DISTINCT) of a DECIMAL, whose quotient DataFusion cuts off where Spark rounds it.
fn spark_avg(
    agg: &AggregateFunctionExpr,
    args: Vec<Arc<dyn PhysicalExpr>>,
    schema: &Schema,
) -> Result<Option<AggregateFunctionExpr>> {
    let inner: &dyn std::any::Any = agg.fun().inner().as_ref();
    if agg.fun().name() != "avg"
        || inner.is::<SparkAvg>()
        || agg.is_distinct()
        || !SparkAvg::rounds(agg.field().data_type())
    {
        return Ok(None);
    }
    in_place_of(
        agg,
        AggregateUDF::new_from_impl(SparkAvg::default()),
        args,
        schema,
    )
    .map(Some)
}

/// Spark's `sum` or `avg` in place of DataFusion's (see [`spark_sum`] and [`spark_avg`]).
fn spark_aggregate(
    agg: &AggregateFunctionExpr,
    args: Vec<Arc<dyn PhysicalExpr>>,
    schema: &Schema,
) -> Result<Option<AggregateFunctionExpr>> {
    match spark_sum(agg, args.clone(), schema)? {
        Some(sum) => Ok(Some(sum)),
        None => spark_avg(agg, args, schema),
    }
}

/// A window `sum` or `avg` (over a whole partition, a growing or a sliding frame) with Spark's.
fn spark_sum_window(
    w: &Arc<dyn WindowExpr>,
    args: &[Arc<dyn PhysicalExpr>],
    partition: &[Arc<dyn PhysicalExpr>],
    order: &[Arc<dyn PhysicalExpr>],
    schema: &Schema,
) -> Result<Option<Arc<dyn WindowExpr>>> {
    let plain = w.as_any().downcast_ref::<PlainAggregateWindowExpr>();
    let sliding = w.as_any().downcast_ref::<SlidingAggregateWindowExpr>();
    let aggregate = match (plain, sliding) {
        (Some(p), _) if has_no_filter(p) => p.get_aggregate_expr(),
        (_, Some(s)) if has_no_filter(s) => s.get_aggregate_expr(),
        _ => return Ok(None),
    };
    let Some(sum) = spark_aggregate(aggregate, args.to_vec(), schema)? else {
        return Ok(None);
    };
    let order = window_order(w, order);
    let frame = w.get_window_frame().clone();
    Ok(Some(if plain.is_some() {
        Arc::new(PlainAggregateWindowExpr::new(
            Arc::new(sum),
            partition,
            &order,
            frame,
            None,
        ))
    } else {
        Arc::new(SlidingAggregateWindowExpr::new(
            Arc::new(sum),
            partition,
            &order,
            frame,
            None,
        ))
    }))
}

/// A pair of equality keys of a join: the left side's expression and the right side's.
type JoinKey = (Arc<dyn PhysicalExpr>, Arc<dyn PhysicalExpr>);

/// A join's equality keys with Spark's evaluation, each over its side's rows (`None` when none
/// changes).
fn spark_join_keys(on: &[JoinKey], left: &Schema, right: &Schema) -> Result<Option<Vec<JoinKey>>> {
    let mut changed = false;
    let keys = on
        .iter()
        .map(|(l, r)| {
            let l = rewrite_expr(l.clone(), left)?;
            let r = rewrite_expr(r.clone(), right)?;
            changed |= l.transformed || r.transformed;
            Ok((l.data, r.data))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(changed.then_some(keys))
}

/// A join's filter with Spark's evaluation (`None` when it has none or nothing changes).
fn spark_join_filter(filter: Option<&JoinFilter>) -> Result<Option<JoinFilter>> {
    let Some(f) = filter else {
        return Ok(None);
    };
    let t = rewrite_expr(f.expression().clone(), f.schema())?;
    Ok(t.transformed
        .then(|| JoinFilter::new(t.data, f.column_indices().to_vec(), f.schema().clone())))
}

fn rewrite_aggregate(
    a: &AggregateExec,
    node: &Arc<dyn ExecutionPlan>,
) -> Result<Transformed<Arc<dyn ExecutionPlan>>> {
    let schema = a.input_schema();
    let group_by = spark_group_by(a.group_expr(), &schema)?;
    let aggregates = spark_aggregates(a.aggr_expr(), &schema)?;
    let filters = spark_filters(a.filter_expr(), &schema)?;
    if !(group_by.transformed || aggregates.transformed || filters.transformed) {
        return Ok(Transformed::no(node.clone()));
    }
    let rebuilt = AggregateExec::try_new(
        *a.mode(),
        group_by.data,
        aggregates.data,
        filters.data,
        a.input().clone(),
        schema.clone(),
    )?
    .with_limit_options(a.limit_options());
    Ok(Transformed::yes(Arc::new(rebuilt)))
}

/// Grouping keys with Spark's evaluation.
pub(crate) fn spark_group_by(
    group: &PhysicalGroupBy,
    schema: &Schema,
) -> Result<Transformed<PhysicalGroupBy>> {
    let mut changed = false;
    let mut exprs = |list: &[(Arc<dyn PhysicalExpr>, String)]| -> Result<Vec<_>> {
        list.iter()
            .map(|(e, name)| {
                let t = rewrite_expr(e.clone(), schema)?;
                changed |= t.transformed;
                Ok((t.data, name.clone()))
            })
            .collect()
    };
    let group_by = PhysicalGroupBy::new(
        exprs(group.expr())?,
        exprs(group.null_expr())?,
        group.groups().to_vec(),
        group.has_grouping_set(),
    );
    Ok(Transformed::new_transformed(group_by, changed))
}

/// Aggregate functions whose arguments have Spark's evaluation.
pub(crate) fn spark_aggregates(
    aggregates: &[Arc<AggregateFunctionExpr>],
    schema: &Schema,
) -> Result<Transformed<Vec<Arc<AggregateFunctionExpr>>>> {
    let mut changed = false;
    let mut out = Vec::with_capacity(aggregates.len());
    for agg in aggregates {
        let mut args_changed = false;
        let args = agg
            .expressions()
            .into_iter()
            .map(|e| {
                let t = rewrite_expr(e, schema)?;
                args_changed |= t.transformed;
                Ok(t.data)
            })
            .collect::<Result<Vec<_>>>()?;
        if let Some(sum) = spark_aggregate(agg, args.clone(), schema)? {
            changed = true;
            out.push(Arc::new(sum));
            continue;
        }
        let order_by = agg.order_bys().iter().map(|s| s.expr.clone()).collect();
        match agg.with_new_expressions(args, order_by) {
            Some(new) if args_changed => {
                changed = true;
                out.push(Arc::new(new));
            }
            _ => out.push(agg.clone()),
        }
    }
    Ok(Transformed::new_transformed(out, changed))
}

/// The `FILTER (WHERE ...)` clauses of an aggregation's functions.
type Filters = Vec<Option<Arc<dyn PhysicalExpr>>>;

/// The `FILTER (WHERE ...)` clauses of aggregates with Spark's evaluation.
pub(crate) fn spark_filters(
    filters: &[Option<Arc<dyn PhysicalExpr>>],
    schema: &Schema,
) -> Result<Transformed<Filters>> {
    let mut changed = false;
    let out = filters
        .iter()
        .map(|f| {
            f.clone()
                .map(|f| {
                    let t = rewrite_expr(f, schema)?;
                    changed |= t.transformed;
                    Ok(t.data)
                })
                .transpose()
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Transformed::new_transformed(out, changed))
}

#[cfg(test)]
mod tests {
    use crate::sql_rows::sql_rows as run;

    #[tokio::test]
    async fn only_a_function_that_can_fail_counts_as_one() {
        use datafusion::physical_plan::projection::ProjectionExec;
        let session = crate::Session::new();
        let plan = session
            .sql(
                "SELECT lower(s) = 'x' AS a, concat(s, 'y') = 'z' AS b, CAST(s AS INT) > 1 AS c, \
                 raise_error('no') IS NULL AS d FROM (VALUES ('1'), ('2')) AS t(s)",
            )
            .await
            .unwrap()
            .create_physical_plan()
            .await
            .unwrap();
        let p = plan
            .downcast_ref::<ProjectionExec>()
            .expect("a projection at the top");
        let fails = p
            .expr()
            .iter()
            .map(|e| super::may_fail(&e.expr, &p.input().schema()).unwrap())
            .collect::<Vec<_>>();
        assert_eq!(fails, vec![false, false, true, true]);
    }

    #[tokio::test]
    async fn integer_overflow_raises_where_it_used_to_wrap() {
        for sql in [
            "SELECT a + b FROM (VALUES (CAST(2147483647 AS INT), CAST(1 AS INT))) AS t(a, b)",
            "SELECT a * CAST(3 AS INT) FROM (VALUES (CAST(2000000000 AS INT))) AS t(a)",
            "SELECT a - 1 FROM (VALUES (-9223372036854775808)) AS t(a)",
            "SELECT k, sum(a * a) FROM (VALUES (1, 4000000000), (1, 5000000000)) AS t(k, a) GROUP BY k",
            "SELECT k FROM (VALUES (1, 4000000000)) AS t(k, a) WHERE a * a > 0",
            "SELECT -a FROM (VALUES (CAST(-2147483648 AS INT))) AS t(a)",
            "SELECT abs(a) FROM (VALUES (CAST(-2147483648 AS INT))) AS t(a)",
        ] {
            let err = run(sql).await.unwrap_err();
            assert!(err.contains("[ARITHMETIC_OVERFLOW]"), "{sql}: {err}");
            assert!(err.contains("BIGINT"), "{sql}: {err}");
        }
        // What fits still computes; floats never overflow into an error.
        let got = run(
            "SELECT a + b, a * b, CAST(a AS DOUBLE) * 1e300 * 1e10 FROM \
             (VALUES (CAST(2147483646 AS INT), CAST(1 AS INT))) AS t(a, b)",
        )
        .await
        .unwrap();
        assert_eq!(got, vec!["|2147483647|2147483646|inf|"]);
    }

    #[tokio::test]
    async fn sorts_windows_and_join_conditions_are_checked_and_guarded_too() {
        let big = "(VALUES (CAST(2147483647 AS INT), 1), (CAST(5 AS INT), 0)) AS t(a, b)";
        for sql in [
            format!("SELECT a FROM {big} ORDER BY a + CAST(1 AS INT)"),
            format!("SELECT sum(a * CAST(2 AS INT)) OVER (PARTITION BY b) FROM {big}"),
            format!(
                "SELECT x.a FROM {big} JOIN (VALUES (CAST(1 AS INT), 1)) AS y(c, b) \
                 ON x.b = y.b AND x.a + y.c > 0"
            )
            .replace("AS t(a, b)", "AS x(a, b)"),
            // An equality key: wrapped around, 2147483647 + 1 met y's -2147483648.
            format!(
                "SELECT x.a FROM {big} JOIN (VALUES (CAST(-2147483648 AS INT), 1)) AS y(c, b) \
                 ON x.a + CAST(1 AS INT) = y.c"
            )
            .replace("AS t(a, b)", "AS x(a, b)"),
            // The arguments of offset functions, also one read backwards (a descending order
            // over an ascending one makes DataFusion reverse lag into lead).
            format!("SELECT lag(a * CAST(2 AS INT)) OVER (ORDER BY b) FROM {big}"),
            format!(
                "SELECT lead(a + CAST(1 AS INT), 1, 0) OVER (PARTITION BY b ORDER BY a) FROM {big}"
            ),
            format!("SELECT nth_value(a * CAST(2 AS INT), 1) OVER (ORDER BY b) FROM {big}"),
            format!(
                "SELECT lag(a * CAST(2 AS INT)) OVER (ORDER BY b DESC), \
                 row_number() OVER (ORDER BY b) FROM {big}"
            ),
        ] {
            let err = run(&sql).await.unwrap_err();
            assert!(err.contains("[ARITHMETIC_OVERFLOW]"), "{sql}: {err}");
        }
        // A literal that reads like DataFusion's flags changes nothing.
        let spoof = "(VALUES (1, 10, 'a'), (2, NULL, 'a'), (3, 30, 'filter: None'), (4, 40, 'a')) AS t(i, v, s)";
        let got = run(&format!(
            "SELECT i, lag(v + CASE WHEN s = 'ignore_nulls: true' THEN 1 ELSE 0 END) OVER (ORDER BY i), \
             lag(v + CASE WHEN s = 'is_reversed: true' THEN 1 ELSE 0 END) OVER (ORDER BY i), \
             sum(v) FILTER (WHERE s <> 'filter: None') OVER (), \
             sum(v) FILTER (WHERE i > 2) OVER () FROM {spoof} ORDER BY i"
        ))
        .await
        .unwrap();
        assert_eq!(
            got,
            vec![
                "|1|||50|70|",
                "|2|10|10|50|70|",
                "|3|||50|70|",
                "|4|30|30|50|70|"
            ]
        );
        // Rebuilt offset functions keep their meaning: offsets, defaults, IGNORE NULLS, order.
        let rows = "(VALUES (1, 10), (2, NULL), (3, 30), (4, 40)) AS t(i, v)";
        let got = run(&format!(
            "SELECT i, lag(v + 1) OVER (ORDER BY i), lead(v + 1, 2, -1) OVER (ORDER BY i), \
             lag(v + 1) IGNORE NULLS OVER (ORDER BY i), lag(v + 1) OVER (ORDER BY i DESC), \
             nth_value(v + 1, 3) OVER (ORDER BY i) FROM {rows} ORDER BY i"
        ))
        .await
        .unwrap();
        assert_eq!(
            got,
            vec![
                "|1||31||||",
                "|2|11|41|11|31||",
                "|3||-1|11|41|31|",
                "|4|31|-1|31||31|",
            ]
        );
        let got = run(&format!(
            "SELECT sum(CASE WHEN b <> 0 AND a / b > 1 THEN 1 ELSE 0 END) OVER () AS n FROM {big} \
             ORDER BY CASE WHEN b <> 0 AND a / b > 1 THEN 0 ELSE 1 END"
        ))
        .await
        .unwrap();
        assert_eq!(got, vec!["|1|", "|1|"]);
    }

    #[tokio::test]
    async fn a_guarded_division_or_cast_never_fails_on_the_rows_it_guards_against() {
        let values = "(VALUES (4, 2, '1'), (9, 0, 'x'), (6, 3, '2'), (8, 2, '3'), (1, 0, 'y')) \
                      AS t(a, b, s)";
        let got = run(&format!(
            "SELECT a FROM {values} WHERE b <> 0 AND a / b > 1 ORDER BY a"
        ))
        .await
        .unwrap();
        assert_eq!(got, vec!["|4|", "|6|", "|8|"]);
        let got = run(&format!(
            "SELECT a, b = 0 OR CAST(s AS INT) > 1 AS ok FROM {values} ORDER BY a"
        ))
        .await
        .unwrap();
        assert_eq!(
            got,
            vec!["|1|true|", "|4|false|", "|6|true|", "|8|true|", "|9|true|"]
        );
        // Without the guard the error is Spark's.
        let err = run(&format!("SELECT a / b FROM {values}"))
            .await
            .unwrap_err();
        assert!(err.contains("[DIVIDE_BY_ZERO]"), "{err}");
        let err = run(&format!("SELECT CAST(s AS INT) FROM {values}"))
            .await
            .unwrap_err();
        assert!(err.contains("[CAST_INVALID_INPUT]"), "{err}");
    }
}
