//! PySpark's `col[key]` / `getItem(key)` (`spark_get_item`) and `element_at(col, key)`
//! (`spark_element_at`) over an array or a map, whichever the column is.
//!
//! SQL's `a[i]` counts an array from 1 and gives NULL past its end, and a map's key must have the
//! key's exact type; PySpark's `getItem` counts from 0 and, in ANSI mode, an index out of the
//! array raises `[INVALID_ARRAY_INDEX]` (`element_at` counts from 1, from the end when negative,
//! and raises `[INVALID_ARRAY_INDEX_IN_ELEMENT_AT]`, or `[INVALID_INDEX_OF_ZERO]` for 0). A map
//! gives its value for the key (of any type that casts to the key's), NULL when the key is
//! missing. The Python package cannot tell an array from a map where it writes the SQL, so the
//! engine decides, by the column's type.

use std::cmp::Ordering;

use arrow::array::{make_comparator, Array, ArrayRef, AsArray, Int64Array, UInt64Array};
use arrow::compute::SortOptions;
use arrow::datatypes::{DataType, Int64Type};
use datafusion::common::{exec_err, plan_err, DataFusionError, Result};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

/// `spark_get_item` (from 0) or `spark_element_at` (from 1).
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct SparkGetItemFn {
    element_at: bool,
    signature: Signature,
}

impl SparkGetItemFn {
    pub(crate) fn get_item() -> Self {
        Self {
            element_at: false,
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }

    pub(crate) fn element_at() -> Self {
        Self {
            element_at: true,
            ..Self::get_item()
        }
    }

    /// Where the element `key` of an array of `len` elements is (`Ok(None)`: a NULL), or the
    /// error Spark raises.
    fn index(&self, key: i64, len: i64) -> Result<Option<i64>> {
        let at = match (self.element_at, key) {
            (false, k) if (0..len).contains(&k) => return Ok(Some(k)),
            (false, k) => {
                return exec_err!(
                    "[INVALID_ARRAY_INDEX] The index {k} is out of bounds. The array has {len} \
                     elements. Check the length with size() first"
                )
            }
            (true, 0) => {
                return exec_err!(
                    "[INVALID_INDEX_OF_ZERO] The index 0 is invalid. An index shall be either < 0 \
                     or > 0 (the first element has index 1)"
                )
            }
            (true, k) if k > 0 => k - 1,
            (true, k) => len + k,
        };
        if (0..len).contains(&at) {
            return Ok(Some(at));
        }
        exec_err!(
            "[INVALID_ARRAY_INDEX_IN_ELEMENT_AT] The index {key} is out of bounds. The array has \
             {len} elements. Check the length with size() first"
        )
    }
}

impl ScalarUDFImpl for SparkGetItemFn {
    fn name(&self) -> &str {
        if self.element_at {
            "spark_element_at"
        } else {
            "spark_get_item"
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        let [container, key] = args else {
            return plan_err!("{} takes a column and a key", self.name());
        };
        let key = match container {
            DataType::List(_) | DataType::LargeList(_) | DataType::FixedSizeList(..)
                if key.is_integer() || key.is_null() =>
            {
                DataType::Int64
            }
            DataType::List(_) | DataType::LargeList(_) | DataType::FixedSizeList(..) => {
                return plan_err!("an array's index is an integer, not {key}")
            }
            DataType::Map(entries, _) => match entries.data_type() {
                DataType::Struct(fields) => fields[0].data_type().clone(),
                other => return plan_err!("a map of entries {other}"),
            },
            DataType::Null => key.clone(),
            other => {
                return plan_err!(
                    "getItem / element_at take an array or a map, not {other}; a struct's \
                     field is col.getField(name)"
                )
            }
        };
        Ok(vec![container.clone(), key])
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        match &args[0] {
            DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => {
                Ok(f.data_type().clone())
            }
            DataType::Map(entries, _) => match entries.data_type() {
                DataType::Struct(fields) => Ok(fields[1].data_type().clone()),
                other => plan_err!("a map of entries {other}"),
            },
            DataType::Null => Ok(DataType::Null),
            other => plan_err!("{} of {other}", self.name()),
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let (container, key) = (&arrays[0], &arrays[1]);
        let out = match container.data_type() {
            DataType::Null => return Ok(ColumnarValue::Array(container.clone())),
            DataType::Map(..) => map_values(container, key)?,
            DataType::FixedSizeList(f, _) => {
                let list = arrow::compute::cast(container, &DataType::LargeList(f.clone()))?;
                self.elements(&list, key)?
            }
            _ => self.elements(container, key)?,
        };
        debug_assert_eq!(out.len(), rows);
        Ok(ColumnarValue::Array(out))
    }
}

impl SparkGetItemFn {
    /// The array elements `key` picks, row by row.
    fn elements(&self, lists: &ArrayRef, key: &ArrayRef) -> Result<ArrayRef> {
        let key = key.as_primitive::<Int64Type>();
        let (starts, values): (Vec<(i64, i64)>, ArrayRef) = match lists.data_type() {
            DataType::List(_) => {
                let l = lists.as_list::<i32>();
                let o = l.offsets();
                let spans = o.windows(2).map(|w| (w[0] as i64, (w[1] - w[0]) as i64));
                (spans.collect(), l.values().clone())
            }
            DataType::LargeList(_) => {
                let l = lists.as_list::<i64>();
                let o = l.offsets();
                (
                    o.windows(2).map(|w| (w[0], w[1] - w[0])).collect(),
                    l.values().clone(),
                )
            }
            other => return exec_err!("{} of {other}", self.name()),
        };
        let picks = (0..lists.len())
            .map(|row| {
                if lists.is_null(row) || key.is_null(row) {
                    return Ok(None);
                }
                let (start, len) = starts[row];
                Ok(self.index(key.value(row), len)?.map(|i| (start + i) as u64))
            })
            .collect::<Result<UInt64Array>>()?;
        Ok(arrow::compute::take(values.as_ref(), &picks, None)?)
    }
}

/// The map values of `key`, row by row (NULL where the key is missing).
fn map_values(maps: &ArrayRef, key: &ArrayRef) -> Result<ArrayRef> {
    let map = maps.as_map();
    let keys = map.keys();
    let same = make_comparator(keys.as_ref(), key.as_ref(), SortOptions::default())
        .map_err(|e| DataFusionError::ArrowError(Box::new(e), None))?;
    let offsets = map.offsets();
    let picks: Int64Array = (0..maps.len())
        .map(|row| {
            if maps.is_null(row) || key.is_null(row) {
                return None;
            }
            let (start, end) = (offsets[row] as usize, offsets[row + 1] as usize);
            (start..end)
                .find(|&j| same(j, row) == Ordering::Equal)
                .map(|j| j as i64)
        })
        .collect();
    Ok(arrow::compute::take(map.values().as_ref(), &picks, None)?)
}

#[cfg(test)]
mod tests {
    use crate::sql_rows::sql_rows as run;

    #[tokio::test]
    async fn an_array_counts_from_zero_and_a_map_looks_up_its_key() {
        let got = run(
            "SELECT spark_get_item(a, 1), spark_get_item(spark_get_item(n, 0), 1), \
             spark_get_item(m, 2), spark_get_item(m, CAST(3 AS BIGINT)), \
             spark_element_at(a, -1), spark_get_item(a, k) \
             FROM (VALUES (make_array(10, 20), make_array(make_array(1, 2), make_array(3)), \
                           map(make_array(1, 2), make_array('a', 'b')), 0)) AS t(a, n, m, k)",
        )
        .await
        .unwrap();
        assert_eq!(got, vec!["|20|2|b||20|10|"]);
        // NULL arrays, maps and keys give NULL; so does a missing key.
        let got = run(
            "SELECT spark_get_item(CAST(NULL AS INT[]), 5), spark_get_item(make_array(1), NULL)",
        )
        .await
        .unwrap();
        assert_eq!(got, vec!["|||"]);
    }

    #[tokio::test]
    async fn an_index_out_of_the_array_raises_sparks_condition() {
        for (sql, condition) in [
            // Two elements in the outer array (three inside it).
            (
                "SELECT spark_get_item(make_array(make_array(1, 2), make_array(3)), 2)",
                "[INVALID_ARRAY_INDEX] The index 2 is out of bounds. The array has 2 elements",
            ),
            (
                "SELECT spark_get_item(make_array(1), -1)",
                "[INVALID_ARRAY_INDEX] The index -1",
            ),
            (
                "SELECT spark_element_at(make_array(1, 2), 3)",
                "[INVALID_ARRAY_INDEX_IN_ELEMENT_AT] The index 3",
            ),
            (
                "SELECT spark_element_at(make_array(1, 2), 0)",
                "[INVALID_INDEX_OF_ZERO]",
            ),
        ] {
            let err = run(sql).await.unwrap_err();
            assert!(err.contains(condition), "{sql}: {err}");
        }
    }
}
