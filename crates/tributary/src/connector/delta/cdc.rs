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
//! tombstones guard deletes (an update older than a delete must not bring the row back). A
//! change without a sequence (NULL) is older than every change with one: it never replaces a
//! sequenced change, and a row it wrote gives way to the next change of its key.
//! Tombstones are written first and compared with `>=`, so an epoch replayed after a crash
//! between the two commits still applies its own deletes; the target's commit carries the
//! epoch's `txn`, so it is never applied twice.

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, SchemaRef};
use datafusion::common::JoinType;
use datafusion::functions_window::expr_fn::row_number;
use datafusion::logical_expr::{
    binary_expr, case, cast, lit, not, when, Expr, ExprFunctionExt, Operator,
};
use datafusion::prelude::{get_field, ident, lower, SessionContext};
use deltalake::protocol::SaveMode;

use super::merge::{frame, merge, side, MergeSpec};
use super::sink::{fit_rows, open_table, write_delta, TableWrite};
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

fn df_err(what: &'static str) -> impl FnOnce(datafusion::error::DataFusionError) -> TributaryError {
    TributaryError::df(what)
}

/// `CASE lower(CAST(op AS VARCHAR)) WHEN 'd' | 'delete' THEN 'delete' WHEN 'u' | 'update'
/// THEN 'update' ELSE 'insert' END AS __op`, built as an expression (no SQL text: a column
/// name can hold anything).
fn op_case(op: Expr) -> Result<Expr> {
    case(lower(cast(op, DataType::Utf8)))
        .when(lit("d"), lit("delete"))
        .when(lit("delete"), lit("delete"))
        .when(lit("u"), lit("update"))
        .when(lit("update"), lit("update"))
        .otherwise(lit("insert"))
        .map(|e| e.alias(OP))
        .map_err(df_err("building the CDC operation"))
}

impl CdcOptions {
    /// The normalizing projection of the change rows, and the columns it writes to the table.
    fn normalize(&self, schema: &SchemaRef) -> Result<(Vec<Expr>, Vec<String>)> {
        let has = |c: &str| schema.field_with_name(c).is_ok();
        let missing = |what: &str, c: &str| {
            TributaryError::option(
                what,
                format!(
                    "the change stream has no column '{c}'; its columns are [{}]",
                    crate::plan::column_list(schema.fields())
                ),
            )
        };
        if !has(&self.sequence) {
            return Err(missing("cdc_sequence", &self.sequence));
        }
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
                let mut select: Vec<Expr> = columns.iter().map(ident).collect();
                select.push(op_case(ident(op))?);
                Ok((select, columns))
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
                let deleted = lower(cast(ident("op"), DataType::Utf8)).eq(lit("d"));
                let mut select = Vec::with_capacity(columns.len() + 2);
                for c in &columns {
                    select.push(
                        when(deleted.clone(), get_field(ident("before"), c.as_str()))
                            .otherwise(get_field(ident("after"), c.as_str()))
                            .map_err(df_err("reading Debezium's before/after"))?
                            .alias(c),
                    );
                }
                if !columns.contains(&self.sequence) {
                    select.push(ident(&self.sequence));
                    columns.push(self.sequence.clone());
                }
                for k in &self.keys {
                    if !columns.contains(k) {
                        return Err(missing("cdc_keys", k));
                    }
                }
                select.push(op_case(ident("op"))?);
                Ok((select, columns))
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
    let (normalize, columns) = cdc.normalize(schema)?;
    // The latest change of each key: row_number() over the key, newest sequence first (a
    // NULL sequence last: it is older than any other).
    let rank = row_number()
        .partition_by(cdc.keys.iter().map(ident).collect())
        .order_by(vec![ident(&cdc.sequence).sort(false, false)])
        .build()
        .map_err(df_err("ordering the changes by key and sequence"))?
        .alias("__rn");
    let latest = frame(&ctx, schema, batches)?
        .select(normalize)
        .and_then(|d| d.window(vec![rank]))
        .and_then(|d| d.filter(ident("__rn").eq(lit(1u64))))
        .and_then(|d| d.drop_columns(&["__rn"]))
        .map_err(df_err("ordering the changes by key and sequence"))?;
    let tomb_table = open_table(tombstones).await?;
    let latest = if tomb_table.version().is_some() {
        // Changes older than the key's last delete are dropped (they must not revive it).
        tomb_table
            .update_datafusion_session(&ctx.state())
            .map_err(TributaryError::delta(&tombstones.display))?;
        let provider = tomb_table
            .table_provider()
            .await
            .map_err(df_err("reading the CDC tombstones"))?;
        let deleted = ctx
            .read_table(provider)
            .and_then(|d| d.alias("d"))
            .map_err(df_err("reading the CDC tombstones"))?;
        let keep: Vec<Expr> = latest
            .schema()
            .fields()
            .iter()
            .map(|f| side("l", f.name()).alias(f.name()))
            .collect();
        let on: Vec<Expr> = cdc
            .keys
            .iter()
            .map(|k| binary_expr(side("l", k), Operator::IsNotDistinctFrom, side("d", k)))
            .collect();
        let (lseq, dseq) = (side("l", &cdc.sequence), side("d", &cdc.sequence));
        latest
            .alias("l")
            .and_then(|l| l.join_on(deleted, JoinType::Left, on))
            .and_then(|j| j.filter(dseq.clone().is_null().or(lseq.gt_eq(dseq))))
            .and_then(|j| j.select(keep))
            .map_err(df_err("comparing the changes with the CDC tombstones"))?
    } else {
        latest
    };
    let changes: Vec<RecordBatch> = latest
        .collect()
        .await
        .map_err(df_err("ordering the changes by key and sequence"))?;
    let Some(first) = changes.first() else {
        return Ok(());
    };
    let change_schema = first.schema();
    let latest = frame(&ctx, &change_schema, changes.clone())?;
    let is_delete = ident(OP).eq(lit("delete"));
    // 1. Remember deletes (key, sequence) before the target commit; see the module docs.
    let tomb_cols: Vec<String> = cdc.keys.iter().chain([&cdc.sequence]).cloned().collect();
    let deletes = latest
        .clone()
        .filter(is_delete.clone())
        .and_then(|d| d.select(tomb_cols.iter().map(ident).collect::<Vec<Expr>>()))
        .map_err(df_err("selecting deletes"))?;
    let delete_rows: Vec<RecordBatch> = deletes
        .clone()
        .collect()
        .await
        .map_err(df_err("selecting deletes"))?;
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
        let rows: Vec<RecordBatch> = latest
            .filter(not(is_delete))
            .and_then(|d| d.select(columns.iter().map(ident).collect::<Vec<Expr>>()))
            .map_err(df_err("selecting the first rows"))?
            .collect()
            .await
            .map_err(df_err("selecting the first rows"))?;
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
    // The rows in the table's exact types (list element names, string kinds).
    let (schema, rows) = fit_rows(location, &target, change_schema, changes, false)?;
    let source = frame(&ctx, &schema, rows)?;
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
