//! The seeds' "current inventory per product" (OmniMart): stock movements stream in — sales
//! take units away, restocks add them — and user-defined state keeps each product's stock,
//! raising an alert when it falls under a threshold.
//!
//!   cargo run -p tributary --example inventory -- MOVEMENTS_DIR
//!
//! MOVEMENTS_DIR holds JSON lines like
//! `{"product_id": 7, "kind": "sale", "qty": 3, "event_time": "2026-11-21T10:00:00Z"}`.

// Shared with the integration tests (as a module), whose items must stay reachable.
#![allow(unreachable_pub)]

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tributary::prelude::*;
use tributary::state::{GroupState, GroupStateTimeout};

/// Units every product starts with.
pub const INITIAL_UNITS: i64 = 100;
/// Below this, a product raises an alert.
pub const ALERT_BELOW: i64 = 20;

/// One stock movement.
#[derive(Debug, Deserialize)]
pub struct Movement {
    /// The product.
    pub product_id: i64,
    /// `sale` or `restock`.
    pub kind: String,
    /// Units moved.
    pub qty: i64,
}

/// The state of a product.
#[derive(Debug, Serialize, Deserialize)]
pub struct Stock {
    /// Units on hand.
    pub units: i64,
}

/// The output: the product's level after the epoch's movements.
#[derive(Debug, Serialize)]
pub struct Level {
    /// The product.
    pub product_id: i64,
    /// Units on hand.
    pub units: i64,
    /// Whether the stock is under [`ALERT_BELOW`].
    pub alert: bool,
}

/// The schema of movements.
pub fn movement_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("product_id", DataType::Int64, false),
        Field::new("kind", DataType::Utf8, false),
        Field::new("qty", DataType::Int64, false),
        Field::new(
            "event_time",
            DataType::Timestamp(TimeUnit::Nanosecond, None),
            true,
        ),
    ]))
}

/// The schema of [`Level`].
pub fn level_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("product_id", DataType::Int64, false),
        Field::new("units", DataType::Int64, false),
        Field::new("alert", DataType::Boolean, false),
    ]))
}

/// The current inventory: one row per product and epoch in which it moved (batch: one per
/// product).
pub fn current_inventory(movements: DataFrame) -> tributary::Result<DataFrame> {
    movements
        .group_by_key(&["product_id"])?
        .map_groups_with_state(
            level_schema(),
            GroupStateTimeout::NoTimeout,
            |product_id: i64, rows: Vec<Movement>, state: &mut GroupState<Stock>| {
                let mut stock = state.get()?.unwrap_or(Stock {
                    units: INITIAL_UNITS,
                });
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
                    alert: stock.units < ALERT_BELOW,
                })
            },
        )
}

#[allow(dead_code)]
#[tokio::main]
async fn main() -> tributary::Result<()> {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "examples/inventory/movements".into());
    let session = Session::new();
    let movements = session
        .read_stream()
        .schema(movement_schema())
        .json(&dir)
        .await?;
    let query = current_inventory(movements)?
        .write_stream()
        .format("console")
        .output_mode(OutputMode::Update)
        .trigger(Trigger::AvailableNow)
        .start("")
        .await?;
    query.await_termination().await
}
