//! The query's event-time watermark: advanced at the end of each epoch from what the
//! watermark nodes saw, kept in the offsets and commit logs.
//!
//! ```text
//!  node i watermark = max(previous, max event time seen - delay_i)     (nodes that saw rows)
//!  global           = min over nodes (or max: multiple_watermark_policy = max), never decreasing;
//!                     under min, a node that has seen no rows yet holds it where it is
//!  epoch e runs with the global watermark of the end of e-1 (written in offsets/<e>),
//!  and commits/<e> records the watermark for e+1 and each node's own watermark
//! ```
//!
//! Each node's watermark is kept in the commit record, so a restart goes on from where every
//! input was: an input that brings no rows after the restart still holds the global watermark
//! back, and the answer is the one an uninterrupted run gives. (Spark keeps only the global
//! watermark, and after a restart holds it until every input has rows again.)

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::logical_expr::LogicalPlan;

use crate::error::{Result, TributaryError};
use crate::plan::{EventTimeStats, EventTimeSummary, EventTimeWatermark};

/// What an epoch saw, and the watermark it leads to.
#[derive(Debug, Clone)]
pub(crate) struct EpochEventTime {
    summary: EventTimeSummary,
    node_watermarks: Vec<Option<i64>>,
    /// The global watermark for the next epoch.
    pub next_watermark_ms: Option<i64>,
}

fn iso(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_else(|| "end of input".to_string())
}

impl EpochEventTime {
    /// Each node's own watermark after the epoch, as the commit record keeps it.
    pub(crate) fn input_watermarks(&self) -> Option<Vec<Option<i64>>> {
        (!self.node_watermarks.is_empty()).then(|| self.node_watermarks.clone())
    }

    /// Real-time mode: what the epoch saw so far and, after it, a later arrival of the same
    /// epoch (the watermark is the later one's).
    pub(crate) fn absorb(&mut self, later: EpochEventTime) {
        self.summary.merge(&later.summary);
        self.node_watermarks = later.node_watermarks;
        self.next_watermark_ms = later.next_watermark_ms;
    }

    /// The `eventTime` map of the progress record (Spark's keys).
    pub(crate) fn progress(&self, epoch_watermark: Option<i64>) -> BTreeMap<String, String> {
        let mut m = BTreeMap::new();
        if self.summary.count > 0 {
            m.insert("min".into(), iso(self.summary.min_ms));
            m.insert("max".into(), iso(self.summary.max_ms));
            if let Some(avg) = self.summary.avg_ms() {
                m.insert("avg".into(), iso(avg));
            }
        }
        if let Some(w) = epoch_watermark {
            m.insert("watermark".into(), iso(w));
        }
        m
    }
}

/// Each node's watermark a commit kept, and (newer checkpoints) whose each is.
pub(crate) type KeptWatermarks<'a> = (&'a [Option<i64>], Option<&'a [String]>);

/// Tracks the watermark of one query.
#[derive(Debug, Clone)]
pub(crate) struct WatermarkTracker {
    nodes: Vec<(i64, Arc<EventTimeStats>)>,
    /// Each node's event-time column and delay, as the commit record names its watermark.
    names: Vec<String>,
    node_watermarks: Vec<Option<i64>>,
    current: Option<i64>,
    last_epoch: Option<i64>,
    use_max: bool,
}

impl WatermarkTracker {
    /// Find the watermark nodes of `plan`; continue from `start` (the checkpoint's) and from
    /// each node's own watermark the checkpoint kept (`inputs`: the watermarks and, in newer
    /// checkpoints, whose they are; see [`restored`]).
    pub(crate) fn new(
        plan: &LogicalPlan,
        start: Option<i64>,
        last_epoch: Option<i64>,
        inputs: Option<KeptWatermarks<'_>>,
        policy: Option<&str>,
    ) -> Result<Self> {
        let use_max = match policy.map(|p| p.to_ascii_lowercase()) {
            None => false,
            Some(p) if p == "min" => false,
            Some(p) if p == "max" => true,
            Some(p) => {
                return Err(TributaryError::Option {
                    option: "multiple_watermark_policy".into(),
                    message: format!(
                        "'{p}' is not 'min' (the default: the slowest input decides) or 'max'"
                    ),
                })
            }
        };
        let mut nodes: Vec<(i64, Arc<EventTimeStats>)> = Vec::new();
        let mut names: Vec<String> = Vec::new();
        let _ = plan.apply(|n| {
            // One node read twice (a self-join) appears twice with one statistics object: it
            // is one input, else its second copy would never see rows and hold the watermark.
            if let Some(w) = EventTimeWatermark::of(n) {
                if !nodes.iter().any(|(_, s)| Arc::ptr_eq(s, &w.stats)) {
                    nodes.push((w.delay_ms, w.stats.clone()));
                    names.push(format!("{} {}ms", w.column.name, w.delay_ms));
                }
            }
            Ok(TreeNodeRecursion::Continue)
        });
        let current = if nodes.is_empty() {
            None
        } else {
            Some(start.unwrap_or(0))
        };
        let node_watermarks = match inputs {
            Some((kept, kept_names)) => restored(&names, kept, kept_names),
            None => vec![None; nodes.len()],
        };
        Ok(WatermarkTracker {
            node_watermarks,
            nodes,
            names,
            current,
            last_epoch: last_epoch.or(current),
            use_max,
        })
    }

    /// The watermark the next epoch runs with.
    pub(crate) fn current(&self) -> Option<i64> {
        self.current
    }

    /// Each node's own watermark, as the commit record keeps it (`None` without watermarks).
    pub(crate) fn input_watermarks(&self) -> Option<Vec<Option<i64>>> {
        (!self.nodes.is_empty()).then(|| self.node_watermarks.clone())
    }

    /// What each of [`Self::input_watermarks`] belongs to, as the commit record keeps it.
    pub(crate) fn input_watermark_nodes(&self) -> Option<Vec<String>> {
        (!self.nodes.is_empty()).then(|| self.names.clone())
    }

    /// Whether the watermark moved since the last epoch ran (a no-data epoch would emit).
    pub(crate) fn advanced_since_last_epoch(&self) -> bool {
        self.current.is_some() && self.current != self.last_epoch
    }

    /// Whether the input was declared finished.
    pub(crate) fn is_final(&self) -> bool {
        self.current == Some(i64::MAX)
    }

    /// The input is finished: move the watermark to the end of time, closing every window.
    pub(crate) fn finish(&mut self) {
        if !self.nodes.is_empty() {
            self.current = Some(i64::MAX);
        }
    }

    /// Move the watermark forward to `ms` (never back); used when a source is idle.
    pub(crate) fn advance_to(&mut self, ms: i64) {
        if let Some(c) = self.current {
            self.current = Some(c.max(ms));
        }
    }

    /// Forget what an earlier (failed) attempt of the epoch saw.
    pub(crate) fn reset_stats(&self) {
        for (_, s) in &self.nodes {
            s.take();
        }
    }

    /// What the epoch saw, and the next watermark (not applied until [`Self::commit`]).
    pub(crate) fn observe(&self) -> EpochEventTime {
        let mut summary = EventTimeSummary::default();
        let mut node_watermarks = self.node_watermarks.clone();
        for (i, (delay, stats)) in self.nodes.iter().enumerate() {
            let s = stats.take();
            if s.count == 0 {
                continue;
            }
            let w = s.max_ms.saturating_sub(*delay);
            node_watermarks[i] = Some(node_watermarks[i].map_or(w, |old| old.max(w)));
            if summary.count == 0 {
                summary = s;
            } else {
                summary.min_ms = summary.min_ms.min(s.min_ms);
                summary.max_ms = summary.max_ms.max(s.max_ms);
                summary.sum_ms += s.sum_ms;
                summary.count += s.count;
            }
        }
        let seen = node_watermarks.iter().flatten().copied();
        let candidate = if self.use_max {
            seen.max()
        } else if node_watermarks.iter().any(Option::is_none) {
            // An input that has seen no rows could still bring any event time: it holds the
            // watermark (Spark counts such an input as time 0).
            None
        } else {
            seen.min()
        };
        let next_watermark_ms = match (self.current, candidate) {
            (Some(c), Some(n)) => Some(c.max(n)),
            (c, None) => c,
            (None, n) => n,
        };
        EpochEventTime {
            summary,
            node_watermarks,
            next_watermark_ms,
        }
    }

    /// The epoch committed with watermark `epoch_watermark`.
    pub(crate) fn commit(&mut self, seen: &EpochEventTime, epoch_watermark: Option<i64>) {
        self.node_watermarks = seen.node_watermarks.clone();
        self.current = seen.next_watermark_ms;
        self.last_epoch = epoch_watermark;
    }
}

/// Each node's watermark from those a commit kept: by its name (event-time column and delay;
/// nodes of one name in their order), or, from a checkpoint that kept no names, by position
/// when it kept as many. A node without a kept watermark starts without one.
fn restored(
    names: &[String],
    kept: &[Option<i64>],
    kept_names: Option<&[String]>,
) -> Vec<Option<i64>> {
    match kept_names {
        Some(kept_names) if kept_names.len() == kept.len() => names
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let nth = names[..i].iter().filter(|n| *n == name).count();
                kept_names
                    .iter()
                    .zip(kept)
                    .filter(|(n, _)| *n == name)
                    .nth(nth)
                    .and_then(|(_, w)| *w)
            })
            .collect(),
        None if kept.len() == names.len() => kept.to_vec(),
        _ => vec![None; names.len()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_watermarks_go_to_the_nodes_they_belong_to() {
        let n = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let kept = [Some(1), Some(2), Some(3)];
        let kept_names = n(&["a 10ms", "b 10ms", "a 10ms"]);
        // The same nodes in another order; one node new, one gone.
        assert_eq!(
            restored(
                &n(&["b 10ms", "a 10ms", "a 10ms"]),
                &kept,
                Some(&kept_names)
            ),
            [Some(2), Some(1), Some(3)]
        );
        assert_eq!(
            restored(&n(&["c 10ms", "a 10ms"]), &kept, Some(&kept_names)),
            [None, Some(1)]
        );
        // Another delay is another node.
        assert_eq!(restored(&n(&["b 20ms"]), &kept, Some(&kept_names)), [None]);
        // Without names (an older checkpoint): by position, when as many.
        assert_eq!(restored(&n(&["x", "y", "z"]), &kept, None), kept);
        assert_eq!(restored(&n(&["x", "y"]), &kept, None), [None, None]);
    }

    /// A tracker of `n` inputs with a delay of 10 ms, continuing from `inputs`.
    fn tracker(n: usize, inputs: Option<Vec<Option<i64>>>, use_max: bool) -> WatermarkTracker {
        let nodes: Vec<_> = (0..n)
            .map(|_| (10, Arc::new(EventTimeStats::default())))
            .collect();
        WatermarkTracker {
            node_watermarks: inputs.unwrap_or_else(|| vec![None; n]),
            names: (0..n).map(|i| format!("ts{i} 10ms")).collect(),
            nodes,
            current: Some(0),
            last_epoch: Some(0),
            use_max,
        }
    }

    /// Input `i` sees rows up to `max_ms`; the epoch commits.
    fn epoch(t: &mut WatermarkTracker, seen: &[(usize, i64)]) -> Option<i64> {
        for &(i, max_ms) in seen {
            t.nodes[i].1.observe(EventTimeSummary {
                min_ms: max_ms,
                max_ms,
                sum_ms: max_ms as i128,
                count: 1,
            });
        }
        let e = t.observe();
        let at = t.current();
        t.commit(&e, at);
        t.current()
    }

    #[test]
    fn an_input_without_rows_yet_holds_the_minimum() {
        let mut t = tracker(2, None, false);
        assert_eq!(
            epoch(&mut t, &[(0, 1_000)]),
            Some(0),
            "input 1 has seen nothing"
        );
        assert_eq!(epoch(&mut t, &[(1, 500)]), Some(490));
        assert_eq!(epoch(&mut t, &[(0, 2_000)]), Some(490), "input 1 is behind");
        // Under max, the fastest input decides as soon as it has rows.
        let mut t = tracker(2, None, true);
        assert_eq!(epoch(&mut t, &[(0, 1_000)]), Some(990));
    }

    #[test]
    fn a_restart_goes_on_from_each_inputs_own_watermark() {
        let mut before = tracker(2, None, false);
        epoch(&mut before, &[(0, 1_000), (1, 1_000)]);
        let kept = before.input_watermarks().unwrap();
        assert_eq!(kept, vec![Some(990), Some(990)]);
        // Only input 0 brings rows after the restart: input 1 still holds the watermark.
        let mut after = tracker(2, Some(kept), false);
        after.current = before.current();
        assert_eq!(epoch(&mut after, &[(0, 60_000)]), Some(990));
        assert_eq!(epoch(&mut after, &[(1, 30_000)]), Some(29_990));
    }

    #[test]
    fn a_node_read_twice_is_one_input() {
        use datafusion::logical_expr::{EmptyRelation, LogicalPlanBuilder};
        let schema = arrow::datatypes::Schema::new(vec![arrow::datatypes::Field::new(
            "ts",
            arrow::datatypes::DataType::Timestamp(arrow::datatypes::TimeUnit::Millisecond, None),
            true,
        )]);
        let leaf = LogicalPlan::EmptyRelation(EmptyRelation {
            produce_one_row: false,
            schema: Arc::new(datafusion::common::DFSchema::try_from(schema).unwrap()),
        });
        let w = EventTimeWatermark::try_new(leaf, "ts", 10)
            .unwrap()
            .into_plan();
        // The same node (one statistics object) on both sides of a union, as a self-join has it.
        let plan = LogicalPlanBuilder::from(w.clone())
            .union(w)
            .unwrap()
            .build()
            .unwrap();
        let mut t = WatermarkTracker::new(&plan, None, None, None, None).unwrap();
        assert_eq!(t.nodes.len(), 1);
        assert_eq!(epoch(&mut t, &[(0, 1_000)]), Some(990));
    }

    #[test]
    fn kept_watermarks_of_another_plan_shape_are_not_used() {
        let plan = LogicalPlan::EmptyRelation(datafusion::logical_expr::EmptyRelation {
            produce_one_row: false,
            schema: Arc::new(datafusion::common::DFSchema::empty()),
        });
        let t = WatermarkTracker::new(&plan, None, None, Some((&[Some(5)], None)), None).unwrap();
        assert_eq!((t.input_watermarks(), t.current()), (None, None));
    }
}
