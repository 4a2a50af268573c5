//! The engine's `Session` for Python: SQL, tables, readers, and the streams of the session.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use arrow::datatypes::Schema;
use arrow::ffi::FFI_ArrowSchema;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::PyCapsule;
use tributary::Session;

use crate::arrow_io::import_stream;
use crate::dataframe::PyDataFrame;
use crate::errors::to_py;
use crate::listener::PyListener;
use crate::query::PyStreamingQuery;
use crate::runtime::block;

/// A Tributary session (what `SparkSession` wraps).
#[pyclass(name = "Session", module = "tributary._native", frozen)]
pub(crate) struct PySession {
    pub(crate) inner: Session,
}

#[pymethods]
impl PySession {
    #[new]
    fn new() -> Self {
        // Spark resolves names case-insensitively; keeping the case as written (rather than
        // lower-casing unquoted names, as DataFusion does by default) lets `selectExpr("userId")`
        // find a column `userId`.
        let config = Session::spark_config()
            .set_bool("datafusion.sql_parser.enable_ident_normalization", false);
        PySession {
            inner: Session::with_config(config),
        }
    }

    /// Plan a SQL query.
    fn sql(&self, py: Python<'_>, query: &str) -> PyResult<PyDataFrame> {
        let s = self.inner.clone();
        let q = query.to_string();
        Ok(PyDataFrame::new(block(py, async move { s.sql(&q).await })?))
    }

    /// A registered table or view.
    fn table(&self, py: Python<'_>, name: &str) -> PyResult<PyDataFrame> {
        let s = self.inner.clone();
        let n = name.to_string();
        Ok(PyDataFrame::new(block(
            py,
            async move { s.table(&n).await },
        )?))
    }

    /// Register a DataFrame (batch or stream) as a view.
    fn register(&self, name: &str, df: &PyDataFrame) -> PyResult<()> {
        self.inner.register(name, df.df.clone()).map_err(to_py)
    }

    /// Remove a view; true if it was there.
    fn deregister(&self, name: &str) -> PyResult<bool> {
        self.inner
            .context()
            .deregister_table(name)
            .map(|t| t.is_some())
            .map_err(|e| crate::errors::AnalysisException::new_err(e.to_string()))
    }

    /// Set a session option (`checkpoint_root`, `memory_limit`, storage options, ...).
    fn set_conf(&self, key: &str, value: &str) -> PyResult<()> {
        let k = key.to_ascii_lowercase();
        if ["aws_", "azure_", "google_"]
            .iter()
            .any(|p| k.starts_with(p))
        {
            return self.inner.set_storage_option(key, value).map_err(to_py);
        }
        if k == "memory_limit" {
            let limit: tributary::memory::MemoryLimit = value.parse().map_err(to_py)?;
            self.inner.set_memory_limit(limit).map_err(to_py)?;
        }
        self.inner.set_conf(key, value);
        Ok(())
    }

    /// A session option.
    fn conf(&self, key: &str) -> Option<String> {
        self.inner.conf(key)
    }

    /// Read a batch (`stream=false`) or a stream from `format` at `path`.
    #[pyo3(signature = (format, path, options, schema=None, stream=false))]
    fn read(
        &self,
        py: Python<'_>,
        format: &str,
        path: Option<String>,
        options: HashMap<String, String>,
        schema: Option<Bound<'_, PyAny>>,
        stream: bool,
    ) -> PyResult<PyDataFrame> {
        let schema = schema.map(|s| import_schema(&s)).transpose()?;
        let s = self.inner.clone();
        let format = format.to_string();
        let df = block(py, async move {
            let path = path.unwrap_or_default();
            if stream {
                let mut r = s.read_stream().format(&format).options(options);
                if let Some(schema) = schema {
                    r = r.schema(schema);
                }
                r.load(&path).await
            } else {
                let mut r = s.read().format(&format).options(options);
                if let Some(schema) = schema {
                    r = r.schema(schema);
                }
                r.load(&path).await
            }
        })?;
        Ok(PyDataFrame::new(df))
    }

    /// A batch DataFrame over Arrow data (anything with `__arrow_c_stream__`).
    fn create_dataframe(&self, data: &Bound<'_, PyAny>) -> PyResult<PyDataFrame> {
        let (schema, batches) = import_stream(data)?;
        let table = datafusion::datasource::MemTable::try_new(schema, vec![batches])
            .map_err(|e| crate::errors::AnalysisException::new_err(e.to_string()))?;
        let df = self
            .inner
            .context()
            .read_table(Arc::new(table))
            .map_err(|e| crate::errors::AnalysisException::new_err(e.to_string()))?;
        Ok(PyDataFrame::new(df))
    }

    /// The active streaming queries.
    fn active(&self) -> Vec<PyStreamingQuery> {
        self.inner
            .streams()
            .active()
            .into_iter()
            .map(PyStreamingQuery::new)
            .collect()
    }

    /// The active query with this id.
    fn get(&self, id: &str) -> Option<PyStreamingQuery> {
        self.inner.streams().get(id).map(PyStreamingQuery::new)
    }

    /// Wait until any query of the session terminates (or `timeout` seconds pass: then false).
    #[pyo3(signature = (timeout=None))]
    fn await_any_termination(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<bool> {
        let s = self.inner.clone();
        block(py, async move {
            match timeout {
                None => s.streams().await_any_termination().await.map(|()| true),
                Some(t) => {
                    match tokio::time::timeout(
                        Duration::from_secs_f64(t.max(0.0)),
                        s.streams().await_any_termination(),
                    )
                    .await
                    {
                        Ok(r) => r.map(|()| true),
                        Err(_) => Ok(false),
                    }
                }
            }
        })
    }

    /// Forget the queries that terminated, so `await_any_termination` waits for a new one.
    fn reset_terminated(&self) {
        self.inner.streams().reset_terminated();
    }

    /// Call `adapter._started/_progress/_idle/_terminated` on the session's query events.
    fn add_listener(&self, adapter: Py<PyAny>) -> PyListener {
        let l = PyListener::new(adapter);
        self.inner.streams().add_listener(l.engine());
        l
    }

    /// Stop calling a listener.
    fn remove_listener(&self, listener: &PyListener) {
        self.inner.streams().remove_listener(&listener.engine());
    }

    /// Register a Python function as the engine function `name`: it is called as
    /// `func(list_of_pyarrow_arrays, rows)` and returns an array of `return_type` (given as an
    /// Arrow schema of one field).
    fn register_udf(
        &self,
        name: &str,
        func: Py<PyAny>,
        return_type: Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let schema = import_schema(&return_type)?;
        let t = schema
            .fields()
            .first()
            .map(|f| f.data_type().clone())
            .ok_or_else(|| PyTypeError::new_err("the return type schema has no field"))?;
        self.inner
            .context()
            .register_udf(crate::udf::python_udf(name, func, t));
        Ok(())
    }

    /// Stop every active query.
    fn stop(&self, py: Python<'_>) -> PyResult<()> {
        for q in self.inner.streams().active() {
            block(py, async move { q.stop().await })?;
        }
        Ok(())
    }
}

/// A schema from anything with `__arrow_c_schema__` (a `pyarrow.Schema`).
fn import_schema(obj: &Bound<'_, PyAny>) -> PyResult<Arc<Schema>> {
    if !obj.hasattr("__arrow_c_schema__")? {
        return Err(PyTypeError::new_err("the schema must be an Arrow schema"));
    }
    let capsule = obj.call_method0("__arrow_c_schema__")?;
    let capsule = capsule.cast::<PyCapsule>()?;
    let ptr = capsule.pointer_checked(Some(c"arrow_schema"))?;
    let ffi = crate::arrow_io::schema_ref(ptr.as_ptr().cast::<FFI_ArrowSchema>());
    let schema = Schema::try_from(ffi)
        .map_err(|e| PyTypeError::new_err(format!("reading an Arrow schema: {e}")))?;
    Ok(Arc::new(schema))
}
