//! The `state` format: a batch read of a streaming query's state, from its checkpoint (Spark's
//! state data source, `format("statestore")`).
//!
//! ```python
//! spark.read.format("state").option("operator_id", 0).option("batch_id", 12).load("/chk/visitors")
//! ```
//! Rows: `key` (a struct of the state's key columns), `value` (a struct of the rest) and
//! `partition_id`, read as a restart would restore them ([`crate::state::StateReader`]).

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::datasource::{MemTable, TableProvider};

use super::{OptionDecl, OptionType, ReadContext, SourceConnector};
use crate::error::{Result, TributaryError};
use crate::state::{JoinSide, StateReader};

/// The `state` format.
#[derive(Debug, Clone, Copy, Default)]
pub struct StateConnector;

const OPTIONS: &[OptionDecl] = &[
    OptionDecl::new(
        "operator_id",
        OptionType::Int { min: 0 },
        "the stateful operator to read, by number (`tributary state describe` lists them)",
    )
    .default("0"),
    OptionDecl::new(
        "batch_id",
        OptionType::Int { min: 0 },
        "the epoch whose state to read (default: the last committed one)",
    ),
    OptionDecl::new(
        "join_side",
        OptionType::Choice(&["left", "right"]),
        "the side of a stream-stream join whose rows to read (required for a join)",
    ),
];

#[async_trait]
impl SourceConnector for StateConnector {
    fn name(&self) -> &'static str {
        "state"
    }

    fn aliases(&self) -> &'static [&'static str] {
        &["statestore"]
    }

    fn options(&self) -> &'static [&'static [OptionDecl]] {
        &[OPTIONS, crate::storage::STORAGE_OPTIONS]
    }

    async fn read(&self, ctx: ReadContext<'_>) -> Result<Arc<dyn TableProvider>> {
        let reader = StateReader::open(ctx.location()?).await?;
        let side = ctx
            .options
            .given("join_side")
            .map(str::parse::<JoinSide>)
            .transpose()?;
        let (schema, batches) = reader
            .read(
                ctx.options.int("operator_id").unwrap_or(0) as usize,
                ctx.options.int("batch_id").map(|e| e as u64),
                side,
            )
            .await?;
        Ok(Arc::new(
            MemTable::try_new(schema, vec![batches])
                .map_err(TributaryError::df("reading a query's state"))?,
        ))
    }
}
