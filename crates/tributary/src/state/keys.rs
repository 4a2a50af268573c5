//! Group keys as comparable bytes (Arrow's row format) and their stable partition.

use std::collections::HashSet;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, ArrowPrimitiveType, AsArray, BooleanArray, PrimitiveArray, RecordBatch,
};
use arrow::datatypes::{DataType, Float16Type, Float32Type, Float64Type};
use arrow::row::{RowConverter, Rows, SortField};

use super::hash::{value_partitions, PartitionHash};
use crate::error::{Result, TributaryError};

/// A set of key bytes, hashed fast.
pub(crate) type KeySet<'a> = HashSet<&'a [u8], ahash::RandomState>;

/// The key columns of a batch (the first `key_len` columns) in Arrow's row format.
pub(crate) struct KeyRows {
    /// `None` when there are no key columns (an aggregation without GROUP BY): every row
    /// then has the same, empty key.
    rows: Option<Rows>,
    num_rows: usize,
    /// The key columns encoded (for their partitions by value).
    cols: Vec<ArrayRef>,
}

impl KeyRows {
    /// Encode the first `key_len` columns of `batch`.
    pub(crate) fn new(batch: &RecordBatch, key_len: usize) -> Result<KeyRows> {
        Self::of(batch, &(0..key_len).collect::<Vec<_>>())
    }

    /// Encode the columns `indices` of `batch`.
    pub(crate) fn of(batch: &RecordBatch, indices: &[usize]) -> Result<KeyRows> {
        let cols: Vec<ArrayRef> = indices.iter().map(|i| batch.column(*i).clone()).collect();
        Self::from_columns(cols, batch.num_rows())
    }

    /// Encode columns of `num_rows` rows (none: every row has the same, empty key).
    pub(crate) fn from_columns(cols: Vec<ArrayRef>, num_rows: usize) -> Result<KeyRows> {
        let cols: Vec<ArrayRef> = cols.into_iter().map(without_negative_zero).collect();
        if cols.is_empty() {
            // Arrow's row format has no rows without columns: count them ourselves.
            return Ok(KeyRows {
                rows: None,
                num_rows,
                cols,
            });
        }
        let fields = cols
            .iter()
            .map(|c| SortField::new(c.data_type().clone()))
            .collect();
        let conv =
            RowConverter::new(fields).map_err(TributaryError::arrow("encoding state keys"))?;
        let rows = conv
            .convert_columns(&cols)
            .map_err(TributaryError::arrow("encoding state keys"))?;
        Ok(KeyRows {
            rows: Some(rows),
            num_rows,
            cols,
        })
    }

    /// Number of rows.
    pub(crate) fn len(&self) -> usize {
        self.num_rows
    }

    /// The bytes of row `i`.
    pub(crate) fn key(&self, i: usize) -> &[u8] {
        match &self.rows {
            Some(rows) => rows.row(i).data(),
            None => &[],
        }
    }

    /// The state partition of each row's key, among `partitions`, by the checkpoint's `hash`.
    pub(crate) fn partitions(&self, partitions: usize, hash: PartitionHash) -> Result<Vec<usize>> {
        match hash {
            PartitionHash::RowFormat => Ok((0..self.len())
                .map(|i| partition_of(self.key(i), partitions))
                .collect()),
            PartitionHash::Values => value_partitions(&self.cols, self.num_rows, partitions),
        }
    }

    /// The set of keys.
    pub(crate) fn set(&self) -> KeySet<'_> {
        (0..self.len()).map(|i| self.key(i)).collect()
    }

    /// A mask: true where the row's key is in `set`.
    pub(crate) fn mask_in(&self, set: &KeySet) -> BooleanArray {
        (0..self.len())
            .map(|i| Some(set.contains(self.key(i))))
            .collect()
    }
}

/// A float key column with -0.0 as 0.0: SQL groups them together (DataFusion's batch and
/// Spark, which normalizes them), where Arrow's row format would keep them apart.
fn without_negative_zero(col: ArrayRef) -> ArrayRef {
    fn zero<T: ArrowPrimitiveType>(
        col: &ArrayRef,
        is_negative_zero: impl Fn(T::Native) -> bool,
    ) -> Option<ArrayRef>
    where
        T::Native: Default,
    {
        let values = col.as_primitive::<T>();
        if !values.values().iter().any(|v| is_negative_zero(*v)) {
            return None;
        }
        let fixed: PrimitiveArray<T> = values.unary(|v| {
            if is_negative_zero(v) {
                T::Native::default()
            } else {
                v
            }
        });
        Some(Arc::new(fixed))
    }
    let fixed = match col.data_type() {
        DataType::Float64 => zero::<Float64Type>(&col, |v| v == 0.0 && v.is_sign_negative()),
        DataType::Float32 => zero::<Float32Type>(&col, |v| v == 0.0 && v.is_sign_negative()),
        DataType::Float16 => {
            zero::<Float16Type>(&col, |v| v.to_f32() == 0.0 && v.is_sign_negative())
        }
        _ => None,
    };
    fixed.unwrap_or(col)
}

/// The partition of a key: FNV-1a over its row bytes ([`PartitionHash::RowFormat`], the
/// checkpoints written before values were hashed).
pub(crate) fn partition_of(key: &[u8], partitions: usize) -> usize {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key {
        h ^= *b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (h % partitions as u64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Int64Array;
    use arrow::datatypes::{DataType, Field, Schema};
    use std::sync::Arc;

    #[test]
    fn without_key_columns_every_row_has_the_same_empty_key() {
        let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, true)]));
        let b =
            RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(vec![1, 2, 3]))]).unwrap();
        let k = KeyRows::of(&b, &[]).unwrap();
        assert_eq!(k.len(), 3);
        assert!(k.key(0).is_empty() && k.key(2).is_empty());
        assert_eq!(k.set().len(), 1);
        let keyed = KeyRows::new(&b, 1).unwrap();
        assert_eq!(keyed.set().len(), 3);
        assert_eq!(k.mask_in(&k.set()).true_count(), 3);
    }
}
