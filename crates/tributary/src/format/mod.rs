//! File formats: listing a folder, decoding JSON lines, CSV and Parquet into Arrow batches of a
//! declared schema, routing bad records aside, and a DataFusion table over a set of files.
//!
//! ```text
//!   listing (honours _tributary_log manifests) -> files -> decode (per file, per line on error)
//!                                                           |-> good rows: RecordBatch
//!                                                           `-> bad rows:  BadRecords -> dead letters
//! ```

mod bad_records;
mod compression;
mod decode;
mod depth;
mod fit;
mod flat_json;
pub mod json_out;
mod listing;
mod partitions;
pub(crate) mod read_ahead;
mod sized_scan;
pub(crate) mod surrogates;
mod table;
mod timestamps;

pub use bad_records::{BadRecord, BadRecordMode, BadRecords};
pub(crate) use compression::text_content;
pub use decode::decode_file;
pub(crate) use decode::{decode_json_values, infer_schema};
pub use fit::sql_type;
pub(crate) use listing::{
    list_data_files, list_data_files_after, listing_manifest, DataFile, MANIFEST_DIR,
};
#[cfg(test)]
pub(crate) use partitions::folder_values;
pub(crate) use partitions::infer_folder_columns;
pub(crate) use table::{FileTable, ScanProgress};

use std::collections::HashMap;

use crate::error::{Result, TributaryError};

/// A file format Tributary reads and writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileFormat {
    /// JSON lines: one object per line.
    Json,
    /// CSV.
    Csv {
        /// The first line names the columns.
        has_header: bool,
        /// Field delimiter.
        delimiter: u8,
    },
    /// Apache Parquet.
    Parquet,
}

/// A CSV delimiter: one ASCII character, or written as an escape, as Spark's `sep` takes it
/// (`\t` for a tab, `\u0001` for a control character).
fn delimiter_byte(v: &str) -> Result<u8> {
    let byte = match v {
        "\\t" => Some(b'\t'),
        v if v.len() == 1 && v.is_ascii() => Some(v.as_bytes()[0]),
        v => v
            .strip_prefix("\\u")
            .and_then(|hex| u8::from_str_radix(hex, 16).ok())
            .filter(|b| b.is_ascii()),
    };
    byte.ok_or_else(|| {
        TributaryError::option(
            "delimiter",
            format!(
                "'{v}' is not one ASCII character: give one character, or \\t for a tab, or \\u0001 \
                 for a control character"
            ),
        )
    })
}

impl FileFormat {
    /// Parse a format name and its options (`header`/`has_header`, `delimiter`/`sep`).
    pub fn parse(name: &str, options: &HashMap<String, String>) -> Result<FileFormat> {
        match name.to_ascii_lowercase().as_str() {
            "json" | "ndjson" | "jsonl" => Ok(FileFormat::Json),
            "parquet" => Ok(FileFormat::Parquet),
            "csv" => {
                let has_header = match options.get("has_header").or_else(|| options.get("header")) {
                    None => true,
                    Some(v) => parse_bool("has_header", v)?,
                };
                let delimiter = match options.get("delimiter").or_else(|| options.get("sep")) {
                    None => b',',
                    Some(v) => delimiter_byte(v)?,
                };
                Ok(FileFormat::Csv {
                    has_header,
                    delimiter,
                })
            }
            other => Err(TributaryError::Plan(format!(
                "unknown file format '{other}': use json, csv or parquet"
            ))),
        }
    }

    /// The usual file extension.
    pub fn extension(&self) -> &'static str {
        match self {
            FileFormat::Json => "json",
            FileFormat::Csv { .. } => "csv",
            FileFormat::Parquet => "parquet",
        }
    }
}

/// Parse a boolean option.
pub fn parse_bool(option: &str, v: &str) -> Result<bool> {
    crate::connector::options::parse_bool(v)
        .ok_or_else(|| TributaryError::option(option, format!("'{v}' is not true or false")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_csv_delimiter_is_one_character_or_an_escape_as_spark_takes_it() {
        assert_eq!(delimiter_byte(";").unwrap(), b';');
        assert_eq!(delimiter_byte("\t").unwrap(), b'\t');
        assert_eq!(delimiter_byte("\\t").unwrap(), b'\t');
        assert_eq!(delimiter_byte("\\u0001").unwrap(), 1);
        for bad in ["", "ab", "é", "\\u00e9", "\\uzz"] {
            let why = delimiter_byte(bad).unwrap_err().to_string();
            assert!(why.contains("\\t for a tab"), "{bad}: {why}");
        }
        let tab = HashMap::from([("sep".to_string(), "\\t".to_string())]);
        assert!(matches!(
            FileFormat::parse("csv", &tab).unwrap(),
            FileFormat::Csv {
                delimiter: b'\t',
                ..
            }
        ));
    }
}
