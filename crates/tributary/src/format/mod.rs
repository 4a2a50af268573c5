//! File formats: listing a folder, decoding JSON lines, CSV and Parquet into Arrow batches of a
//! declared schema, routing bad records aside, and a DataFusion table over a set of files.
//!
//! ```text
//!   listing (honours _tributary_log manifests) -> files -> decode (per file, per line on error)
//!                                                           |-> good rows: RecordBatch
//!                                                           `-> bad rows:  BadRecords -> dead letters
//! ```

mod bad_records;
mod decode;
mod depth;
mod fit;
mod flat_json;
mod listing;
pub(crate) mod read_ahead;
mod sized_scan;
pub(crate) mod surrogates;
mod table;
mod timestamps;

pub use bad_records::{BadRecord, BadRecordMode, BadRecords};
pub use decode::decode_file;
pub(crate) use decode::{decode_json_values, infer_schema};
pub(crate) use listing::{
    list_data_files, list_data_files_after, listing_manifest, DataFile, MANIFEST_DIR,
};
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
                    Some(v) if v.len() == 1 => v.as_bytes()[0],
                    Some(v) => {
                        return Err(TributaryError::option(
                            "delimiter",
                            format!("'{v}' is not one ASCII character"),
                        ))
                    }
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
