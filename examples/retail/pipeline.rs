//! OmniMart's retail pipeline (the seeds' case), on one machine:
//!
//! ```text
//!  PostgreSQL products ─────────────┐ (dimension, read through a DataFusion table provider)
//!  movements (sales, restocks) ─────┼─► live_inventory   user state per product, update mode (MERGE)
//!                                   ├─► velocity         units per product and 1-hour window (append)
//!  history (sales) ── batch ────────┴─► baseline         the same velocity logic over history:
//!                                                        the average hourly velocity per day
//!  velocity (Delta stream) ─► pricing rule ─► price_alerts   velocity > 3 x baseline while
//!                                                            inventory < threshold
//!  live inventory ─► PostgreSQL table `live_inventory` (update mode, exactly once: reverse ETL)
//!  served (--serve): the lake's tables and `live_inventory_state`, the user state as it is
//! ```
//!
//! One function, [`hourly_velocity`], is the velocity logic: the batch over history and the
//! stream over live sales both call it.

use std::path::PathBuf;
use std::sync::Arc;

use datafusion::logical_expr::JoinType;
use serde::{Deserialize, Serialize};
use tributary::prelude::*;
use tributary::state::{GroupState, GroupStateTimeout};
use tributary::StreamingQuery;

/// Where everything is.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    /// PostgreSQL connection URL, e.g. `postgresql://postgres@127.0.0.1:5432/postgres`.
    pub postgres: String,
    /// Historical sales (JSON lines of movements, read as a batch).
    pub history: PathBuf,
    /// Live movements: sales and restocks (JSON lines, read as a stream).
    pub movements: PathBuf,
    /// The lake: `baseline`, `live_inventory`, `velocity`, `price_alerts` Delta tables.
    pub lake: PathBuf,
    /// Checkpoints of the three queries.
    pub checkpoints: PathBuf,
    /// Inventory under this many units makes a fast seller a pricing candidate.
    pub threshold: i64,
    /// `AvailableNow` to process what is there and stop (closing open windows), or a
    /// processing-time trigger to run on.
    pub trigger: Trigger,
    /// Keep the live inventory's state as a live view, to be served.
    pub live_state: bool,
}

/// A stock movement: `sale` or `restock`.
pub(crate) fn movement_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("product_id", DataType::Int64, false),
        Field::new("kind", DataType::Utf8, false),
        Field::new("qty", DataType::Int64, false),
        Field::new(
            "event_time",
            DataType::Timestamp(TimeUnit::Nanosecond, None),
            false,
        ),
    ]))
}

fn lake(config: &Config, table: &str) -> String {
    config.lake.join(table).display().to_string()
}

async fn products(session: &Session, config: &Config) -> tributary::Result<DataFrame> {
    session
        .read()
        .format("postgres")
        .option("table", "products")
        .load(&config.postgres)
        .await
}

/// Units and revenue per product and 1-hour window: the one velocity logic, for the batch
/// over history and the stream over live sales alike.
pub(crate) fn hourly_velocity(
    movements: DataFrame,
    products: DataFrame,
) -> tributary::Result<DataFrame> {
    let sales = movements.filter(col("kind").eq(lit("sale")))?.select(vec![
        window(col("event_time"), "1 hour").alias("w"),
        col("product_id").alias("sold_id"),
        col("qty"),
    ])?;
    let priced = sales.join(
        products,
        JoinType::Inner,
        &["sold_id"],
        &["product_id"],
        None,
    )?;
    Ok(priced
        .aggregate(
            vec![col("w"), col("product_id"), col("name")],
            vec![
                sum(col("qty")).alias("units"),
                sum(col("qty") * col("price")).alias("revenue"),
            ],
        )?
        .select(vec![
            get_field(col("w"), "start").alias("hour_start"),
            col("product_id"),
            col("name"),
            col("units"),
            col("revenue"),
        ])?)
}

/// The product's state: units on hand.
#[derive(Debug, Serialize, Deserialize)]
struct Stock {
    units: i64,
}

#[derive(Debug, Deserialize)]
struct Movement {
    kind: String,
    qty: i64,
    initial_stock: i64,
}

#[derive(Debug, Serialize)]
struct Level {
    product_id: i64,
    units: i64,
    low: bool,
}

fn level_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("product_id", DataType::Int64, false),
        Field::new("units", DataType::Int64, false),
        Field::new("low", DataType::Boolean, false),
    ]))
}

/// Current inventory per product: user state that starts at the product's initial stock
/// (from PostgreSQL) and follows every sale and restock.
pub(crate) fn current_inventory(
    movements: DataFrame,
    products: DataFrame,
    threshold: i64,
) -> tributary::Result<DataFrame> {
    let with_stock = movements
        .select(vec![
            col("product_id").alias("moved_id"),
            col("kind"),
            col("qty"),
        ])?
        .join(
            products,
            JoinType::Inner,
            &["moved_id"],
            &["product_id"],
            None,
        )?
        .select(vec![
            col("product_id"),
            col("kind"),
            col("qty"),
            col("initial_stock"),
        ])?;
    with_stock
        .group_by_key(&["product_id"])?
        .map_groups_with_state(
            level_schema(),
            GroupStateTimeout::NoTimeout,
            move |product_id: i64, rows: Vec<Movement>, state: &mut GroupState<Stock>| {
                let initial = rows.first().map(|m| m.initial_stock).unwrap_or(0);
                let mut stock = state.get()?.unwrap_or(Stock { units: initial });
                for m in rows {
                    match m.kind.as_str() {
                        "sale" => stock.units -= m.qty,
                        "restock" => stock.units += m.qty,
                        _ => {}
                    }
                }
                state.update(&stock)?;
                Ok(Level {
                    product_id,
                    units: stock.units,
                    low: stock.units < threshold,
                })
            },
        )
}

/// The baseline: each product's average units per hour over the days of history, from
/// [`hourly_velocity`] run as a batch. Replaces the `baseline` table.
pub(crate) async fn write_baseline(session: &Session, config: &Config) -> tributary::Result<u64> {
    let history = session
        .read()
        .schema(movement_schema())
        .json(config.history.to_str().unwrap_or_default())
        .await?;
    let hourly = hourly_velocity(history, products(session, config).await?)?;
    session.register("history_velocity", hourly)?;
    let baseline = session
        .sql(
            "SELECT product_id, CAST(sum(units) AS DOUBLE) / (24.0 * count(DISTINCT date_trunc('day', hour_start))) \
             AS avg_units_per_hour FROM history_velocity GROUP BY product_id",
        )
        .await?;
    let summary = baseline
        .write()
        .format("delta")
        .mode(tributary::SaveMode::Overwrite)
        .save(&lake(config, "baseline"))
        .await?;
    Ok(summary.rows)
}

/// The pricing rule over one epoch of closed hours: fast sellers that are running low.
async fn price_alerts(config: Config, hours: DataFrame, epoch: u64) -> tributary::Result<()> {
    let session = Session::new();
    let alerts_path = lake(&config, "price_alerts");
    // Idempotent per epoch: a re-run epoch (after a crash) finds its rows and stops.
    if std::path::Path::new(&alerts_path)
        .join("_delta_log")
        .exists()
    {
        let seen = session
            .read()
            .delta(&alerts_path)
            .await?
            .filter(col("epoch").eq(lit(epoch as i64)))?
            .count()
            .await?;
        if seen > 0 {
            return Ok(());
        }
    }
    let hours = session.context().read_batches(hours.collect().await?)?;
    session.register("hours", hours)?;
    session.register(
        "baseline",
        session.read().delta(&lake(&config, "baseline")).await?,
    )?;
    session.register(
        "inventory",
        session
            .read()
            .delta(&lake(&config, "live_inventory"))
            .await?,
    )?;
    let flagged = session
        .sql(&format!(
            "SELECT h.hour_start, h.product_id, h.name, h.units AS units_last_hour, \
                    b.avg_units_per_hour, i.units AS inventory, CAST({epoch} AS BIGINT) AS epoch \
             FROM hours h \
             JOIN baseline b ON h.product_id = b.product_id \
             JOIN inventory i ON h.product_id = i.product_id \
             WHERE h.units > 3 * b.avg_units_per_hour AND i.units < {threshold}",
            threshold = config.threshold
        ))
        .await?;
    flagged
        .write()
        .format("delta")
        .mode(tributary::SaveMode::Append)
        .save(&alerts_path)
        .await?;
    Ok(())
}

/// Start the pipeline: the baseline batch, then the three streaming queries. With
/// `AvailableNow` the queries run to the end of the data one after the other, and the
/// function returns when all are done.
pub(crate) async fn run(config: &Config) -> tributary::Result<Vec<StreamingQuery>> {
    let session = Session::new();
    if config.live_state {
        session.set_conf(tributary::state::LIVE_STATE_CONF, "true");
    }
    write_baseline(&session, config).await?;
    let movements = || async {
        session
            .read_stream()
            .schema(movement_schema())
            .option("max_files_per_trigger", 1)
            .json(config.movements.to_str().unwrap_or_default())
            .await
    };
    let bounded = config.trigger == Trigger::AvailableNow;
    let checkpoint = |name: &str| config.checkpoints.join(name).display().to_string();
    let mut queries = Vec::new();
    let inventory = current_inventory(
        movements().await?,
        products(&session, config).await?,
        config.threshold,
    )?
    .write_stream()
    .format("delta")
    .output_mode(OutputMode::Update)
    .option("merge_keys", "product_id")
    .option("checkpoint_location", checkpoint("live_inventory"))
    .query_name("live_inventory")
    .trigger(config.trigger)
    .start(&lake(config, "live_inventory"))
    .await?;
    // The same inventory pushed to the shop's database, where its applications read it.
    let to_postgres = current_inventory(
        movements().await?,
        products(&session, config).await?,
        config.threshold,
    )?
    .write_stream()
    .format("postgres")
    .output_mode(OutputMode::Update)
    .option("merge_keys", "product_id")
    .option("table", "live_inventory")
    .option("checkpoint_location", checkpoint("live_inventory_postgres"))
    .query_name("live_inventory_postgres")
    .trigger(config.trigger)
    .start(&config.postgres)
    .await?;
    let velocity = hourly_velocity(
        movements()
            .await?
            .with_watermark("event_time", "10 minutes")?,
        products(&session, config).await?,
    )?
    .write_stream()
    .format("delta")
    .option("checkpoint_location", checkpoint("velocity"))
    .option("flush_at_end", bounded)
    .query_name("velocity")
    .trigger(config.trigger)
    .start(&lake(config, "velocity"))
    .await?;
    if bounded {
        inventory.await_termination().await?;
        to_postgres.await_termination().await?;
        velocity.await_termination().await?;
    }
    queries.push(inventory);
    queries.push(to_postgres);
    tributary::sink::create_table_if_missing(
        &session.location(&lake(config, "velocity"), &Default::default())?,
        Arc::new(Schema::new(vec![
            Field::new(
                "hour_start",
                DataType::Timestamp(TimeUnit::Nanosecond, None),
                true,
            ),
            Field::new("product_id", DataType::Int64, true),
            Field::new("name", DataType::Utf8, true),
            Field::new("units", DataType::Int64, true),
            Field::new("revenue", DataType::Float64, true),
        ])),
        &Default::default(),
    )
    .await?;
    queries.push(velocity);
    let rule_config = config.clone();
    let pricing = session
        .read_stream()
        .format("delta")
        .load(&lake(config, "velocity"))
        .await?
        .write_stream()
        .option("checkpoint_location", checkpoint("price_alerts"))
        .query_name("price_alerts")
        .trigger(config.trigger)
        .foreach_batch(move |hours, epoch| price_alerts(rule_config.clone(), hours, epoch))
        .start("")
        .await?;
    if bounded {
        pricing.await_termination().await?;
    }
    queries.push(pricing);
    Ok(queries)
}

/// Serve the lake's tables and the live inventory's state (`live_inventory_state`: each
/// product's units as JSON, as of the last committed epoch) over the PostgreSQL wire protocol.
pub(crate) async fn serve(
    config: &Config,
    queries: &[StreamingQuery],
    addr: &str,
    credentials: tributary_serve::Credentials,
) -> tributary::Result<tributary_serve::PgEndpoint> {
    use tributary_serve::{Catalog, PgEndpoint, ServedTable};
    let catalog = Catalog::new(Session::new());
    for table in ["baseline", "live_inventory", "velocity", "price_alerts"] {
        catalog.add(
            table,
            ServedTable::Stored {
                format: "delta".into(),
                location: lake(config, table),
                options: Default::default(),
                schema: None,
            },
        );
    }
    for q in queries {
        for view in q.live_state() {
            catalog.add(view.name(), ServedTable::Live(view.table()));
        }
    }
    PgEndpoint::start(addr, Arc::new(catalog), credentials).await
}
