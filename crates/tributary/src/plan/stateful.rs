//! The stateful nodes of a streaming plan, and how their columns carry event time.
//!
//! ```text
//!   SELECT w['end'] AS window_end, max(n) ... GROUP BY window_end      ◄ Time (a window's end)
//!     SELECT window(date_time, '10 seconds') AS w, count(*) AS n ... GROUP BY w, auction
//!                  └ Window: a window over a watermarked column ┘
//!       EventTimeWatermark(date_time, 4 s)                            ◄ Time (the watermarked column)
//! ```
//! Event time is followed down through projections, aggregations (their grouping keys), joins
//! and the outputs of stateful operators below, so an operator above another finds the event
//! time of its input.

use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::common::Column;
use datafusion::logical_expr::{Aggregate, Expr, LogicalPlan};

use super::dedup::Deduplicate;
use super::rewrite::is_streaming;
use super::watermark::EventTimeWatermark;
use crate::functions::{window_call, SESSION_WINDOW, SLIDING_WINDOWS, WINDOW};

/// How a group key carries event time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EventTimeKind {
    /// A window struct `{start, end}`: closed once the watermark reaches `end`.
    Window,
    /// The event-time column itself: closed once the watermark reaches it.
    Time,
}

/// The group key that carries event time, and the watermark delay behind it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct EventTimeKey {
    /// Index among the group expressions.
    pub index: usize,
    /// Window or plain time.
    pub kind: EventTimeKind,
}

/// The streaming aggregations of a plan (top-down order).
pub(crate) fn streaming_aggregates(plan: &LogicalPlan) -> Vec<Aggregate> {
    let mut out = Vec::new();
    let _ = plan.apply(|n| {
        if let LogicalPlan::Aggregate(a) = n {
            if is_streaming(&a.input) {
                out.push(a.clone());
            }
        }
        Ok(TreeNodeRecursion::Continue)
    });
    out
}

/// How a column carries event time, and how far behind the watermark its values can still
/// arrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Resolved {
    kind: EventTimeKind,
    /// The lag behind the watermark of the rows still to come, in ms: 0 for a source's rows
    /// (later ones are after the watermark) and for closed windows; a stream-stream join below
    /// adds its time bound (a new row of one side matches stored rows of the other up to the
    /// bound behind it). `None`: no bound (a join without a time-range condition).
    lag: Option<i64>,
}

/// What a group expression is, in terms of event time: follows columns down through
/// projections to a `window()` call or to a watermarked column.
fn resolve(e: &Expr, plan: &LogicalPlan) -> Option<Resolved> {
    match e {
        Expr::Alias(a) => resolve(&a.expr, plan),
        Expr::Cast(c) => resolve(&c.expr, plan),
        Expr::ScalarFunction(f) if f.func.name() == crate::functions::STORE_CAST => {
            resolve(f.args.first()?, plan)
        }
        Expr::ScalarFunction(f)
            if f.func.name() == WINDOW
                || f.func.name() == SLIDING_WINDOWS
                || f.func.name() == SESSION_WINDOW =>
        {
            let ts = if f.func.name() == WINDOW {
                window_call(e).map(|(_, ts)| ts)?
            } else {
                f.args.first()?
            };
            let r = resolve(ts, plan)?;
            (r.kind == EventTimeKind::Time).then_some(Resolved {
                kind: EventTimeKind::Window,
                lag: r.lag,
            })
        }
        // The end of a window is event time: a window is closed once the watermark reaches
        // it. Its start is not (the window is still open when the watermark passes it).
        Expr::ScalarFunction(f) if f.func.name() == "get_field" => {
            let field = match f.args.get(1)? {
                Expr::Literal(v, _) => v.to_string(),
                _ => return None,
            };
            let r = resolve(f.args.first()?, plan)?;
            (field == "end" && r.kind == EventTimeKind::Window).then_some(Resolved {
                kind: EventTimeKind::Time,
                lag: r.lag,
            })
        }
        Expr::Column(c) => resolve_column(c, plan),
        _ => None,
    }
}

fn resolve_column(c: &Column, plan: &LogicalPlan) -> Option<Resolved> {
    if let Some(w) = EventTimeWatermark::of(plan) {
        if w.column.name == c.name {
            return Some(Resolved {
                kind: EventTimeKind::Time,
                lag: Some(0),
            });
        }
        return resolve_column(c, &w.input);
    }
    match plan {
        LogicalPlan::Projection(p) => {
            let i = p.schema.iter().position(|(q, f)| {
                f.name() == &c.name && (c.relation.is_none() || q == c.relation.as_ref())
            })?;
            resolve(&p.expr[i], &p.input)
        }
        // An unnested list of windows is a window.
        LogicalPlan::Unnest(u) => resolve_column(c, &u.input),
        LogicalPlan::Aggregate(a) => {
            // A grouping key passes its event time up; an aggregate value (max(t)) does not.
            let i = a.schema.iter().position(|(q, f)| {
                f.name() == &c.name && (c.relation.is_none() || q == c.relation.as_ref())
            })?;
            a.group_expr.get(i).and_then(|g| resolve(g, &a.input))
        }
        LogicalPlan::Join(j) => {
            // The side that has the column (by its qualifier when it has one).
            let left = j.left.schema().has_column(c);
            let side = if left {
                &j.left
            } else if j.right.schema().has_column(c) {
                &j.right
            } else {
                return None;
            };
            let r = resolve_column(c, side)?;
            if !(is_streaming(&j.left) && is_streaming(&j.right)) {
                return Some(r);
            }
            // A new row of the other side matches stored rows of this one as far behind it as
            // the join's time range allows.
            let range = super::join::join_bounds(j).range;
            let extra = if left {
                range.lo.map(|lo| (-lo).max(0))
            } else {
                range.hi.map(|hi| hi.max(0))
            };
            Some(Resolved {
                kind: r.kind,
                lag: r.lag.zip(extra).map(|(a, b)| a + b),
            })
        }
        LogicalPlan::TableScan(_) | LogicalPlan::EmptyRelation(_) | LogicalPlan::Values(_) => None,
        other => other
            .inputs()
            .into_iter()
            .find_map(|i| resolve_column(&Column::new_unqualified(&c.name), i)),
    }
}

/// How a column of `plan`'s output carries event time (a window, or the watermarked time), if
/// it does.
pub(crate) fn event_time_kind(c: &Column, plan: &LogicalPlan) -> Option<EventTimeKind> {
    resolve_column(c, plan).map(|r| r.kind)
}

/// How far behind the watermark rows can still arrive with this column's event time (ms), or
/// `None` when nothing bounds it; see [`Resolved::lag`].
pub(crate) fn event_time_lag(c: &Column, plan: &LogicalPlan) -> Option<i64> {
    resolve_column(c, plan).and_then(|r| r.lag)
}

/// Same for an expression (a grouping key).
pub(crate) fn event_time_lag_of(e: &Expr, plan: &LogicalPlan) -> Option<i64> {
    resolve(e, plan).and_then(|r| r.lag)
}

/// The event-time key of an aggregation, if any.
pub(crate) fn event_time_key(agg: &Aggregate) -> Option<EventTimeKey> {
    agg.group_expr.iter().enumerate().find_map(|(index, e)| {
        resolve(e, &agg.input).map(|r| EventTimeKey {
            index,
            kind: r.kind,
        })
    })
}

/// Whether the plan has a watermark below `plan`.
pub(crate) fn has_watermark(plan: &LogicalPlan) -> bool {
    plan.exists(|n| Ok(EventTimeWatermark::of(n).is_some()))
        .unwrap_or(false)
}

/// Whether a node keeps state on a stream.
pub(crate) fn is_stateful(node: &LogicalPlan) -> bool {
    match node {
        LogicalPlan::Aggregate(a) => is_streaming(&a.input),
        LogicalPlan::Join(j) => is_streaming(&j.left) && is_streaming(&j.right),
        other => {
            Deduplicate::of(other).is_some_and(|d| is_streaming(&d.input))
                || super::topn::TopN::of(other).is_some_and(|t| is_streaming(&t.input))
                || super::map_groups::FlatMapGroupsWithState::of(other)
                    .is_some_and(|m| is_streaming(&m.input))
        }
    }
}

/// The index of the column of `plan`'s output that carries the watermarked event time.
pub(crate) fn event_time_column(plan: &LogicalPlan) -> Option<usize> {
    plan.schema().iter().position(|(q, f)| {
        resolve_column(&Column::new(q.cloned(), f.name()), plan).map(|r| r.kind)
            == Some(EventTimeKind::Time)
    })
}

/// The delay of the first watermark below `plan`, in milliseconds.
pub(crate) fn watermark_delay(plan: &LogicalPlan) -> Option<i64> {
    let mut delay = None;
    let _ = plan.apply(|n| {
        if let Some(w) = EventTimeWatermark::of(n) {
            delay = Some(w.delay_ms);
            return Ok(TreeNodeRecursion::Stop);
        }
        Ok(TreeNodeRecursion::Continue)
    });
    delay
}
