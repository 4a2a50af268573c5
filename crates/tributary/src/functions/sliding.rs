//! The sliding-window rewrite: a `window(ts, size, slide)` with `slide < size` gives each row
//! several windows, so the planner expands it into an unnest (Spark's `Expand`), in batch and in
//! stream alike.
//!
//! ```text
//!  Aggregate(group: window(ts,5m,1m), region)      Aggregate(group: __window_0 AS "window(..)", region)
//!    input                                  ──►      Unnest(__window_0)
//!                                                      Projection(*, __sliding_windows(ts,5m,1m) AS __window_0)
//!                                                        input
//! ```
//! A projection with a sliding window gets the same treatment.

use std::sync::Arc;

use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{plan_err, Column, Result, ScalarValue};
use datafusion::config::ConfigOptions;
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::{
    Aggregate, Expr, LogicalPlan, LogicalPlanBuilder, Projection, ScalarUDF,
};
use datafusion::optimizer::AnalyzerRule;

use super::window::{SlidingWindowsFn, WindowSpec, WINDOW};

/// The analyzer rule that expands sliding windows.
#[derive(Debug, Default)]
pub(crate) struct SlidingWindowRule;

/// The spec of a `window(...)` call with constant arguments, if `e` is one.
pub(crate) fn window_call(e: &Expr) -> Option<(WindowSpec, &Expr)> {
    let Expr::ScalarFunction(f) = e else {
        return None;
    };
    if f.func.name() != WINDOW || f.args.len() < 2 {
        return None;
    }
    let consts: Vec<Option<&ScalarValue>> = f.args[1..]
        .iter()
        .map(|a| match a {
            Expr::Literal(v, _) => Some(v),
            _ => None,
        })
        .collect();
    WindowSpec::from_args(&consts).ok().map(|s| (s, &f.args[0]))
}

fn is_sliding(e: &Expr) -> bool {
    window_call(e).is_some_and(|(s, _)| !s.is_tumbling())
}

fn contains_sliding(e: &Expr) -> bool {
    e.exists(|e| Ok(is_sliding(e))).unwrap_or(false)
}

fn column_exprs(plan: &LogicalPlan) -> Vec<Expr> {
    plan.schema()
        .iter()
        .map(|(q, f)| Expr::Column(Column::new(q.cloned(), f.name())))
        .collect()
}

/// Replace the sliding window calls of `exprs` by an unnested column over `input`.
fn expand(exprs: Vec<Expr>, input: LogicalPlan, n: &mut usize) -> Result<(Vec<Expr>, LogicalPlan)> {
    let mut call: Option<Expr> = None;
    for e in &exprs {
        e.apply(|x| {
            if is_sliding(x) {
                match &call {
                    None => call = Some(x.clone()),
                    Some(c) if c == x => {}
                    Some(_) => {
                        return plan_err!(
                            "two different sliding windows in one SELECT or GROUP BY would pair \
                             every window of one with every window of the other; use one window \
                             per query level"
                        )
                    }
                }
            }
            Ok(TreeNodeRecursion::Continue)
        })?;
    }
    let Some(call) = call else {
        return Ok((exprs, input));
    };
    let name = format!("__window_{n}");
    *n += 1;
    let Expr::ScalarFunction(f) = &call else {
        unreachable!()
    };
    let list = Expr::ScalarFunction(ScalarFunction::new_udf(
        Arc::new(ScalarUDF::new_from_impl(SlidingWindowsFn::default())),
        f.args.clone(),
    ))
    .alias(&name);
    let mut cols = column_exprs(&input);
    cols.push(list);
    let input = LogicalPlanBuilder::from(input)
        .project(cols)?
        .unnest_column(Column::new_unqualified(&name))?
        .build()?;
    let column = Expr::Column(Column::new_unqualified(&name));
    let exprs = exprs
        .into_iter()
        .map(|e| {
            if !contains_sliding(&e) {
                return Ok(e);
            }
            let original = e.schema_name().to_string();
            let (inner, alias) = match e {
                Expr::Alias(a) => (*a.expr, Some((a.relation, a.name))),
                e => (e, None),
            };
            let replaced = inner
                .transform_up(|x| {
                    Ok(if x == call {
                        Transformed::yes(column.clone())
                    } else {
                        Transformed::no(x)
                    })
                })?
                .data;
            Ok(match alias {
                Some((relation, name)) => replaced.alias_qualified(relation, name),
                None => replaced.alias(original),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((exprs, input))
}

/// Expand every sliding window of a plan.
pub(crate) fn expand_sliding_windows(plan: LogicalPlan) -> Result<LogicalPlan> {
    let mut n = 0usize;
    plan.transform_up(|node| match &node {
        LogicalPlan::Projection(p) if p.expr.iter().any(contains_sliding) => {
            let (exprs, input) = expand(p.expr.clone(), (*p.input).clone(), &mut n)?;
            Ok(Transformed::yes(LogicalPlan::Projection(
                Projection::try_new(exprs, Arc::new(input))?,
            )))
        }
        LogicalPlan::Aggregate(a) if a.group_expr.iter().any(contains_sliding) => {
            let (groups, input) = expand(a.group_expr.clone(), (*a.input).clone(), &mut n)?;
            Ok(Transformed::yes(LogicalPlan::Aggregate(
                Aggregate::try_new(Arc::new(input), groups, a.aggr_expr.clone())?,
            )))
        }
        _ => Ok(Transformed::no(node)),
    })
    .map(|t| t.data)
}

impl AnalyzerRule for SlidingWindowRule {
    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        expand_sliding_windows(plan)
    }

    fn name(&self) -> &str {
        "expand_sliding_windows"
    }
}
