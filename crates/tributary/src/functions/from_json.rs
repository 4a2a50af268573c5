//! `from_json(value, 'id BIGINT, region VARCHAR, ...')`: a JSON string or binary value decoded
//! into a struct of the given columns, with Arrow's vectorised JSON decoder (Spark's
//! `from_json`). A value that does not decode gives NULL, as in Spark's PERMISSIVE mode.

use std::sync::Arc;

use arrow::array::{new_null_array, Array, ArrayRef, AsArray, RecordBatch, StructArray};
use arrow::buffer::NullBuffer;
use arrow::datatypes::{DataType, Field, FieldRef, Fields, Schema, TimeUnit};
use datafusion::common::{exec_err, plan_err, Result, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

/// Name of the function.
pub(crate) const FROM_JSON: &str = "from_json";

/// Parse a column list such as `id BIGINT, region VARCHAR, amount DOUBLE`.
pub(crate) fn parse_columns(spec: &str) -> Result<Fields> {
    let mut fields = Vec::new();
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let mut it = part.split_whitespace();
        let (Some(name), Some(ty)) = (it.next(), it.next()) else {
            return plan_err!("from_json: '{part}' is not `name TYPE`");
        };
        let t = match ty.to_ascii_uppercase().as_str() {
            "BIGINT" | "LONG" | "INT64" => DataType::Int64,
            "INT" | "INTEGER" | "INT32" => DataType::Int32,
            "SMALLINT" | "SHORT" => DataType::Int16,
            "TINYINT" | "BYTE" => DataType::Int8,
            "DOUBLE" | "FLOAT64" => DataType::Float64,
            "FLOAT" | "REAL" | "FLOAT32" => DataType::Float32,
            "BOOLEAN" | "BOOL" => DataType::Boolean,
            "STRING" | "VARCHAR" | "TEXT" => DataType::Utf8,
            "TIMESTAMP" => DataType::Timestamp(TimeUnit::Microsecond, None),
            "DATE" => DataType::Date32,
            other => {
                return plan_err!(
                    "from_json: type '{other}' of column '{name}' is not supported; use BIGINT, \
                     INT, DOUBLE, FLOAT, BOOLEAN, VARCHAR, TIMESTAMP or DATE"
                )
            }
        };
        fields.push(Field::new(
            name.trim_matches('`').trim_matches('"'),
            t,
            true,
        ));
    }
    if fields.is_empty() {
        return plan_err!(
            "from_json needs columns, e.g. from_json(value, 'id BIGINT, region VARCHAR')"
        );
    }
    Ok(Fields::from(fields))
}

/// `from_json(value, columns)`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct FromJsonFn {
    signature: Signature,
}

impl Default for FromJsonFn {
    fn default() -> Self {
        FromJsonFn {
            signature: Signature::any(2, Volatility::Immutable),
        }
    }
}

fn spec_of(v: Option<&ScalarValue>) -> Result<Fields> {
    match v {
        Some(ScalarValue::Utf8(Some(s)))
        | Some(ScalarValue::LargeUtf8(Some(s)))
        | Some(ScalarValue::Utf8View(Some(s))) => parse_columns(s),
        _ => plan_err!(
            "from_json's second argument must be a constant like 'id BIGINT, region VARCHAR'"
        ),
    }
}

impl ScalarUDFImpl for FromJsonFn {
    fn name(&self) -> &str {
        FROM_JSON
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        plan_err!("from_json's type comes from its arguments")
    }
    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let fields = spec_of(args.scalar_arguments.get(1).copied().flatten())?;
        Ok(Arc::new(Field::new(
            FROM_JSON,
            DataType::Struct(fields),
            true,
        )))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let DataType::Struct(fields) = args.return_field.data_type().clone() else {
            return exec_err!("from_json: unexpected return type");
        };
        let values = args.args[0].to_array(args.number_rows)?;
        let values = arrow::compute::cast(&values, &DataType::Binary)?;
        let values = values.as_binary::<i32>();
        let schema = Arc::new(Schema::new(fields.clone()));
        let decode_one = |v: &[u8]| -> Option<RecordBatch> {
            let mut d = arrow::json::ReaderBuilder::new(schema.clone())
                .build_decoder()
                .ok()?;
            d.decode(&crate::format::surrogates::mend_surrogates(v))
                .ok()?;
            let b = d.flush().ok()??;
            (b.num_rows() == 1).then_some(b)
        };
        let mut parts: Vec<RecordBatch> = Vec::with_capacity(values.len());
        let mut valid = Vec::with_capacity(values.len());
        for i in 0..values.len() {
            match (!values.is_null(i))
                .then(|| decode_one(values.value(i)))
                .flatten()
            {
                Some(b) => {
                    parts.push(b);
                    valid.push(true);
                }
                None => {
                    let cols: Vec<ArrayRef> = fields
                        .iter()
                        .map(|f| new_null_array(f.data_type(), 1))
                        .collect();
                    parts.push(RecordBatch::try_new(schema.clone(), cols)?);
                    valid.push(false);
                }
            }
        }
        let all = arrow::compute::concat_batches(&schema, &parts)?;
        let out = StructArray::try_new(
            fields,
            all.columns().to_vec(),
            Some(NullBuffer::from(valid)),
        )?;
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}
