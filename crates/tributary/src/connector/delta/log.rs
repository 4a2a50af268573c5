//! The parts of a Delta commit (`_delta_log/<version>.json`) that a streaming reader needs:
//! the files a commit added and removed, whether they change data, and when it was committed.

use serde_json::Value;

use crate::error::{Result, TributaryError};

/// A data file named by an `add`, `remove` or `cdc` action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FileAction {
    /// The path as written in the log (relative to the table root, URL-encoded).
    pub path: String,
    /// Size in bytes (0 when the log does not say).
    pub size: u64,
    /// Rows in the file, from the file statistics, when the log has them.
    pub num_records: Option<u64>,
    /// Whether the action changes the table's data (`dataChange`); compaction says `false`.
    pub data_change: bool,
}

/// One commit of the log, reduced to what a stream reader acts on.
#[derive(Debug, Clone, Default)]
pub(crate) struct Commit {
    /// The commit time in milliseconds (`commitInfo.timestamp`, else the file's time).
    pub timestamp_ms: i64,
    /// The operation (`WRITE`, `MERGE`, `OPTIMIZE`, ...), when the commit says.
    pub operation: Option<String>,
    /// Files added, in log order.
    pub adds: Vec<FileAction>,
    /// Files removed, in log order.
    pub removes: Vec<FileAction>,
    /// Change data files (`cdc` actions), written when change data feed is on.
    pub cdc: Vec<FileAction>,
    /// Whether the commit changed the table's metadata (schema, properties).
    pub metadata_changed: bool,
}

impl Commit {
    /// Parse the newline-delimited JSON actions of commit `version`.
    pub(super) fn parse(version: u64, bytes: &[u8]) -> Result<Commit> {
        let mut commit = Commit::default();
        for (n, line) in bytes.split(|b| *b == b'\n').enumerate() {
            if line.iter().all(|b| b.is_ascii_whitespace()) {
                continue;
            }
            let action: Value = serde_json::from_slice(line).map_err(|e| TributaryError::Plan(format!(
                "Delta log commit {version} has a malformed action on line {}: {e}; the table's log is damaged",
                n + 1
            )))?;
            if let Some(add) = action.get("add") {
                commit.adds.push(file_action(add, true));
            } else if let Some(remove) = action.get("remove") {
                commit.removes.push(file_action(remove, true));
            } else if let Some(cdc) = action.get("cdc") {
                commit.cdc.push(file_action(cdc, false));
            } else if let Some(info) = action.get("commitInfo") {
                if let Some(ts) = info.get("timestamp").and_then(Value::as_i64) {
                    commit.timestamp_ms = ts;
                }
                commit.operation = info
                    .get("operation")
                    .and_then(Value::as_str)
                    .map(str::to_string);
            } else if action.get("metaData").is_some() {
                commit.metadata_changed = true;
            }
        }
        Ok(commit)
    }

    /// Added files that carry new data (not compaction rewrites).
    pub(super) fn data_adds(&self) -> impl Iterator<Item = &FileAction> {
        self.adds.iter().filter(|a| a.data_change)
    }

    /// Whether the commit removed data (a delete, update or merge; not a compaction).
    pub(super) fn removes_data(&self) -> bool {
        self.removes.iter().any(|r| r.data_change)
    }

    /// The operation for messages.
    pub(super) fn operation_name(&self) -> &str {
        self.operation.as_deref().unwrap_or("an unnamed operation")
    }
}

fn file_action(v: &Value, default_data_change: bool) -> FileAction {
    let num_records = v
        .get("stats")
        .and_then(Value::as_str)
        .and_then(|s| serde_json::from_str::<Value>(s).ok())
        .and_then(|s| s.get("numRecords").and_then(Value::as_u64));
    FileAction {
        path: v
            .get("path")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        size: v.get("size").and_then(Value::as_u64).unwrap_or(0),
        num_records,
        data_change: v
            .get("dataChange")
            .and_then(Value::as_bool)
            .unwrap_or(default_data_change),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_adds_removes_and_commit_info() {
        let log = br#"{"commitInfo":{"timestamp":1700000000000,"operation":"MERGE"}}
{"add":{"path":"a.parquet","size":10,"dataChange":true,"stats":"{\"numRecords\":3}","partitionValues":{}}}
{"remove":{"path":"b.parquet","dataChange":true}}
{"add":{"path":"c.parquet","size":20,"dataChange":false,"partitionValues":{}}}
"#;
        let c = Commit::parse(7, log).unwrap();
        assert_eq!(c.timestamp_ms, 1_700_000_000_000);
        assert_eq!(c.operation_name(), "MERGE");
        assert_eq!(c.data_adds().count(), 1);
        assert_eq!(c.adds[0].num_records, Some(3));
        assert!(c.removes_data());
        assert!(!c.metadata_changed);
    }

    #[test]
    fn a_damaged_line_is_an_error_that_names_the_commit() {
        let err = Commit::parse(3, b"{\"add\": nope}\n").unwrap_err();
        assert!(err.to_string().contains("commit 3"), "{err}");
    }
}
