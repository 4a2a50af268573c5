//! Engine errors as Python exceptions, with PySpark's class names.
//!
//! ```text
//! TributaryError (Exception)
//! ├── AnalysisException          a plan, column or operation that cannot run as written
//! ├── IllegalArgumentException   a missing or bad option
//! ├── StreamingQueryException    a query stopped with an error
//! ├── ArithmeticException        an overflow, a division by zero, a value out of a cast's range
//! │                              ([ARITHMETIC_OVERFLOW], [DIVIDE_BY_ZERO], [CAST_OVERFLOW], ...)
//! ├── NumberFormatException      text a cast cannot read ([CAST_INVALID_INPUT]; also an
//! │                              IllegalArgumentException, as in PySpark)
//! ├── ArrayIndexOutOfBoundsException  an index out of an array ([INVALID_ARRAY_INDEX], ...)
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

create_exception!(
    _native,
    ArithmeticException,
    TributaryException,
    "An overflow, a division by zero or a value out of a cast's range (PySpark's ArithmeticException)."
);
create_exception!(
    _native,
    NumberFormatException,
    IllegalArgumentException,
    "Text a cast cannot read as a number (PySpark's NumberFormatException)."
);

create_exception!(
    _native,
    ArrayIndexOutOfBoundsException,
    TributaryException,
    "An index out of an array (PySpark's ArrayIndexOutOfBoundsException)."
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
        TributaryError::Runtime {
            condition: "CAST_INVALID_INPUT",
            ..
        } => NumberFormatException::new_err(msg),
        TributaryError::Runtime {
            condition: "INVALID_ARRAY_INDEX" | "INVALID_ARRAY_INDEX_IN_ELEMENT_AT",
            ..
        } => ArrayIndexOutOfBoundsException::new_err(msg),
        TributaryError::Runtime { .. } => ArithmeticException::new_err(msg),
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
    m.add("ArithmeticException", py.get_type::<ArithmeticException>())?;
    m.add(
        "NumberFormatException",
        py.get_type::<NumberFormatException>(),
    )?;
    m.add(
        "ArrayIndexOutOfBoundsException",
        py.get_type::<ArrayIndexOutOfBoundsException>(),
    )?;
    Ok(())
}
