//! Incremental planning: turn a DataFusion logical plan over streaming sources into what each
//! epoch runs.
//!
//! ```text
//!   user's DataFrame / SQL ──► LogicalPlan (TableScan over StreamTable = streaming source)
//!        │ check_supported      names the operator a stream cannot run, and what to do instead
//!        │ materialize_static   static sides of stream-static joins are read once per query
//!        │ rank_to_top_n        ROW_NUMBER() <= N over a stream becomes a Top-N node
//!        │ epoch_time           now() inside an aggregation is computed below it, per epoch
//!        │ split_stateful       each aggregation, deduplication, join, Top-N or user state becomes a
//!        │                      stateful operator; chained ones read the output of those below
//!        │                      (chain.rs)
//!        ▼
//!   first epoch: prepared.rs ──► optimized and physically planned once, with a slot where each
//!        │                       epoch's rows enter (re-bound per epoch, not planned again)
//!   per epoch: bind_epoch ──► the same plan with each StreamTable replaced by the epoch's rows,
//!        ▼                    when the plan cannot be prepared (and for operators' inputs)
//!   DataFusion optimizer + physical planner ──► execution
//! ```

pub(crate) mod ansi;
mod ansi_constants;
pub(crate) use ansi_constants::CheckedConstantsRule;
mod capped;
mod chain;
mod check;
mod coerce;
pub(crate) mod decimal_range;
mod dedup;
mod epoch_time;
pub mod evolution;
pub(crate) mod group_sets;
mod join;
mod keys;
mod lazy_logic;
mod map_batches;
mod map_groups;
mod null_times;
mod pane_merge;
mod panes;
pub(crate) mod physical;
mod prepared;
mod rewrite;
mod session;
pub mod shape;
mod spark_types;
mod stateful;
pub mod store_assignment;
mod topn;
mod watermark;

pub(crate) use chain::{bind_operator_outputs, split_stateful, OperatorOutput, SplitPlan};
pub(crate) use check::check_supported;
pub(crate) use coerce::coerced;
pub(crate) use dedup::{distinct_to_dedup, Deduplicate};
pub(crate) use epoch_time::stable_calls_below_aggregates;
pub(crate) use join::join_bounds;
pub(crate) use keys::update_key_columns;
pub(crate) use map_groups::{
    call_user, group_rows, json_to_batch, key_of, rows_to_json, FlatMapGroupsWithState,
    GroupFunction,
};
pub(crate) use null_times::NullTimeRule;
pub(crate) use panes::{PaneAggregate, PaneAggregateRule};
pub(crate) use physical::TributaryQueryPlanner;
pub(crate) use prepared::{at_epoch_time, calls_stable_expr, EpochRows, PlanCache};
pub(crate) use rewrite::{
    bind_epoch, find_sources, fork_sources, is_streaming, materialize_static, SourceKey,
};
pub(crate) use session::{sessionize_batch, SessionWindowRule, Sessionize};
pub use spark_types::SparkTypePlanner;
pub(crate) use stateful::{
    event_time_column, event_time_key, has_watermark, is_stateful, watermark_delay, EventTimeKey,
    EventTimeKind,
};
pub(crate) use topn::{rank_to_top_n, TopN};
pub(crate) use watermark::{EventTimeStats, EventTimeSummary, EventTimeWatermark};

/// A plan as text, one node per line, indented by depth, with stateful operators and watermarks
/// marked.
pub(crate) fn describe(plan: &datafusion::logical_expr::LogicalPlan) -> String {
    fn walk(p: &datafusion::logical_expr::LogicalPlan, depth: usize, out: &mut String) {
        let mark = if is_stateful(p) {
            "[stateful] "
        } else if EventTimeWatermark::of(p).is_some() {
            "[watermark] "
        } else if matches!(p, datafusion::logical_expr::LogicalPlan::TableScan(_))
            && is_streaming(p)
        {
            "[source] "
        } else {
            ""
        };
        out.push_str(&format!("{}{mark}{}\n", "  ".repeat(depth), p.display()));
        for c in p.inputs() {
            walk(c, depth + 1, out);
        }
    }
    let mut out = String::new();
    walk(plan, 0, &mut out);
    out
}

/// The names of `fields`, unqualified, as an error message lists a plan's columns.
pub(crate) fn column_list(fields: &arrow::datatypes::Fields) -> String {
    fields
        .iter()
        .map(|f| f.name().as_str())
        .collect::<Vec<_>>()
        .join(", ")
}
