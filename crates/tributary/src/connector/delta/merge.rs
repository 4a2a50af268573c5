//! MERGE into a Delta table: the update-mode upsert of an aggregation's changed rows, and
//! the application of a change stream (CDC). Both commit with the epoch's `txn` marker, so a
//! replayed epoch is skipped exactly like an append.
//!
//! ```text
//!   update mode:  MERGE t USING epoch s ON t.k <=> s.k
//!                   WHEN MATCHED THEN UPDATE SET *      WHEN NOT MATCHED THEN INSERT *
//!   CDC apply:    MERGE t USING latest-change-per-key s ON t.k <=> s.k
//!                   WHEN MATCHED AND s.seq > t.seq AND s.op = 'delete' THEN DELETE
//!                   WHEN MATCHED AND s.seq > t.seq THEN UPDATE SET *
//!                   WHEN NOT MATCHED AND s.op <> 'delete' THEN INSERT *
//! ```

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use datafusion::common::{Column, TableReference};
use datafusion::logical_expr::{binary_expr, lit, not, Expr, Operator};
use datafusion::prelude::{DataFrame, SessionContext};
use deltalake::kernel::transaction::CommitProperties;
use deltalake::kernel::Transaction;
use deltalake::DeltaTable;

use crate::error::{Result, TributaryError};
use crate::location::Location;

/// A column of the merge's source (`s`) or target (`t`).
pub(crate) fn side(rel: &str, name: &str) -> Expr {
    Expr::Column(Column::new(Some(TableReference::bare(rel)), name))
}

/// `t.k1 <=> s.k1 AND ...`: keys match, nulls included (a null group is a group).
pub(crate) fn key_predicate(keys: &[String]) -> Expr {
    keys.iter()
        .map(|k| binary_expr(side("t", k), Operator::IsNotDistinctFrom, side("s", k)))
        .reduce(Expr::and)
        .unwrap_or_else(|| lit(false))
}

/// What a MERGE does with the source rows.
pub(crate) struct MergeSpec<'a> {
    /// The key columns.
    pub keys: &'a [String],
    /// The columns written (the source's columns that go to the table).
    pub columns: &'a [String],
    /// CDC apply: the sequence column (a change applies only over an older row).
    pub sequence: Option<&'a str>,
    /// CDC apply: the column that says `delete` (dropped from what is written).
    pub operation: Option<&'a str>,
    /// Add columns the table lacks (`merge_schema`).
    pub merge_schema: bool,
}

/// Merge `source` into `table` in one commit, carrying `(app_id, epoch)` when given.
pub(crate) async fn merge(
    location: &Location,
    table: DeltaTable,
    ctx: &SessionContext,
    source: DataFrame,
    spec: &MergeSpec<'_>,
    txn: Option<(String, i64)>,
) -> Result<DeltaTable> {
    // Newer than the row: a greater sequence; a row without a sequence gives way to any change.
    let newer = spec
        .sequence
        .map(|seq| {
            let (s, t) = (side("s", seq), side("t", seq));
            s.gt(t.clone()).or(t.is_null())
        })
        .unwrap_or_else(|| lit(true));
    let is_delete = spec
        .operation
        .map(|op| side("s", op).eq(lit("delete")))
        .unwrap_or_else(|| lit(false));
    let columns: Vec<String> = spec.columns.to_vec();
    let mut builder = table
        .merge(source, key_predicate(spec.keys))
        .with_source_alias("s")
        .with_target_alias("t")
        .with_merge_schema(spec.merge_schema)
        .with_session_state(Arc::new(ctx.state()))
        .with_commit_properties(match txn {
            Some((app_id, epoch)) => CommitProperties::default()
                .with_application_transaction(Transaction::new(app_id, epoch)),
            None => CommitProperties::default(),
        });
    let err = |e| TributaryError::delta(&location.display)(e);
    if spec.operation.is_some() {
        builder = builder
            .when_matched_delete(|d| d.predicate(newer.clone().and(is_delete.clone())))
            .map_err(err)?;
    }
    let cols = columns.clone();
    builder = builder
        .when_matched_update(|mut u| {
            u = u.predicate(newer.clone());
            for c in &cols {
                u = u.update(Column::new_unqualified(c), side("s", c));
            }
            u
        })
        .map_err(err)?;
    builder = builder
        .when_not_matched_insert(|mut i| {
            if spec.operation.is_some() {
                i = i.predicate(not(is_delete.clone()));
            }
            for c in &columns {
                i = i.set(Column::new_unqualified(c), side("s", c));
            }
            i
        })
        .map_err(err)?;
    let (table, metrics) = builder.await.map_err(|e| match e {
        deltalake::DeltaTableError::SchemaMismatch { msg } => TributaryError::SchemaMismatch {
            sink: format!("DeltaSink[{}]", location.display),
            details: format!("{msg}; set merge_schema to add the new columns to the table"),
        },
        other => TributaryError::delta(&location.display)(other),
    })?;
    tracing::debug!(
        inserted = metrics.num_target_rows_inserted,
        updated = metrics.num_target_rows_updated,
        deleted = metrics.num_target_rows_deleted,
        "Delta MERGE"
    );
    Ok(table)
}

/// The rows as a DataFrame of `ctx`.
pub(crate) fn frame(
    ctx: &SessionContext,
    schema: &SchemaRef,
    batches: Vec<RecordBatch>,
) -> Result<DataFrame> {
    let batches = if batches.is_empty() {
        vec![RecordBatch::new_empty(schema.clone())]
    } else {
        batches
    };
    let table = datafusion::datasource::MemTable::try_new(schema.clone(), vec![batches])
        .map_err(TributaryError::df("an epoch's rows"))?;
    ctx.read_table(Arc::new(table))
        .map_err(TributaryError::df("an epoch's rows"))
}
