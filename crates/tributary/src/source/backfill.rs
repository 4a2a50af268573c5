//! Backfill, then stream: one source that first reads an archive (files or a Delta table) up
//! to a boundary, then the live source from that boundary, in one query with one checkpoint.
//!
//! ```text
//!   archive ──(boundary_column <  boundary)──┐
//!                                            ├──► epochs 0..k: the archive, k+1..: the live data
//!   live    ──(boundary_column >= boundary)──┘
//!   offset = { "archive": <archive offset>, "live": <live offset or null> }
//! ```
//!
//! The boundary is a value of one column (usually event time) that both sides carry: the
//! archive gives the rows before it and the live source the rows from it on, so a row that
//! sits in both (an archive that overlaps the live retention) is read once, and none is
//! missed. The archive's epochs are planned before any live epoch, and once the query has
//! planned a live epoch it never goes back: the hand-off is recorded in the offset log like
//! any other progress, so a crash during it resumes exactly where it was. State (windows,
//! deduplication, joins) carries over, since it is one query.

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use async_trait::async_trait;
use datafusion::logical_expr::{cast, lit, Expr};
use datafusion::prelude::{ident, SessionContext};
use datafusion::scalar::ScalarValue;
use serde_json::{json, Value};

use super::{EpochInput, SourceContext, StreamSource};
use crate::error::{Result, TributaryError};
use tributary_checkpoint::Epoch;

/// The file, in the archive's checkpoint folder, that fixes the archive's end at the first start.
const ARCHIVE_END: &str = "archive_end.json";

/// The archive, the live source, and where one ends and the other begins.
pub struct BackfillSource {
    archive: Arc<dyn StreamSource>,
    live: Arc<dyn StreamSource>,
    column: String,
    boundary: ScalarValue,
    ctx: SessionContext,
}

impl std::fmt::Debug for BackfillSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackfillSource")
            .field("archive", &self.archive.description())
            .field("live", &self.live.description())
            .field("column", &self.column)
            .field("boundary", &self.boundary)
            .finish()
    }
}

impl BackfillSource {
    /// `boundary` is parsed as the type of `column` in the live source's schema (a time such
    /// as `2026-11-21T00:00:00Z` for a timestamp column).
    pub fn try_new(
        archive: Arc<dyn StreamSource>,
        live: Arc<dyn StreamSource>,
        column: &str,
        boundary: &str,
        ctx: SessionContext,
    ) -> Result<Self> {
        let schema = live.schema();
        let field = schema.field_with_name(column).map_err(|_| {
            TributaryError::option(
                "backfill_boundary_column",
                format!("the live source has no column '{column}'"),
            )
        })?;
        if archive.schema().field_with_name(column).is_err() {
            return Err(TributaryError::option(
                "backfill_boundary_column",
                format!(
                    "the archive {} has no column '{column}'",
                    archive.description()
                ),
            ));
        }
        let boundary = ScalarValue::try_from_string(boundary.to_string(), field.data_type())
            .map_err(|e| {
                TributaryError::option(
                    "backfill_boundary",
                    format!(
                        "'{boundary}' is not a value of column '{column}' ({}): {e}",
                        field.data_type()
                    ),
                )
            })?;
        Ok(BackfillSource {
            archive,
            live,
            column: column.to_string(),
            boundary,
            ctx,
        })
    }

    fn parts(v: &Value) -> (Value, Value) {
        (
            v.get("archive").cloned().unwrap_or(Value::Null),
            v.get("live").cloned().unwrap_or(Value::Null),
        )
    }

    /// The epoch's rows of one side, on its side of the boundary, in the live schema.
    fn bounded(&self, input: EpochInput, archive: bool) -> Result<EpochInput> {
        let df = self
            .ctx
            .read_table(input.table)
            .map_err(TributaryError::df("reading a backfill epoch"))?;
        let boundary = lit(self.boundary.clone());
        let c = ident(&self.column);
        let keep = if archive {
            c.lt(boundary)
        } else {
            c.gt_eq(boundary)
        };
        let df = df
            .filter(keep)
            .map_err(TributaryError::df("bounding a backfill epoch"))?;
        let schema = self.live.schema();
        let exprs: Vec<Expr> = schema
            .fields()
            .iter()
            .map(|f| cast(ident(f.name()), f.data_type().clone()).alias(f.name()))
            .collect();
        let df = df.select(exprs).map_err(|e| {
            TributaryError::Plan(format!(
                "the archive's columns do not fit the live source's ({e}): backfill needs the \
                 archive to carry the live source's columns"
            ))
        })?;
        Ok(EpochInput {
            table: df.into_view(),
            bad_records: input.bad_records,
            rows: input.rows,
        })
    }
}

#[async_trait]
impl StreamSource for BackfillSource {
    fn description(&self) -> String {
        format!(
            "Backfill[{} then {} at {} = {}]",
            self.archive.description(),
            self.live.description(),
            self.column,
            self.boundary
        )
    }

    fn schema(&self) -> SchemaRef {
        self.live.schema()
    }

    fn fork(&self) -> Arc<dyn StreamSource> {
        Arc::new(BackfillSource {
            archive: self.archive.fork(),
            live: self.live.fork(),
            column: self.column.clone(),
            boundary: self.boundary.clone(),
            ctx: self.ctx.clone(),
        })
    }

    async fn open(&self, ctx: &SourceContext) -> Result<()> {
        let split = |pick: fn(&Value) -> Value| {
            ctx.last_planned.as_ref().and_then(|(e, v)| {
                let part = pick(v);
                (!part.is_null()).then_some((*e, part))
            })
        };
        self.archive
            .open(&SourceContext {
                dir: ctx.dir.child("archive"),
                last_planned: split(|v| Self::parts(v).0),
                real_time: false,
            })
            .await?;
        // The archive is read as it was when the query first started: its end is fixed in the
        // checkpoint then, and every restart reads up to that same end.
        let dir = ctx.dir.child("archive");
        match dir.read(ARCHIVE_END).await? {
            Some(bytes) => {
                let end: Value =
                    serde_json::from_slice(&bytes).map_err(|e| TributaryError::State {
                        location: dir.display.clone(),
                        message: format!(
                            "'{ARCHIVE_END}' (where the archive ends) is damaged ({e}): restore \
                         it or start with a new checkpoint"
                        ),
                    })?;
                self.archive.prepare_available_now(Some(&end)).await?;
            }
            None => {
                let end = self.archive.prepare_available_now(None).await?;
                dir.write(ARCHIVE_END, end.to_string()).await?;
            }
        }
        self.live
            .open(&SourceContext {
                dir: ctx.dir.child("live"),
                last_planned: split(|v| Self::parts(v).1),
                real_time: ctx.real_time,
            })
            .await
    }

    fn arrivals(&self) -> Option<Arc<tokio::sync::Notify>> {
        self.live.arrivals()
    }

    async fn prepare_available_now(&self, recorded: Option<&Value>) -> Result<Value> {
        self.live.prepare_available_now(recorded).await
    }

    async fn latest_offset(
        &self,
        start: &Value,
        limited: bool,
        epoch: Epoch,
    ) -> Result<Option<Value>> {
        let (archive, live) = Self::parts(start);
        if live.is_null() {
            if let Some(end) = self.archive.latest_offset(&archive, limited, epoch).await? {
                return Ok(Some(json!({ "archive": end, "live": Value::Null })));
            }
        }
        Ok(self
            .live
            .latest_offset(&live, limited, epoch)
            .await?
            .map(|end| json!({ "archive": archive, "live": end })))
    }

    async fn get_batch(&self, start: &Value, end: &Value, epoch: Epoch) -> Result<EpochInput> {
        let (a0, l0) = Self::parts(start);
        let (a1, l1) = Self::parts(end);
        if a0 != a1 {
            let input = self.archive.get_batch(&a0, &a1, epoch).await?;
            self.bounded(input, true)
        } else {
            let input = self.live.get_batch(&l0, &l1, epoch).await?;
            self.bounded(input, false)
        }
    }

    fn bad_records_path(&self) -> Option<crate::location::Location> {
        self.live.bad_records_path()
    }
}
