//! JSON as Tributary writes it: arrow-json's writer, except that a floating-point NaN or
//! infinity is written as Spark writes it — the strings `"NaN"`, `"Infinity"` and `"-Infinity"`
//! — where arrow-json writes `null` and loses the value. Tributary's JSON reader (and Spark's)
//! reads those strings back into a DOUBLE or FLOAT column, so a value survives the round trip.
//!
//! ```text
//!  RecordBatch ─► line_writer / array_writer ─► arrow-json encoders ─► bytes
//!                       └─ SparkFloats: FLOAT, DOUBLE (at any depth: lists, structs, maps)
//! ```

use std::io::Write;
use std::sync::{Arc, LazyLock};

use arrow::array::{Array, AsArray, PrimitiveArray, RecordBatch};
use arrow::datatypes::{ArrowPrimitiveType, DataType, FieldRef, Float32Type, Float64Type};
use arrow::error::ArrowError;
use arrow::json::writer::{
    make_encoder, Encoder, EncoderFactory, EncoderOptions, JsonArray, LineDelimited,
    NullableEncoder, Writer, WriterBuilder,
};

/// A writer of JSON lines (one object per row; a NULL field is left out, as Spark leaves it).
pub fn line_writer<W: Write>(out: W) -> Writer<W, LineDelimited> {
    builder().build(out)
}

/// A writer of one JSON array of objects.
pub fn array_writer<W: Write>(out: W) -> Writer<W, JsonArray> {
    builder().build(out)
}

/// Rows of a batch as JSON objects, as Spark's `to_json` gives them (a Kafka record's value).
pub(crate) fn rows_to_json(batch: &RecordBatch) -> crate::Result<Vec<serde_json::Value>> {
    if batch.num_rows() == 0 {
        return Ok(Vec::new());
    }
    let mut w = array_writer(Vec::new());
    w.write(batch)
        .map_err(crate::TributaryError::arrow("rows as JSON"))?;
    w.finish()
        .map_err(crate::TributaryError::arrow("rows as JSON"))?;
    serde_json::from_slice(&w.into_inner())
        .map_err(|e| crate::TributaryError::Internal(e.to_string()))
}

fn builder() -> WriterBuilder {
    WriterBuilder::new().with_encoder_factory(Arc::new(SparkFloats))
}

/// Encodes FLOAT and DOUBLE arrays with NaN and the infinities as Spark's strings.
#[derive(Debug)]
struct SparkFloats;

/// The options a finite value is encoded with: arrow-json's own number format.
static PLAIN: LazyLock<EncoderOptions> = LazyLock::new(EncoderOptions::default);

impl EncoderFactory for SparkFloats {
    fn make_default_encoder<'a>(
        &self,
        field: &'a FieldRef,
        array: &'a dyn Array,
        _options: &'a EncoderOptions,
    ) -> Result<Option<NullableEncoder<'a>>, ArrowError> {
        match array.data_type() {
            DataType::Float64 => floats(field, array.as_primitive::<Float64Type>()).map(Some),
            DataType::Float32 => floats(field, array.as_primitive::<Float32Type>()).map(Some),
            _ => Ok(None),
        }
    }
}

fn floats<'a, T>(
    field: &'a FieldRef,
    array: &'a PrimitiveArray<T>,
) -> Result<NullableEncoder<'a>, ArrowError>
where
    T: ArrowPrimitiveType,
    T::Native: Into<f64>,
{
    let finite = make_encoder(field, array, &PLAIN)?;
    let nulls = array.nulls().cloned();
    Ok(NullableEncoder::new(
        Box::new(FloatEncoder { array, finite }),
        nulls,
    ))
}

struct FloatEncoder<'a, T: ArrowPrimitiveType> {
    array: &'a PrimitiveArray<T>,
    finite: NullableEncoder<'a>,
}

impl<T> Encoder for FloatEncoder<'_, T>
where
    T: ArrowPrimitiveType,
    T::Native: Into<f64>,
{
    fn encode(&mut self, idx: usize, out: &mut Vec<u8>) {
        let v: f64 = self.array.value(idx).into();
        if v.is_nan() {
            out.extend_from_slice(b"\"NaN\"");
        } else if v == f64::INFINITY {
            out.extend_from_slice(b"\"Infinity\"");
        } else if v == f64::NEG_INFINITY {
            out.extend_from_slice(b"\"-Infinity\"");
        } else {
            self.finite.encode(idx, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Float32Array, Float64Array, ListArray};
    use arrow::datatypes::{Field, Schema};

    fn lines(batch: &RecordBatch) -> String {
        let mut w = line_writer(Vec::new());
        w.write(batch).unwrap();
        w.finish().unwrap();
        String::from_utf8(w.into_inner()).unwrap()
    }

    #[test]
    fn nan_and_the_infinities_are_spark_strings_and_finite_values_are_unchanged() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("d", DataType::Float64, true),
            Field::new("f", DataType::Float32, true),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Float64Array::from(vec![
                    Some(f64::NAN),
                    Some(f64::INFINITY),
                    Some(f64::NEG_INFINITY),
                    Some(1.5),
                    None,
                    Some(-0.0),
                ])),
                Arc::new(Float32Array::from(vec![
                    Some(f32::NEG_INFINITY),
                    Some(0.25),
                    Some(f32::NAN),
                    None,
                    Some(1e30),
                    Some(2.0),
                ])),
            ],
        )
        .unwrap();
        assert_eq!(
            lines(&batch),
            concat!(
                "{\"d\":\"NaN\",\"f\":\"-Infinity\"}\n",
                "{\"d\":\"Infinity\",\"f\":0.25}\n",
                "{\"d\":\"-Infinity\",\"f\":\"NaN\"}\n",
                "{\"d\":1.5}\n",
                "{\"f\":1.0e30}\n",
                "{\"d\":-0.0,\"f\":2.0}\n",
            )
        );
    }

    #[test]
    fn a_nan_inside_a_list_is_a_string_too() {
        let list = ListArray::from_iter_primitive::<Float64Type, _, _>(vec![
            Some(vec![Some(1.0), Some(f64::NAN), None]),
            None,
        ]);
        let schema = Arc::new(Schema::new(vec![Field::new(
            "l",
            list.data_type().clone(),
            true,
        )]));
        let batch = RecordBatch::try_new(schema, vec![Arc::new(list)]).unwrap();
        assert_eq!(lines(&batch), "{\"l\":[1.0,\"NaN\",null]}\n{}\n");
    }

    #[test]
    fn rows_as_json_come_back_with_their_nan_and_infinities() {
        let schema = Arc::new(Schema::new(vec![Field::new("d", DataType::Float64, true)]));
        let values = vec![f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 2.5];
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(Float64Array::from(values.clone()))],
        )
        .unwrap();
        let json = rows_to_json(&batch).unwrap();
        let back = crate::plan::json_to_batch(&schema, &json).unwrap();
        let d = back.column(0).as_primitive::<Float64Type>();
        assert!(d.value(0).is_nan() && d.null_count() == 0);
        assert_eq!(&d.values()[1..], &values[1..]);
    }
}
