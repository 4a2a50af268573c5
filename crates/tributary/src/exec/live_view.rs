//! How an aggregation's rows look in its live view: under the names the query gives them.
//!
//! ```text
//!  SELECT w['start'] AS window_start, w['end'] AS window_end, region, count(*) AS events ...
//!  GROUP BY w, region
//!     operator rows:  w {start, end} | region | count(*)
//!     view rows:      window_start | window_end | region | events      (keys first)
//! ```
//!
//! The projection right above the operator (through HAVING filters and aliases) renames a
//! column (`count(*) AS events`) or takes a field of a struct key (`w['start'] AS window_start`,
//! the key then shown as its fields). A column it computes from several is left out of the
//! rename and keeps the operator's own name; the view shows state, not the query's output.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::{DFSchema, ScalarValue};
use datafusion::logical_expr::{Expr, LogicalPlan};

use crate::error::{Result, TributaryError};
use crate::plan::OperatorOutput;

/// One column of the view: a column of the operator's rows, or a field of a struct column.
#[derive(Debug, Clone)]
struct Out {
    source: usize,
    field: Option<usize>,
}

/// The view's columns, derived from the operator's rows.
#[derive(Debug, Clone)]
pub(crate) struct ViewShape {
    outs: Vec<Out>,
    schema: SchemaRef,
    /// How many leading view columns are the key.
    key_len: usize,
}

impl ViewShape {
    /// The shape of operator `id`'s rows (`node`: its node's schema, `key_len` group columns
    /// first) under the names of the projection above it in `above`, when there is one.
    pub(crate) fn derive(
        id: usize,
        node: &DFSchema,
        key_len: usize,
        above: Option<&LogicalPlan>,
    ) -> Self {
        let fields = node.fields();
        let mut renamed: HashMap<usize, String> = HashMap::new();
        let mut field_names: HashMap<(usize, String), String> = HashMap::new();
        if let Some((exprs, placeholder)) = above.and_then(|a| projection_over(a, id)) {
            // The projection names the operator's columns as its placeholder's schema does
            // (which may differ from the node's own names, e.g. `count(*)` for
            // `count(Int64(1))`): columns are matched by position through it.
            let position = |name: &str| {
                placeholder
                    .fields()
                    .iter()
                    .position(|f| f.name() == name)
                    .or_else(|| fields.iter().position(|f| f.name() == name))
                    .filter(|i| *i < fields.len())
            };
            for e in exprs {
                let Expr::Alias(alias) = e else {
                    continue;
                };
                match unwrap_cast(&alias.expr) {
                    Expr::Column(c) => {
                        if let Some(i) = position(&c.name) {
                            renamed.entry(i).or_insert_with(|| alias.name.clone());
                        }
                    }
                    Expr::ScalarFunction(f) if f.name() == "get_field" && f.args.len() == 2 => {
                        if let (Expr::Column(c), Expr::Literal(ScalarValue::Utf8(Some(child)), _)) =
                            (&f.args[0], &f.args[1])
                        {
                            if let Some(i) = position(&c.name) {
                                field_names
                                    .entry((i, child.clone()))
                                    .or_insert_with(|| alias.name.clone());
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        let mut outs = Vec::new();
        let mut out_fields: Vec<Field> = Vec::new();
        let mut view_keys = 0;
        for (i, f) in fields.iter().enumerate() {
            let expand = match f.data_type() {
                DataType::Struct(children)
                    if i < key_len && field_names.keys().any(|(s, _)| *s == i) =>
                {
                    Some(children.clone())
                }
                _ => None,
            };
            match expand {
                Some(children) => {
                    for (j, child) in children.iter().enumerate() {
                        let name = field_names
                            .get(&(i, child.name().clone()))
                            .cloned()
                            .unwrap_or_else(|| format!("{}_{}", f.name(), child.name()));
                        outs.push(Out {
                            source: i,
                            field: Some(j),
                        });
                        out_fields.push(Field::new(name, child.data_type().clone(), true));
                        view_keys += 1;
                    }
                }
                None => {
                    let name = renamed.get(&i).cloned().unwrap_or_else(|| f.name().clone());
                    outs.push(Out {
                        source: i,
                        field: None,
                    });
                    out_fields.push(Field::new(name, f.data_type().clone(), true));
                    if i < key_len {
                        view_keys += 1;
                    }
                }
            }
        }
        // Names stay distinct (a rename may meet another column's own name).
        let mut seen: HashMap<String, usize> = HashMap::new();
        for f in &mut out_fields {
            let n = seen.entry(f.name().clone()).or_insert(0);
            *n += 1;
            if *n > 1 {
                *f = f.clone().with_name(format!("{}_{}", f.name(), *n));
            }
        }
        ViewShape {
            outs,
            schema: Arc::new(Schema::new(out_fields)),
            key_len: view_keys,
        }
    }

    pub(crate) fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    pub(crate) fn key_len(&self) -> usize {
        self.key_len
    }

    /// The view's rows of the operator's rows.
    pub(crate) fn rows(&self, batch: &RecordBatch) -> Result<RecordBatch> {
        let cols = self
            .outs
            .iter()
            .map(|o| column(batch, o))
            .collect::<Result<Vec<_>>>()?;
        RecordBatch::try_new(self.schema.clone(), cols)
            .map_err(TributaryError::arrow("the live view's rows"))
    }

    /// The view's key columns of rows whose leading columns are the operator's keys (its
    /// output rows, or its state rows).
    pub(crate) fn keys(&self, batch: &RecordBatch) -> Result<RecordBatch> {
        let outs = &self.outs[..self.key_len];
        let cols = outs
            .iter()
            .map(|o| column(batch, o))
            .collect::<Result<Vec<_>>>()?;
        let schema = Arc::new(Schema::new(self.schema.fields()[..self.key_len].to_vec()));
        RecordBatch::try_new_with_options(
            schema,
            cols,
            &arrow::array::RecordBatchOptions::new().with_row_count(Some(batch.num_rows())),
        )
        .map_err(TributaryError::arrow("the live view's keys"))
    }
}

fn column(batch: &RecordBatch, o: &Out) -> Result<ArrayRef> {
    let c = batch.column(o.source);
    Ok(match o.field {
        None => c.clone(),
        Some(j) => {
            let s = c.as_struct_opt().ok_or_else(|| {
                TributaryError::Internal("a live view's struct key is not a struct".into())
            })?;
            s.column(j).clone()
        }
    })
}

/// `e` without the casts and inner aliases around it (`count(Int64(1)) AS count(*) AS n`).
fn unwrap_cast(e: &Expr) -> &Expr {
    match e {
        Expr::Cast(c) => unwrap_cast(&c.expr),
        Expr::TryCast(c) => unwrap_cast(&c.expr),
        Expr::Alias(a) => unwrap_cast(&a.expr),
        Expr::ScalarFunction(f) if f.func.name() == crate::functions::STORE_CAST => {
            f.args.first().map_or(e, unwrap_cast)
        }
        e => e,
    }
}

/// The expressions of the projection that reads operator `id`'s output directly (through
/// filters and aliases), and the schema of the placeholder it reads, if any.
fn projection_over(plan: &LogicalPlan, id: usize) -> Option<(&[Expr], &DFSchema)> {
    if let LogicalPlan::Projection(p) = plan {
        let mut below = p.input.as_ref();
        loop {
            match below {
                LogicalPlan::Filter(f) => below = f.input.as_ref(),
                LogicalPlan::SubqueryAlias(a) => below = a.input.as_ref(),
                other => {
                    if OperatorOutput::of(other).is_some_and(|o| o.id == id) {
                        return Some((&p.expr, other.schema().as_ref()));
                    }
                    break;
                }
            }
        }
    }
    if OperatorOutput::of(plan).is_some() {
        // Another operator's rows: what is above it is not about this one.
        return None;
    }
    plan.inputs()
        .into_iter()
        .find_map(|i| projection_over(i, id))
}

/// What an operator keeps its live view by: the view's name, and the plan above the query's
/// top operator (for the names its projection gives).
#[derive(Debug, Clone)]
pub(crate) struct LiveSpec {
    pub name: String,
    pub above: Option<LogicalPlan>,
}
