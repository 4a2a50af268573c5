//! The retail example (examples/retail) end to end: a real PostgreSQL server started here,
//! product dimension read through the PostgreSQL table provider, live inventory in update
//! mode, hourly velocity against the batch baseline, and the pricing rule.

#[path = "../../../examples/retail/pipeline.rs"]
#[allow(dead_code)]
mod pipeline;

use std::path::Path;

use tributary::prelude::*;

mod support;
use support::postgres::PgServer;

fn movement(product: i64, kind: &str, qty: i64, t: &str) -> String {
    format!("{{\"product_id\":{product},\"kind\":\"{kind}\",\"qty\":{qty},\"event_time\":\"{t}\"}}")
}

fn write(dir: &Path, name: &str, lines: &[String]) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join(name), lines.join("\n") + "\n").unwrap();
}

fn rows(path: &Path, sql: &str) -> Vec<String> {
    support::query_delta(path, sql)
}

#[test]
fn omnimart_flags_fast_sellers_that_run_low() {
    let tmp = tempfile::tempdir().unwrap();
    let pg = PgServer::start();
    pg.psql(
        "CREATE TABLE products (product_id int8 PRIMARY KEY, name text, category text, price numeric(8,2), initial_stock int8);
         INSERT INTO products VALUES (1, 'widget', 'tools', 2.50, 30), (2, 'gadget', 'tools', 10.00, 500),
                                     (3, 'doohickey', 'toys', 4.00, 200);",
    );
    // History: two days, every product sells 2 units an hour: a baseline of 2 units/hour.
    let (history, movements) = (tmp.path().join("history"), tmp.path().join("movements"));
    for day in [19, 20] {
        let lines: Vec<String> = (0..24)
            .flat_map(|h| {
                (1..=3)
                    .map(move |p| movement(p, "sale", 2, &format!("2026-11-{day}T{h:02}:15:00Z")))
            })
            .collect();
        write(&history, &format!("day{day}.json"), &lines);
    }
    // Today: normal hours 08-11, then widget and gadget sell 10 units in the 12:00 hour;
    // doohickey is restocked. Only the widget is both fast (5x) and low (30 - 18 = 12 < 20).
    for h in 8..12 {
        let lines: Vec<String> = (1..=3)
            .map(|p| movement(p, "sale", 2, &format!("2026-11-21T{h:02}:20:00Z")))
            .collect();
        write(&movements, &format!("m{h:02}.json"), &lines);
    }
    write(
        &movements,
        "m12.json",
        &[
            movement(1, "sale", 6, "2026-11-21T12:05:00Z"),
            movement(1, "sale", 4, "2026-11-21T12:40:00Z"),
            movement(2, "sale", 10, "2026-11-21T12:30:00Z"),
            movement(3, "restock", 20, "2026-11-21T12:10:00Z"),
        ],
    );
    write(
        &movements,
        "m14.json",
        &[movement(3, "restock", 5, "2026-11-21T14:30:00Z")],
    );
    let config = pipeline::Config {
        postgres: pg.url(),
        history,
        movements,
        lake: tmp.path().join("lake"),
        checkpoints: tmp.path().join("ck"),
        threshold: 20,
        trigger: Trigger::AvailableNow,
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    for _ in 0..2 {
        // The second run finds nothing new: nothing changes, no alert twice.
        rt.block_on(pipeline::run(&config)).unwrap();
    }
    let lake = config.lake.clone();
    assert_eq!(
        rows(
            &lake.join("baseline"),
            "SELECT product_id, avg_units_per_hour FROM t"
        ),
        vec!["1|2.0", "2|2.0", "3|2.0"]
    );
    assert_eq!(
        rows(
            &lake.join("live_inventory"),
            "SELECT product_id, units, low FROM t"
        ),
        vec!["1|12|true", "2|482|false", "3|217|false"]
    );
    let velocity = rows(
        &lake.join("velocity"),
        "SELECT product_id, units, revenue FROM t WHERE hour_start = '2026-11-21T12:00:00'",
    );
    assert_eq!(velocity, vec!["1|10|25.0", "2|10|100.0"]);
    assert_eq!(
        rows(
            &lake.join("price_alerts"),
            "SELECT CAST(hour_start AS VARCHAR), name, units_last_hour, inventory FROM t"
        ),
        vec!["2026-11-21T12:00:00|widget|10|12"]
    );
}
