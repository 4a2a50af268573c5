//! `now()` and the other stable functions inside a streaming aggregation's own expressions
//! (`max(now())`, `count(*) FILTER (WHERE ts > now() - INTERVAL '1' HOUR)`) are computed in a
//! projection below it.
//!
//! A stable function is one value per query in DataFusion, and per epoch in a stream (Spark's
//! micro-batch timestamp): it is folded to the epoch's planned time when the plan that holds it
//! is planned. An aggregation's input is planned each epoch, but the operator builds its group
//! keys and aggregate functions once, when it opens, where no epoch's time exists. Moved below,
//! the call is part of the input and takes each epoch's time; the aggregation reads a column.
//!
//! ```text
//!   Aggregate: k | max(CAST(now() AS Int64)) AS at        Aggregate: k | max(CAST(__now_0 AS Int64)) AS at
//!     input                                       ──►       Projection: <input's columns>, now() AS __now_0
//!                                                             input
//! ```

use std::sync::Arc;

use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::Column;
use datafusion::logical_expr::{Aggregate, Expr, LogicalPlan, LogicalPlanBuilder, Volatility};

use crate::error::{Result, TributaryError};

/// The prefix of the columns that carry a lifted call.
const PREFIX: &str = "__now_";

/// `plan` with the stable calls of each aggregation's expressions computed below it.
pub(crate) fn stable_calls_below_aggregates(plan: LogicalPlan) -> Result<LogicalPlan> {
    plan.transform_up(|node| match &node {
        LogicalPlan::Aggregate(agg) if has_stable_call(agg) => Ok(Transformed::yes(lift(agg)?)),
        _ => Ok(Transformed::no(node)),
    })
    .map(|t| t.data)
    .map_err(TributaryError::df(
        "computing now() below a streaming aggregation",
    ))
}

/// A call to a stable function that reads no column: one value per epoch.
fn is_stable_call(e: &Expr) -> bool {
    matches!(e, Expr::ScalarFunction(f)
        if f.func.signature().volatility == Volatility::Stable && e.column_refs().is_empty())
}

fn has_stable_call(agg: &Aggregate) -> bool {
    agg.group_expr
        .iter()
        .chain(&agg.aggr_expr)
        .any(|e| e.exists(|x| Ok(is_stable_call(x))).unwrap_or(false))
}

/// The aggregation reading its stable calls from columns of a projection over its input, under
/// the same output names.
fn lift(agg: &Aggregate) -> datafusion::error::Result<LogicalPlan> {
    let mut calls: Vec<Expr> = Vec::new();
    let mut replace = |e: &Expr| -> datafusion::error::Result<Expr> {
        let new = e
            .clone()
            .transform_up(|x| {
                if !is_stable_call(&x) {
                    return Ok(Transformed::no(x));
                }
                let i = match calls.iter().position(|c| c == &x) {
                    Some(i) => i,
                    None => {
                        calls.push(x);
                        calls.len() - 1
                    }
                };
                Ok(Transformed::yes(Expr::Column(Column::from_name(format!(
                    "{PREFIX}{i}"
                )))))
            })?
            .data;
        // An expression keeps the name it gave its output column.
        Ok(match (e, &new) {
            (Expr::Alias(_), _) => new,
            _ if &new == e => new,
            _ => new.alias(e.schema_name().to_string()),
        })
    };
    let group_expr = agg
        .group_expr
        .iter()
        .map(&mut replace)
        .collect::<datafusion::error::Result<Vec<_>>>()?;
    let aggr_expr = agg
        .aggr_expr
        .iter()
        .map(&mut replace)
        .collect::<datafusion::error::Result<Vec<_>>>()?;
    let mut below: Vec<Expr> = agg
        .input
        .schema()
        .columns()
        .into_iter()
        .map(Expr::Column)
        .collect();
    below.extend(
        calls
            .into_iter()
            .enumerate()
            .map(|(i, c)| c.alias(format!("{PREFIX}{i}"))),
    );
    let input = LogicalPlanBuilder::from(agg.input.as_ref().clone())
        .project(below)?
        .build()?;
    let lifted = Aggregate::try_new(Arc::new(input), group_expr, aggr_expr)?;
    let (was, is) = (agg.schema.fields(), lifted.schema.fields());
    if was.len() != is.len() || was.iter().zip(is.iter()).any(|(a, b)| a.name() != b.name()) {
        return Err(datafusion::error::DataFusionError::Internal(format!(
            "lifting now() out of an aggregation changed its columns: {:?} became {:?}",
            agg.schema.field_names(),
            lifted.schema.field_names()
        )));
    }
    Ok(LogicalPlan::Aggregate(lifted))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::{DataType, Field, Schema};
    use datafusion::functions::expr_fn::now;
    use datafusion::functions_aggregate::expr_fn::{count, max};
    use datafusion::logical_expr::{cast, col, lit, table_scan, ExprFunctionExt};

    fn input() -> LogicalPlan {
        let schema = Schema::new(vec![
            Field::new("k", DataType::Int64, false),
            Field::new("ts", DataType::Int64, false),
        ]);
        table_scan(Some("t"), &schema, None)
            .unwrap()
            .build()
            .unwrap()
    }

    #[test]
    fn a_stable_call_in_an_aggregate_moves_below_and_the_columns_keep_their_names() {
        let plan = LogicalPlanBuilder::from(input())
            .aggregate(
                vec![col("k")],
                vec![
                    max(cast(now(), DataType::Int64)).alias("at"),
                    // Not aliased: its column is named after the expression.
                    count(lit(1))
                        .filter(col("ts").lt(cast(now(), DataType::Int64)))
                        .build()
                        .unwrap(),
                ],
            )
            .unwrap()
            .build()
            .unwrap();
        let before = plan.schema().clone();
        let lifted = stable_calls_below_aggregates(plan).unwrap();
        assert_eq!(
            lifted.schema().field_names(),
            before.field_names(),
            "{lifted}"
        );
        let LogicalPlan::Aggregate(agg) = &lifted else {
            panic!("{lifted}")
        };
        // One call, computed once below, read twice.
        let LogicalPlan::Projection(p) = agg.input.as_ref() else {
            panic!("{lifted}")
        };
        assert_eq!(p.expr.len(), 3, "{lifted}");
        assert!(p.expr[2].exists(|e| Ok(is_stable_call(e))).unwrap());
        assert!(!has_stable_call(agg), "{lifted}");
    }

    #[test]
    fn an_aggregate_without_stable_calls_is_left_alone() {
        let plan = LogicalPlanBuilder::from(input())
            .aggregate(vec![col("k")], vec![max(col("ts"))])
            .unwrap()
            .build()
            .unwrap();
        assert_eq!(stable_calls_below_aggregates(plan.clone()).unwrap(), plan);
    }
}
