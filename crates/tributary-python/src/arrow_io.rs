//! Arrow across the Python boundary without copies: the Arrow PyCapsule interface.
//!
//! Out: [`ArrowStream`] and [`ArrowSchema`] implement `__arrow_c_stream__` and
//! `__arrow_c_schema__`, so `pyarrow.table(x)`, `pyarrow.schema(x)`, polars or DuckDB take the
//! engine's buffers as they are. In: any object with `__arrow_c_stream__` (a `pyarrow.Table`, a
//! `RecordBatchReader`, a pandas frame converted by pyarrow) becomes record batches.
#![allow(unsafe_code)]

use std::ffi::CStr;
use std::sync::{Arc, Mutex};

use arrow::array::{
    make_array, Array, ArrayRef, AsArray, RecordBatch, RecordBatchIterator, RecordBatchReader,
    StructArray,
};
use arrow::buffer::NullBuffer;
use arrow::datatypes::{DataType, SchemaRef};
use arrow::ffi::FFI_ArrowSchema;
use arrow::ffi_stream::{ArrowArrayStreamReader, FFI_ArrowArrayStream};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyCapsule;

const STREAM: &CStr = c"arrow_array_stream";
const SCHEMA: &CStr = c"arrow_schema";

/// Record batches handed to Python once, through `__arrow_c_stream__`.
#[pyclass(module = "tributary._native")]
pub(crate) struct ArrowStream {
    schema: SchemaRef,
    batches: Mutex<Option<Vec<RecordBatch>>>,
}

impl ArrowStream {
    /// The stream of `batches` under `schema`. A batch whose own schema differs (another type
    /// than the plan said) is cast to it, or refused: handing Python buffers under a type they
    /// do not have would give it garbage.
    pub(crate) fn new(schema: SchemaRef, batches: Vec<RecordBatch>) -> PyResult<Self> {
        let batches = batches
            .into_iter()
            .map(|b| fit(&schema, b))
            .collect::<PyResult<Vec<_>>>()?;
        Ok(ArrowStream {
            schema,
            batches: Mutex::new(Some(batches)),
        })
    }
}

/// `batch` with the types of `schema` (the names and nullability are the schema's).
fn fit(schema: &SchemaRef, batch: RecordBatch) -> PyResult<RecordBatch> {
    let same = batch.num_columns() == schema.fields().len()
        && batch
            .schema()
            .fields()
            .iter()
            .zip(schema.fields())
            .all(|(a, b)| a.data_type() == b.data_type());
    if same {
        let named = RecordBatch::try_new(schema.clone(), batch.columns().to_vec());
        return Ok(named.unwrap_or(batch));
    }
    if batch.num_columns() != schema.fields().len() {
        return Err(PyValueError::new_err(format!(
            "the query gave {} columns where its schema has {}",
            batch.num_columns(),
            schema.fields().len()
        )));
    }
    let columns = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(c, f)| {
            // A value that does not fit is an error, never a NULL.
            let strict = arrow::compute::CastOptions {
                safe: false,
                ..Default::default()
            };
            arrow::compute::cast_with_options(c, f.data_type(), &strict)
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            PyValueError::new_err(format!(
                "the query's rows do not have the types of its schema: {e}"
            ))
        })?;
    let named = RecordBatch::try_new(schema.clone(), columns.clone());
    match named {
        Ok(b) => Ok(b),
        // The schema says NOT NULL where the values have nulls: keep the values' own fields.
        Err(_) => {
            let fields: Vec<_> = schema
                .fields()
                .iter()
                .map(|f| f.as_ref().clone().with_nullable(true))
                .collect();
            RecordBatch::try_new(Arc::new(arrow::datatypes::Schema::new(fields)), columns)
                .map_err(|e| PyValueError::new_err(e.to_string()))
        }
    }
}

#[pymethods]
impl ArrowStream {
    /// The Arrow C stream of the batches (it can be taken once).
    #[pyo3(signature = (requested_schema=None))]
    fn __arrow_c_stream__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        let _ = requested_schema; // the engine's schema is the one given
        let batches = self
            .batches
            .lock()
            .expect("arrow stream")
            .take()
            .ok_or_else(|| PyValueError::new_err("this Arrow stream was already consumed"))?;
        let reader: Box<dyn RecordBatchReader + Send> = Box::new(RecordBatchIterator::new(
            batches.into_iter().map(Ok),
            self.schema.clone(),
        ));
        let ffi = FFI_ArrowArrayStream::new(reader);
        PyCapsule::new_with_value(py, ffi, STREAM)
    }

    fn __arrow_c_schema__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyCapsule>> {
        schema_capsule(py, &self.schema)
    }
}

/// A schema handed to Python through `__arrow_c_schema__`.
#[pyclass(module = "tributary._native", frozen)]
pub(crate) struct ArrowSchema {
    pub(crate) schema: SchemaRef,
}

#[pymethods]
impl ArrowSchema {
    fn __arrow_c_schema__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyCapsule>> {
        schema_capsule(py, &self.schema)
    }
}

fn schema_capsule<'py>(py: Python<'py>, schema: &SchemaRef) -> PyResult<Bound<'py, PyCapsule>> {
    let ffi = FFI_ArrowSchema::try_from(schema.as_ref())
        .map_err(|e| PyValueError::new_err(format!("exporting the schema to Arrow C: {e}")))?;
    PyCapsule::new_with_value(py, ffi, SCHEMA)
}

/// The batches of any object that implements the Arrow PyCapsule stream interface.
pub(crate) fn import_stream(obj: &Bound<'_, PyAny>) -> PyResult<(SchemaRef, Vec<RecordBatch>)> {
    if !obj.hasattr("__arrow_c_stream__")? {
        return Err(PyTypeError::new_err(format!(
            "{} is not Arrow data: pass a pyarrow Table or RecordBatchReader, a pandas DataFrame, \
             or rows",
            obj.get_type().name()?
        )));
    }
    let capsule = obj.call_method0("__arrow_c_stream__")?;
    let capsule = capsule.cast::<PyCapsule>()?;
    let ptr = capsule.pointer_checked(Some(STREAM))?;
    // SAFETY: the capsule is named `arrow_array_stream`, so by the PyCapsule interface it
    // points to a valid FFI_ArrowArrayStream; `from_raw` moves the stream out and leaves a
    // released one in its place, which the capsule's own destructor then ignores.
    let reader = unsafe { ArrowArrayStreamReader::from_raw(ptr.as_ptr().cast()) }
        .map_err(|e| PyValueError::new_err(format!("reading an Arrow C stream: {e}")))?;
    let schema = reader.schema();
    let batches = reader
        .map(|b| {
            let b = b?;
            let columns: Vec<ArrayRef> = b.columns().iter().map(nulls_into_fields).collect();
            RecordBatch::try_new(b.schema(), columns)
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| PyValueError::new_err(format!("reading an Arrow C stream: {e}")))?;
    Ok((schema, batches))
}

/// A struct's NULLs pushed into its fields (at any depth). Arrow lets a NULL struct keep any
/// values in its fields (pyarrow leaves `0` there for a `None` struct), and a field read from it
/// must still be NULL, as Spark reads `s.b` of a NULL `s`.
fn nulls_into_fields(array: &ArrayRef) -> ArrayRef {
    let DataType::Struct(_) = array.data_type() else {
        return array.clone();
    };
    let (fields, children, nulls) = array.as_struct().clone().into_parts();
    let children = children
        .iter()
        .map(|child| {
            // The parent's NULLs into the child first, then the child's (so merged) NULLs into
            // its own fields: a NULL struct's fields are NULL at every depth.
            let child = match (&nulls, child.data_type()) {
                // These carry no null buffer of their own.
                (None, _) | (_, DataType::Null | DataType::Union(..)) => child.clone(),
                (Some(parent), _) => {
                    let merged = NullBuffer::union(Some(parent), child.nulls());
                    match child.to_data().into_builder().nulls(merged).build() {
                        Ok(data) => make_array(data),
                        Err(_) => child.clone(),
                    }
                }
            };
            nulls_into_fields(&child)
        })
        .collect();
    Arc::new(StructArray::new(fields, children, nulls))
}

/// The schema behind an `arrow_schema` capsule's pointer (borrowed: the capsule keeps it).
pub(crate) fn schema_ref<'a>(ptr: *const FFI_ArrowSchema) -> &'a FFI_ArrowSchema {
    // SAFETY: called with the pointer of a capsule named `arrow_schema`, which by the PyCapsule
    // interface points to a valid FFI_ArrowSchema that lives as long as the capsule, and the
    // capsule outlives this borrow in the caller.
    unsafe { &*ptr }
}

const ARRAY: &CStr = c"arrow_array";

/// One array handed to Python through `__arrow_c_array__` (`pyarrow.array(x)` reads it).
#[pyclass(module = "tributary._native", frozen)]
pub(crate) struct ArrowArray {
    array: arrow::array::ArrayRef,
}

impl ArrowArray {
    pub(crate) fn new(array: arrow::array::ArrayRef) -> Self {
        ArrowArray { array }
    }
}

#[pymethods]
impl ArrowArray {
    #[pyo3(signature = (requested_schema=None))]
    fn __arrow_c_array__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<(Bound<'py, PyCapsule>, Bound<'py, PyCapsule>)> {
        let _ = requested_schema;
        let data = self.array.to_data();
        let schema = FFI_ArrowSchema::try_from(data.data_type())
            .map_err(|e| PyValueError::new_err(format!("exporting an array type: {e}")))?;
        let array = arrow::ffi::FFI_ArrowArray::new(&data);
        Ok((
            PyCapsule::new_with_value(py, schema, SCHEMA)?,
            PyCapsule::new_with_value(py, array, ARRAY)?,
        ))
    }
}

/// The array of any object with `__arrow_c_array__` (a `pyarrow.Array`).
pub(crate) fn import_array(obj: &Bound<'_, PyAny>) -> PyResult<arrow::array::ArrayRef> {
    if !obj.hasattr("__arrow_c_array__")? {
        return Err(PyTypeError::new_err(format!(
            "expected an Arrow array, got {}",
            obj.get_type().name()?
        )));
    }
    let pair = obj.call_method0("__arrow_c_array__")?;
    let (schema, array): (Bound<'_, PyAny>, Bound<'_, PyAny>) = pair.extract()?;
    let schema = schema.cast::<PyCapsule>()?;
    let array = array.cast::<PyCapsule>()?;
    let schema_ptr = schema.pointer_checked(Some(SCHEMA))?;
    let array_ptr = array.pointer_checked(Some(ARRAY))?;
    // SAFETY: by the PyCapsule interface the capsules point to a valid FFI_ArrowSchema and
    // FFI_ArrowArray. The array is moved out (an empty, released one is left, which the
    // capsule's destructor ignores); the schema is only borrowed while the capsule lives.
    let data = unsafe {
        let ffi_array = std::ptr::replace(
            array_ptr.as_ptr().cast::<arrow::ffi::FFI_ArrowArray>(),
            arrow::ffi::FFI_ArrowArray::empty(),
        );
        let ffi_schema = &*schema_ptr.as_ptr().cast::<FFI_ArrowSchema>();
        arrow::ffi::from_ffi(ffi_array, ffi_schema)
    }
    .map_err(|e| PyValueError::new_err(format!("reading an Arrow array: {e}")))?;
    Ok(arrow::array::make_array(data))
}
