//! Rows written under Hive-style `column=value/` folders (Spark's `partitionBy`): each
//! partition column's value names a folder, and the files beneath hold the other columns.
//! Values are written as Spark writes them: text of the value with the characters that cannot
//! stand in a folder name escaped as `%XX`, and `__HIVE_DEFAULT_PARTITION__` for NULL and the
//! empty string. The file source reads them back (`format/partitions.rs`).

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{RecordBatch, UInt32Array};
use arrow::datatypes::{DataType, SchemaRef};
use arrow::util::display::{ArrayFormatter, FormatOptions};

use crate::error::{Result, TributaryError};

const NULL_VALUE: &str = "__HIVE_DEFAULT_PARTITION__";

/// How rows of one schema are split into partition folders.
pub(crate) struct PartitionFolders {
    /// The partition columns (indices and names as the rows spell them).
    columns: Vec<(usize, String)>,
    /// The other columns: what the files hold.
    keep: Vec<usize>,
    file_schema: SchemaRef,
}

impl PartitionFolders {
    /// Partitioning of rows of `schema` by `names` (matched as Spark matches them: exactly,
    /// else regardless of case).
    pub(crate) fn new(schema: &SchemaRef, names: &[String]) -> Result<Self> {
        let all: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        let mut columns = Vec::with_capacity(names.len());
        for name in names {
            let index = all
                .iter()
                .position(|c| c == name)
                .or_else(|| all.iter().position(|c| c.eq_ignore_ascii_case(name)))
                .ok_or_else(|| {
                    TributaryError::Plan(format!(
                        "partition_by: the rows have no column '{name}' (their columns: {})",
                        all.join(", ")
                    ))
                })?;
            if columns.iter().any(|(i, _)| *i == index) {
                return Err(TributaryError::Plan(format!(
                    "partition_by names column '{name}' twice"
                )));
            }
            let field = schema.field(index);
            if matches!(
                field.data_type(),
                DataType::Struct(_)
                    | DataType::List(_)
                    | DataType::LargeList(_)
                    | DataType::FixedSizeList(..)
                    | DataType::Map(..)
                    | DataType::Binary
                    | DataType::LargeBinary
            ) {
                return Err(TributaryError::Plan(format!(
                    "partition_by: column '{}' is {}, which cannot name a folder: partition by \
                     a plain column (text, number, date, timestamp, boolean)",
                    field.name(),
                    crate::format::sql_type(field.data_type())
                )));
            }
            columns.push((index, field.name().clone()));
        }
        let keep: Vec<usize> = (0..all.len())
            .filter(|i| !columns.iter().any(|(c, _)| c == i))
            .collect();
        if keep.is_empty() {
            return Err(TributaryError::Plan(format!(
                "partition_by ({}) names every column: the files would hold nothing; leave at \
                 least one column out",
                names.join(", ")
            )));
        }
        let file_schema = Arc::new(
            schema
                .project(&keep)
                .map_err(TributaryError::arrow("partition folders"))?,
        );
        Ok(PartitionFolders {
            columns,
            keep,
            file_schema,
        })
    }

    /// What the files hold: the rows' columns less the partition columns.
    pub(crate) fn file_schema(&self) -> SchemaRef {
        self.file_schema.clone()
    }

    /// The rows of `batch` by folder (`a=1/b=x/`), in the order each folder first appears,
    /// each without the partition columns.
    pub(crate) fn split(&self, batch: &RecordBatch) -> Result<Vec<(String, RecordBatch)>> {
        let err = TributaryError::arrow;
        let options = FormatOptions::default()
            .with_null(NULL_VALUE)
            .with_timestamp_format(Some("%Y-%m-%d %H:%M:%S%.f"))
            // Spark writes a zoned timestamp in the session's time zone without the offset.
            .with_timestamp_tz_format(Some("%Y-%m-%d %H:%M:%S%.f"));
        let formatters = self
            .columns
            .iter()
            .map(|(i, _)| ArrayFormatter::try_new(batch.column(*i).as_ref(), &options))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(err("partition values"))?;
        let names: Vec<String> = self.columns.iter().map(|(_, n)| escape(n)).collect();
        let mut order: Vec<String> = Vec::new();
        let mut rows: HashMap<String, Vec<u32>> = HashMap::new();
        for r in 0..batch.num_rows() {
            let mut folder = String::new();
            for (name, f) in names.iter().zip(&formatters) {
                let value = f.value(r).to_string();
                let value = if value.is_empty() {
                    NULL_VALUE.to_string()
                } else if value == NULL_VALUE {
                    value
                } else {
                    escape(&value)
                };
                folder.push_str(name);
                folder.push('=');
                folder.push_str(&value);
                folder.push('/');
            }
            rows.entry(folder.clone())
                .or_insert_with(|| {
                    order.push(folder);
                    Vec::new()
                })
                .push(r as u32);
        }
        let unsplit = order.len() == 1;
        order
            .into_iter()
            .map(|folder| {
                let picked = if unsplit {
                    batch.clone()
                } else {
                    arrow::compute::take_record_batch(
                        batch,
                        &UInt32Array::from(rows.remove(&folder).unwrap_or_default()),
                    )
                    .map_err(err("partition folders"))?
                };
                let files = picked
                    .project(&self.keep)
                    .map_err(err("partition folders"))?;
                Ok((folder, files))
            })
            .collect()
    }
}

/// `s` with what a folder name cannot hold escaped as Spark escapes it.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let needs = c.is_ascii_control()
            || matches!(
                c,
                '"' | '#' | '%' | '\'' | '*' | '/' | ':' | '=' | '?' | '\\' | '{' | '[' | ']' | '^'
            );
        if needs {
            out.push_str(&format!("%{:02X}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringArray, TimestampMicrosecondArray};
    use arrow::datatypes::{Field, Schema, TimeUnit};

    #[test]
    fn rows_go_to_their_folders_without_the_partition_columns() {
        let schema: SchemaRef = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("region", DataType::Utf8, true),
            Field::new("at", DataType::Timestamp(TimeUnit::Microsecond, None), true),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from(vec![1, 2, 3, 4])),
                Arc::new(StringArray::from(vec![
                    Some("emea"),
                    None,
                    Some("a/b"),
                    Some("emea"),
                ])),
                Arc::new(TimestampMicrosecondArray::from(vec![
                    Some(0),
                    Some(0),
                    Some(1_500_000),
                    Some(0),
                ])),
            ],
        )
        .unwrap();
        let p = PartitionFolders::new(&schema, &["REGION".into(), "at".into()]).unwrap();
        assert_eq!(p.file_schema().fields().len(), 1);
        let split = p.split(&batch).unwrap();
        let folders: Vec<(&str, Vec<i64>)> = split
            .iter()
            .map(|(f, b)| {
                let ids = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
                (f.as_str(), ids.values().to_vec())
            })
            .collect();
        assert_eq!(
            folders,
            vec![
                ("region=emea/at=1970-01-01 00%3A00%3A00/", vec![1, 4]),
                (
                    "region=__HIVE_DEFAULT_PARTITION__/at=1970-01-01 00%3A00%3A00/",
                    vec![2]
                ),
                ("region=a%2Fb/at=1970-01-01 00%3A00%3A01.500/", vec![3]),
            ]
        );
        // What the reader makes of the folders is what was written.
        let back = crate::format::folder_values(&format!("{}part-0.json", split[2].0));
        assert_eq!(back[0], ("region".to_string(), Some("a/b".to_string())));
        assert_eq!(back[1].1.as_deref(), Some("1970-01-01 00:00:01.500"));
    }

    #[test]
    fn unknown_repeated_nested_and_every_column_are_refused() {
        let schema: SchemaRef = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new(
                "tags",
                DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
                true,
            ),
        ]));
        let err = |names: &[&str]| {
            PartitionFolders::new(
                &schema,
                &names.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            )
            .err()
            .unwrap()
            .to_string()
        };
        assert!(err(&["idd"]).contains("no column 'idd' (their columns: id, tags)"));
        assert!(err(&["id", "ID"]).contains("twice"));
        assert!(err(&["tags"]).contains("cannot name a folder"));
        let only = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false)]));
        assert!(PartitionFolders::new(&only, &["id".into()])
            .err()
            .unwrap()
            .to_string()
            .contains("names every column"));
    }
}
