//! `tributary._native`: the Rust engine inside the Python package `tributary`.
//!
//! ```text
//!  user code: from tributary.sql import SparkSession, functions as F
//!        │
//!  python/tributary/sql/*.py   PySpark's API: Column → SQL text, DataFrame ops → SQL over views
//!        │  (this crate)
//!  Session · DataFrame · StreamingQuery · Listener      calls block on one Tokio runtime with
//!        │                                              the GIL released
//!  tributary (the engine): readers, plans, streaming queries, sinks
//!        │
//!  Arrow batches back to Python through the Arrow PyCapsule interface (no copies)
//! ```

use pyo3::prelude::*;

mod arrow_io;
mod dataframe;
mod errors;
mod listener;
mod query;
mod runtime;
mod session;
mod udf;

/// The module object.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<session::PySession>()?;
    m.add_class::<dataframe::PyDataFrame>()?;
    m.add_class::<query::PyStreamingQuery>()?;
    m.add_class::<listener::PyListener>()?;
    m.add_class::<arrow_io::ArrowStream>()?;
    m.add_class::<arrow_io::ArrowSchema>()?;
    m.add_class::<arrow_io::ArrowArray>()?;
    errors::register(m)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
