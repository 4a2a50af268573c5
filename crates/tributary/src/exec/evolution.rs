//! A query's start against the shape its checkpoint recorded: compare, refuse or reset, and
//! record the new shape (the decisions are `plan::evolution`'s; this is the I/O around them).
//!
//! ```text
//!  start ─► shape of the new plan ─► read shapes/<≤ next epoch> ─► compare
//!          every operator reuse ─► open operators ─► write shapes/<next epoch> (with state columns)
//!          otherwise, state_evolution = refuse (default) ─► error: the report and the options
//!                     state_evolution = reset  ─► the changed operators open empty at the
//!                                                 committed epoch (an empty snapshot there)
//!                     state_evolution = rebuild ─► the changed operators (and those above
//!                                                 them) replay the committed epochs
//!                                                 (driver/rebuild.rs)
//! ```

use std::collections::BTreeSet;

use datafusion::logical_expr::LogicalPlan;
use tributary_checkpoint::Epoch;

use super::checkpoint_io::CheckpointStore;
use super::stateful::StatefulOperator;
use crate::error::{Result, TributaryError};
use crate::modes::OutputMode;
use crate::plan::evolution::{compare, EvolutionReport, OperatorVerdict, Verdict};
use crate::plan::shape::{
    operator_shape, watermarks_of, LayoutChoice, QueryShape, StoreShape, SHAPE_VERSION,
};

/// The writer option that chooses what a changed query does with state it cannot reuse.
pub(crate) const STATE_EVOLUTION: &str = "state_evolution";

/// The shape of `plan` (the plan the operators are split from), without the state columns.
pub(crate) fn shape_of(
    plan: &LogicalPlan,
    epoch: Epoch,
    mode: OutputMode,
    partitions: usize,
    choice: LayoutChoice,
) -> Result<QueryShape> {
    let operators = match crate::plan::split_stateful(plan)? {
        Some(split) => {
            // The top operator emits in the query's mode, any below it in append mode.
            let top = split.operators.len().saturating_sub(1);
            split
                .operators
                .iter()
                .enumerate()
                .map(|(i, op)| {
                    let mode = if i == top { mode } else { OutputMode::Append };
                    operator_shape(op, LayoutChoice { mode, ..choice })
                })
                .collect()
        }
        None => Vec::new(),
    };
    Ok(QueryShape {
        version: SHAPE_VERSION,
        epoch: epoch.0,
        output_mode: mode.to_string(),
        state_partitions: partitions,
        watermarks: watermarks_of(plan),
        operators,
    })
}

/// Compare the new shape with the checkpoint's record as of `next` (the first epoch this run
/// computes). `None`: nothing to compare (a new checkpoint, or one written before shapes were
/// recorded).
pub(crate) async fn report(
    store: &CheckpointStore,
    next: Epoch,
    new: &QueryShape,
    asked_partitions: Option<usize>,
) -> Result<Option<EvolutionReport>> {
    let Some(old) = store.read_shape(next).await? else {
        return Ok(None);
    };
    let mut report = compare(&old, new, asked_partitions);
    for id in interrupted(store).await? {
        let change = "rebuild: a rebuild or reset of its state for a changed query was \
                      interrupted: its state is neither the old query's nor the new one's; \
                      rebuild or reset it"
            .to_string();
        match report.operators.iter_mut().find(|o| o.id == id) {
            Some(o) => {
                o.verdict = o.verdict.max(Verdict::Rebuild);
                o.changes.push(change);
            }
            None => report.operators.push(OperatorVerdict {
                id,
                kind: "operator".into(),
                verdict: Verdict::Rebuild,
                changes: vec![change],
            }),
        }
    }
    Ok(Some(report))
}

/// The marker of operators whose state a start is rewriting (a rebuild or a reset), from
/// before the first state file is written until the new shape is recorded.
const CHANGING: &str = "shapes/changing";

/// Mark `ids` as being rewritten: if the run dies before it records its shape, the next start
/// knows their state is neither the old query's nor the new one's. Whether a marker was written
/// (none when nothing changes: an earlier run's marker always makes its operators change).
pub(crate) async fn mark_changing(store: &CheckpointStore, ids: &BTreeSet<usize>) -> Result<bool> {
    if ids.is_empty() {
        return Ok(false);
    }
    let mut all = interrupted(store).await?;
    all.extend(ids);
    let bytes = serde_json::to_vec(&all).unwrap_or_default();
    store.root.ensure_dir()?;
    store.root.write(CHANGING, bytes).await?;
    store.root.sync(CHANGING).await?;
    Ok(true)
}

/// The new shape is recorded: the rewritten states are the new query's.
pub(crate) async fn changed(store: &CheckpointStore) -> Result<()> {
    store.root.delete(CHANGING).await
}

async fn interrupted(store: &CheckpointStore) -> Result<BTreeSet<usize>> {
    match store.root.read(CHANGING).await? {
        None => Ok(BTreeSet::new()),
        Some(b) => serde_json::from_slice(&b).map_err(|e| TributaryError::State {
            location: format!("{}/{CHANGING}", store.root.display),
            message: format!("the marker of an interrupted state change is damaged ({e})"),
        }),
    }
}

/// What a run does with the state of the operators that changed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Decision {
    /// Start empty at the committed epoch.
    pub reset: BTreeSet<usize>,
    /// Rebuild by replaying the committed epochs.
    pub rebuild: BTreeSet<usize>,
}

/// What the run does with the report, by the `state_evolution` option: nothing to do, the
/// operators to start empty or to rebuild, or an error that names every change and the options.
pub(crate) fn decide(
    report: &EvolutionReport,
    choice: Option<&str>,
    checkpoint: &str,
) -> Result<Decision> {
    if report.partitions.is_some() {
        return Err(TributaryError::Plan(format!(
            "the query cannot start on the checkpoint at '{checkpoint}':\n{report}"
        )));
    }
    let changed: BTreeSet<usize> = report.changed().map(|o| o.id).collect();
    if changed.is_empty() {
        return Ok(Decision::default());
    }
    match choice.unwrap_or("refuse") {
        "reset" => {
            tracing::warn!(
                operators = ?changed,
                "the query changed: the state of the changed operators starts empty at the committed epoch\n{report}"
            );
            Ok(Decision {
                reset: changed,
                rebuild: BTreeSet::new(),
            })
        }
        "rebuild" => {
            tracing::warn!(
                operators = ?changed,
                "the query changed: the state of the changed operators is rebuilt from the committed epochs\n{report}"
            );
            Ok(Decision {
                reset: BTreeSet::new(),
                rebuild: changed,
            })
        }
        _ => Err(TributaryError::Plan(format!(
            "the query changed since its checkpoint at '{checkpoint}' was written, and the \
             state of {} cannot be reused as it is:\n{report}\
             Options: run the old query; give the option {STATE_EVOLUTION} = 'rebuild' to \
             recompute the changed operators' state by replaying the committed epochs from the \
             sources (exact; it needs every epoch still in the offsets log and the sources \
             still holding what they read); give {STATE_EVOLUTION} = 'reset' to start them \
             with empty state at the committed offsets (their results then lack the rows read \
             before: open windows and running totals restart); or start the new query on a \
             new checkpoint location (it reads its sources from their starting offsets \
             again). `tributary plan JOB --checkpoint DIR` prints this report without \
             starting the query.",
            if changed.len() == 1 {
                format!("operator {}", changed.iter().next().unwrap_or(&0))
            } else {
                format!("operators {changed:?}")
            }
        ))),
    }
}

/// Start the operators in `fresh` over, empty, at the committed epoch (so that a restore
/// reads nothing of the state the old query wrote).
pub(crate) async fn start_empty(
    operators: &[Box<dyn StatefulOperator>],
    fresh: &BTreeSet<usize>,
    committed: Option<Epoch>,
) -> Result<()> {
    let Some(c) = committed else {
        return Ok(());
    };
    for op in operators.iter().filter(|op| fresh.contains(&op.split().id)) {
        for s in op.stores() {
            s.start_empty_at(c).await?;
        }
    }
    Ok(())
}

/// Record `shape` with the state columns of the opened operators.
pub(crate) async fn record(
    store: &CheckpointStore,
    mut shape: QueryShape,
    operators: &[Box<dyn StatefulOperator>],
) -> Result<()> {
    for op in operators {
        let Some(s) = shape.operators.iter_mut().find(|s| s.id == op.split().id) else {
            continue;
        };
        let stores = op.stores();
        // A join alternates its two sides' stores; every other operator has one kind.
        let kinds = if matches!(op.split().node, LogicalPlan::Join(_)) {
            2
        } else {
            1
        };
        let by = op.partition_columns();
        s.state = stores
            .iter()
            .take(kinds)
            .enumerate()
            .map(|(i, st)| {
                StoreShape::of(
                    &st.files().schema,
                    st.key_len(),
                    by.get(i).cloned().flatten(),
                )
            })
            .collect();
    }
    store.write_shape(&shape).await
}
