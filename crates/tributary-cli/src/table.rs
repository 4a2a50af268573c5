//! `tributary table history|describe|optimize|vacuum|checkpoint PATH`: Delta table maintenance.

use std::process::ExitCode;

use clap::Subcommand;
use tributary::location::Location;
use tributary::maintenance;
use tributary::storage::StorageOptions;

#[derive(Subcommand)]
pub(crate) enum TableCommand {
    /// The table's commits, newest first: version, time, operation and its metrics.
    History {
        /// The table.
        path: String,
        /// Show at most N commits.
        #[arg(long)]
        limit: Option<usize>,
        /// One JSON object per commit instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Version, columns, partitioning, properties, files and size.
    Describe {
        /// The table.
        path: String,
        /// JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Compact small files (bin-packing), committed as data-unchanged so streams that read
    /// the table do not read the rows again.
    Optimize {
        /// The table.
        path: String,
        /// Target file size in bytes (default: the table's delta.targetFileSize, or 100 MiB).
        #[arg(long)]
        target_size: Option<u64>,
    },
    /// Delete files that no version within the retention period needs.
    Vacuum {
        /// The table.
        path: String,
        /// Keep files needed by versions of the last HOURS hours (default: the table's
        /// delta.deletedFileRetentionDuration, 7 days unless set).
        #[arg(long, value_name = "HOURS")]
        retention_hours: Option<u64>,
        /// List the files without deleting them.
        #[arg(long)]
        dry_run: bool,
        /// Allow a retention below the table's minimum (readers of older versions lose them).
        #[arg(long)]
        force: bool,
    },
    /// Write a log checkpoint at the latest version.
    Checkpoint {
        /// The table.
        path: String,
    },
}

fn time(ms: Option<i64>) -> String {
    ms.and_then(chrono::DateTime::from_timestamp_millis)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|| "-".into())
}

pub(crate) async fn table(cmd: TableCommand, storage: &StorageOptions) -> anyhow::Result<ExitCode> {
    match cmd {
        TableCommand::History { path, limit, json } => {
            let h = maintenance::history(&Location::resolve_with(&path, storage)?, limit).await?;
            for c in h {
                if json {
                    println!("{c}");
                    continue;
                }
                let metrics = c
                    .get("operationMetrics")
                    .and_then(|m| m.as_object())
                    .map(|m| {
                        m.iter()
                            .map(|(k, v)| format!("{k}={v}"))
                            .collect::<Vec<_>>()
                            .join(" ")
                    })
                    .unwrap_or_default();
                println!(
                    "{:>6}  {}  {:<14} {}",
                    c["version"],
                    time(c.get("timestamp").and_then(|t| t.as_i64())),
                    c.get("operation").and_then(|o| o.as_str()).unwrap_or("-"),
                    metrics
                );
            }
        }
        TableCommand::Describe { path, json } => {
            let d = maintenance::describe(&Location::resolve_with(&path, storage)?).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&d)?);
            } else {
                println!("location    {}", d.location);
                println!("version     {}", d.version);
                println!("files       {} ({} bytes)", d.num_files, d.size_bytes);
                println!(
                    "protocol    reader {} writer {}",
                    d.protocol.0, d.protocol.1
                );
                println!(
                    "partitions  {}",
                    if d.partition_columns.is_empty() {
                        "-".to_string()
                    } else {
                        d.partition_columns.join(", ")
                    }
                );
                println!("columns");
                for (name, ty) in &d.columns {
                    println!("  {name:<24} {ty}");
                }
                if !d.properties.is_empty() {
                    println!("properties");
                    for (k, v) in &d.properties {
                        println!("  {k} = {v}");
                    }
                }
            }
        }
        TableCommand::Optimize { path, target_size } => {
            let r = maintenance::optimize(&Location::resolve_with(&path, storage)?, target_size)
                .await?;
            println!(
                "optimize: {} files compacted into {} ({} -> {} files){}",
                r.files_removed,
                r.files_added,
                r.files_before,
                r.files_after,
                match r.version {
                    Some(v) if r.files_removed > 0 => format!(", version {v}"),
                    _ => ", nothing to do".into(),
                }
            );
        }
        TableCommand::Vacuum {
            path,
            retention_hours,
            dry_run,
            force,
        } => {
            let r = maintenance::vacuum(
                &Location::resolve_with(&path, storage)?,
                retention_hours,
                dry_run,
                force,
            )
            .await?;
            for f in &r.files {
                println!("{f}");
            }
            eprintln!(
                "vacuum: {} files {}",
                r.files.len(),
                if r.dry_run {
                    "would be deleted (dry run)"
                } else {
                    "deleted"
                }
            );
        }
        TableCommand::Checkpoint { path } => {
            let v = maintenance::checkpoint(&Location::resolve_with(&path, storage)?).await?;
            println!("checkpoint written at version {v}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
