//! The checkpoint protocol of Tributary: what a streaming query writes, in which order, and what
//! it does on restart. Everything here is plain types and pure decision functions; no I/O.
//!
//! ```text
//!   <checkpoint>/
//!     metadata              query identity (id, name, sources, sink)   written once, never rewritten
//!     offsets/<epoch>       the epoch's end offsets + watermark          written BEFORE the epoch runs
//!     sources/<i>/<epoch>   per-source data (e.g. the files an epoch took)  written before offsets
//!     commits/<epoch>       the epoch is done                            written AFTER the sink committed
//!     state/<op>/<part>/    state store files (stateful operators)
//! ```
//!
//! The storage code (in the `tributary` crate) lists the checkpoint, parses what it finds with
//! the codecs of [`codec`], hands the observed facts to [`recover`], and executes the returned
//! [`Recovery`]. Because the decision is a pure function, every crash point is testable with
//! property tests (see `tests/`).
#![warn(missing_docs)]

pub mod codec;
mod error;
#[doc(hidden)]
pub mod fuzzing;
mod lease;
mod paths;
mod recovery;
mod sink_check;
mod types;

pub use error::ProtocolError;
pub use lease::{decide_lease, Lease, LeaseDecision, LEASE_FILE};
pub use paths::CheckpointPaths;
pub use recovery::{recover, retention, Listing, Recovery};
pub use sink_check::{compare_sink, SinkAgreement};
pub use types::{
    ArrivalRecord, CommitRecord, Epoch, OffsetRecord, QueryIdentity, QueryMetadata, SourceOffset,
};
