//! State of stateful operators: a versioned, keyed store of Arrow rows per operator partition,
//! kept in the checkpoint under `state/<operator>/<partition>/`.
//!
//! ```text
//!  epoch e:  operator computes the new rows ──► store.persist(e, change)   <e>.delta (+ <e>.snapshot every N)
//!            sink commits, commits/<e> written ──► store.commit(e, change)  (in memory)
//!  restart:  store.restore(last committed)  = latest snapshot <= e, then the deltas after it
//! ```
//!
//! A re-run epoch writes the same files again (the operator is deterministic for the same
//! input and watermark), so a crash between `persist` and the commit log is harmless.

mod group_state;
mod keys;
mod store;

pub use group_state::{GroupState, GroupStateTimeout, RawGroupState};
pub(crate) use keys::{partition_of, KeyRows};
pub(crate) use store::{MemoryStateStore, StateChange, StateStore};
