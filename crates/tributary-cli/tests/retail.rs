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
        live_state: false,
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
    // The same inventory, pushed to the shop's PostgreSQL database exactly once (two runs).
    assert_eq!(
        pg.rows("SELECT product_id, units, low FROM live_inventory ORDER BY product_id"),
        vec!["1|12|t", "2|482|f", "3|217|f"]
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

/// The pipeline running on a processing-time trigger with `--serve`: psql reads the live
/// inventory's state (each product's units, as of the last committed epoch) and the lake's
/// tables while the queries run, and the state follows a new file of movements.
#[test]
fn omnimart_serves_its_live_inventory_to_psql_while_it_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let pg = PgServer::start();
    pg.psql(
        "CREATE TABLE products (product_id int8 PRIMARY KEY, name text, category text, price numeric(8,2), initial_stock int8);
         INSERT INTO products VALUES (1, 'widget', 'tools', 2.50, 30), (2, 'gadget', 'tools', 10.00, 500);",
    );
    let (history, movements) = (tmp.path().join("history"), tmp.path().join("movements"));
    write(
        &history,
        "day.json",
        &[movement(1, "sale", 2, "2026-11-20T10:00:00Z")],
    );
    write(
        &movements,
        "m1.json",
        &[
            movement(1, "sale", 5, "2026-11-21T10:00:00Z"),
            movement(2, "sale", 7, "2026-11-21T10:05:00Z"),
        ],
    );
    let config = pipeline::Config {
        postgres: pg.url(),
        history,
        movements: movements.clone(),
        lake: tmp.path().join("lake"),
        checkpoints: tmp.path().join("ck"),
        threshold: 20,
        trigger: Trigger::ProcessingTime(std::time::Duration::from_millis(100)),
        live_state: true,
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let queries = rt.block_on(pipeline::run(&config)).unwrap();
    let password = "omnimart-test";
    let endpoint = rt
        .block_on(pipeline::serve(
            &config,
            &queries,
            "127.0.0.1:0",
            tributary_serve::Credentials {
                user: "tributary".into(),
                password: password.into(),
            },
        ))
        .unwrap();
    let port = endpoint.addr().port().to_string();
    let psql = |sql: &str| -> Vec<String> {
        let out = std::process::Command::new("psql")
            .args(["-X", "-w", "-A", "-t", "-h", "127.0.0.1", "-p", &port])
            .args(["-U", "tributary", "-d", "tributary", "-c", sql])
            .env("PGPASSWORD", password)
            .output()
            .expect("psql comes with the postgresql package");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect()
    };
    let state = "SELECT product_id, state FROM live_inventory_state ORDER BY product_id";
    support::wait_until(
        "the live inventory",
        std::time::Duration::from_secs(60),
        || psql(state) == vec![r#"1|{"units":25}"#, r#"2|{"units":493}"#],
    );
    // A lookup by key, and the Delta table the same query writes, through the same endpoint.
    assert_eq!(
        psql("SELECT state FROM live_inventory_state WHERE product_id = 2"),
        vec![r#"{"units":493}"#]
    );
    support::wait_until(
        "the Delta table",
        std::time::Duration::from_secs(60),
        || {
            psql("SELECT product_id, units FROM live_inventory ORDER BY product_id")
                == vec!["1|25", "2|493"]
        },
    );
    // New movements: the state follows once their epoch commits.
    write(
        &movements,
        "m2.json",
        &[movement(1, "restock", 10, "2026-11-21T11:00:00Z")],
    );
    support::wait_until("the restock", std::time::Duration::from_secs(60), || {
        psql("SELECT state FROM live_inventory_state WHERE product_id = 1")
            == vec![r#"{"units":35}"#]
    });
    rt.block_on(async {
        for q in &queries {
            q.stop().await.unwrap();
        }
    });
}
