//! A row whose time is NULL has no window: the rows under `window()`, `session_window()` and a
//! sliding window's expansion are filtered on their time being set, as Spark's window rewrite
//! does, in batch and in stream alike.
//!
//! ```text
//!  Projection(k, window(ts, 1m) AS w)            Projection(k, window(ts, 1m) AS w)
//!    input                            ──►          Filter(ts IS NOT NULL)
//!                                                    input
//! ```
//! Without it a batch answered a group with a NULL window, and a stream kept that group's state
//! for ever: no watermark passes a NULL window's end.

use std::sync::Arc;

use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::Result;
use datafusion::config::ConfigOptions;
use datafusion::logical_expr::utils::split_conjunction;
use datafusion::logical_expr::{Expr, Filter, LogicalPlan};
use datafusion::optimizer::AnalyzerRule;

use crate::functions::{SESSION_WINDOW, SLIDING_WINDOWS, WINDOW};

/// The analyzer rule that drops the rows without a time under window functions.
#[derive(Debug, Default)]
pub(crate) struct NullTimeRule;

impl AnalyzerRule for NullTimeRule {
    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        plan.transform_up(|node| {
            if !matches!(node, LogicalPlan::Projection(_) | LogicalPlan::Aggregate(_)) {
                return Ok(Transformed::no(node));
            }
            let times = window_times(&node);
            let input = node.inputs()[0].clone();
            // What the filter below already requires (the rule may see a plan twice).
            let required: Vec<&Expr> = match &input {
                LogicalPlan::Filter(f) => split_conjunction(&f.predicate),
                _ => Vec::new(),
            };
            let missing: Vec<Expr> = times
                .into_iter()
                .map(|t| t.is_not_null())
                .filter(|p| !required.contains(&p))
                .collect();
            let Some(predicate) = missing.into_iter().reduce(Expr::and) else {
                return Ok(Transformed::no(node));
            };
            let filtered = LogicalPlan::Filter(Filter::try_new(predicate, Arc::new(input))?);
            node.with_new_exprs(node.expressions(), vec![filtered])
                .map(Transformed::yes)
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "null_times_have_no_window"
    }
}

/// The distinct time arguments of the window calls in `node`'s own expressions.
fn window_times(node: &LogicalPlan) -> Vec<Expr> {
    let mut times: Vec<Expr> = Vec::new();
    for e in node.expressions() {
        let _ = e.apply(|x| {
            if let Expr::ScalarFunction(f) = x {
                let name = f.func.name();
                if [WINDOW, SLIDING_WINDOWS, SESSION_WINDOW].contains(&name) {
                    if let Some(t) = f.args.first().filter(|t| !times.contains(t)) {
                        times.push(t.clone());
                    }
                }
            }
            Ok(TreeNodeRecursion::Continue)
        });
    }
    times
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
    use datafusion::logical_expr::{col, lit, table_scan, LogicalPlanBuilder};

    fn scan() -> LogicalPlan {
        let schema = Schema::new(vec![
            Field::new("ts", DataType::Timestamp(TimeUnit::Millisecond, None), true),
            Field::new("k", DataType::Utf8, true),
        ]);
        table_scan(Some("t"), &schema, None)
            .unwrap()
            .build()
            .unwrap()
    }

    fn window_of(ts: Expr) -> Expr {
        let udf = crate::functions::udfs()
            .into_iter()
            .find(|f| f.name() == WINDOW)
            .unwrap();
        udf.call(vec![ts, lit("1 minute")])
    }

    #[test]
    fn a_window_reads_only_rows_with_a_time_and_the_rule_adds_its_filter_once() {
        let plan = LogicalPlanBuilder::from(scan())
            .project(vec![col("k"), window_of(col("ts")).alias("w")])
            .unwrap()
            .build()
            .unwrap();
        let once = NullTimeRule
            .analyze(plan, &ConfigOptions::default())
            .unwrap();
        let LogicalPlan::Projection(p) = &once else {
            panic!("{once}")
        };
        let LogicalPlan::Filter(f) = p.input.as_ref() else {
            panic!("{once}")
        };
        assert_eq!(f.predicate, col("t.ts").is_not_null(), "{once}");
        let twice = NullTimeRule
            .analyze(once.clone(), &ConfigOptions::default())
            .unwrap();
        assert_eq!(twice, once);
    }

    #[test]
    fn a_plan_without_windows_is_left_alone() {
        let plan = LogicalPlanBuilder::from(scan())
            .project(vec![col("k"), col("ts")])
            .unwrap()
            .build()
            .unwrap();
        let out = NullTimeRule
            .analyze(plan.clone(), &ConfigOptions::default())
            .unwrap();
        assert_eq!(out, plan);
    }
}
