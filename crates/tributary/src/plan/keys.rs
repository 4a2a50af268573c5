//! The key of an update-mode result: the output columns that carry the streaming
//! aggregation's grouping keys (or a Top-N's PARTITION BY columns and rank). An update-mode Delta sink merges each epoch's rows on them.
//!
//! ```text
//!   SELECT w['start'] AS window_start, lower(region) AS r, count(*) ...  GROUP BY w, region
//!          └──── key (a field of key w) ┘   └ not a key: a function of a key might merge rows ┘
//! ```
//!
//! A column is a key column when it is a grouping column passed up through projections,
//! filters and sorts, possibly renamed, cast, or (for a window struct) one of its fields.
//! Every grouping column must reach the output, or rows of different groups would collide.

use std::collections::{BTreeMap, BTreeSet};

use datafusion::common::Column;
use datafusion::logical_expr::{Expr, LogicalPlan};

use super::rewrite::is_streaming;

/// For each output column of `plan` that is a key column, the grouping keys it carries.
type KeyMap = BTreeMap<usize, BTreeSet<usize>>;

/// The names of the output columns of `plan` that form its update-mode key, or a reason why
/// there is none.
pub(crate) fn update_key_columns(plan: &LogicalPlan) -> std::result::Result<Vec<String>, String> {
    // A Top-N is keyed by its PARTITION BY columns and the rank.
    let plan = &super::topn::rank_to_top_n(plan.clone()).map_err(|e| e.to_string())?;
    let Some((map, groups)) = key_map(plan) else {
        return Err(
            "the query has no streaming aggregation whose grouping keys reach its output \
                    (only projections, filters and sorts may be above the GROUP BY)"
                .into(),
        );
    };
    let covered: BTreeSet<usize> = map.values().flatten().copied().collect();
    let missing = (0..groups).filter(|g| !covered.contains(g)).count();
    if missing > 0 {
        return Err(format!(
            "{missing} of the {groups} grouping keys are not in the query's output"
        ));
    }
    let schema = plan.schema();
    Ok(map
        .keys()
        .map(|i| schema.field(*i).name().clone())
        .collect())
}

fn key_map(plan: &LogicalPlan) -> Option<(KeyMap, usize)> {
    match plan {
        LogicalPlan::Aggregate(a) if is_streaming(&a.input) => {
            let n = a.group_expr.len();
            Some(((0..n).map(|i| (i, BTreeSet::from([i]))).collect(), n))
        }
        LogicalPlan::Extension(_) if super::topn::TopN::of(plan).is_some() => {
            // The PARTITION BY columns and the rank (the last column); with N = 1 the rank is
            // always 1 and the output need not carry it.
            let t = super::topn::TopN::of(plan).expect("checked");
            let keys = t.key_indices().ok()?;
            let mut map: KeyMap = keys
                .iter()
                .enumerate()
                .map(|(g, i)| (*i, BTreeSet::from([g])))
                .collect();
            if t.n > 1 {
                map.insert(t.schema.fields().len() - 1, BTreeSet::from([keys.len()]));
            }
            Some((map, keys.len() + usize::from(t.n > 1)))
        }
        LogicalPlan::Projection(p) => {
            let (child, groups) = key_map(&p.input)?;
            let input_schema = p.input.schema();
            let index_of = |c: &Column| input_schema.index_of_column(c).ok();
            let mut out = KeyMap::new();
            for (i, e) in p.expr.iter().enumerate() {
                if let Some(c) = key_source(e) {
                    if let Some(keys) = index_of(c).and_then(|j| child.get(&j)) {
                        out.insert(i, keys.clone());
                    }
                }
            }
            Some((out, groups))
        }
        LogicalPlan::Filter(f) => key_map(&f.input),
        LogicalPlan::Sort(s) => key_map(&s.input),
        LogicalPlan::SubqueryAlias(s) => key_map(&s.input),
        _ => None,
    }
}

/// The column an expression passes through unchanged (up to a rename, a cast, or taking a
/// field of a struct key such as a window).
fn key_source(e: &Expr) -> Option<&Column> {
    match e {
        Expr::Column(c) => Some(c),
        Expr::Alias(a) => key_source(&a.expr),
        Expr::Cast(c) => key_source(&c.expr),
        Expr::TryCast(c) => key_source(&c.expr),
        Expr::ScalarFunction(f) if f.name() == "get_field" => f.args.first().and_then(key_source),
        // An INSERT's cast into a narrower column (`store_cast`) passes values unchanged.
        Expr::ScalarFunction(f) if f.name() == crate::functions::STORE_CAST => {
            f.args.first().and_then(key_source)
        }
        _ => None,
    }
}
