//! Execution: the epoch driver, the checkpoint's storage side, and batch-versus-stream checks.

pub(crate) mod checkpoint_io;
pub(crate) mod driver;
pub mod verify;
