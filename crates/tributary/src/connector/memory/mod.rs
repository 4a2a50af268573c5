//! Memory: a stream of batches pushed from the program ([`MemoryStream`], given to
//! `read_stream().memory(..)`), and the `memory` sink, a table named after the query.

mod sink;
mod source;

pub use sink::{MemorySink, MemorySinkTable};
pub use source::MemoryStream;

use std::sync::Arc;

use async_trait::async_trait;

use super::{OptionDecl, SinkConnector, StreamSinkContext};
use crate::error::{Result, TributaryError};
use crate::sink::Sink;

/// The `memory` sink format.
#[derive(Debug, Clone, Copy, Default)]
pub struct MemoryConnector;

#[async_trait]
impl SinkConnector for MemoryConnector {
    fn name(&self) -> &'static str {
        "memory"
    }

    fn options(&self) -> &'static [&'static [OptionDecl]] {
        &[]
    }

    fn durable(&self) -> bool {
        false
    }

    async fn stream_sink(&self, ctx: StreamSinkContext<'_>) -> Result<Arc<dyn Sink>> {
        let name = ctx.query_name.ok_or_else(|| {
            TributaryError::Plan(
                "the memory sink needs a query name: .query_name(\"name\") names its table".into(),
            )
        })?;
        let table = MemorySinkTable::new(Arc::new(ctx.df.schema().as_arrow().clone()));
        let df_ctx = ctx.session.context();
        let _ = df_ctx.deregister_table(name);
        df_ctx
            .register_table(name, Arc::new(table.clone()))
            .map_err(TributaryError::df("registering the memory sink's table"))?;
        Ok(Arc::new(MemorySink::new(name, table)))
    }
}
