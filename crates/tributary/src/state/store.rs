//! The state store trait, and what an epoch changes in a store.

use arrow::array::{BooleanArray, RecordBatch};
use async_trait::async_trait;
use tributary_checkpoint::Epoch;

use super::files::StateFiles;
use crate::error::Result;

/// What an epoch changed in one partition.
#[derive(Debug, Clone)]
pub(crate) struct StateChange {
    /// Rows added or replaced (whole rows), each key once: a snapshot writes them as they
    /// are, and a restore takes a snapshot's keys as distinct.
    pub upserts: RecordBatch,
    /// Keys removed (rows of the state schema; only the key columns matter). Applied before
    /// the upserts, so a key in both is replaced.
    pub removed: RecordBatch,
    /// What the operator already looked up about these keys, so the store does not look
    /// them up again (on disk, each lookup is a read).
    pub known: Option<KnownKeys>,
    /// Set when every stored row closed at this watermark is among `removed` (the operator
    /// evicted all of them): the store then drops its time index up to it in one cut, not
    /// row by row.
    pub evicted_through: Option<i64>,
}

impl StateChange {
    /// A change whose keys the store looks up itself.
    pub(crate) fn new(upserts: RecordBatch, removed: RecordBatch) -> Self {
        StateChange {
            upserts,
            removed,
            known: None,
            evicted_through: None,
        }
    }

    /// A change whose keys the operator has looked up: see [`KnownKeys`] for what it promises.
    pub(crate) fn known(upserts: RecordBatch, removed: RecordBatch, known: KnownKeys) -> Self {
        debug_assert_eq!(known.new.len(), upserts.num_rows());
        debug_assert_eq!(known.stored.len(), removed.num_rows());
        StateChange {
            upserts,
            removed,
            known: Some(known),
            evicted_through: None,
        }
    }

    /// The promise of [`Self::evicted_through`]: `removed` holds every stored row closed at
    /// watermark `wm` (when there is one).
    pub(crate) fn evicting_through(mut self, wm: Option<i64>) -> Self {
        self.evicted_through = wm;
        self
    }
}

/// Which keys of a change are stored before it. The operator that builds it promises that the
/// upserted keys are distinct, the removed keys are distinct, and no key is both upserted and
/// removed. Stores check the promise in debug builds.
#[derive(Debug, Clone)]
pub(crate) struct KnownKeys {
    /// Per upserted row: its key is not stored (the row is added, not replaced).
    pub new: BooleanArray,
    /// Per removed row: its key is stored (false: a row added and dropped within the epoch).
    pub stored: BooleanArray,
}

impl KnownKeys {
    /// Every upsert is a new key, every removed key is stored.
    pub(crate) fn fresh(upserts: usize, removed: usize) -> Self {
        KnownKeys {
            new: BooleanArray::from(vec![true; upserts]),
            stored: BooleanArray::from(vec![true; removed]),
        }
    }
}

/// The size of a partition's state after an epoch, for progress.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct StateSize {
    pub rows: usize,
    /// Memory held.
    pub bytes: usize,
    /// Rows kept on local disk (beyond the memory budget).
    pub on_disk: usize,
}

impl std::ops::Add for StateSize {
    type Output = StateSize;
    fn add(self, o: StateSize) -> StateSize {
        StateSize {
            rows: self.rows + o.rows,
            bytes: self.bytes + o.bytes,
            on_disk: self.on_disk + o.on_disk,
        }
    }
}

/// A versioned, keyed store of Arrow rows: one per operator partition. Keys are the first
/// `key_len` columns. Every implementation writes the same files ([`StateFiles`]), so a
/// checkpoint written by one restores into any other.
#[async_trait]
pub(crate) trait StateStore: Send + Sync {
    /// Load the state as of the end of `epoch` (`None`: empty).
    async fn restore(&mut self, epoch: Option<Epoch>) -> Result<()>;
    /// Write the epoch's change durably, before the sink commits. Idempotent.
    async fn persist(&self, epoch: Epoch, change: &StateChange) -> Result<()>;
    /// Make the change the current state, once the epoch is committed. An error leaves the
    /// store unusable: the query stops, and restores from the checkpoint when started again.
    fn commit(&mut self, epoch: Epoch, change: StateChange) -> Result<()>;
    /// How many leading columns are the key.
    fn key_len(&self) -> usize;
    /// The store's files in the checkpoint.
    fn files(&self) -> &StateFiles;
    /// Every row of the current state.
    fn rows(&self) -> Result<RecordBatch>;
    /// Write the current state as the snapshot of `epoch`: a state rebuilt for a changed
    /// query takes the place of what the old query wrote (a restore to `epoch` or later reads
    /// it, and nothing before it).
    async fn snapshot_at(&self, epoch: Epoch) -> Result<()> {
        let rows = self.rows()?;
        self.files()
            .write_snapshot(epoch, std::iter::once(Ok(rows)))
            .await
    }
    /// Start the state over at `epoch`, empty: a snapshot of no rows there, so a restore to
    /// `epoch` or later reads nothing written before it (a query change that resets an
    /// operator's state).
    async fn start_empty_at(&self, epoch: Epoch) -> Result<()> {
        self.files().write_snapshot(epoch, std::iter::empty()).await
    }
}
