//! State of stateful operators: a versioned, keyed store of Arrow rows per operator partition,
//! kept in the checkpoint under `state/<operator>/<partition>/`.
//!
//! ```text
//!  epoch e:  operator computes the change   ──► store.persist(e, change)   <e>.delta (+ <e>.snapshot when due)
//!            sink commits, commits/<e> written ──► store.commit(e, change)  (in memory)
//!  restart:  store.restore(last committed)  = latest snapshot <= e, then the deltas after it
//! ```
//!
//! Every operator (aggregation, deduplication, joins, Top-N, user state) keeps its state in a
//! [`KeyedStore`], which indexes rows by key so that an epoch costs the keys it touches, with
//! the rows beyond the memory budget on local disk. The tests hold it against a store that
//! keeps a partition as one batch (`MemoryStateStore`); both write the same files ([`files`]).
//! A re-run epoch writes the same files again (the operator is deterministic for the same
//! input and watermark), so a crash between `persist` and the commit log is harmless.

mod files;
mod group_state;
mod hash;
mod key;
mod keyed_store;
mod keys;
mod live;
#[cfg(test)]
mod memory_store;
mod merge;
mod reader;
pub(crate) mod repartition;
mod spill;
mod store;

pub use group_state::{GroupState, GroupStateTimeout, RawGroupState};
pub use hash::PartitionHash;
pub(crate) use keyed_store::{CloseTime, GroupBy, KeyedStore};
pub(crate) use keys::{KeyRows, KeySet};
pub(crate) use live::LiveChange;
pub use live::{LiveState, LIVE_STATE_CONF};
#[cfg(test)]
pub(crate) use memory_store::MemoryStateStore;
pub(crate) use merge::merge_changes;
pub use reader::{JoinSide, OperatorSummary, StateReader};
pub use repartition::{repartition, Repartitioned};
pub(crate) use store::{KnownKeys, StateChange, StateSize, StateStore};
