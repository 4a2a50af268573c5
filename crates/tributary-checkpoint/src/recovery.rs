//! The restart decision.

use crate::error::ProtocolError;
use crate::paths::CheckpointPaths;
use crate::types::{Epoch, QueryIdentity, QueryMetadata};

/// What the storage code observed in a checkpoint location.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listing {
    /// The parsed `metadata` file, if there is one.
    pub metadata: Option<QueryMetadata>,
    /// The epochs that have an `offsets/<epoch>` file.
    pub offsets: Vec<Epoch>,
    /// The epochs that have a `commits/<epoch>` file.
    pub commits: Vec<Epoch>,
}

/// What to do when a query starts on a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recovery {
    /// An empty location: write `metadata` with a new id and start at epoch 0.
    Fresh,
    /// Every planned epoch is committed: plan `next` from the end offsets of `last_committed`.
    Resume {
        /// The query id kept in the checkpoint.
        id: String,
        /// The next epoch to plan.
        next: Epoch,
        /// The last committed epoch, whose end offsets are the next start.
        last_committed: Option<Epoch>,
    },
    /// An epoch was planned (its offsets are written) but not committed: run it again with
    /// exactly the same offsets; the sink's idempotence drops what it already committed.
    Rerun {
        /// The query id kept in the checkpoint.
        id: String,
        /// The epoch to run again.
        epoch: Epoch,
        /// The last committed epoch before it.
        last_committed: Option<Epoch>,
    },
}

/// Decide how a query described by `expected` starts on a checkpoint with `listing`.
pub fn recover(expected: &QueryIdentity, listing: &Listing) -> Result<Recovery, ProtocolError> {
    let last_offset = listing.offsets.iter().max().copied();
    let last_commit = listing.commits.iter().max().copied();
    let Some(meta) = &listing.metadata else {
        if last_offset.is_some() || last_commit.is_some() {
            return Err(ProtocolError::Inconsistent {
                reason: format!(
                    "offsets or commits exist but there is no '{}' file",
                    CheckpointPaths::metadata()
                ),
            });
        }
        return Ok(Recovery::Fresh);
    };
    if meta.identity.sources != expected.sources || meta.identity.sink != expected.sink {
        return Err(ProtocolError::OtherQuery {
            found: format!("{} (id {})", meta.identity, meta.id),
            expected: expected.to_string(),
        });
    }
    if let Some(c) = listing
        .commits
        .iter()
        .find(|c| !listing.offsets.contains(c))
    {
        if last_offset.is_none_or(|o| *c > o) {
            return Err(ProtocolError::Inconsistent {
                reason: format!(
                    "'{}' exists without '{}'",
                    CheckpointPaths::commits(*c),
                    CheckpointPaths::offsets(*c)
                ),
            });
        }
    }
    let id = meta.id.clone();
    match (last_offset, last_commit) {
        (None, _) => Ok(Recovery::Resume {
            id,
            next: Epoch(0),
            last_committed: None,
        }),
        (Some(o), Some(c)) if c == o => Ok(Recovery::Resume {
            id,
            next: o.next(),
            last_committed: Some(c),
        }),
        (Some(o), Some(c)) if c.next() == o => Ok(Recovery::Rerun {
            id,
            epoch: o,
            last_committed: Some(c),
        }),
        (Some(o), None) if o == Epoch(0) || !listing.offsets.contains(&Epoch(0)) => {
            // Either the very first epoch was planned, or old commits were purged while the
            // offsets of the newest epoch stayed: both mean "run the newest again".
            let last_committed = (o.0 > 0).then(|| Epoch(o.0 - 1));
            Ok(Recovery::Rerun {
                id,
                epoch: o,
                last_committed,
            })
        }
        (Some(o), c) => Err(ProtocolError::Inconsistent {
            reason: format!(
                "'{}' is planned but the last commit is {}: more than one epoch is uncommitted",
                CheckpointPaths::offsets(o),
                c.map(CheckpointPaths::commits)
                    .unwrap_or_else(|| "missing".to_string())
            ),
        }),
    }
}

/// Which log files to delete so that the last `keep` committed epochs remain (Spark:
/// `minBatchesToRetain`). Files of uncommitted epochs are never deleted.
pub fn retention(listing: &Listing, keep: usize) -> Vec<String> {
    let keep = keep.max(1) as u64;
    let Some(last_commit) = listing.commits.iter().max().copied() else {
        return Vec::new();
    };
    let Some(first_kept) = (last_commit.0 + 1).checked_sub(keep) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in listing.offsets.iter().filter(|e| e.0 < first_kept) {
        out.push(CheckpointPaths::offsets(*e));
    }
    for e in listing.commits.iter().filter(|e| e.0 < first_kept) {
        out.push(CheckpointPaths::commits(*e));
    }
    out
}
