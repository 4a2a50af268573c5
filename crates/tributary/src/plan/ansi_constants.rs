//! Constant integer arithmetic checked as [`super::ansi`] checks the rows': DataFusion folds
//! `100000 * 100000` into one literal before any physical rule sees it, with wrapping arithmetic
//! (`1410065408`). This rule, ahead of that folding, evaluates each constant `+`, `-`, `*` of
//! integers or decimals with overflow checked; one that overflows becomes a `raise_error` with
//! Spark's `[ARITHMETIC_OVERFLOW]`, which fails the query when a row reaches it (as Spark, which
//! leaves a constant that fails unfolded), and never when none does.

use std::sync::Arc;

use arrow::datatypes::Schema;
use arrow::record_batch::RecordBatch;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{DFSchema, Result};
use datafusion::execution::context::ExecutionProps;
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::{lit, Cast, Expr, ExprSchemable, LogicalPlan, Operator, ScalarUDF};
use datafusion::optimizer::optimizer::ApplyOrder;
use datafusion::optimizer::{OptimizerConfig, OptimizerRule};
use datafusion::physical_expr::create_physical_expr;

use crate::TributaryError;

/// The rule (see the module).
#[derive(Debug, Default)]
pub(crate) struct CheckedConstantsRule;

impl OptimizerRule for CheckedConstantsRule {
    fn name(&self) -> &str {
        "spark_ansi_constants"
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        Some(ApplyOrder::TopDown)
    }

    fn supports_rewrite(&self) -> bool {
        true
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        _config: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        let names = NamePreserver::new(&plan);
        plan.map_expressions(|e| {
            let saved = names.save(&e);
            Ok(e.transform_down(check)?.update_data(|e| saved.restore(e)))
        })
    }
}

/// A constant arithmetic expression checked (its parts with it: the walk goes no deeper).
fn check(e: Expr) -> Result<Transformed<Expr>> {
    let Expr::BinaryExpr(b) = &e else {
        return Ok(Transformed::no(e));
    };
    if !matches!(b.op, Operator::Plus | Operator::Minus | Operator::Multiply) || !constant(&e) {
        return Ok(Transformed::no(e));
    }
    let empty = DFSchema::empty();
    let Ok(ty) = e.get_type(&empty) else {
        return Ok(Transformed::no(e));
    };
    if !(ty.is_integer() || ty.is_decimal()) {
        return Ok(Transformed::no(e));
    }
    let planning =
        datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext::default();
    let evaluated = create_physical_expr(&e, &empty, &ExecutionProps::new(), &planning)
        .and_then(|p| super::ansi::spark_expr(p, &Schema::empty()))
        .and_then(|p| p.evaluate(&RecordBatch::new_empty(Arc::new(Schema::empty()))));
    match evaluated.map_err(|err| crate::functions::arithmetic_error(&err)) {
        Err(Some(TributaryError::Runtime {
            condition:
                condition @ ("ARITHMETIC_OVERFLOW" | "NUMERIC_VALUE_OUT_OF_RANGE.WITH_SUGGESTION"),
            message,
        })) => {
            let raise = Expr::ScalarFunction(ScalarFunction::new_udf(
                Arc::new(ScalarUDF::new_from_impl(
                    crate::functions::RaiseErrorFn::default(),
                )),
                vec![lit(format!("[{condition}] {message}"))],
            ));
            Ok(Transformed::new(
                Expr::Cast(Cast::new(Box::new(raise), ty)),
                true,
                TreeNodeRecursion::Jump,
            ))
        }
        // Fits, or fails otherwise: the folding DataFusion does next gives the same answer.
        _ => Ok(Transformed::new(e, false, TreeNodeRecursion::Jump)),
    }
}

/// No column, no volatile function, no placeholder: a value the optimizer folds.
fn constant(e: &Expr) -> bool {
    let mut constant = true;
    e.apply(|e| {
        constant &= match e {
            Expr::Column(_) | Expr::Placeholder(_) | Expr::OuterReferenceColumn(..) => false,
            Expr::ScalarFunction(f) => {
                f.func.signature().volatility != datafusion::logical_expr::Volatility::Volatile
            }
            Expr::Literal(..) | Expr::BinaryExpr(_) | Expr::Cast(_) | Expr::TryCast(_) => true,
            Expr::Negative(_) | Expr::Alias(_) => true,
            _ => false,
        };
        Ok(if constant {
            TreeNodeRecursion::Continue
        } else {
            TreeNodeRecursion::Stop
        })
    })
    .ok();
    constant
}

#[cfg(test)]
mod tests {
    use crate::sql_rows::sql_rows as run;

    #[tokio::test]
    async fn a_constant_that_overflows_raises_only_where_a_row_reaches_it() {
        let err = run("SELECT CAST(100000 AS INT) * CAST(100000 AS INT) AS v")
            .await
            .unwrap_err();
        assert!(err.contains("[ARITHMETIC_OVERFLOW]"), "{err}");
        // Unaliased: the name is kept as the rule rewrites it.
        let err = run("SELECT 9223372036854775807 + 1").await.unwrap_err();
        assert!(err.contains("[ARITHMETIC_OVERFLOW]"), "{err}");
        // Nested: each step fits but the last.
        let err = run(
            "SELECT a * (CAST(86400 AS INT) * CAST(1000 AS INT) * CAST(1000 AS INT)) AS v \
             FROM (VALUES (CAST(1 AS INT))) AS t(a)",
        )
        .await
        .unwrap_err();
        assert!(err.contains("[ARITHMETIC_OVERFLOW]"), "{err}");
        // A branch that no row takes, and constants that fit, keep their answers and names.
        let got = run(
            "SELECT CASE WHEN a > 5 THEN CAST(100000 AS INT) * CAST(100000 AS INT) ELSE 0 END AS v, \
             CAST(2 AS INT) * CAST(3 AS INT) FROM (VALUES (CAST(1 AS INT))) AS t(a)",
        )
        .await
        .unwrap();
        assert_eq!(got, vec!["|0|6|"]);
    }
}
