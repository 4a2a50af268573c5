//! Rebuilding the state of changed operators for a changed query (`state_evolution =
//! 'rebuild'`): the committed epochs are replayed from the offsets log through the new query's
//! operators, and the state they end with becomes the checkpoint's state at the last commit.
//!
//! ```text
//!  offsets/0 .. offsets/<c>  each epoch's (or real-time arrival's) source ranges, watermark, time
//!     └─► get_batch(start, end) ─► every operator of the new query, fresh, bottom-up, in memory
//!         (outputs discarded: the sink already has what the old query wrote)
//!  state/<op>/<p>/<c>.snapshot  ◄─ the rebuilt operators' state; the run then restores from it
//! ```
//! Exact: the operators see the same rows, watermarks and planned times as the original
//! epochs did, so the state equals what the new query would have built had it run from the
//! start (rows dropped behind the watermark are dropped again). It needs every epoch since the
//! first in the offsets log (`min_epochs_to_retain`) and the sources still holding what those
//! epochs read; otherwise the rebuild is refused with the reason, before anything is written.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use datafusion::datasource::{MemTable, TableProvider};
use datafusion::execution::SessionState;
use datafusion::logical_expr::LogicalPlan;
use serde_json::Value;
use tributary_checkpoint::{Epoch, OffsetRecord};

use super::{open_operators, CheckpointStore, QuerySpec, Recovered};
use crate::error::{Result, TributaryError};
use crate::exec::operator_inputs::{InputPlans, OperatorInputs};
use crate::exec::stateful::{EpochWatermarks, StatefulOperator};
use crate::plan::SourceKey;
use crate::source::StreamSource;

/// One step of the original run: an epoch, or one arrival of a real-time epoch.
struct Step {
    epoch: Epoch,
    starts: Vec<Value>,
    ends: Vec<Value>,
    watermark: Option<i64>,
    prev_watermark: Option<i64>,
    timestamp_ms: i64,
}

/// The steps of a logged epoch, given the watermark of the epoch before it.
fn steps_of(record: &OffsetRecord, prev_watermark: Option<i64>) -> Vec<Step> {
    let starts: Vec<Value> = record.sources.iter().map(|s| s.start.clone()).collect();
    if record.arrivals.is_empty() {
        return vec![Step {
            epoch: record.epoch,
            starts,
            ends: record.sources.iter().map(|s| s.end.clone()).collect(),
            watermark: record.watermark_ms,
            prev_watermark,
            timestamp_ms: record.timestamp_ms,
        }];
    }
    let mut out = Vec::with_capacity(record.arrivals.len());
    let mut from = starts;
    for a in &record.arrivals {
        out.push(Step {
            epoch: record.epoch,
            starts: from.clone(),
            ends: a.ends.clone(),
            watermark: a.watermark_ms,
            prev_watermark: a.prev_watermark_ms,
            timestamp_ms: a.timestamp_ms,
        });
        from = a.ends.clone();
    }
    out
}

/// Why the logged epochs cannot be replayed, if they cannot: every epoch from 0 to `last`
/// must be in the log.
fn missing_epochs(logged: &BTreeSet<Epoch>, last: Epoch) -> Option<String> {
    let first_missing = (0..=last.0).map(Epoch).find(|e| !logged.contains(e))?;
    let kept_from = logged.iter().find(|e| **e > first_missing);
    Some(format!(
        "the offsets log no longer holds epoch {first_missing}{} (it keeps the last \
         min_epochs_to_retain epochs, 100 unless set), so the rows the query read then cannot \
         be read again range by range. Give the query a larger min_epochs_to_retain before a \
         change you may want to rebuild for; for this one, reset the changed operators \
         (state_evolution = 'reset') or start on a new checkpoint",
        kept_from.map_or(String::new(), |k| format!(" (the log starts at epoch {k})"))
    ))
}

/// Whether `state_evolution = 'rebuild'` could replay the committed epochs, as a line of the
/// report.
pub(super) async fn can_rebuild(store: &CheckpointStore, rec: &Recovered) -> Result<String> {
    let Some(last) = rec.committed_epoch else {
        return Ok("rebuild: nothing is committed yet, the changed operators start empty".into());
    };
    let logged: BTreeSet<Epoch> = store.listing().await?.offsets.into_iter().collect();
    Ok(match missing_epochs(&logged, last) {
        None => format!(
            "rebuild: state_evolution = 'rebuild' would replay epochs 0 to {last} (every one is \
             in the offsets log), exactly, if the sources still hold what they read"
        ),
        Some(why) => format!("rebuild: not possible: {why}"),
    })
}

/// The operators to rebuild: the changed ones and every operator above them (their state was
/// computed from what the changed ones emitted).
pub(super) fn with_parents(
    plan: &LogicalPlan,
    changed: &BTreeSet<usize>,
) -> Result<BTreeSet<usize>> {
    let mut set = changed.clone();
    let Some(split) = crate::plan::split_stateful(plan)? else {
        return Ok(set);
    };
    loop {
        let before = set.len();
        for op in &split.operators {
            if op.children.iter().any(|c| set.contains(c)) {
                set.insert(op.id);
            }
        }
        if set.len() == before {
            return Ok(set);
        }
    }
}

/// The state of the operators in `rebuild` as of the last committed epoch, computed by
/// replaying the logged epochs through fresh operators of `plan` (in memory: nothing is
/// written; [`write_rebuilt`] writes it).
#[allow(clippy::too_many_arguments)]
pub(super) async fn replay(
    plan: &LogicalPlan,
    state: &SessionState,
    sources: &[(SourceKey, Arc<dyn StreamSource>)],
    store: &CheckpointStore,
    rec: &Recovered,
    spec: &QuerySpec,
    rebuild: &BTreeSet<usize>,
) -> Result<Vec<Box<dyn StatefulOperator>>> {
    let Some(last) = rec.committed_epoch else {
        // Nothing committed: every operator starts empty anyway.
        return Ok(Vec::new());
    };
    let logged: BTreeSet<Epoch> = store.listing().await?.offsets.into_iter().collect();
    if let Some(why) = missing_epochs(&logged, last) {
        return Err(TributaryError::Plan(format!(
            "cannot rebuild the state of operators {rebuild:?} exactly: {why}"
        )));
    }
    let Some(split) = crate::plan::split_stateful(plan)? else {
        return Ok(Vec::new());
    };
    let every: BTreeSet<usize> = split.operators.iter().map(|o| o.id).collect();
    // The rebuilt operators and those below them (whose outputs they read) run; no other.
    let mut needed = rebuild.clone();
    for op in split.operators.iter().rev() {
        if needed.contains(&op.id) {
            needed.extend(op.children.iter().copied());
        }
    }
    tracing::info!(operators = ?rebuild, epochs = last.0 + 1, "rebuilding state by replaying the committed epochs");
    let (mut operators, _) = open_operators(plan, state, sources, store, rec, spec, &every).await?;
    let input_plans: Vec<InputPlans> = operators
        .iter()
        .map(|op| InputPlans::of(&op.split().node))
        .collect();
    let mut prev_watermark = None;
    for e in 0..=last.0 {
        let record = store.read_offsets(Epoch(e)).await?;
        for step in steps_of(&record, prev_watermark) {
            let mut tables: HashMap<SourceKey, Arc<dyn TableProvider>> = HashMap::new();
            for (i, (key, s)) in sources.iter().enumerate() {
                let (start, end) = (&step.starts[i], &step.ends[i]);
                let table: Arc<dyn TableProvider> = if start == end {
                    Arc::new(
                        MemTable::try_new(s.schema(), vec![vec![]])
                            .map_err(TributaryError::df("empty input"))?,
                    )
                } else {
                    s.get_batch(start, end, step.epoch)
                        .await
                        .map_err(|err| {
                            TributaryError::Plan(format!(
                                "cannot rebuild the state of operators {rebuild:?}: reading \
                                 again what epoch {e} read from {} failed ({err}); the source \
                                 may no longer hold those rows (files removed, Kafka \
                                 retention, a vacuumed Delta version). Reset the changed \
                                 operators (state_evolution = 'reset') or start on a new \
                                 checkpoint",
                                s.description()
                            ))
                        })?
                        .table
                };
                tables.insert(*key, table);
            }
            let mut outputs: HashMap<usize, Arc<dyn TableProvider>> = HashMap::new();
            let mut results = Vec::with_capacity(operators.len());
            for (op, plans) in operators.iter().zip(&input_plans) {
                let split = op.split();
                if !needed.contains(&split.id) {
                    results.push(None);
                    continue;
                }
                let inputs =
                    OperatorInputs::new(&split.node, (&tables, &outputs), plans, step.timestamp_ms);
                let watermarks = EpochWatermarks::of(split, step.prev_watermark, step.watermark);
                let result = op.process(state, &inputs, watermarks).await?;
                outputs.insert(split.id, result.output.clone() as Arc<dyn TableProvider>);
                results.push(Some(result));
            }
            for (op, result) in operators.iter_mut().zip(results) {
                if let Some(result) = result {
                    op.commit(step.epoch, result)?;
                }
            }
        }
        prev_watermark = record.last_watermark_ms();
    }
    Ok(operators
        .into_iter()
        .filter(|op| rebuild.contains(&op.split().id))
        .collect())
}

/// Make the rebuilt operators' state the checkpoint's at the last committed epoch.
pub(super) async fn write_rebuilt(
    rebuilt: &[Box<dyn StatefulOperator>],
    rec: &Recovered,
) -> Result<()> {
    let Some(last) = rec.committed_epoch else {
        return Ok(());
    };
    for op in rebuilt {
        for s in op.stores() {
            s.snapshot_at(last).await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tributary_checkpoint::{ArrivalRecord, SourceOffset};

    #[test]
    fn an_epoch_is_one_step_and_a_real_time_epoch_one_per_arrival() {
        let so = |s: i64, e: i64| SourceOffset {
            source: "s".into(),
            start: Value::from(s),
            end: Value::from(e),
        };
        let mut r = OffsetRecord {
            epoch: Epoch(3),
            timestamp_ms: 10,
            watermark_ms: Some(5),
            sources: vec![so(1, 9)],
            arrivals: vec![],
        };
        let steps = steps_of(&r, Some(2));
        assert_eq!(steps.len(), 1);
        assert_eq!(
            (steps[0].prev_watermark, steps[0].watermark),
            (Some(2), Some(5))
        );
        r.arrivals = [4, 9]
            .iter()
            .enumerate()
            .map(|(i, end)| ArrivalRecord {
                ends: vec![Value::from(*end)],
                watermark_ms: Some(5 + i as i64),
                prev_watermark_ms: Some(4 + i as i64),
                timestamp_ms: 11 + i as i64,
            })
            .collect();
        let steps = steps_of(&r, Some(2));
        let ranges: Vec<(Value, Value)> = steps
            .iter()
            .map(|s| (s.starts[0].clone(), s.ends[0].clone()))
            .collect();
        assert_eq!(ranges, vec![(1.into(), 4.into()), (4.into(), 9.into())]);
        assert_eq!(steps[1].prev_watermark, Some(5));
    }

    #[test]
    fn a_replay_needs_every_epoch_since_the_first() {
        let logged: BTreeSet<Epoch> = (0..=4).map(Epoch).collect();
        assert_eq!(missing_epochs(&logged, Epoch(4)), None);
        let trimmed: BTreeSet<Epoch> = (2..=4).map(Epoch).collect();
        let why = missing_epochs(&trimmed, Epoch(4)).unwrap();
        assert!(why.contains("epoch 0 (the log starts at epoch 2)"), "{why}");
    }
}
