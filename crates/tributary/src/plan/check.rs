//! The unsupported-operation checker (Spark's `UnsupportedOperationChecker`).

use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::common::JoinType;
use datafusion::logical_expr::LogicalPlan;

use super::rewrite::is_streaming;
use crate::error::{Result, TributaryError};
use crate::OutputMode;

fn unsupported(operator: &str, advice: &str, node: &LogicalPlan) -> TributaryError {
    TributaryError::UnsupportedOperation {
        operator: operator.to_string(),
        advice: advice.to_string(),
        node: node.display().to_string(),
    }
}

const STATE_ADVICE: &str = "it needs state across epochs, which arrives with stateful streaming \
    (watermarks and windows); run the query as a batch (session.read() / `tributary batch`), or \
    compute it per epoch inside foreach_batch";

/// Check that a streaming plan can run incrementally in `mode`. The error names the first
/// operator that cannot, and what to do instead.
pub fn check_supported(plan: &LogicalPlan, mode: OutputMode) -> Result<()> {
    let mut err = None;
    plan.apply(|node| {
        if !is_streaming(node) {
            return Ok(TreeNodeRecursion::Jump);
        }
        let e = match node {
            LogicalPlan::Sort(_) => Some(unsupported(
                "Sort (ORDER BY)",
                "a stream never ends, so it cannot be sorted; sort when reading the sink's output, \
                 or sort each epoch inside foreach_batch",
                node,
            )),
            LogicalPlan::Limit(_) => Some(unsupported(
                "Limit (LIMIT/OFFSET)",
                "a limit over an unbounded input is not defined per epoch; apply it when reading \
                 the output, or inside foreach_batch",
                node,
            )),
            LogicalPlan::Aggregate(_) => Some(unsupported("Aggregate (GROUP BY / aggregate functions)", STATE_ADVICE, node)),
            LogicalPlan::Distinct(_) => Some(unsupported("Distinct (DISTINCT)", STATE_ADVICE, node)),
            LogicalPlan::Window(_) => Some(unsupported(
                "Window functions (OVER ...)",
                "window functions over a stream are not supported; use event-time windows with an \
                 aggregation, or compute them per epoch inside foreach_batch",
                node,
            )),
            LogicalPlan::RecursiveQuery(_) => Some(unsupported(
                "RecursiveQuery (WITH RECURSIVE)",
                "recursive queries cannot run on a stream; run them as a batch",
                node,
            )),
            LogicalPlan::Extension(ext) => Some(unsupported(
                &format!("Extension node {}", ext.node.name()),
                "this plan node is not known to the incremental planner",
                node,
            )),
            LogicalPlan::Join(join) => {
                let (l, r) = (is_streaming(&join.left), is_streaming(&join.right));
                let ok = match (l, r) {
                    (true, true) => false,
                    (true, false) => matches!(
                        join.join_type,
                        JoinType::Inner | JoinType::Left | JoinType::LeftSemi | JoinType::LeftAnti
                    ),
                    (false, true) => matches!(
                        join.join_type,
                        JoinType::Inner | JoinType::Right | JoinType::RightSemi | JoinType::RightAnti
                    ),
                    (false, false) => true,
                };
                if ok {
                    None
                } else if l && r {
                    Some(unsupported(
                        "stream-stream Join",
                        "joining two streams needs state and watermarks, which arrive with stateful \
                         streaming; join the stream with a static table instead",
                        node,
                    ))
                } else {
                    Some(unsupported(
                        &format!("{} Join between a stream and a static table", join.join_type),
                        "a stream-static join can be inner, or outer/semi/anti on the stream's side \
                         only (e.g. stream LEFT JOIN static); swap the sides or use an inner join",
                        node,
                    ))
                }
            }
            _ => None,
        };
        match e {
            Some(e) => {
                err = Some(e);
                Ok(TreeNodeRecursion::Stop)
            }
            None => Ok(TreeNodeRecursion::Continue),
        }
    })
    .map_err(TributaryError::df("checking the streaming plan"))?;
    if let Some(e) = err {
        return Err(e);
    }
    if mode == OutputMode::Complete {
        return Err(TributaryError::Plan(
            "output mode 'complete' needs a streaming aggregation (it rewrites the whole result \
             every epoch); this query has none: use output mode 'append' or 'update'"
                .into(),
        ));
    }
    Ok(())
}
