//! The `nexmark` format: the Nexmark benchmark's online-auction event stream (people, auctions,
//! bids in the proportions 1:3:46), generated deterministically from a seed, as a batch and as
//! a stream.
//!
//! ```sql
//! CREATE UNBOUNDED EXTERNAL TABLE bid STORED AS NEXMARK LOCATION 'nexmark'
//! OPTIONS ('table' 'bid', 'max_events' '1000000', 'seed' '42');
//! ```
//!
//! The three tables of one seed and event count are the three parts of one event stream: a job
//! that reads `person`, `auction` and `bid` with the same options sees people registering before
//! they sell or bid and auctions opening before their bids. The location is only a label.

mod generator;
mod source;
mod table;

pub use generator::{GeneratorConfig, Table as NexmarkTableKind};
pub use source::{NexmarkOptions, NexmarkStreamSource};
pub use table::NexmarkTable;

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::datasource::TableProvider;

use super::{OptionDecl, OptionType, ReadContext, SourceConnector};
use crate::error::{Result, TributaryError};
use crate::source::StreamSource;

/// The `nexmark` format.
#[derive(Debug, Clone, Copy, Default)]
pub struct NexmarkConnector;

/// 2025-01-01T00:00:00Z: the event time of event 0 unless `base_time` says otherwise, so that
/// every run of a seed gives the same rows.
const DEFAULT_BASE_TIME_NS: i64 = 1_735_689_600_000_000_000;

const OPTIONS: &[OptionDecl] = &[
    OptionDecl::new(
        "table",
        OptionType::Choice(&["person", "auction", "bid"]),
        "which of the stream's three tables to read (required)",
    ),
    OptionDecl::new(
        "seed",
        OptionType::Int { min: 0 },
        "the generator's seed: the same seed gives the same events",
    )
    .default("0"),
    OptionDecl::new(
        "max_events",
        OptionType::Int { min: 0 },
        "events in the whole stream, all three tables together (0: endless; a batch read needs it)",
    )
    .default("0"),
    OptionDecl::new(
        "events_per_second",
        OptionType::Int { min: 1 },
        "events per second of event time (date_time advances by 1/events_per_second per event)",
    )
    .default("10000"),
    OptionDecl::new(
        "base_time",
        OptionType::Text,
        "the date_time of the first event, e.g. 2025-01-01 00:00:00 (UTC)",
    )
    .default("2025-01-01 00:00:00"),
    OptionDecl::new(
        "max_events_per_trigger",
        OptionType::Int { min: 1 },
        "events of the whole stream an epoch takes at most",
    )
    .default("1000000"),
    OptionDecl::new(
        "throttle",
        OptionType::Bool,
        "release events at events_per_second of wall-clock time, as a live feed would; otherwise as fast as the query reads them",
    )
    .default("false"),
    OptionDecl::new(
        "num_partitions",
        OptionType::Int { min: 1 },
        "partitions each read is split over (default: the session's target partitions)",
    ),
];

impl NexmarkConnector {
    /// The generation options of a read.
    pub fn parse_options(ctx: &ReadContext<'_>) -> Result<NexmarkOptions> {
        let table = ctx.options.text("table").ok_or_else(|| {
            TributaryError::option(
                "table",
                "a Nexmark source reads one table: add 'table' 'person', 'auction' or 'bid'",
            )
        })?;
        let table = generator::Table::parse(table).ok_or_else(|| {
            TributaryError::option("table", "must be one of person, auction, bid")
        })?;
        let int = |name: &str| ctx.options.int(name).map(|v| v as u64);
        let base_time_ns = match ctx.options.given("base_time") {
            None => DEFAULT_BASE_TIME_NS,
            Some(text) => parse_time(text).ok_or_else(|| {
                TributaryError::option(
                    "base_time",
                    format!(
                        "'{text}' is not a time: write it as 2025-01-01 00:00:00 (UTC) or an RFC 3339 timestamp"
                    ),
                )
            })?,
        };
        Ok(NexmarkOptions {
            table,
            config: GeneratorConfig {
                seed: int("seed").unwrap_or(0),
                events_per_second: int("events_per_second").unwrap_or(10_000).max(1),
                base_time_ns,
            },
            max_events: int("max_events").filter(|&n| n > 0),
            max_events_per_trigger: int("max_events_per_trigger").unwrap_or(1_000_000).max(1),
            throttle: ctx.options.bool("throttle"),
            partitions: int("num_partitions")
                .map(|n| n as usize)
                .unwrap_or_else(|| ctx.partitions()),
        })
    }
}

/// `2025-01-01 00:00:00`, `2025-01-01T00:00:00` (UTC) or RFC 3339, in nanoseconds.
fn parse_time(text: &str) -> Option<i64> {
    let text = text.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return t.timestamp_nanos_opt();
    }
    ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d"]
        .iter()
        .find_map(|f| {
            chrono::NaiveDateTime::parse_from_str(text, f)
                .ok()
                .or_else(|| {
                    chrono::NaiveDate::parse_from_str(text, f)
                        .ok()
                        .and_then(|d| d.and_hms_opt(0, 0, 0))
                })
        })
        .and_then(|t| t.and_utc().timestamp_nanos_opt())
}

#[async_trait]
impl SourceConnector for NexmarkConnector {
    fn name(&self) -> &'static str {
        "nexmark"
    }

    fn options(&self) -> &'static [&'static [OptionDecl]] {
        &[OPTIONS]
    }

    async fn read(&self, ctx: ReadContext<'_>) -> Result<Arc<dyn TableProvider>> {
        let opts = Self::parse_options(&ctx)?;
        let Some(events) = opts.max_events else {
            return Err(TributaryError::option(
                "max_events",
                "a Nexmark table read as a batch needs a size: add 'max_events' (events of the whole stream)",
            ));
        };
        Ok(Arc::new(NexmarkTable::new(
            opts.table,
            opts.config,
            0,
            events,
            opts.partitions,
        )))
    }

    async fn read_stream(&self, ctx: ReadContext<'_>) -> Result<Arc<dyn StreamSource>> {
        let opts = Self::parse_options(&ctx)?;
        Ok(Arc::new(NexmarkStreamSource::new(
            opts,
            ctx.session.clock(),
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::parse_time;

    #[test]
    fn base_times_parse_in_the_forms_users_write() {
        let midnight = 1_735_689_600_000_000_000;
        assert_eq!(parse_time("2025-01-01 00:00:00"), Some(midnight));
        assert_eq!(parse_time("2025-01-01T00:00:00"), Some(midnight));
        assert_eq!(parse_time("2025-01-01"), Some(midnight));
        assert_eq!(parse_time("2025-01-01T01:00:00+01:00"), Some(midnight));
        assert_eq!(parse_time("yesterday"), None);
    }
}
