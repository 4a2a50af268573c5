//! Whether an idempotent sink's own record of this query's epochs agrees with the checkpoint.
//!
//! A sink such as Delta keeps the last epoch it committed for a query (Delta's `txn` action).
//! At start it must be the checkpoint's last committed epoch, or the epoch about to be run
//! again. Anything else means the two were separated: a checkpoint restored from an older copy
//! (the sink is ahead: running on would skip epochs as "already written" and lose their rows),
//! or an output deleted, replaced or rolled back (the sink is behind: the rows of the epochs
//! it lost would never be written again).

use crate::types::Epoch;

/// How a sink's last epoch compares with the checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SinkAgreement {
    /// The sink holds exactly what the checkpoint says (or one epoch more, about to be re-run).
    Agrees,
    /// The sink holds epochs the checkpoint has not committed or planned.
    Ahead {
        /// The sink's last epoch.
        sink: u64,
        /// The checkpoint's last committed epoch.
        checkpoint: Option<Epoch>,
    },
    /// The sink lacks epochs the checkpoint committed.
    Behind {
        /// The sink's last epoch, if it has any.
        sink: Option<u64>,
        /// The checkpoint's last committed epoch.
        checkpoint: Epoch,
    },
}

/// Compare the sink's last epoch with the checkpoint's last committed epoch and the epoch
/// planned but not committed (which the sink may already hold).
pub fn compare_sink(
    sink: Option<u64>,
    committed: Option<Epoch>,
    rerun: Option<Epoch>,
) -> SinkAgreement {
    let may_hold = rerun.or(committed);
    match (sink, committed) {
        (Some(s), _) if may_hold.is_none_or(|m| s > m.0) => SinkAgreement::Ahead {
            sink: s,
            checkpoint: committed,
        },
        (s, Some(c)) if s.is_none_or(|s| s < c.0) => SinkAgreement::Behind {
            sink: s,
            checkpoint: c,
        },
        _ => SinkAgreement::Agrees,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sink_may_hold_the_committed_epoch_or_the_one_being_run_again() {
        assert_eq!(compare_sink(None, None, None), SinkAgreement::Agrees);
        assert_eq!(
            compare_sink(Some(4), Some(Epoch(4)), None),
            SinkAgreement::Agrees
        );
        assert_eq!(
            compare_sink(Some(4), Some(Epoch(3)), Some(Epoch(4))),
            SinkAgreement::Agrees
        );
        assert_eq!(
            compare_sink(Some(3), Some(Epoch(3)), Some(Epoch(4))),
            SinkAgreement::Agrees
        );
        assert_eq!(
            compare_sink(Some(0), None, Some(Epoch(0))),
            SinkAgreement::Agrees
        );
    }

    #[test]
    fn an_older_checkpoint_or_a_lost_output_is_found() {
        assert_eq!(
            compare_sink(Some(7), Some(Epoch(4)), None),
            SinkAgreement::Ahead {
                sink: 7,
                checkpoint: Some(Epoch(4))
            }
        );
        assert_eq!(
            compare_sink(Some(6), Some(Epoch(4)), Some(Epoch(5))),
            SinkAgreement::Ahead {
                sink: 6,
                checkpoint: Some(Epoch(4))
            }
        );
        assert_eq!(
            compare_sink(Some(0), None, None),
            SinkAgreement::Ahead {
                sink: 0,
                checkpoint: None
            }
        );
        assert_eq!(
            compare_sink(None, Some(Epoch(2)), None),
            SinkAgreement::Behind {
                sink: None,
                checkpoint: Epoch(2)
            }
        );
        assert_eq!(
            compare_sink(Some(1), Some(Epoch(2)), Some(Epoch(3))),
            SinkAgreement::Behind {
                sink: Some(1),
                checkpoint: Epoch(2)
            }
        );
    }
}
