//! Query events to a Python listener (`spark.streams.addListener`).
//!
//! The engine calls listeners on its own threads; each call takes the GIL and calls a method of
//! the Python adapter (`tributary/sql/streaming.py`), which builds PySpark's event objects and
//! calls the user's `StreamingQueryListener`. An exception in a listener is reported on stderr
//! and does not stop the query (as in Spark).

use std::sync::Arc;

use pyo3::prelude::*;
use tributary::{
    QueryIdleEvent, QueryProgressEvent, QueryStartedEvent, QueryTerminatedEvent,
    StreamingQueryListener,
};

/// A registered listener (keep it to remove it later).
#[pyclass(name = "Listener", module = "tributary._native", frozen)]
pub(crate) struct PyListener {
    engine: Arc<dyn StreamingQueryListener>,
}

impl PyListener {
    pub(crate) fn new(adapter: Py<PyAny>) -> Self {
        PyListener {
            engine: Arc::new(Adapter(adapter)),
        }
    }

    pub(crate) fn engine(&self) -> Arc<dyn StreamingQueryListener> {
        self.engine.clone()
    }
}

struct Adapter(Py<PyAny>);

impl Adapter {
    fn call<A>(&self, method: &str, args: A)
    where
        A: for<'py> pyo3::call::PyCallArgs<'py>,
    {
        Python::attach(|py| {
            if let Err(e) = self.0.call_method1(py, method, args) {
                eprintln!(
                    "tributary: a StreamingQueryListener raised an error (the query goes on):\n{}",
                    crate::errors::traceback_of(py, &e)
                );
            }
        });
    }
}

impl StreamingQueryListener for Adapter {
    fn on_query_started(&self, e: &QueryStartedEvent) {
        self.call(
            "_started",
            (
                e.id.clone(),
                e.run_id.clone(),
                e.name.clone(),
                e.timestamp.clone(),
            ),
        );
    }

    fn on_query_progress(&self, e: &QueryProgressEvent) {
        self.call("_progress", (e.progress.json(),));
    }

    fn on_query_idle(&self, e: &QueryIdleEvent) {
        self.call(
            "_idle",
            (e.id.clone(), e.run_id.clone(), e.timestamp.clone()),
        );
    }

    fn on_query_terminated(&self, e: &QueryTerminatedEvent) {
        self.call(
            "_terminated",
            (e.id.clone(), e.run_id.clone(), e.exception.clone()),
        );
    }
}
