//! `foreach_batch`: each epoch's output handed to the user's function as a DataFrame.

mod sink;

pub use sink::{ForeachBatchFn, ForeachBatchSink};

use std::sync::Arc;

use async_trait::async_trait;

use super::{OptionDecl, SinkConnector, StreamSinkContext};
use crate::error::{Result, TributaryError};
use crate::sink::Sink;

/// The `foreach_batch` format: chosen by `write_stream().foreach_batch(f)`, which gives the
/// function.
#[derive(Debug, Clone, Copy, Default)]
pub struct ForeachBatchConnector;

#[async_trait]
impl SinkConnector for ForeachBatchConnector {
    fn name(&self) -> &'static str {
        "foreach_batch"
    }

    fn options(&self) -> &'static [&'static [OptionDecl]] {
        &[]
    }

    fn durable(&self) -> bool {
        false
    }

    async fn stream_sink(&self, ctx: StreamSinkContext<'_>) -> Result<Arc<dyn Sink>> {
        let f = ctx.foreach.ok_or_else(|| {
            TributaryError::Plan(
                "format 'foreach_batch' needs the function: call .foreach_batch(|df, epoch| ..) \
                 on the writer"
                    .into(),
            )
        })?;
        Ok(Arc::new(ForeachBatchSink::new(f.clone())))
    }
}
