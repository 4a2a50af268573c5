//! Where a query starts from: its checkpoint read (a fresh start, a resume after the last
//! commit, or a re-run of the epoch planned before a crash) and the layout of its state, fixed
//! at the first start and kept in the checkpoint's metadata.
//!
//! ```text
//!  metadata (conf) ─► StateLayout::from_conf ─► partitions, join partitions, pruned columns,
//!                                                join keys, partition hash, pane states
//!  offsets/<e>, commits/<e> ─► Recovery (tributary-checkpoint) ─► Recovered
//!  a fresh start writes StateLayout::new_checkpoint(..).conf() into the metadata
//! ```
//! Each layout choice came after checkpoints were written without it; such a checkpoint lacks
//! the key and keeps the layout it was written with.

use std::collections::BTreeMap;

use datafusion::logical_expr::LogicalPlan;
use tributary_checkpoint::{Epoch, OffsetRecord, QueryIdentity, QueryMetadata, Recovery};

use super::{CheckpointStore, QuerySpec};
use crate::error::{Result, TributaryError};
use crate::state::PartitionHash;

/// Default number of state partitions (fixed in the checkpoint at the first start).
const DEFAULT_STATE_PARTITIONS: usize = 4;
/// Key of the state partition count in the checkpoint's metadata.
const CONF_STATE_PARTITIONS: &str = "state.partitions";
/// Key of the state partition count of stream-stream joins in the checkpoint's metadata. A
/// checkpoint written before joins were partitioned lacks it: its joins keep one partition.
const CONF_JOIN_PARTITIONS: &str = "state.join.partitions";
/// Key, in the checkpoint's metadata, saying that the state holds only the columns the query
/// reads ([`prune_columns`]). A checkpoint written before lacks it: its state keeps every
/// column of the operators' inputs, as it was written.
const CONF_PRUNED_COLUMNS: &str = "state.pruned_columns";
/// Key, in the checkpoint's metadata, saying that the equalities of a stream-stream join's
/// condition are its join keys ([`extract_join_keys`]): each side's state is grouped and
/// partitioned by them, and an epoch reads only the stored rows that share a key with the
/// other side's new rows. A checkpoint written before lacks it: its joins keep the state as it
/// was written (one group, the whole state read each epoch).
const CONF_JOIN_KEYS: &str = "state.join.equi_keys";
/// Key, in the checkpoint's metadata, naming how state keys are assigned to partitions
/// ([`crate::state::PartitionHash`]); a checkpoint written before lacks it (Arrow's row format).
const CONF_PARTITION_HASH: &str = "state.partition_hash";
/// Key, in the checkpoint's metadata, saying that an aggregation by a sliding window may keep
/// a state row per pane ([`crate::exec::panes::Panes::keeps_pane_states`]). A checkpoint written
/// before lacks it: its aggregations keep a row per window, as they were written.
const CONF_PANE_STATES: &str = "state.aggregate.pane_states";

/// How a checkpoint's state is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct StateLayout {
    /// State partitions of each operator.
    pub partitions: usize,
    /// The state partitions of each side of a stream-stream join.
    pub join_partitions: usize,
    /// Whether the state holds only the columns the query reads.
    pub pruned_columns: bool,
    /// Whether stream-stream joins are keyed by the equalities of their condition.
    pub join_keys: bool,
    /// How keys are assigned to state partitions.
    pub partition_hash: PartitionHash,
    /// Whether a sliding window's aggregation may keep its state by pane.
    pub pane_states: bool,
}

impl StateLayout {
    /// The layout of a checkpoint started now, with `partitions` state partitions.
    pub(super) fn new_checkpoint(partitions: usize) -> Self {
        StateLayout {
            partitions,
            join_partitions: partitions,
            pruned_columns: true,
            join_keys: true,
            partition_hash: PartitionHash::Values,
            pane_states: true,
        }
    }

    /// The layout as the checkpoint's metadata keeps it.
    pub(super) fn conf(&self) -> BTreeMap<String, String> {
        [
            (CONF_STATE_PARTITIONS, self.partitions.to_string()),
            (CONF_JOIN_PARTITIONS, self.join_partitions.to_string()),
            (CONF_PRUNED_COLUMNS, self.pruned_columns.to_string()),
            (CONF_JOIN_KEYS, self.join_keys.to_string()),
            (CONF_PARTITION_HASH, self.partition_hash.name().to_string()),
            (CONF_PANE_STATES, self.pane_states.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    /// The layout a checkpoint's metadata names; a key it lacks means the layout from before
    /// that choice existed.
    pub(super) fn from_conf(conf: &BTreeMap<String, String>) -> Self {
        let yes = |k: &str| conf.get(k).is_some_and(|v| v == "true");
        StateLayout {
            partitions: conf
                .get(CONF_STATE_PARTITIONS)
                .and_then(|v| v.parse().ok())
                .unwrap_or(DEFAULT_STATE_PARTITIONS),
            join_partitions: conf
                .get(CONF_JOIN_PARTITIONS)
                .and_then(|v| v.parse().ok())
                .unwrap_or(1),
            pruned_columns: yes(CONF_PRUNED_COLUMNS),
            join_keys: yes(CONF_JOIN_KEYS),
            partition_hash: PartitionHash::from_conf(
                conf.get(CONF_PARTITION_HASH).map(String::as_str),
            ),
            pane_states: yes(CONF_PANE_STATES),
        }
    }
}

/// Where a query starts from, read from its checkpoint.
pub(super) struct Recovered {
    pub id: String,
    pub next: Epoch,
    /// The epoch planned before a restart and not committed: run again with the same offsets.
    pub rerun: Option<OffsetRecord>,
    pub last_committed: Option<OffsetRecord>,
    pub committed_epoch: Option<Epoch>,
    pub layout: StateLayout,
    pub start_watermark: Option<i64>,
    /// Each watermark node's own watermark after the last committed epoch, when kept.
    pub input_watermarks: Option<Vec<Option<i64>>>,
    /// Whose each of them is (newer checkpoints).
    pub input_watermark_nodes: Option<Vec<String>>,
}

/// The first epoch a run computes: the one after the last commit.
pub(super) fn first_epoch(rec: &Recovered) -> Epoch {
    rec.committed_epoch.map_or(Epoch(0), |c| c.next())
}

/// Read the checkpoint: a fresh start (metadata written when `write`), a resume after the last
/// commit, or a re-run of the epoch planned before a crash.
pub(super) async fn recover(
    store: &CheckpointStore,
    identity: &QueryIdentity,
    spec: &QuerySpec,
    write: bool,
) -> Result<Recovered> {
    let requested = spec
        .options
        .int("state_partitions")
        .map_or(DEFAULT_STATE_PARTITIONS, |n| n as usize);
    let (id, next, rerun, committed_epoch, last_committed) = match store.recover(identity).await? {
        Recovery::Fresh => {
            let id = uuid::Uuid::new_v4().to_string();
            if write {
                store
                    .write_metadata(&QueryMetadata {
                        id: id.clone(),
                        identity: identity.clone(),
                        conf: StateLayout::new_checkpoint(requested).conf(),
                    })
                    .await?;
            }
            (id, Epoch(0), None, None, None)
        }
        Recovery::Resume {
            id,
            next,
            last_committed,
        } => {
            let offsets = match last_committed {
                Some(e) => Some(store.read_offsets(e).await?),
                None => None,
            };
            (id, next, None, last_committed, offsets)
        }
        Recovery::Rerun {
            id,
            epoch,
            last_committed,
        } => (
            id,
            epoch.next(),
            Some(store.read_offsets(epoch).await?),
            last_committed,
            None,
        ),
    };
    // The layout is fixed at the first start: what the metadata names.
    let layout = match store.listing().await?.metadata {
        Some(m) => StateLayout::from_conf(&m.conf),
        None => StateLayout::new_checkpoint(requested),
    };
    // The watermark to continue from: the re-run epoch's, or the one after the last commit;
    // each input's own, as the last commit left them.
    let last_commit = match committed_epoch {
        Some(e) => store.read_commit(e).await?,
        None => None,
    };
    let start_watermark = match (&rerun, &last_commit) {
        (Some(r), _) => r.watermark_ms,
        (None, Some(c)) => c.next_watermark_ms,
        (None, None) => None,
    };
    let (input_watermarks, input_watermark_nodes) = match last_commit {
        Some(c) => (c.input_watermarks_ms, c.input_watermark_nodes),
        None => (None, None),
    };
    Ok(Recovered {
        id,
        next,
        rerun,
        last_committed,
        committed_epoch,
        layout,
        start_watermark,
        input_watermarks,
        input_watermark_nodes,
    })
}

/// The plan as the checkpoint's state is laid out: join keys from the conditions' equalities
/// and only the columns the query reads, unless the checkpoint was written before either.
pub(super) fn laid_out(plan: LogicalPlan, rec: &Recovered) -> Result<LogicalPlan> {
    let plan = if rec.layout.join_keys {
        extract_join_keys(plan)?
    } else {
        plan
    };
    if rec.layout.pruned_columns {
        prune_columns(plan)
    } else {
        Ok(plan)
    }
}

/// Make the equalities between the two sides of each join's condition its keys (`ON a.k = b.k
/// AND a.t > b.t`, as SQL writes it, arrives as a filter alone; DataFusion's optimizer moves
/// the equalities out the same way for a batch). A stream-stream join then keeps each side's
/// rows grouped by key and reads only the groups the other side's new rows name.
fn extract_join_keys(plan: LogicalPlan) -> Result<LogicalPlan> {
    use datafusion::common::tree_node::TreeNode;
    use datafusion::optimizer::extract_equijoin_predicate::ExtractEquijoinPredicate;
    use datafusion::optimizer::{OptimizerContext, OptimizerRule};
    let rule = ExtractEquijoinPredicate::new();
    let config = OptimizerContext::new();
    plan.transform_up(|node| match node {
        LogicalPlan::Join(_) => rule.rewrite(node, &config),
        other => Ok(datafusion::common::tree_node::Transformed::no(other)),
    })
    .map(|t| t.data)
    .map_err(TributaryError::df("finding the join keys"))
}

/// Drop the columns no part of the query reads, below its stateful operators too: a join
/// side, a Top-N or user state then keeps only what the query uses (Spark and Flink prune
/// before state the same way). The plan's output is unchanged.
fn prune_columns(plan: LogicalPlan) -> Result<LogicalPlan> {
    use datafusion::optimizer::optimize_projections::OptimizeProjections;
    use datafusion::optimizer::{OptimizerContext, OptimizerRule};
    OptimizeProjections::new()
        .rewrite(plan, &OptimizerContext::new())
        .map(|t| t.data)
        .map_err(TributaryError::df("pruning the query's columns"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_checkpoint_restarts_with_the_layout_it_was_written_with() {
        for n in [1, 4, 16] {
            let layout = StateLayout::new_checkpoint(n);
            assert_eq!(StateLayout::from_conf(&layout.conf()), layout);
        }
        // Keys by value, not by Arrow's row format (which may change between versions).
        assert_eq!(
            StateLayout::from_conf(&StateLayout::new_checkpoint(4).conf()).partition_hash,
            PartitionHash::Values
        );
    }

    #[test]
    fn a_checkpoint_written_before_a_choice_keeps_the_layout_from_before_it() {
        let conf = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>()
        };
        // The first checkpoints: partitions only.
        assert_eq!(
            StateLayout::from_conf(&conf(&[("state.partitions", "8")])),
            StateLayout {
                partitions: 8,
                join_partitions: 1,
                pruned_columns: false,
                join_keys: false,
                partition_hash: PartitionHash::RowFormat,
                pane_states: false,
            }
        );
        // Written before pane states and before the value hash was named (2026-12-05/06).
        let before = StateLayout::from_conf(&conf(&[
            ("state.partitions", "4"),
            ("state.join.partitions", "4"),
            ("state.pruned_columns", "true"),
            ("state.join.equi_keys", "true"),
        ]));
        assert_eq!(
            (
                before.pane_states,
                before.partition_hash,
                before.join_partitions
            ),
            (false, PartitionHash::RowFormat, 4)
        );
        assert!(before.pruned_columns && before.join_keys);
        // Nothing at all: the defaults of the oldest checkpoints.
        assert_eq!(
            StateLayout::from_conf(&BTreeMap::new()).partitions,
            DEFAULT_STATE_PARTITIONS
        );
    }
}
