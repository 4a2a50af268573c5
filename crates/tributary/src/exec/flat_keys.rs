//! Group keys that are structs of primitive fields (windows), grouped by their fields.

use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, RecordBatch, RecordBatchOptions, StructArray};
use arrow::buffer::NullBuffer;
use arrow::datatypes::{DataType, SchemaRef};
use datafusion::catalog::Session;
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::aggregates::PhysicalGroupBy;

use crate::error::{from_df_error, Result, TributaryError};

fn df_err(what: &str) -> impl Fn(datafusion::error::DataFusionError) -> TributaryError + '_ {
    move |e| from_df_error(what, e)
}

/// The grouping of an epoch's input with each struct key of flat fields (a window) replaced by
/// its fields and whether it is NULL: DataFusion groups primitive columns column by column,
/// and a struct through the row format, several times slower (a sliding-window aggregation
/// spent most of its time there). The partial states come back with the struct rebuilt, so
/// the state keeps the query's own key.
pub(crate) struct FlatKeys {
    pub group_by: PhysicalGroupBy,
    /// Per key of the query: the struct type it is grouped by the fields of, or `None` (kept
    /// as it is).
    pub shapes: Vec<Option<DataType>>,
}

impl FlatKeys {
    pub(crate) fn plan(
        state: &dyn Session,
        keys: &[Expr],
        logical_schema: &datafusion::common::DFSchema,
        simplify: impl Fn(&Expr) -> Result<Expr>,
    ) -> Result<Self> {
        let mut groups = Vec::new();
        let mut shapes = Vec::new();
        for (i, e) in keys.iter().enumerate() {
            let e = simplify(e)?;
            let ty = datafusion::logical_expr::ExprSchemable::get_type(&e, logical_schema)
                .map_err(df_err("typing a group key"))?;
            let flat = match &ty {
                DataType::Struct(fields)
                    if !fields.is_empty()
                        && fields.iter().all(|f| f.data_type().is_primitive()) =>
                {
                    Some(fields.clone())
                }
                _ => None,
            };
            let parts: Vec<(Expr, String)> = match &flat {
                Some(fields) => fields
                    .iter()
                    .map(|f| {
                        (
                            datafusion::functions::core::expr_fn::get_field(e.clone(), f.name()),
                            format!("__key{i}_{}", f.name()),
                        )
                    })
                    .chain(std::iter::once((
                        e.clone().is_null(),
                        format!("__key{i}_null"),
                    )))
                    .collect(),
                None => vec![(e.clone(), e.schema_name().to_string())],
            };
            for (p, name) in parts {
                let p = state
                    .create_physical_expr(p, logical_schema)
                    .map_err(df_err("planning a group key"))?;
                groups.push((p, name));
            }
            shapes.push(flat.map(|_| ty));
        }
        Ok(FlatKeys {
            group_by: PhysicalGroupBy::new_single(groups),
            shapes,
        })
    }

    /// The column where key `i`'s flat columns start.
    pub(crate) fn offset(&self, i: usize) -> usize {
        self.shapes[..i]
            .iter()
            .map(|s| match s {
                Some(DataType::Struct(f)) => f.len() + 1,
                _ => 1,
            })
            .sum()
    }

    /// Whether every key is grouped as it is.
    pub(crate) fn is_identity(&self) -> bool {
        self.shapes.iter().all(Option::is_none)
    }

    /// A partial aggregation's batch grouped by the flat keys, with the query's keys rebuilt
    /// as `schema` (the state's) types them.
    pub(crate) fn rebuild(&self, schema: &SchemaRef, b: &RecordBatch) -> Result<RecordBatch> {
        let cols = b.columns();
        let mut out: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
        let mut at = 0;
        for (i, shape) in self.shapes.iter().enumerate() {
            let (Some(_), DataType::Struct(fields)) = (shape, schema.field(i).data_type()) else {
                out.push(cols[at].clone());
                at += 1;
                continue;
            };
            let n = fields.len();
            let valid = arrow::compute::not(cols[at + n].as_boolean())
                .map_err(TributaryError::arrow("rebuilding a struct key"))?;
            let nulls = NullBuffer::from(valid.values().clone());
            let nulls = (nulls.null_count() > 0).then_some(nulls);
            out.push(Arc::new(
                StructArray::try_new(fields.clone(), cols[at..at + n].to_vec(), nulls)
                    .map_err(TributaryError::arrow("rebuilding a struct key"))?,
            ));
            at += n + 1;
        }
        out.extend(cols[at..].iter().cloned());
        RecordBatch::try_new_with_options(
            schema.clone(),
            out,
            &RecordBatchOptions::new().with_row_count(Some(b.num_rows())),
        )
        .map_err(TributaryError::arrow("rebuilding a struct key"))
    }
}
