//! Delta table maintenance: compaction, vacuum, log checkpoints, history and description.
//! Behind `tributary table optimize|vacuum|history|describe PATH`, and the Delta sink's
//! `auto_compact` option.
//!
//! Compaction commits its rewrites with `dataChange: false`, so streams reading the table
//! (Tributary's Delta source, Spark's) skip the commit instead of reading the rows again.

use std::num::NonZeroU64;

use deltalake::DeltaTable;
use serde::Serialize;
use serde_json::Value;

use crate::error::{Result, TributaryError};
use crate::location::Location;

/// Files below this share of the target size count as small for `auto_compact`.
const SMALL_FILE_SHARE: u64 = 4;
/// Delta's default target file size (100 MiB), when the table does not set one.
const DEFAULT_TARGET: u64 = 100 << 20;

/// What `optimize` did.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct OptimizeReport {
    /// The table's version after the compaction (unchanged when nothing was compacted).
    pub version: Option<u64>,
    /// Files written.
    pub files_added: u64,
    /// Files replaced.
    pub files_removed: u64,
    /// Data files in the table before.
    pub files_before: usize,
    /// Data files in the table after.
    pub files_after: usize,
}

/// What `vacuum` did.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct VacuumReport {
    /// Whether files were only listed.
    pub dry_run: bool,
    /// The files deleted (or that would be).
    pub files: Vec<String>,
}

/// A table's state in brief.
#[derive(Debug, Clone, Serialize)]
pub struct TableDescription {
    /// Where the table is.
    pub location: String,
    /// Its latest version.
    pub version: u64,
    /// Columns with their types.
    pub columns: Vec<(String, String)>,
    /// Partition columns.
    pub partition_columns: Vec<String>,
    /// Table properties.
    pub properties: std::collections::BTreeMap<String, String>,
    /// Live data files.
    pub num_files: usize,
    /// Their total size in bytes.
    pub size_bytes: u64,
    /// Protocol versions (reader, writer).
    pub protocol: (i32, i32),
}

/// Open an existing table (an error that says so when there is none).
pub async fn open(location: &Location) -> Result<DeltaTable> {
    open_at(location, None).await
}

/// Open an existing table at `version`, or at its latest version.
pub async fn open_at(location: &Location, version: Option<u64>) -> Result<DeltaTable> {
    let not_a_table = || {
        TributaryError::Plan(format!(
            "'{}' is not a Delta table (no _delta_log): check the path, or write to it first",
            location.display
        ))
    };
    if let Some(path) = location.local_path() {
        if !path.join("_delta_log").is_dir() {
            return Err(not_a_table());
        }
    }
    let opened = match crate::storage::table_builder(location) {
        Err(e) => Err(e),
        Ok(b) => match version {
            None => b.load().await,
            Some(v) => b.with_version(v).load().await,
        },
    };
    opened.map_err(|e| match e {
        deltalake::DeltaTableError::NotATable(_) => not_a_table(),
        other => TributaryError::delta(&location.display)(other),
    })
}

fn num_files(table: &DeltaTable) -> Result<usize> {
    Ok(table
        .snapshot()
        .map_err(TributaryError::delta(table.table_url().as_str()))?
        .log_data()
        .num_files())
}

/// Bin-pack small files into files of about `target_size` bytes (the table's
/// `delta.targetFileSize`, else 100 MiB), committed as data-unchanged.
pub async fn optimize(location: &Location, target_size: Option<u64>) -> Result<OptimizeReport> {
    let table = open(location).await?;
    let (_, report) = optimize_table(location, table, target_size).await?;
    Ok(report)
}

async fn optimize_table(
    location: &Location,
    table: DeltaTable,
    target_size: Option<u64>,
) -> Result<(DeltaTable, OptimizeReport)> {
    let files_before = num_files(&table)?;
    let mut builder = table.optimize();
    if let Some(size) = target_size.and_then(NonZeroU64::new) {
        builder = builder.with_target_size(size);
    }
    let (table, metrics) = builder
        .await
        .map_err(TributaryError::delta(&location.display))?;
    let report = OptimizeReport {
        version: table.version(),
        files_added: metrics.num_files_added,
        files_removed: metrics.num_files_removed,
        files_before,
        files_after: num_files(&table)?,
    };
    Ok((table, report))
}

/// `auto_compact`: compact when at least `min_files` files are small.
pub(crate) async fn compact_if_needed(
    location: &Location,
    table: DeltaTable,
    min_files: usize,
    target_size: Option<u64>,
) -> Result<DeltaTable> {
    let target = target_size.unwrap_or(DEFAULT_TARGET);
    let small = table
        .snapshot()
        .map_err(TributaryError::delta(&location.display))?
        .log_data()
        .iter()
        .filter(|f| (f.size().max(0) as u64) < target / SMALL_FILE_SHARE)
        .count();
    if small < min_files {
        return Ok(table);
    }
    let (table, report) = optimize_table(location, table, Some(target)).await?;
    tracing::info!(
        files_removed = report.files_removed,
        files_added = report.files_added,
        "Delta sink: compacted small files"
    );
    Ok(table)
}

/// Delete files no version younger than `retention_hours` needs. Below the table's
/// `delta.deletedFileRetentionDuration` (7 days by default) it refuses unless `force`, as
/// Delta does: a reader of an older version would lose its files.
pub async fn vacuum(
    location: &Location,
    retention_hours: Option<u64>,
    dry_run: bool,
    force: bool,
) -> Result<VacuumReport> {
    let table = open(location).await?;
    let mut builder = table
        .vacuum()
        .with_dry_run(dry_run)
        .with_enforce_retention_duration(!force);
    if let Some(h) = retention_hours {
        builder = builder.with_retention_period(chrono::Duration::hours(h as i64));
    }
    let (_, metrics) = builder.await.map_err(|e| {
        let msg = e.to_string();
        if msg.contains("retention") {
            TributaryError::option(
                "retention",
                format!(
                    "{}; pass a longer retention, or --force if no reader needs older versions",
                    msg.split(": ").last().unwrap_or(&msg)
                ),
            )
        } else {
            TributaryError::delta(&location.display)(e)
        }
    })?;
    Ok(VacuumReport {
        dry_run: metrics.dry_run,
        files: metrics.files_deleted,
    })
}

/// Write a log checkpoint at the latest version (readers then skip replaying older commits).
pub async fn checkpoint(location: &Location) -> Result<u64> {
    let table = open(location).await?;
    deltalake::checkpoints::create_checkpoint(&table, None)
        .await
        .map_err(TributaryError::delta(&location.display))?;
    Ok(table.version().unwrap_or(0))
}

/// The newest `limit` commits, newest first: `{"version": v, ...commitInfo}`.
pub async fn history(location: &Location, limit: Option<usize>) -> Result<Vec<Value>> {
    let table = open(location).await?;
    let latest = table.version().unwrap_or(0);
    let store = table.log_store();
    let mut out = Vec::new();
    let mut v = latest as i64;
    while v >= 0 && limit.is_none_or(|l| out.len() < l) {
        let Some(bytes) = store
            .read_commit_entry(v as u64)
            .await
            .map_err(TributaryError::delta(&location.display))?
        else {
            break; // older commits were cleaned up
        };
        let mut entry = serde_json::Map::new();
        entry.insert("version".into(), Value::from(v));
        for line in bytes.split(|b| *b == b'\n') {
            if let Ok(Value::Object(action)) = serde_json::from_slice::<Value>(line) {
                if let Some(Value::Object(info)) = action.get("commitInfo") {
                    entry.extend(info.clone());
                }
            }
        }
        out.push(Value::Object(entry));
        v -= 1;
    }
    Ok(out)
}

/// The table's schema, partitioning, properties and size.
pub async fn describe(location: &Location) -> Result<TableDescription> {
    let table = open(location).await?;
    let snap = table
        .snapshot()
        .map_err(TributaryError::delta(&location.display))?;
    let schema = snap.snapshot().arrow_schema();
    let metadata = snap.metadata();
    let protocol = snap.protocol();
    Ok(TableDescription {
        location: location.display.clone(),
        version: table.version().unwrap_or(0),
        columns: schema
            .fields()
            .iter()
            .map(|f| (f.name().clone(), f.data_type().to_string()))
            .collect(),
        partition_columns: metadata.partition_columns().to_vec(),
        properties: metadata
            .configuration()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        num_files: snap.log_data().num_files(),
        size_bytes: snap.log_data().iter().map(|f| f.size().max(0) as u64).sum(),
        protocol: (protocol.min_reader_version(), protocol.min_writer_version()),
    })
}
