//! The unsupported-operation checker (Spark's `UnsupportedOperationChecker`).

use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::common::JoinType;
use datafusion::logical_expr::{Aggregate, LogicalPlan};

use super::dedup::Deduplicate;
use super::rewrite::is_streaming;
use super::stateful::{event_time_key, is_stateful, streaming_aggregates};
use super::watermark::EventTimeWatermark;
use crate::error::{Result, TributaryError};
use crate::OutputMode;

fn unsupported(operator: &str, advice: &str, node: &LogicalPlan) -> TributaryError {
    TributaryError::UnsupportedOperation {
        operator: operator.to_string(),
        advice: advice.to_string(),
        node: node.display().to_string(),
    }
}

const STATE_ADVICE: &str = "it is not available on streams yet; group by the columns instead \
    (GROUP BY keeps one row per key in the state store), run the query as a batch \
    (session.read() / `tributary batch`), or compute it per epoch inside foreach_batch";

/// Check that a streaming plan can run incrementally in `mode`. The error names the first
/// operator that cannot, and what to do instead.
pub(crate) fn check_supported(plan: &LogicalPlan, mode: OutputMode) -> Result<()> {
    let mut err = None;
    // The output mode is the top operators'; operators below another one emit in append mode.
    let roots = top_stateful(plan);
    let is_root = |node: &LogicalPlan| roots.iter().any(|r| r == node);
    let complete_above_aggregate =
        |node: &LogicalPlan| mode == OutputMode::Complete && !streaming_aggregates(node).is_empty();
    plan.apply(|node| {
        if !is_streaming(node) {
            return Ok(TreeNodeRecursion::Jump);
        }
        let e = match node {
            LogicalPlan::Sort(_) | LogicalPlan::Limit(_) if complete_above_aggregate(node) => None,
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
            LogicalPlan::Aggregate(a)
                if a.group_expr.iter().any(|e| matches!(e, datafusion::logical_expr::Expr::GroupingSet(_))) =>
            {
                Some(unsupported(
                    "GROUPING SETS / ROLLUP / CUBE",
                    "grouping sets are not supported on streams yet; write one query per grouping",
                    node,
                ))
            }
            LogicalPlan::Aggregate(_) => chain_problem(node),
            LogicalPlan::Distinct(_) => Some(unsupported("Distinct ON (DISTINCT ON ...)", STATE_ADVICE, node)),
            LogicalPlan::Window(_) => Some(unsupported(
                "Window functions (OVER ...)",
                "window functions over a stream are not supported, except a Top-N \
                 (`ROW_NUMBER() OVER (PARTITION BY k ORDER BY x) <= N` over columns, in output mode \
                 'update'); use event-time windows with an aggregation, or compute them per epoch \
                 inside foreach_batch",
                node,
            )),
            LogicalPlan::Union(u) if u.inputs.iter().any(|i| !is_streaming(i)) => Some(unsupported(
                "Union between a stream and a static table",
                "a static input of a union would be read again in every epoch and its rows \
                 written again each time; write the static rows to the sink once with a batch \
                 (`tributary batch`, or df.write()), or join the static table to the stream \
                 instead",
                node,
            )),
            LogicalPlan::RecursiveQuery(_) => Some(unsupported(
                "RecursiveQuery (WITH RECURSIVE)",
                "recursive queries cannot run on a stream; run them as a batch",
                node,
            )),
            LogicalPlan::Extension(_) if EventTimeWatermark::of(node).is_some() => None,
            LogicalPlan::Extension(_) if super::session::Sessionize::of(node).is_some() => None,
            LogicalPlan::Extension(_)
                if super::map_groups::FlatMapGroupsWithState::of(node).is_some() =>
            {
                let m = super::map_groups::FlatMapGroupsWithState::of(node).expect("checked");
                if top_stateful(&m.input).is_empty() {
                    None
                } else {
                    Some(unsupported(
                        "FlatMapGroupsWithState over the output of another stateful operator",
                        "user state over another stateful operator is not supported yet; write \
                         the first result to a Delta table and read it in a second query",
                        node,
                    ))
                }
            }
            LogicalPlan::Extension(_) if super::topn::TopN::of(node).is_some() => {
                let t = super::topn::TopN::of(node).expect("checked");
                if let Some(e) = chain_problem(node) {
                    Some(e)
                } else if is_root(node)
                    && (mode == OutputMode::Complete
                        || (mode == OutputMode::Append && t.event_time_key().is_none()))
                {
                    Some(unsupported(
                        "Top-N (ROW_NUMBER() ... <= N)",
                        &format!(
                            "a streaming Top-N replaces rows it already emitted, so it runs in \
                             output mode 'update' (each changed rank slot is emitted; key the \
                             sink on the PARTITION BY columns and the rank), or in 'append' when \
                             a PARTITION BY column is an event-time window (or the event time) \
                             behind a watermark, not '{mode}'"
                        ),
                        node,
                    ))
                } else {
                    None
                }
            }
            LogicalPlan::Extension(_) if Deduplicate::of(node).is_some() => {
                chain_problem(node)
            }
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
                    if let Some(e) = chain_problem(node) {
                        Some(e)
                    } else if is_root(node) && mode != OutputMode::Append {
                        Some(unsupported(
                            "stream-stream Join",
                            &format!(
                                "it supports output mode 'append' only (a joined row is final), \
                                 not '{mode}'"
                            ),
                            node,
                        ))
                    } else {
                        super::join::join_problem(join).map(|p| {
                            unsupported(&format!("{} stream-stream Join", join.join_type), &p, node)
                        })
                    }
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
    // Stateful operators side by side at the top (not chained): each emits its final rows, so
    // their union is append-only; in the other modes rows of one would replace the other's.
    if let (Some(second), false) = (roots.get(1), mode == OutputMode::Append) {
        return Err(unsupported(
            "several stateful operators side by side (e.g. a UNION ALL of two aggregations)",
            &format!(
                "side by side, stateful operators run in output mode 'append' only (each emits \
                 its final rows), not '{mode}'; write each branch to its own sink (one INSERT \
                 each), or union the inputs below a single aggregation"
            ),
            second,
        ));
    }
    let root_aggregates: Vec<&Aggregate> = roots
        .iter()
        .filter_map(|r| match r {
            LogicalPlan::Aggregate(a) => Some(a),
            _ => None,
        })
        .collect();
    for agg in &root_aggregates {
        if mode == OutputMode::Append && event_time_key(agg).is_none() {
            return Err(TributaryError::Plan(format!(
                "output mode 'append' emits each group once, when the watermark says it can no \
                 longer change, but this streaming aggregation has no event-time key behind a \
                 watermark (group keys: {}). Either add a watermark (df.with_watermark(\"event_time\", \
                 \"10 minutes\") or the table option 'watermark_column') and group by \
                 window(event_time, ...) or by the event-time column, or use output mode 'update' \
                 or 'complete'",
                agg.group_expr
                    .iter()
                    .map(|e| e.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    }
    if !root_aggregates.is_empty() {
        return Ok(());
    }
    if mode == OutputMode::Complete && streaming_aggregates(plan).is_empty() {
        return Err(TributaryError::Plan(
            "output mode 'complete' needs a streaming aggregation (it rewrites the whole result \
             every epoch); this query has none: use output mode 'append' or 'update'"
                .into(),
        ));
    }
    Ok(())
}

/// The stateful nodes of `plan` that no other stateful node of `plan` reads from, in plan order.
pub(crate) fn top_stateful(plan: &LogicalPlan) -> Vec<LogicalPlan> {
    let mut out = Vec::new();
    let _ = plan.apply(|n| {
        if is_stateful(n) {
            out.push(n.clone());
            return Ok(TreeNodeRecursion::Jump);
        }
        Ok(TreeNodeRecursion::Continue)
    });
    out
}

/// Why the stateful operators directly below `node` cannot feed it, if they cannot: an
/// operator below another one must emit each row once and for good (its output is the input of
/// the one above, which cannot take rows back), as Spark requires of chained operators.
fn chain_problem(node: &LogicalPlan) -> Option<TributaryError> {
    let below: Vec<LogicalPlan> = node.inputs().into_iter().flat_map(top_stateful).collect();
    if below.is_empty() {
        return None;
    }
    let problem = below.iter().find_map(|b| match b {
        LogicalPlan::Join(_) => None,
        LogicalPlan::Aggregate(a) if event_time_key(a).is_some() => None,
        LogicalPlan::Aggregate(_) => Some(
            "an aggregation below another stateful operator must emit each group once, when \
             the watermark closes it: group it by an event-time window (window(event_time, \
             ...)) or by the event-time column behind a watermark. An aggregation that updates \
             its rows can only be the last stateful operator of a query",
        ),
        other if Deduplicate::of(other).is_some() => None,
        other => match super::topn::TopN::of(other) {
            Some(t) if t.event_time_key().is_some() => None,
            Some(_) => Some(
                "a Top-N below another stateful operator must emit each key's rows once, \
                 when the watermark closes it: partition it by an event-time window behind \
                 a watermark",
            ),
            None => Some(
                "user state (map_groups_with_state) cannot feed another stateful operator \
                 yet; write its result to a Delta table and read it in a second query",
            ),
        },
    });
    let why = match problem {
        Some(p) => p.to_string(),
        None => super::chain::input_lag(node).err()?,
    };
    Some(unsupported(
        &format!(
            "{} over the output of another stateful operator",
            operator_name(node)
        ),
        &why,
        node,
    ))
}

fn operator_name(node: &LogicalPlan) -> &'static str {
    match node {
        LogicalPlan::Aggregate(_) => "a streaming Aggregate",
        LogicalPlan::Join(_) => "a stream-stream Join",
        other if Deduplicate::of(other).is_some() => "Deduplicate",
        other if super::topn::TopN::of(other).is_some() => "Top-N (ROW_NUMBER() ... <= N)",
        _ => "a stateful operator",
    }
}
