//! Streaming Top-N: `ROW_NUMBER() OVER (PARTITION BY k ORDER BY x) <= N` on a stream.
//!
//! ```text
//!   Filter(rn <= N)                        Filter(rn <= N)          (stateless, above)
//!     Projection / SubqueryAlias ...   ─►    Projection / ...
//!       Window(row_number() OVER ...)          TopN { k, x, N }     (stateful: exec::topn)
//!         input                                  input              (stateless, below)
//! ```
//!
//! In a batch the plan runs as written (DataFusion's window operator). On a stream the window is
//! swapped for [`TopN`], which the epoch driver runs as a stateful operator keeping the best N
//! rows of each key and emitting the rank slots an epoch changed (update mode).

use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;

use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Column, DFSchemaRef, Result, ScalarValue};
use datafusion::logical_expr::{
    BinaryExpr, Expr, Extension, LogicalPlan, Operator, UserDefinedLogicalNodeCore,
};

use super::rewrite::is_streaming;

/// One ORDER BY column of the ranking.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd)]
pub(crate) struct RankOrder {
    /// The column of the input.
    pub column: Column,
    /// Ascending.
    pub asc: bool,
    /// Nulls first.
    pub nulls_first: bool,
}

/// The logical Top-N node: the best `n` rows of each `partition_by` key by `order_by`, with their
/// rank as the last column (the window's output schema).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct TopN {
    /// The ranked rows.
    pub input: LogicalPlan,
    /// The PARTITION BY columns.
    pub partition_by: Vec<Column>,
    /// The ORDER BY columns.
    pub order_by: Vec<RankOrder>,
    /// How many rows per key.
    pub n: usize,
    /// The window's output: the input's columns and the rank.
    pub schema: DFSchemaRef,
}

impl PartialOrd for TopN {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        (&self.partition_by, &self.order_by, self.n).partial_cmp(&(
            &o.partition_by,
            &o.order_by,
            o.n,
        ))
    }
}

impl TopN {
    /// The Top-N node of a plan node, if it is one.
    pub(crate) fn of(plan: &LogicalPlan) -> Option<&TopN> {
        match plan {
            LogicalPlan::Extension(e) => e.node.as_any().downcast_ref::<TopN>(),
            _ => None,
        }
    }

    fn into_plan(self) -> LogicalPlan {
        LogicalPlan::Extension(Extension {
            node: Arc::new(self),
        })
    }

    /// Indices of the PARTITION BY columns in the input.
    pub(crate) fn key_indices(&self) -> Result<Vec<usize>> {
        self.partition_by
            .iter()
            .map(|c| self.input.schema().index_of_column(c))
            .collect()
    }

    /// The first PARTITION BY column that carries event time (a window, or the watermarked
    /// time): its position among the keys, and how. A key behind the watermark is closed.
    pub(crate) fn event_time_key(&self) -> Option<(usize, super::EventTimeKind)> {
        self.partition_by
            .iter()
            .enumerate()
            .find_map(|(i, c)| super::stateful::event_time_kind(c, &self.input).map(|k| (i, k)))
    }

    /// Indices of the ORDER BY columns in the input, with their directions.
    pub(crate) fn order_indices(&self) -> Result<Vec<(usize, &RankOrder)>> {
        self.order_by
            .iter()
            .map(|o| Ok((self.input.schema().index_of_column(&o.column)?, o)))
            .collect()
    }
}

impl UserDefinedLogicalNodeCore for TopN {
    fn name(&self) -> &str {
        "TopN"
    }
    fn inputs(&self) -> Vec<&LogicalPlan> {
        vec![&self.input]
    }
    fn schema(&self) -> &DFSchemaRef {
        &self.schema
    }
    fn expressions(&self) -> Vec<Expr> {
        vec![]
    }
    fn fmt_for_explain(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "TopN: n={}, partition_by=[{}], order_by=[{}]",
            self.n,
            self.partition_by
                .iter()
                .map(|c| c.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            self.order_by
                .iter()
                .map(|o| format!("{} {}", o.column, if o.asc { "ASC" } else { "DESC" }))
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
    fn with_exprs_and_inputs(
        &self,
        _exprs: Vec<Expr>,
        mut inputs: Vec<LogicalPlan>,
    ) -> Result<Self> {
        Ok(TopN {
            input: inputs.swap_remove(0),
            ..self.clone()
        })
    }
    fn necessary_children_exprs(&self, _output_columns: &[usize]) -> Option<Vec<Vec<usize>>> {
        None
    }
}

/// Whether a cast to `t` keeps whole numbers whole (the analyzer compares a UInt64 rank with an
/// Int64 literal as DECIMAL(20, 0)).
fn integral(t: &arrow::datatypes::DataType) -> bool {
    use arrow::datatypes::DataType::{Decimal128, Decimal256};
    t.is_integer() || matches!(t, Decimal128(_, 0) | Decimal256(_, 0))
}

/// An integer literal, possibly under casts.
fn int(e: &Expr) -> Option<i64> {
    match e {
        Expr::Literal(v, _) => match v {
            ScalarValue::Int64(Some(n)) => Some(*n),
            ScalarValue::Int32(Some(n)) => Some(*n as i64),
            ScalarValue::Int16(Some(n)) => Some(*n as i64),
            ScalarValue::Int8(Some(n)) => Some(*n as i64),
            ScalarValue::UInt64(Some(n)) => i64::try_from(*n).ok(),
            ScalarValue::UInt32(Some(n)) => Some(*n as i64),
            ScalarValue::UInt16(Some(n)) => Some(*n as i64),
            ScalarValue::UInt8(Some(n)) => Some(*n as i64),
            _ => None,
        },
        Expr::Cast(c) if integral(c.field.data_type()) => int(&c.expr),
        Expr::TryCast(c) if integral(c.field.data_type()) => int(&c.expr),
        _ => None,
    }
}

/// The largest rank a filter on `rank` keeps: `rank <= N`, `rank < N`, `rank = 1`, and the
/// mirrored forms.
fn rank_limit(predicate: &Expr) -> Option<(String, usize)> {
    let Expr::BinaryExpr(BinaryExpr { left, op, right }) = predicate else {
        return None;
    };
    let column = |e: &Expr| -> Option<String> {
        match e {
            Expr::Column(c) => Some(c.name.clone()),
            Expr::Cast(c) if integral(c.field.data_type()) => match c.expr.as_ref() {
                Expr::Column(c) => Some(c.name.clone()),
                _ => None,
            },
            _ => None,
        }
    };
    let (name, op, n) = match (column(left), int(right), column(right), int(left)) {
        (Some(c), Some(n), _, _) => (c, *op, n),
        (_, _, Some(c), Some(n)) => (c, op.swap()?, n),
        _ => return None,
    };
    let limit = match op {
        Operator::LtEq => n,
        Operator::Lt => n.checked_sub(1)?,
        Operator::Eq if n == 1 => 1,
        _ => return None,
    };
    (limit >= 1).then_some((name, limit as usize))
}

/// Follow the column `name` down through projections and aliases to the window node; returns
/// the window and the name of its column.
fn window_below<'a>(plan: &'a LogicalPlan, name: &str) -> Option<(&'a LogicalPlan, String)> {
    match plan {
        LogicalPlan::Window(_) => Some((plan, name.to_string())),
        LogicalPlan::SubqueryAlias(a) => window_below(&a.input, name),
        LogicalPlan::Projection(p) => {
            let i = p.schema.fields().iter().position(|f| f.name() == name)?;
            let inner = match &p.expr[i] {
                Expr::Alias(a) => a.expr.as_ref(),
                e => e,
            };
            match inner {
                Expr::Column(c) => window_below(&p.input, &c.name),
                _ => None,
            }
        }
        _ => None,
    }
}

/// The Top-N node a window node becomes, when it is one ROW_NUMBER over columns.
fn top_n_of(window: &LogicalPlan, rank: &str, n: usize) -> Option<TopN> {
    let LogicalPlan::Window(w) = window else {
        return None;
    };
    if w.window_expr.len() != 1 || !is_streaming(&w.input) {
        return None;
    }
    let rank_field = w.schema.fields().last()?;
    if rank_field.name() != rank {
        return None;
    }
    let mut e = &w.window_expr[0];
    if let Expr::Alias(a) = e {
        e = a.expr.as_ref();
    }
    let Expr::WindowFunction(f) = e else {
        return None;
    };
    if f.fun.name() != "row_number" {
        return None;
    }
    let partition_by = f
        .params
        .partition_by
        .iter()
        .map(|e| match e {
            Expr::Column(c) => Some(c.clone()),
            _ => None,
        })
        .collect::<Option<Vec<_>>>()?;
    let order_by = f
        .params
        .order_by
        .iter()
        .map(|s| match &s.expr {
            Expr::Column(c) => Some(RankOrder {
                column: c.clone(),
                asc: s.asc,
                nulls_first: s.nulls_first,
            }),
            _ => None,
        })
        .collect::<Option<Vec<_>>>()?;
    if order_by.is_empty() {
        return None;
    }
    Some(TopN {
        input: w.input.as_ref().clone(),
        partition_by,
        order_by,
        n,
        schema: w.schema.clone(),
    })
}

/// On a stream, `Filter(rank <= N)` over a ROW_NUMBER window becomes the same filter over a
/// [`TopN`] node. Windows of any other shape stay, and the checker refuses them with advice.
pub(crate) fn rank_to_top_n(plan: LogicalPlan) -> crate::error::Result<LogicalPlan> {
    plan.transform_up(|n| {
        let LogicalPlan::Filter(f) = &n else {
            return Ok(Transformed::no(n));
        };
        let Some((rank, limit)) = rank_limit(&f.predicate) else {
            return Ok(Transformed::no(n));
        };
        let Some((window, window_rank)) = window_below(&f.input, &rank) else {
            return Ok(Transformed::no(n));
        };
        let Some(top) = top_n_of(window, &window_rank, limit) else {
            return Ok(Transformed::no(n));
        };
        let target = window.clone();
        let replaced = n
            .clone()
            .transform_down(|m| {
                if m == target {
                    Ok(Transformed::yes(top.clone().into_plan()))
                } else {
                    Ok(Transformed::no(m))
                }
            })?
            .data;
        Ok(Transformed::yes(replaced))
    })
    .map(|t| t.data)
    .map_err(crate::error::TributaryError::df(
        "planning a Top-N on a stream",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::logical_expr::{col, lit};

    #[test]
    fn rank_filters_give_their_limit() {
        assert_eq!(
            rank_limit(&col("rn").lt_eq(lit(10i64))),
            Some(("rn".into(), 10))
        );
        assert_eq!(rank_limit(&col("rn").lt(lit(3i64))), Some(("rn".into(), 2)));
        assert_eq!(rank_limit(&col("rn").eq(lit(1i64))), Some(("rn".into(), 1)));
        assert_eq!(
            rank_limit(&lit(5i64).gt_eq(col("rn"))),
            Some(("rn".into(), 5))
        );
        assert_eq!(rank_limit(&col("rn").eq(lit(2i64))), None);
        assert_eq!(rank_limit(&col("rn").gt(lit(2i64))), None);
        assert_eq!(rank_limit(&col("rn").lt(lit(1i64))), None);
        assert_eq!(rank_limit(&col("rn").lt(lit(i64::MIN))), None);
        // A comparison of the rank as text is not a rank limit.
        let text = |e: Expr| {
            Expr::Cast(datafusion::logical_expr::Cast::new(
                Box::new(e),
                arrow::datatypes::DataType::Utf8,
            ))
        };
        assert_eq!(rank_limit(&text(col("rn")).lt_eq(text(lit(3i64)))), None);
        assert_eq!(
            rank_limit(&col("rn").lt_eq(lit(3i32))),
            Some(("rn".into(), 3))
        );
    }
}
