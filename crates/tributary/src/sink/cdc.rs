//! CDC apply: a change stream (inserts, updates and deletes by key) applied to a Delta table.
//!
//! ```text
//!   epoch rows ──normalize──► (columns.., seq, __op)      op column, or Debezium op/before/after
//!              ──latest per key by seq──► drop changes older than the key's tombstone
//!              ──deletes──► tombstones (a Delta table in the checkpoint: key, last delete seq)
//!              ──MERGE (seq-guarded, txn = query id/epoch)──► target table
//! ```
//!
//! Out-of-order changes are resolved by the sequence column: inside an epoch only the latest
//! change of a key is kept; across epochs the target row's sequence guards updates, and the
//! tombstones guard deletes (an update older than a delete must not bring the row back).
//! Tombstones are written first and compared with `>=`, so an epoch replayed after a crash
//! between the two commits still applies its own deletes; the target's commit carries the
//! epoch's `txn`, so it is never applied twice.

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, SchemaRef};
use datafusion::prelude::SessionContext;
use deltalake::protocol::SaveMode;

use super::delta::{open_table, write_delta, TableWrite};
use super::merge::{frame, merge, MergeSpec};
use crate::error::{Result, TributaryError};
use crate::location::Location;

/// How the change rows say what happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CdcFormat {
    /// A column with `insert`/`update`/`delete` (or `i`/`u`/`d`, `c`, `r`); the other
    /// columns are the row.
    Operation(String),
    /// Debezium's envelope: `op` (`c`, `r`, `u`, `d`), `before` and `after` row structs.
    Debezium,
}

/// CDC apply options of the Delta sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CdcOptions {
    /// Key columns (`cdc_keys`).
    pub keys: Vec<String>,
    /// The column that orders changes of a key (`cdc_sequence`).
    pub sequence: String,
    /// The change format (`cdc_format`: `operation` with `cdc_operation`, or `debezium`).
    pub format: CdcFormat,
}

const OP: &str = "__op";

fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn sql_err(
    what: &'static str,
) -> impl FnOnce(datafusion::error::DataFusionError) -> TributaryError {
    TributaryError::df(what)
}

impl CdcOptions {
    /// The normalizing SELECT over `changes`, and the columns it writes to the table.
    fn normalize(&self, schema: &SchemaRef) -> Result<(String, Vec<String>)> {
        let has = |c: &str| schema.field_with_name(c).is_ok();
        let missing = |what: &str, c: &str| {
            TributaryError::option(
                what,
                format!(
                    "the change stream has no column '{c}'; its columns are [{}]",
                    schema
                        .fields()
                        .iter()
                        .map(|f| f.name().as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
        };
        if !has(&self.sequence) {
            return Err(missing("cdc_sequence", &self.sequence));
        }
        let op_case = |op: &str| {
            format!(
                "CASE lower(CAST({op} AS VARCHAR)) WHEN 'd' THEN 'delete' WHEN 'delete' THEN 'delete' \
                 WHEN 'u' THEN 'update' WHEN 'update' THEN 'update' ELSE 'insert' END AS {OP}"
            )
        };
        match &self.format {
            CdcFormat::Operation(op) => {
                if !has(op) {
                    return Err(missing("cdc_operation", op));
                }
                let columns: Vec<String> = schema
                    .fields()
                    .iter()
                    .map(|f| f.name().clone())
                    .filter(|n| n != op)
                    .collect();
                for k in &self.keys {
                    if !columns.contains(k) {
                        return Err(missing("cdc_keys", k));
                    }
                }
                let select = columns
                    .iter()
                    .map(|c| quote(c))
                    .chain([op_case(&quote(op))])
                    .collect::<Vec<_>>()
                    .join(", ");
                Ok((format!("SELECT {select} FROM changes"), columns))
            }
            CdcFormat::Debezium => {
                for c in ["op", "before", "after"] {
                    if !has(c) {
                        return Err(missing("cdc_format", c));
                    }
                }
                let row = match schema.field_with_name("after").map(|f| f.data_type()) {
                    Ok(DataType::Struct(fields)) => fields.clone(),
                    _ => {
                        return Err(TributaryError::option(
                            "cdc_format",
                            "Debezium's 'after' column must be a struct of the row's columns",
                        ))
                    }
                };
                let mut columns: Vec<String> = row.iter().map(|f| f.name().clone()).collect();
                let mut select: Vec<String> = columns
                    .iter()
                    .map(|c| {
                        format!(
                            "CASE WHEN lower(\"op\") = 'd' THEN \"before\"['{c}'] ELSE \"after\"['{c}'] END AS {}",
                            quote(c)
                        )
                    })
                    .collect();
                if !columns.contains(&self.sequence) {
                    select.push(quote(&self.sequence));
                    columns.push(self.sequence.clone());
                }
                for k in &self.keys {
                    if !columns.contains(k) {
                        return Err(missing("cdc_keys", k));
                    }
                }
                select.push(op_case("\"op\""));
                Ok((
                    format!("SELECT {} FROM changes", select.join(", ")),
                    columns,
                ))
            }
        }
    }
}

/// Apply one epoch of changes to the table at `location`.
pub(crate) async fn apply(
    location: &Location,
    tombstones: &Location,
    cdc: &CdcOptions,
    schema: &SchemaRef,
    batches: Vec<RecordBatch>,
    how: TableWrite<'_>,
) -> Result<()> {
    let ctx = SessionContext::new();
    ctx.register_table("changes", frame(&ctx, schema, batches)?.into_view())
        .map_err(sql_err("registering the changes"))?;
    let (normalize, columns) = cdc.normalize(schema)?;
    let keys = cdc
        .keys
        .iter()
        .map(|k| quote(k))
        .collect::<Vec<_>>()
        .join(", ");
    let seq = quote(&cdc.sequence);
    let latest = format!(
        "SELECT * EXCLUDE (__rn) FROM (SELECT *, row_number() OVER (PARTITION BY {keys} ORDER BY {seq} DESC) AS __rn \
         FROM ({normalize})) WHERE __rn = 1"
    );
    let tomb_table = open_table(tombstones).await?;
    let latest = if tomb_table.version().is_some() {
        tomb_table
            .update_datafusion_session(&ctx.state())
            .map_err(TributaryError::delta(&tombstones.display))?;
        let provider = tomb_table
            .table_provider()
            .await
            .map_err(sql_err("reading the CDC tombstones"))?;
        ctx.register_table("tombstones", provider)
            .map_err(sql_err("registering the CDC tombstones"))?;
        let on = cdc
            .keys
            .iter()
            .map(|k| format!("l.{q} IS NOT DISTINCT FROM d.{q}", q = quote(k)))
            .collect::<Vec<_>>()
            .join(" AND ");
        format!(
            "SELECT l.* FROM ({latest}) l LEFT JOIN tombstones d ON {on} \
             WHERE d.{seq} IS NULL OR l.{seq} >= d.{seq}"
        )
    } else {
        latest
    };
    let changes: Vec<RecordBatch> = ctx
        .sql(&latest)
        .await
        .map_err(sql_err("ordering the changes by key and sequence"))?
        .collect()
        .await
        .map_err(sql_err("ordering the changes by key and sequence"))?;
    let Some(first) = changes.first() else {
        return Ok(());
    };
    let change_schema = first.schema();
    ctx.register_table(
        "latest",
        frame(&ctx, &change_schema, changes.clone())?.into_view(),
    )
    .map_err(sql_err("registering the latest changes"))?;
    // 1. Remember deletes (key, sequence) before the target commit; see the module docs.
    let tomb_cols: Vec<String> = cdc.keys.iter().chain([&cdc.sequence]).cloned().collect();
    let deletes = ctx
        .sql(&format!(
            "SELECT {} FROM latest WHERE {OP} = 'delete'",
            tomb_cols
                .iter()
                .map(|c| quote(c))
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .await
        .map_err(sql_err("selecting deletes"))?;
    let delete_rows: Vec<RecordBatch> = deletes
        .clone()
        .collect()
        .await
        .map_err(sql_err("selecting deletes"))?;
    if delete_rows.iter().any(|b| b.num_rows() > 0) {
        if tomb_table.version().is_none() {
            tombstones.ensure_dir()?;
            let schema = delete_rows[0].schema();
            write_delta(
                tombstones,
                tomb_table,
                schema,
                delete_rows,
                SaveMode::Append,
                TableWrite::default(),
            )
            .await?;
        } else {
            let spec = MergeSpec {
                keys: &cdc.keys,
                columns: &tomb_cols,
                sequence: Some(&cdc.sequence),
                operation: None,
                merge_schema: false,
            };
            merge(tombstones, tomb_table, &ctx, deletes, &spec, None).await?;
        }
    }
    // 2. The target, in the commit that carries the epoch's txn.
    let target = open_table(location).await?;
    if target.version().is_none() {
        let rows: Vec<RecordBatch> = ctx
            .sql(&format!(
                "SELECT {} FROM latest WHERE {OP} <> 'delete'",
                columns
                    .iter()
                    .map(|c| quote(c))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
            .await
            .map_err(sql_err("selecting the first rows"))?
            .collect()
            .await
            .map_err(sql_err("selecting the first rows"))?;
        let schema = rows.first().map(|b| b.schema()).unwrap_or_else(|| {
            Arc::new(
                change_schema
                    .project(&(0..columns.len()).collect::<Vec<_>>())
                    .expect("prefix"),
            )
        });
        write_delta(location, target, schema, rows, SaveMode::Append, how).await?;
        return Ok(());
    }
    let source = ctx
        .table("latest")
        .await
        .map_err(sql_err("reading the latest changes"))?;
    let spec = MergeSpec {
        keys: &cdc.keys,
        columns: &columns,
        sequence: Some(&cdc.sequence),
        operation: Some(OP),
        merge_schema: false,
    };
    merge(location, target, &ctx, source, &spec, how.txn).await?;
    Ok(())
}
