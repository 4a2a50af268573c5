//! Execution: the epoch driver, the stateful operators, the watermark, the checkpoint's
//! storage side, and batch-versus-stream checks.

pub(crate) mod aggregate;
pub(crate) mod checkpoint_io;
pub(crate) mod dedup;
pub(crate) mod driver;
pub(crate) mod evolution;
pub(crate) mod flat_keys;
pub(crate) mod join;
pub(crate) mod late;
pub(crate) mod lease;
pub(crate) mod live_view;
pub(crate) mod map_groups;
pub(crate) mod operator_inputs;
pub(crate) mod panes;
pub(crate) mod retry;
pub(crate) mod stateful;
pub(crate) mod topn;
pub(crate) mod trigger;
pub(crate) mod verify;
pub(crate) mod watermark;
