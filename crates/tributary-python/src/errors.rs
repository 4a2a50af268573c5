//! Engine errors as Python exceptions, with PySpark's class names.
//!
//! ```text
//! TributaryError (Exception)
//! ├── AnalysisException          a plan, column or operation that cannot run as written
//! ├── IllegalArgumentException   a missing or bad option
//! ├── StreamingQueryException    a query stopped with an error
//! └── (the base itself)          storage, checkpoint, internal errors
//! ```

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use tributary::TributaryError;

create_exception!(
    _native,
    TributaryException,
    PyException,
    "Base of Tributary's errors."
);
create_exception!(
    _native,
    AnalysisException,
    TributaryException,
    "A query, column or operation that cannot run as written (PySpark's AnalysisException)."
);
create_exception!(
    _native,
    IllegalArgumentException,
    TributaryException,
    "A missing or bad option or argument (PySpark's IllegalArgumentException)."
);
create_exception!(
    _native,
    StreamingQueryException,
    TributaryException,
    "A streaming query stopped with an error (PySpark's StreamingQueryException)."
);

/// The Python exception for an engine error; the message is the engine's, which names the fix.
pub(crate) fn to_py(e: TributaryError) -> PyErr {
    let msg = e.to_string();
    match e {
        TributaryError::Plan(_)
        | TributaryError::UnsupportedOperation { .. }
        | TributaryError::SchemaMismatch { .. }
        | TributaryError::DataFusion { .. } => AnalysisException::new_err(msg),
        TributaryError::Option { .. } => IllegalArgumentException::new_err(msg),
        TributaryError::QueryFailed { .. } | TributaryError::UserCode { .. } => {
            StreamingQueryException::new_err(msg)
        }
        _ => TributaryException::new_err(msg),
    }
}

/// A Python exception as text with its traceback, for an engine error raised in its place.
pub(crate) fn traceback_of(py: Python<'_>, err: &PyErr) -> String {
    let formatted = (|| -> PyResult<String> {
        let tb = py.import("traceback")?;
        let lines = tb.call_method1(
            "format_exception",
            (err.get_type(py), err.value(py), err.traceback(py)),
        )?;
        let text: String = ""
            .into_pyobject(py)?
            .call_method1("join", (lines,))?
            .extract()?;
        Ok(text)
    })();
    formatted.unwrap_or_else(|_| err.to_string())
}

/// Register the exception classes on the module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("TributaryException", py.get_type::<TributaryException>())?;
    m.add("AnalysisException", py.get_type::<AnalysisException>())?;
    m.add(
        "IllegalArgumentException",
        py.get_type::<IllegalArgumentException>(),
    )?;
    m.add(
        "StreamingQueryException",
        py.get_type::<StreamingQueryException>(),
    )?;
    Ok(())
}
