//! The partition of a state key, computed from the key's values: the same key goes to the same
//! partition whatever the version of Arrow, DataFusion or Tributary, and whatever physical
//! type carries it (a string as `Utf8`, `LargeUtf8` or `Utf8View`; an integer of any width).
//!
//! ```text
//!  per row:  h = SEED
//!            for each key column:  h = mix(h, tag(kind) ‖ value bytes)      (FNV-1a, 64 bits)
//!  value bytes: integers as i128 little-endian; floats as f64 bits (-0.0 as 0.0, one NaN);
//!               strings and binaries as their bytes with their length; booleans as 0/1;
//!               dates and times as their value and unit; decimals as i128 and scale;
//!               structs field by field; other types (lists, maps, intervals) as Arrow prints
//!               them; null as its own tag
//!  partition = h % partitions
//! ```
//! The golden values in the tests pin the function: changing it moves every key of every
//! checkpoint, so it changes only with a new [`PartitionHash`] variant, kept in the
//! checkpoint's metadata.

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::{
    DataType, Date32Type, Decimal128Type, Float16Type, Float32Type, Float64Type, Int16Type,
    Int32Type, Int64Type, Int8Type, TimeUnit, UInt16Type, UInt32Type, UInt64Type, UInt8Type,
};
use arrow::util::display::{ArrayFormatter, FormatOptions};

use crate::error::{Result, TributaryError};

/// How a checkpoint's state keys are assigned to partitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartitionHash {
    /// FNV-1a over Arrow's row format of the key (checkpoints written before 2026-12-05): the
    /// row format may change between Arrow versions; `tributary state repartition` moves such a
    /// checkpoint to [`PartitionHash::Values`].
    RowFormat,
    /// This module's hash of the key's values.
    Values,
}

impl PartitionHash {
    /// The name kept in the checkpoint's metadata (`state.partition_hash`).
    pub fn name(&self) -> &'static str {
        match self {
            PartitionHash::RowFormat => "row_format",
            PartitionHash::Values => "values_v1",
        }
    }

    /// The hash a checkpoint's metadata names (absent: written before the choice existed).
    pub fn from_conf(v: Option<&str>) -> Self {
        match v {
            Some("values_v1") => PartitionHash::Values,
            _ => PartitionHash::RowFormat,
        }
    }
}

const SEED: u64 = 0xcbf2_9ce4_8422_2325;
const PRIME: u64 = 0x0100_0000_01b3;

fn mix(h: &mut u64, bytes: &[u8]) {
    for b in bytes {
        *h ^= *b as u64;
        *h = h.wrapping_mul(PRIME);
    }
}

// Tags of the kinds of values: part of the hash, never to change.
const NULL: u8 = 0;
const INT: u8 = 1;
const FLOAT: u8 = 2;
const TEXT: u8 = 3;
const BYTES: u8 = 4;
const BOOL: u8 = 5;
const TIME: u8 = 6;
const DECIMAL: u8 = 7;
const STRUCT: u8 = 8;
const OTHER: u8 = 10;

fn unit_code(u: &TimeUnit) -> u8 {
    match u {
        TimeUnit::Second => 0,
        TimeUnit::Millisecond => 1,
        TimeUnit::Microsecond => 2,
        TimeUnit::Nanosecond => 3,
    }
}

/// Feed each row of column `a` into its row's hash.
fn column(hs: &mut [u64], a: &dyn Array) -> Result<()> {
    let rows = hs.len();
    let nulls = |hs: &mut [u64], i: usize| {
        if a.is_null(i) {
            mix(&mut hs[i], &[NULL]);
            true
        } else {
            false
        }
    };
    macro_rules! each {
        (|$h:ident, $i:ident| $body:expr) => {{
            for $i in 0..rows {
                if !nulls(hs, $i) {
                    let $h = &mut hs[$i];
                    $body;
                }
            }
        }};
    }
    macro_rules! int {
        ($t:ty) => {{
            let v = a.as_primitive::<$t>();
            each!(|h, i| {
                mix(h, &[INT]);
                mix(h, &(v.value(i) as i128).to_le_bytes());
            })
        }};
    }
    let float = |h: &mut u64, v: f64| {
        let v = if v == 0.0 {
            0.0
        } else if v.is_nan() {
            f64::NAN
        } else {
            v
        };
        mix(h, &[FLOAT]);
        mix(h, &v.to_bits().to_le_bytes());
    };
    let text = |h: &mut u64, tag: u8, b: &[u8]| {
        mix(h, &[tag]);
        mix(h, &(b.len() as u64).to_le_bytes());
        mix(h, b);
    };
    let as_i64 = |to: &DataType| -> Result<ArrayRef> {
        arrow::compute::cast(a, to).map_err(TributaryError::arrow("hashing a time key"))
    };
    let time = |hs: &mut [u64], kind: u8, unit: u8, v: &ArrayRef| {
        let v = v.as_primitive::<Int64Type>();
        for (i, h) in hs.iter_mut().enumerate() {
            if a.is_null(i) {
                mix(h, &[NULL]);
            } else {
                mix(h, &[TIME, kind, unit]);
                mix(h, &v.value(i).to_le_bytes());
            }
        }
    };
    match a.data_type() {
        DataType::Int8 => int!(Int8Type),
        DataType::Int16 => int!(Int16Type),
        DataType::Int32 => int!(Int32Type),
        DataType::Int64 => int!(Int64Type),
        DataType::UInt8 => int!(UInt8Type),
        DataType::UInt16 => int!(UInt16Type),
        DataType::UInt32 => int!(UInt32Type),
        DataType::UInt64 => int!(UInt64Type),
        DataType::Float16 => {
            let v = a.as_primitive::<Float16Type>();
            each!(|h, i| float(h, v.value(i).to_f64()))
        }
        DataType::Float32 => {
            let v = a.as_primitive::<Float32Type>();
            each!(|h, i| float(h, v.value(i) as f64))
        }
        DataType::Float64 => {
            let v = a.as_primitive::<Float64Type>();
            each!(|h, i| float(h, v.value(i)))
        }
        DataType::Boolean => {
            let v = a.as_boolean();
            each!(|h, i| mix(h, &[BOOL, v.value(i) as u8]))
        }
        DataType::Utf8 => {
            let v = a.as_string::<i32>();
            each!(|h, i| text(h, TEXT, v.value(i).as_bytes()))
        }
        DataType::LargeUtf8 => {
            let v = a.as_string::<i64>();
            each!(|h, i| text(h, TEXT, v.value(i).as_bytes()))
        }
        DataType::Utf8View => {
            let v = a.as_string_view();
            each!(|h, i| text(h, TEXT, v.value(i).as_bytes()))
        }
        DataType::Binary => {
            let v = a.as_binary::<i32>();
            each!(|h, i| text(h, BYTES, v.value(i)))
        }
        DataType::LargeBinary => {
            let v = a.as_binary::<i64>();
            each!(|h, i| text(h, BYTES, v.value(i)))
        }
        DataType::BinaryView => {
            let v = a.as_binary_view();
            each!(|h, i| text(h, BYTES, v.value(i)))
        }
        DataType::FixedSizeBinary(_) => {
            let v = a.as_fixed_size_binary();
            each!(|h, i| text(h, BYTES, v.value(i)))
        }
        DataType::Date32 => {
            let v = a.as_primitive::<Date32Type>();
            each!(|h, i| {
                mix(h, &[TIME, 0, 0]);
                mix(h, &(v.value(i) as i64).to_le_bytes());
            })
        }
        DataType::Date64 => time(hs, 1, 0, &as_i64(&DataType::Int64)?),
        DataType::Timestamp(u, _) => time(hs, 2, unit_code(u), &as_i64(&DataType::Int64)?),
        DataType::Duration(u) => time(hs, 3, unit_code(u), &as_i64(&DataType::Int64)?),
        DataType::Time64(u) => time(hs, 4, unit_code(u), &as_i64(&DataType::Int64)?),
        DataType::Time32(u) => {
            let wide = arrow::compute::cast(&as_i64(&DataType::Int32)?, &DataType::Int64)
                .map_err(TributaryError::arrow("hashing a time key"))?;
            time(hs, 4, unit_code(u), &wide)
        }
        DataType::Decimal128(_, scale) => {
            let v = a.as_primitive::<Decimal128Type>();
            each!(|h, i| {
                mix(h, &[DECIMAL, *scale as u8]);
                mix(h, &v.value(i).to_le_bytes());
            })
        }
        DataType::Struct(fields) => {
            let st = a.as_struct();
            let mut present = Vec::with_capacity(rows);
            for (i, h) in hs.iter_mut().enumerate() {
                if st.is_null(i) {
                    mix(h, &[NULL]);
                } else {
                    mix(h, &[STRUCT]);
                    mix(h, &(fields.len() as u64).to_le_bytes());
                    present.push(i);
                }
            }
            // A null struct's fields are not hashed: hash the fields of every row, and keep
            // the result only for the rows that are present.
            let mut inner = hs.to_vec();
            for c in st.columns() {
                column(&mut inner, c.as_ref())?;
            }
            for i in present {
                hs[i] = inner[i];
            }
        }
        DataType::Dictionary(_, values) => {
            let plain = arrow::compute::cast(a, values)
                .map_err(TributaryError::arrow("hashing a dictionary key"))?;
            column(hs, plain.as_ref())?;
        }
        _ => {
            // Lists, maps, intervals and the rest: their text, as Arrow prints it.
            let f = ArrayFormatter::try_new(a, &FormatOptions::default())
                .map_err(TributaryError::arrow("hashing a key"))?;
            each!(|h, i| text(h, OTHER, f.value(i).to_string().as_bytes()))
        }
    }
    Ok(())
}

/// The partition of each row of the key columns `cols` (`rows` rows), among `partitions`.
pub(crate) fn value_partitions(
    cols: &[ArrayRef],
    rows: usize,
    partitions: usize,
) -> Result<Vec<usize>> {
    let n = partitions.max(1) as u64;
    let mut hs = vec![SEED; rows];
    for c in cols {
        column(&mut hs, c.as_ref())?;
    }
    Ok(hs.into_iter().map(|h| (h % n) as usize).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{
        Int32Array, Int64Array, LargeStringArray, StringArray, StringViewArray, StructArray,
        TimestampNanosecondArray,
    };
    use arrow::datatypes::{Field, Fields};
    use std::sync::Arc;

    fn one(cols: Vec<ArrayRef>) -> usize {
        value_partitions(&cols, 1, 1_000_003).unwrap()[0]
    }

    #[test]
    fn the_same_value_in_any_physical_type_goes_to_the_same_partition() {
        let s = one(vec![Arc::new(StringArray::from(vec!["emea"]))]);
        assert_eq!(s, one(vec![Arc::new(LargeStringArray::from(vec!["emea"]))]));
        assert_eq!(s, one(vec![Arc::new(StringViewArray::from(vec!["emea"]))]));
        let i = one(vec![Arc::new(Int64Array::from(vec![42]))]);
        assert_eq!(i, one(vec![Arc::new(Int32Array::from(vec![42]))]));
        assert_ne!(i, one(vec![Arc::new(Int64Array::from(vec![43]))]));
        // Column boundaries count: ("ab", "c") is not ("a", "bc").
        let ab_c = one(vec![
            Arc::new(StringArray::from(vec!["ab"])),
            Arc::new(StringArray::from(vec!["c"])),
        ]);
        let a_bc = one(vec![
            Arc::new(StringArray::from(vec!["a"])),
            Arc::new(StringArray::from(vec!["bc"])),
        ]);
        assert_ne!(ab_c, a_bc);
    }

    #[test]
    fn golden_values_pin_the_function() {
        // A change here moves every key of every checkpoint: add a new PartitionHash instead.
        let region: ArrayRef = Arc::new(StringArray::from(vec![Some("emea"), Some("amer"), None]));
        let user: ArrayRef = Arc::new(Int64Array::from(vec![Some(7), Some(-1), Some(0)]));
        let ts: ArrayRef = Arc::new(TimestampNanosecondArray::from(vec![
            1_763_719_200_000_000_000,
            0,
            -5,
        ]));
        let window: ArrayRef = Arc::new(StructArray::new(
            Fields::from(vec![
                Field::new("start", ts.data_type().clone(), true),
                Field::new("end", ts.data_type().clone(), true),
            ]),
            vec![ts.clone(), ts.clone()],
            None,
        ));
        let got = value_partitions(&[window, region, user], 3, 1 << 20).unwrap();
        assert_eq!(got, GOLDEN, "the partition hash changed");
    }

    const GOLDEN: [usize; 3] = [527_192, 172_660, 66_628];
}
