//! The `rate` format: a generated stream of `(timestamp, value)` rows, for trying queries out.

mod source;

pub use source::RateStreamSource;

use std::sync::Arc;

use async_trait::async_trait;

use super::{OptionDecl, OptionType, ReadContext, SourceConnector};
use crate::error::Result;
use crate::source::StreamSource;

/// The `rate` format.
#[derive(Debug, Clone, Copy, Default)]
pub struct RateConnector;

const OPTIONS: &[OptionDecl] = &[
    OptionDecl::new(
        "rows_per_second",
        OptionType::Int { min: 1 },
        "rows generated per second",
    )
    .default("1"),
    OptionDecl::new(
        "num_partitions",
        OptionType::Int { min: 1 },
        "partitions the rows are spread over",
    )
    .default("1"),
];

#[async_trait]
impl SourceConnector for RateConnector {
    fn name(&self) -> &'static str {
        "rate"
    }

    fn options(&self) -> &'static [&'static [OptionDecl]] {
        &[OPTIONS]
    }

    async fn read_stream(&self, ctx: ReadContext<'_>) -> Result<Arc<dyn StreamSource>> {
        let rows = ctx.options.int("rows_per_second").unwrap_or(1) as u64;
        let parts = ctx.options.int("num_partitions").unwrap_or(1) as usize;
        Ok(Arc::new(RateStreamSource::with_clock(
            rows,
            parts,
            ctx.session.clock(),
        )?))
    }
}
