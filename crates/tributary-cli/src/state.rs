//! `tributary state describe|show|repartition CHECKPOINT`: read a streaming query's state from
//! its checkpoint (the library's `StateReader`; the batch format `state` reads the same rows),
//! or move it to another number of partitions.

use std::process::ExitCode;

use clap::Subcommand;
use tributary::location::Location;
use tributary::state::{JoinSide, StateReader};
use tributary::storage::StorageOptions;

#[derive(Subcommand)]
pub(crate) enum StateCommand {
    /// The query's stateful operators: kind, keys, partitions, rows (at the last committed
    /// epoch), files, bytes and the epochs their state can be read at.
    Describe {
        /// The query's checkpoint folder.
        checkpoint: String,
        /// JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// The rows of one operator's state: key, value and partition_id.
    Show {
        /// The query's checkpoint folder.
        checkpoint: String,
        /// The operator, by number (`state describe` lists them).
        #[arg(long, default_value_t = 0)]
        operator: usize,
        /// The epoch (default: the last committed one).
        #[arg(long)]
        epoch: Option<u64>,
        /// A stream-stream join's side: left or right.
        #[arg(long)]
        side: Option<String>,
        /// Show at most N rows.
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// One JSON object per row instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Move a stopped query's state to N partitions (and to the partition hash of key values),
    /// offline; the query then runs with state_partitions N.
    Repartition {
        /// The query's checkpoint folder.
        checkpoint: String,
        /// The new number of partitions.
        #[arg(long)]
        partitions: usize,
    },
}

pub(crate) async fn state(cmd: StateCommand, storage: &StorageOptions) -> anyhow::Result<ExitCode> {
    match cmd {
        StateCommand::Describe { checkpoint, json } => {
            let reader = StateReader::open(Location::resolve_with(&checkpoint, storage)?).await?;
            let ops = reader.describe().await?;
            if json {
                let out: Vec<serde_json::Value> = ops
                    .iter()
                    .zip(&reader.shape().operators)
                    .map(|(o, s)| {
                        serde_json::json!({
                            "operator": o.id, "kind": o.kind, "partitions": o.partitions,
                            "rows": o.rows, "files": o.files, "bytes": o.bytes,
                            "epochs": o.epochs.map(|(a, b)| [a, b]), "shape": s,
                        })
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&out)?);
                return Ok(ExitCode::SUCCESS);
            }
            println!(
                "checkpoint {checkpoint}: last committed epoch {}, output mode {}, {} state partitions",
                reader
                    .committed()
                    .map_or("none".to_string(), |e| e.to_string()),
                reader.shape().output_mode,
                reader.shape().state_partitions
            );
            for w in &reader.shape().watermarks {
                println!("watermark on {} ({} ms delay)", w.column, w.delay_ms);
            }
            for (o, s) in ops.iter().zip(&reader.shape().operators) {
                println!(
                    "operator {} ({}): {} rows in {} partitions, {} files, {} bytes, epochs {}",
                    o.id,
                    o.kind,
                    o.rows,
                    o.partitions,
                    o.files,
                    o.bytes,
                    o.epochs
                        .map_or("none".to_string(), |(a, b)| format!("{a} to {b}"))
                );
                if !s.keys.is_empty() {
                    println!("  keys: {}", s.keys.join(", "));
                }
                if let Some(t) = &s.event_time {
                    println!("  event time: {t}");
                }
                match s.layout.as_str() {
                    "" => {}
                    "pane states" => println!(
                        "  layout: pane states (a row per pane of the sliding window, its partial \
                         aggregates; a window is merged from its panes when it closes)"
                    ),
                    other => println!("  layout: {other}"),
                }
                if !s.values.is_empty() {
                    println!("  values: {}", s.values.join(", "));
                }
                if let Some(c) = &s.condition {
                    println!("  condition: {c}");
                }
                for (i, st) in s.state.iter().enumerate() {
                    let name = match (s.state.len(), i) {
                        (2, 0) => "left state",
                        (2, _) => "right state",
                        _ => "state",
                    };
                    println!(
                        "  {name}: key [{}], value [{}]",
                        st.columns[..st.key_len.min(st.columns.len())].join(", "),
                        st.columns[st.key_len.min(st.columns.len())..].join(", ")
                    );
                }
            }
        }
        StateCommand::Repartition {
            checkpoint,
            partitions,
        } => {
            let done = tributary::state::repartition(
                Location::resolve_with(&checkpoint, storage)?,
                partitions,
            )
            .await?;
            println!(
                "repartitioned {checkpoint}: {} partitions -> {}, {} rows moved (state of epoch {})",
                done.from,
                done.to,
                done.rows,
                done.epoch.map_or("none".to_string(), |e| e.to_string())
            );
        }
        StateCommand::Show {
            checkpoint,
            operator,
            epoch,
            side,
            limit,
            json,
        } => {
            let reader = StateReader::open(Location::resolve_with(&checkpoint, storage)?).await?;
            let side = side.map(|s| s.parse::<JoinSide>()).transpose()?;
            let (schema, batches) = reader.read(operator, epoch, side).await?;
            let all = arrow::compute::concat_batches(&schema, &batches)?;
            let shown = all.slice(0, limit.min(all.num_rows()));
            if json {
                let mut w = tributary::format::json_out::line_writer(std::io::stdout());
                w.write(&shown)?;
                w.finish()?;
            } else {
                println!("{}", arrow::util::pretty::pretty_format_batches(&[shown])?);
                if all.num_rows() > limit {
                    println!(
                        "({} of {} rows; --limit N shows more)",
                        limit,
                        all.num_rows()
                    );
                } else {
                    println!("({} rows)", all.num_rows());
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
