//! Hive-style partition folders: `region=emea/date=2026-11-21/part-0.parquet` holds rows whose
//! `region` is `emea` and `date` is `2026-11-21`, as Spark writes them with `partitionBy` and
//! discovers them on read.
//!
//! ```text
//!   file path ──► values (k=v folders, %XX unescaped, __HIVE_DEFAULT_PARTITION__ = NULL)
//!   schema    ──► the columns the file itself holds (decoded) + the path's (one value each)
//! ```
//! A declared column named like a folder key (case-insensitively, as Spark) takes the folder's
//! value, cast to its type; a value that does not convert sends the file to the bad records.
//! Without a declared schema, the keys become columns after the files' own, typed as Spark
//! infers them (INT, BIGINT, DOUBLE, DATE, TIMESTAMP, else STRING).

use std::sync::Arc;

use arrow::array::{new_null_array, Array, ArrayRef, RecordBatch, StringArray};
use arrow::compute::CastOptions;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

use super::listing::DataFile;
use crate::error::{Result, TributaryError};

/// The value Spark writes for a NULL partition value.
const NULL_VALUE: &str = "__HIVE_DEFAULT_PARTITION__";

/// The `key=value` folders of a file path relative to its table, outermost first (the file's
/// own name is not one).
pub(crate) fn folder_values(path: &str) -> Vec<(String, Option<String>)> {
    let mut parts: Vec<&str> = path.split('/').collect();
    parts.pop();
    parts
        .into_iter()
        .filter_map(|p| {
            let (k, v) = p.split_once('=')?;
            if k.is_empty() {
                return None;
            }
            let v = unescape(v);
            Some((unescape(k), (v != NULL_VALUE).then_some(v)))
        })
        .collect()
}

/// `%XX` escapes decoded (Spark escapes `/`, `=`, `:`, `%` and others in folder names).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 3 <= b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push(h * 16 + l);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|_| s.to_string())
}

/// How one file's rows get the values of its folders.
pub(crate) struct FolderColumns {
    /// The columns the file itself holds (the schema without the folders' columns).
    pub data: SchemaRef,
    /// Per column of the full schema: the folder (key and value) that fills it, or `None`
    /// when the file holds it.
    fills: Vec<Option<(String, Option<String>)>>,
}

impl FolderColumns {
    /// `None` when no column of `schema` is a folder key of `path`.
    pub(crate) fn of(schema: &SchemaRef, path: &str) -> Option<FolderColumns> {
        let values = folder_values(path);
        if values.is_empty() {
            return None;
        }
        let fills: Vec<Option<(String, Option<String>)>> = schema
            .fields()
            .iter()
            .map(|f| {
                values
                    .iter()
                    .rev()
                    .find(|(k, _)| k.eq_ignore_ascii_case(f.name()))
                    .cloned()
            })
            .collect();
        if fills.iter().all(Option::is_none) {
            return None;
        }
        let data = Schema::new(
            schema
                .fields()
                .iter()
                .zip(&fills)
                .filter(|(_, fill)| fill.is_none())
                .map(|(f, _)| f.clone())
                .collect::<Vec<_>>(),
        );
        Some(FolderColumns {
            data: Arc::new(data),
            fills,
        })
    }

    /// `batch` (of [`Self::data`]) with the folder columns put in `schema`'s places; an error
    /// naming the column and the folder when a value does not convert to its type.
    pub(crate) fn fill(&self, schema: &SchemaRef, batch: &RecordBatch) -> Result<RecordBatch> {
        let rows = batch.num_rows();
        let mut own = batch.columns().iter();
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(self.fills.len());
        for (field, fill) in schema.fields().iter().zip(&self.fills) {
            columns.push(match fill {
                None => own.next().cloned().ok_or_else(|| {
                    TributaryError::Internal("a decoded file lacks a column".into())
                })?,
                Some((key, value)) => value_column(field, key, value.as_deref(), rows)?,
            });
        }
        RecordBatch::try_new(schema.clone(), columns).map_err(TributaryError::arrow(
            "adding the partition folders' columns",
        ))
    }
}

/// `rows` copies of the value of folder `key=value` as `field`'s type.
fn value_column(field: &Field, key: &str, value: Option<&str>, rows: usize) -> Result<ArrayRef> {
    let Some(value) = value else {
        return Ok(new_null_array(field.data_type(), rows));
    };
    let text: ArrayRef = Arc::new(StringArray::from(vec![value]));
    let one = arrow::compute::cast_with_options(
        &text,
        field.data_type(),
        &CastOptions {
            safe: false,
            ..Default::default()
        },
    )
    .ok()
    .filter(|a| a.null_count() == 0)
    .ok_or_else(|| {
        TributaryError::Plan(format!(
            "the partition folder '{key}={value}' does not hold a value of column '{}', which \
             is {}: correct the folder's name, or declare the column with the type its folders \
             hold",
            field.name(),
            super::fit::sql_type(field.data_type()),
        ))
    })?;
    let zeros = arrow::array::UInt32Array::from(vec![0u32; rows]);
    arrow::compute::take(one.as_ref(), &zeros, None)
        .map_err(TributaryError::arrow("repeating a partition value"))
}

/// The folder keys of `files` as columns, for a read without a declared schema: in the order
/// of the folders, typed by all their values. Files whose folders name other keys (or the same
/// in another order) are an error naming two of them, as in Spark.
pub(crate) fn infer_folder_columns(files: &[DataFile]) -> Result<Vec<Field>> {
    let mut keys: Option<(Vec<String>, &str)> = None;
    let mut values: Vec<Vec<Option<String>>> = Vec::new();
    for f in files {
        let kv = folder_values(&f.name);
        let these: Vec<String> = kv.iter().map(|(k, _)| k.clone()).collect();
        match &keys {
            None => {
                values = vec![Vec::new(); these.len()];
                keys = Some((these, &f.name));
            }
            Some((known, first)) if !known.eq(&these) => {
                return Err(TributaryError::Plan(format!(
                    "the partition folders disagree: '{first}' is under [{}] and '{}' under \
                     [{}]; read each layout on its own (a path per layout), or move the files \
                     so that every file is under the same keys",
                    known.join(", "),
                    f.name,
                    these.join(", ")
                )));
            }
            Some(_) => {}
        }
        for (i, (_, v)) in kv.into_iter().enumerate() {
            values[i].push(v);
        }
    }
    let Some((keys, _)) = keys else {
        return Ok(Vec::new());
    };
    Ok(keys
        .into_iter()
        .zip(values)
        .map(|(k, vs)| Field::new(k, infer_type(&vs), true))
        .collect())
}

/// The type Spark infers for a partition column from its values (NULLs fit every type).
fn infer_type(values: &[Option<String>]) -> DataType {
    let all = |ok: &dyn Fn(&str) -> bool| values.iter().flatten().all(|v| ok(v));
    if values.iter().flatten().next().is_none() {
        return DataType::Utf8;
    }
    if all(&|v| v.parse::<i32>().is_ok()) {
        DataType::Int32
    } else if all(&|v| v.parse::<i64>().is_ok()) {
        DataType::Int64
    } else if all(&|v| {
        v.parse::<f64>().is_ok_and(f64::is_finite) && v.bytes().any(|b| b.is_ascii_digit())
    }) {
        DataType::Float64
    } else if all(&|v| is_date(v)) {
        DataType::Date32
    } else if all(&|v| is_timestamp(v)) {
        DataType::Timestamp(TimeUnit::Microsecond, None)
    } else {
        DataType::Utf8
    }
}

fn is_date(v: &str) -> bool {
    let b = v.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d").is_ok()
}

fn is_timestamp(v: &str) -> bool {
    ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"]
        .iter()
        .any(|f| chrono::NaiveDateTime::parse_from_str(v, f).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{AsArray, Int64Array};
    use arrow::datatypes::{Date32Type, Int32Type};

    fn file(name: &str) -> DataFile {
        DataFile {
            name: name.into(),
            size: 1,
            modified_ms: 0,
        }
    }

    #[test]
    fn folders_give_their_values_unescaped_and_the_default_partition_is_null() {
        assert_eq!(
            folder_values("region=emea/ts=2026-11-21 10%3A00%3A00/other/part-0.json"),
            vec![
                ("region".to_string(), Some("emea".to_string())),
                ("ts".to_string(), Some("2026-11-21 10:00:00".to_string())),
            ]
        );
        assert_eq!(
            folder_values("k=__HIVE_DEFAULT_PARTITION__/a=b.json"),
            vec![("k".to_string(), None)]
        );
        assert!(folder_values("x=1.json").is_empty());
        assert!(folder_values("=1/f.json").is_empty());
        assert_eq!(unescape("50%25%"), "50%%");
    }

    #[test]
    fn types_are_inferred_as_spark_infers_them() {
        let v = |xs: &[&str]| xs.iter().map(|x| Some(x.to_string())).collect::<Vec<_>>();
        assert_eq!(infer_type(&v(&["1", "22"])), DataType::Int32);
        assert_eq!(infer_type(&v(&["1", "3000000000"])), DataType::Int64);
        assert_eq!(infer_type(&v(&["1", "2.5"])), DataType::Float64);
        assert_eq!(
            infer_type(&v(&["2026-11-21", "2026-01-01"])),
            DataType::Date32
        );
        assert_eq!(
            infer_type(&v(&["2026-11-21 10:00:00"])),
            DataType::Timestamp(TimeUnit::Microsecond, None)
        );
        assert_eq!(infer_type(&v(&["2026-11-21", "emea"])), DataType::Utf8);
        assert_eq!(infer_type(&v(&["nan"])), DataType::Utf8);
        let mut with_null = v(&["7"]);
        with_null.push(None);
        assert_eq!(infer_type(&with_null), DataType::Int32);
    }

    #[test]
    fn columns_are_inferred_from_every_file_and_layouts_must_agree() {
        let fields = infer_folder_columns(&[
            file("year=2026/day=2026-11-21/a.json"),
            file("year=2025/day=__HIVE_DEFAULT_PARTITION__/b.json"),
        ])
        .unwrap();
        assert_eq!(fields[0], Field::new("year", DataType::Int32, true));
        assert_eq!(fields[1], Field::new("day", DataType::Date32, true));
        assert!(infer_folder_columns(&[file("a.json")]).unwrap().is_empty());
        let err = infer_folder_columns(&[file("year=2026/a.json"), file("b.json")])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("'year=2026/a.json' is under [year]") && err.contains("'b.json' under []"),
            "{err}"
        );
    }

    #[test]
    fn a_file_gets_its_folders_values_in_the_declared_places() {
        let schema: SchemaRef = Arc::new(Schema::new(vec![
            Field::new("YEAR", DataType::Int32, true),
            Field::new("id", DataType::Int64, true),
            Field::new("day", DataType::Date32, true),
        ]));
        let cols = FolderColumns::of(&schema, "year=2026/day=2026-11-21/a.json").unwrap();
        assert_eq!(cols.data.fields().len(), 1);
        let own = RecordBatch::try_new(
            cols.data.clone(),
            vec![Arc::new(Int64Array::from(vec![1, 2]))],
        )
        .unwrap();
        let full = cols.fill(&schema, &own).unwrap();
        assert_eq!(
            full.column(0).as_primitive::<Int32Type>().values(),
            &[2026, 2026]
        );
        assert_eq!(full.column(1).as_ref(), own.column(0).as_ref());
        assert_eq!(full.column(2).as_primitive::<Date32Type>().value(1), 20778);
        assert!(FolderColumns::of(&schema, "a.json").is_none());
        assert!(FolderColumns::of(&schema, "other=1/a.json").is_none());
        let bad = FolderColumns::of(&schema, "year=soon/a.json").unwrap();
        let err = bad.fill(&schema, &own).unwrap_err().to_string();
        assert!(
            err.contains("'year=soon' does not hold a value of column 'YEAR', which is INT"),
            "{err}"
        );
    }
}
