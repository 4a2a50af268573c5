//! The `console` format: each epoch (or a batch) printed as a table.

mod sink;

pub use sink::ConsoleSink;

use std::sync::Arc;

use async_trait::async_trait;

use super::{OptionDecl, OptionType, SinkConnector, StreamSinkContext, WriteContext};
use crate::error::Result;
use crate::sink::{EpochOutput, Sink};
use crate::DataFrame;

/// The `console` format.
#[derive(Debug, Clone, Copy, Default)]
pub struct ConsoleConnector;

const OPTIONS: &[OptionDecl] = &[
    OptionDecl::new(
        "num_rows",
        OptionType::Int { min: 1 },
        "rows printed per epoch",
    )
    .default("20"),
    OptionDecl::new(
        "truncate",
        OptionType::Bool,
        "cut cells longer than 20 characters",
    )
    .default("true"),
];

fn sink_of(options: &super::Options) -> ConsoleSink {
    ConsoleSink {
        num_rows: options.int("num_rows").unwrap_or(20) as usize,
        truncate: options.bool("truncate"),
    }
}

#[async_trait]
impl SinkConnector for ConsoleConnector {
    fn name(&self) -> &'static str {
        "console"
    }

    fn options(&self) -> &'static [&'static [OptionDecl]] {
        &[OPTIONS]
    }

    fn durable(&self) -> bool {
        false
    }

    async fn write(&self, ctx: WriteContext<'_>, df: DataFrame) -> Result<u64> {
        let state = df.clone().into_parts().0;
        let schema = Arc::new(df.schema().as_arrow().clone());
        let batches = df
            .collect()
            .await
            .map_err(|e| crate::error::from_df_error("running the batch query", e))?;
        let out = EpochOutput {
            schema,
            batches,
            state,
        };
        print!(
            "{}",
            sink_of(ctx.options).render(tributary_checkpoint::Epoch(0), &out)?
        );
        Ok(out.num_rows())
    }

    async fn stream_sink(&self, ctx: StreamSinkContext<'_>) -> Result<Arc<dyn Sink>> {
        Ok(Arc::new(sink_of(ctx.options)))
    }
}
