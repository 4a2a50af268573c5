//! Python UDFs inside the engine: `F.udf` (row at a time) and `F.pandas_udf` (vectorized).
//!
//! The engine calls the UDF with each batch's argument arrays; they go to Python as pyarrow
//! arrays through the Arrow PyCapsule interface, the Python side (`tributary/sql/udf.py`) applies
//! the function per row or per batch, and the result array comes back the same way. An
//! exception stops the query with the Python traceback in its error.

use std::hash::{Hash, Hasher};

use arrow::array::ArrayRef;
use arrow::datatypes::DataType;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use pyo3::prelude::*;
use pyo3::types::PyList;

use crate::arrow_io::{import_array, ArrowArray};
use crate::errors::traceback_of;

/// A Python function as an engine function.
#[derive(Debug)]
struct PythonUdf {
    name: String,
    func: Py<PyAny>,
    return_type: DataType,
    signature: Signature,
}

impl PartialEq for PythonUdf {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for PythonUdf {}

impl Hash for PythonUdf {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

impl ScalarUDFImpl for PythonUdf {
    fn name(&self) -> &str {
        &self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(self.return_type.clone())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let rows = args.number_rows;
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let out = Python::attach(|py| -> PyResult<ArrayRef> {
            let inputs = PyList::empty(py);
            for a in arrays {
                inputs.append(Bound::new(py, ArrowArray::new(a))?)?;
            }
            let result = self.func.call1(py, (inputs, rows))?;
            import_array(result.bind(py))
        })
        .map_err(|e| {
            let text = Python::attach(|py| traceback_of(py, &e));
            DataFusionError::Execution(format!(
                "the Python UDF '{}' raised an error: {text}",
                self.name
            ))
        })?;
        if out.len() != rows {
            return Err(DataFusionError::Execution(format!(
                "the Python UDF '{}' returned {} values for {rows} rows",
                self.name,
                out.len()
            )));
        }
        let out = if out.data_type() == &self.return_type {
            out
        } else {
            arrow::compute::cast(&out, &self.return_type)?
        };
        Ok(ColumnarValue::Array(out))
    }
}

/// The engine function `name` that calls `func(arrays, rows)` and returns `return_type`.
pub(crate) fn python_udf(name: &str, func: Py<PyAny>, return_type: DataType) -> ScalarUDF {
    ScalarUDF::new_from_impl(PythonUdf {
        name: name.to_string(),
        func,
        return_type,
        signature: Signature::variadic_any(Volatility::Volatile),
    })
}
