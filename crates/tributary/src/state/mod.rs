//! State of stateful operators: a versioned, keyed store of Arrow rows per operator partition,
//! kept in the checkpoint under `state/<operator>/<partition>/`.
//!
//! ```text
//!  epoch e:  operator computes the change   ──► store.persist(e, change)   <e>.delta (+ <e>.snapshot when due)
//!            sink commits, commits/<e> written ──► store.commit(e, change)  (in memory)
//!  restart:  store.restore(last committed)  = latest snapshot <= e, then the deltas after it
//! ```
//!
//! Two stores write the same files ([`files`]): [`KeyedStore`] indexes rows by key so an epoch
//! costs the keys it touches (aggregation, deduplication); [`MemoryStateStore`] keeps a
//! partition as one batch for operators that scan their state whole (joins, Top-N, user state).
//! A re-run epoch writes the same files again (the operator is deterministic for the same
//! input and watermark), so a crash between `persist` and the commit log is harmless.

mod files;
mod group_state;
mod key;
mod keyed_store;
mod keys;
mod spill;
mod store;

pub use group_state::{GroupState, GroupStateTimeout, RawGroupState};
pub(crate) use keyed_store::{CloseTime, GroupBy, KeyedStore};
pub(crate) use keys::{partition_of, KeyRows, KeySet};
pub(crate) use store::{MemoryStateStore, StateChange, StateSize, StateStore};
