//! A streaming query's handle for Python (what `StreamingQuery` wraps).

use std::time::Duration;

use pyo3::prelude::*;
use tributary::StreamingQuery;

use crate::runtime::block;

/// A running (or finished) streaming query.
#[pyclass(name = "StreamingQuery", module = "tributary._native", frozen)]
pub(crate) struct PyStreamingQuery {
    inner: StreamingQuery,
}

impl PyStreamingQuery {
    pub(crate) fn new(inner: StreamingQuery) -> Self {
        PyStreamingQuery { inner }
    }
}

#[pymethods]
impl PyStreamingQuery {
    /// The id kept in the checkpoint across restarts.
    fn id(&self) -> String {
        self.inner.id().to_string()
    }

    /// The id of this run.
    fn run_id(&self) -> String {
        self.inner.run_id().to_string()
    }

    /// The query name, if any.
    fn name(&self) -> Option<String> {
        self.inner.name().map(str::to_string)
    }

    /// Whether the query runs.
    fn is_active(&self) -> bool {
        self.inner.is_active()
    }

    /// `(message, isDataAvailable, isTriggerActive)`.
    fn status(&self) -> (String, bool, bool) {
        let s = self.inner.status();
        (s.message, s.is_data_available, s.is_trigger_active)
    }

    /// The last epoch's progress as JSON (Spark's field names), if an epoch ran.
    fn last_progress(&self) -> Option<String> {
        self.inner.last_progress().map(|p| p.json())
    }

    /// The recent epochs' progress, oldest first, as JSON.
    fn recent_progress(&self) -> Vec<String> {
        self.inner
            .recent_progress()
            .iter()
            .map(|p| p.json())
            .collect()
    }

    /// The error that stopped the query, if any.
    fn exception(&self) -> Option<String> {
        self.inner.exception()
    }

    /// Wait until the query stops (its error is raised); with `timeout` seconds, whether it did.
    #[pyo3(signature = (timeout=None))]
    fn await_termination(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Option<bool>> {
        let q = self.inner.clone();
        block(py, async move {
            match timeout {
                None => q.await_termination().await.map(|()| None),
                Some(t) => q
                    .await_termination_timeout(Duration::from_secs_f64(t.max(0.0)))
                    .await
                    .map(Some),
            }
        })
    }

    /// Wait until the data the sources have now is processed and committed.
    fn process_all_available(&self, py: Python<'_>) -> PyResult<()> {
        let q = self.inner.clone();
        block(py, async move { q.process_all_available().await })
    }

    /// Stop after the current epoch and wait until stopped.
    fn stop(&self, py: Python<'_>) -> PyResult<()> {
        let q = self.inner.clone();
        block(py, async move { q.stop().await })
    }

    /// The plan the query runs, as text.
    fn explain(&self) -> String {
        self.inner.plan_description()
    }
}
