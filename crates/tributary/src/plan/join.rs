//! Stream-stream joins in the plan: which joins can run, and how long each side's rows must be
//! kept, derived from the watermarks and the join's time-range condition.
//!
//! A condition such as `l.t BETWEEN r.t - INTERVAL '5' MINUTE AND r.t + INTERVAL '1' HOUR`
//! bounds `D = l.t - r.t` to `[lo, hi]`. Rows that arrive later are after the watermark `w`, so
//! a left row at `tl` can still match only while `tl - lo > w`, and a right row at `tr` only while
//! `tr + hi > w`: behind that they are evicted (and, in an outer join, emitted with NULLs if
//! they never matched).

use datafusion::common::{Column, JoinType};
use datafusion::logical_expr::{BinaryExpr, Expr, Join, LogicalPlan, Operator};

use super::stateful::event_time_column;
use crate::functions::window::duration_ms;

/// The bounds of `left time - right time` that the join condition implies, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct TimeRange {
    /// Lower bound of `D`, if any.
    pub lo: Option<i64>,
    /// Upper bound of `D`, if any.
    pub hi: Option<i64>,
}

/// How each side's event time is found and bounded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct JoinStateBounds {
    /// The event-time column of each side (index in that side's output), if watermarked.
    pub left_time: Option<usize>,
    /// Same for the right side.
    pub right_time: Option<usize>,
    /// The range of `left time - right time`.
    pub range: TimeRange,
}

impl JoinStateBounds {
    /// Whether left rows can be evicted (a watermarked time and a lower bound).
    pub(crate) fn left_evictable(&self) -> bool {
        self.left_time.is_some() && self.right_time.is_some() && self.range.lo.is_some()
    }

    /// Whether right rows can be evicted.
    pub(crate) fn right_evictable(&self) -> bool {
        self.left_time.is_some() && self.right_time.is_some() && self.range.hi.is_some()
    }
}

/// `expr` as `column + offset` (ms), if it has that shape.
fn linear(e: &Expr) -> Option<(Column, i64)> {
    match e {
        Expr::Column(c) => Some((c.clone(), 0)),
        Expr::Cast(c) => linear(&c.expr),
        Expr::TryCast(c) => linear(&c.expr),
        Expr::Alias(a) => linear(&a.expr),
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
            let (c, o) = linear(left)?;
            let ms = match right.as_ref() {
                Expr::Literal(v, _) => duration_ms("interval", v).ok()?,
                Expr::Cast(c) => match c.expr.as_ref() {
                    Expr::Literal(v, _) => duration_ms("interval", v).ok()?,
                    _ => return None,
                },
                _ => return None,
            };
            match op {
                Operator::Plus => Some((c, o + ms)),
                Operator::Minus => Some((c, o - ms)),
                _ => None,
            }
        }
        _ => None,
    }
}

fn conjuncts(e: &Expr, out: &mut Vec<Expr>) {
    match e {
        Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::And,
            right,
        }) => {
            conjuncts(left, out);
            conjuncts(right, out);
        }
        Expr::Between(b) if !b.negated => {
            out.push(Expr::BinaryExpr(BinaryExpr::new(
                b.expr.clone(),
                Operator::GtEq,
                b.low.clone(),
            )));
            out.push(Expr::BinaryExpr(BinaryExpr::new(
                b.expr.clone(),
                Operator::LtEq,
                b.high.clone(),
            )));
        }
        other => out.push(other.clone()),
    }
}

fn same(c: &Column, name: &str, plan: &LogicalPlan, index: usize) -> bool {
    let (q, f) = plan.schema().qualified_field(index);
    c.name == name && f.name() == name && (c.relation.is_none() || c.relation.as_ref() == q)
}

/// The bounds of a stream-stream join.
pub(crate) fn join_bounds(join: &Join) -> JoinStateBounds {
    let left_time = event_time_column(&join.left);
    let right_time = event_time_column(&join.right);
    let mut range = TimeRange::default();
    let (Some(li), Some(ri)) = (left_time, right_time) else {
        return JoinStateBounds {
            left_time,
            right_time,
            range,
        };
    };
    let lname = join.left.schema().field(li).name().clone();
    let rname = join.right.schema().field(ri).name().clone();
    let mut parts = Vec::new();
    if let Some(f) = &join.filter {
        conjuncts(f, &mut parts);
    }
    for p in parts {
        let Expr::BinaryExpr(BinaryExpr { left, op, right }) = &p else {
            continue;
        };
        let (Some((ca, oa)), Some((cb, ob))) = (linear(left), linear(right)) else {
            continue;
        };
        // ca + oa OP cb + ob
        let is_l = |c: &Column| same(c, &lname, &join.left, li);
        let is_r = |c: &Column| same(c, &rname, &join.right, ri);
        let (op, k) = if is_l(&ca) && is_r(&cb) {
            // tl - tr OP ob - oa
            (*op, ob - oa)
        } else if is_r(&ca) && is_l(&cb) {
            // tr - tl OP ob - oa  =>  tl - tr OP' oa - ob
            let flipped = match op {
                Operator::Gt => Operator::Lt,
                Operator::GtEq => Operator::LtEq,
                Operator::Lt => Operator::Gt,
                Operator::LtEq => Operator::GtEq,
                _ => continue,
            };
            (flipped, oa - ob)
        } else {
            continue;
        };
        match op {
            Operator::Gt | Operator::GtEq => range.lo = Some(range.lo.map_or(k, |v: i64| v.max(k))),
            Operator::Lt | Operator::LtEq => range.hi = Some(range.hi.map_or(k, |v: i64| v.min(k))),
            Operator::Eq => {
                range.lo = Some(range.lo.map_or(k, |v: i64| v.max(k)));
                range.hi = Some(range.hi.map_or(k, |v: i64| v.min(k)));
            }
            _ => {}
        }
    }
    // An equi-join key that is the event time on both sides bounds D to 0.
    for (a, b) in &join.on {
        if let (Some((ca, oa)), Some((cb, ob))) = (linear(a), linear(b)) {
            if same(&ca, &lname, &join.left, li) && same(&cb, &rname, &join.right, ri) {
                let k = ob - oa;
                range.lo = Some(range.lo.map_or(k, |v: i64| v.max(k)));
                range.hi = Some(range.hi.map_or(k, |v: i64| v.min(k)));
            }
        }
    }
    JoinStateBounds {
        left_time,
        right_time,
        range,
    }
}

/// Why a stream-stream join cannot run, or `None`.
pub(crate) fn join_problem(join: &Join) -> Option<String> {
    let b = join_bounds(join);
    let needs = |side: &str| {
        format!(
            "a {} stream-stream join needs watermarks on both sides (with_watermark) and a \
             time-range condition between the two event times (e.g. `l.t BETWEEN r.t - INTERVAL \
             '5' MINUTE AND r.t + INTERVAL '1' HOUR`) so that {side} rows can be evicted and \
             their unmatched ones emitted",
            join.join_type
        )
    };
    match join.join_type {
        JoinType::Inner => None,
        JoinType::Left | JoinType::LeftSemi if !b.left_evictable() => Some(needs("left")),
        JoinType::Right if !b.right_evictable() => Some(needs("right")),
        JoinType::Full if !(b.left_evictable() && b.right_evictable()) => {
            Some(needs("both sides'"))
        }
        JoinType::Left | JoinType::Right | JoinType::Full | JoinType::LeftSemi => None,
        other => Some(format!(
            "{other} joins between two streams are not supported; use inner, left/right/full \
             outer or left semi"
        )),
    }
}
