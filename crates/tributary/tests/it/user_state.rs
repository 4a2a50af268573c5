//! User-defined state: the inventory example as a stream (with restarts) equals the batch, and
//! processing-time timeouts fire for quiet keys.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::Int64Type;
use serde::{Deserialize, Serialize};
use tributary::prelude::*;
use tributary::state::{GroupState, GroupStateTimeout};

use crate::common::*;

#[allow(dead_code)]
#[path = "../../examples/inventory.rs"]
mod inventory;

fn movements(dir: &Path, file: usize, first: i64, n: i64) {
    let lines: Vec<String> = (first..first + n)
        .map(|i| {
            let kind = if i % 5 == 4 { "restock" } else { "sale" };
            let qty = if kind == "restock" { 5 } else { 1 + i % 7 };
            format!(
                "{{\"product_id\":{},\"kind\":\"{kind}\",\"qty\":{qty},\"event_time\":\"2026-11-21T10:00:{:02}Z\"}}",
                i % 4,
                i % 60
            )
        })
        .collect();
    write_lines(dir, &format!("m{file:02}.json"), &lines);
}

/// (product, units, alert) per product: the last row of each product.
fn levels(batches: &[RecordBatch]) -> BTreeMap<i64, (i64, bool)> {
    let mut out = BTreeMap::new();
    for b in batches {
        let p = b.column(0).as_primitive::<Int64Type>();
        let u = b.column(1).as_primitive::<Int64Type>();
        let a = b.column(2).as_boolean();
        for i in 0..b.num_rows() {
            out.insert(p.value(i), (u.value(i), a.value(i)));
        }
    }
    out
}

#[tokio::test]
async fn inventory_as_a_stream_with_restarts_equals_the_batch() {
    let tmp = tempfile::tempdir().unwrap();
    let (input, ckpt) = (tmp.path().join("in"), tmp.path().join("ckpt"));
    let epochs: Arc<Mutex<BTreeMap<u64, Vec<RecordBatch>>>> = Default::default();
    let mut next = 0;
    for run in 0..3 {
        for f in 0..3 {
            movements(&input, run * 3 + f, next, 20);
            next += 20;
        }
        let s = Session::new();
        let df = s
            .read_stream()
            .schema(inventory::movement_schema())
            .option("max_files_per_trigger", 2)
            .json(input.to_str().unwrap())
            .await
            .unwrap();
        let seen = epochs.clone();
        let q = inventory::current_inventory(df)
            .unwrap()
            .write_stream()
            .output_mode(OutputMode::Update)
            .trigger(Trigger::AvailableNow)
            .option("checkpoint_location", ckpt.display())
            .foreach_batch(keep_epochs(&seen))
            .start("")
            .await
            .unwrap();
        q.await_termination().await.unwrap();
        let last = q.last_progress().unwrap();
        assert_eq!(
            last.state_operators[0]["numRowsTotal"],
            4,
            "{}",
            last.json()
        );
    }
    let streamed = levels(
        &epochs
            .lock()
            .unwrap()
            .values()
            .flatten()
            .cloned()
            .collect::<Vec<_>>(),
    );
    let s = Session::new();
    let df = s
        .read()
        .schema(inventory::movement_schema())
        .json(input.to_str().unwrap())
        .await
        .unwrap();
    let batch = levels(
        &inventory::current_inventory(df)
            .unwrap()
            .collect()
            .await
            .unwrap(),
    );
    assert_eq!(streamed, batch);
    assert_eq!(batch.len(), 4);
    // Some product fell under the threshold, and the alert says so.
    assert!(
        batch
            .values()
            .any(|(u, a)| *u < inventory::ALERT_BELOW && *a),
        "{batch:?}"
    );
    assert!(batch
        .values()
        .all(|(u, a)| (*u < inventory::ALERT_BELOW) == *a));
}

/// With `live_state` on, the query's `map_groups_with_state` keeps a live view of each key's
/// state: after every run (restarts between them) it holds each product's stock as the last
/// emitted level says, as of the last committed epoch, and a key is looked up directly and
/// through SQL.
#[tokio::test]
async fn the_live_view_of_user_state_holds_each_keys_state_as_of_the_last_epoch() {
    let tmp = tempfile::tempdir().unwrap();
    let (input, ckpt) = (tmp.path().join("in"), tmp.path().join("ckpt"));
    let epochs: Arc<Mutex<BTreeMap<u64, Vec<RecordBatch>>>> = Default::default();
    for run in 0..2 {
        movements(&input, run, run as i64 * 30, 30);
        let s = Session::new();
        s.set_conf(tributary::state::LIVE_STATE_CONF, "true");
        let df = s
            .read_stream()
            .schema(inventory::movement_schema())
            .json(input.to_str().unwrap())
            .await
            .unwrap();
        let q = inventory::current_inventory(df)
            .unwrap()
            .write_stream()
            .output_mode(OutputMode::Update)
            .trigger(Trigger::AvailableNow)
            .query_name("inventory")
            .option("checkpoint_location", ckpt.display())
            .foreach_batch(keep_epochs(&epochs))
            .start("")
            .await
            .unwrap();
        q.await_termination().await.unwrap();
        let views = q.live_state();
        assert_eq!(views.len(), 1);
        let view = &views[0];
        assert_eq!(view.name(), "inventory_state");
        assert_eq!(view.operator(), "map_groups_with_state");
        assert_eq!(
            view.epoch(),
            Some(q.last_progress().unwrap().batch_id),
            "as of the last committed epoch"
        );
        let (_, rows) = view.snapshot();
        let schema = rows.schema();
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names, vec!["product_id", "state", "timeout_ms"]);
        let product = rows.column(0).as_primitive::<Int64Type>();
        let state = rows.column(1).as_string::<i32>();
        let mut held = BTreeMap::new();
        for i in 0..rows.num_rows() {
            let stock: inventory::Stock = serde_json::from_str(state.value(i)).unwrap();
            held.insert(product.value(i), stock.units);
        }
        let emitted: BTreeMap<i64, i64> = levels(
            &epochs
                .lock()
                .unwrap()
                .values()
                .flatten()
                .cloned()
                .collect::<Vec<_>>(),
        )
        .into_iter()
        .map(|(p, (units, _))| (p, units))
        .collect();
        assert_eq!(held, emitted, "run {run}");
        // The checkpoint's state, read from outside the query, holds the same keys and states.
        let loc = tributary::location::Location::resolve(ckpt.to_str().unwrap()).unwrap();
        let reader = tributary::state::StateReader::open(loc).await.unwrap();
        assert_eq!(
            reader.describe().await.unwrap()[0].kind,
            "map_groups_with_state"
        );
        let (_, stored) = reader.read(0, None, None).await.unwrap();
        let mut from_checkpoint = BTreeMap::new();
        for b in &stored {
            let (key, value) = (b.column(0).as_struct(), b.column(1).as_struct());
            let product = key.column(0).as_primitive::<Int64Type>();
            let state = value.column(0).as_string::<i32>();
            for i in 0..b.num_rows() {
                let stock: inventory::Stock = serde_json::from_str(state.value(i)).unwrap();
                from_checkpoint.insert(product.value(i), stock.units);
            }
        }
        assert_eq!(from_checkpoint, held, "run {run}");
        let one = view
            .lookup(&[datafusion::common::ScalarValue::Int64(Some(2))])
            .unwrap()
            .unwrap();
        assert_eq!(one.num_rows(), 1);
        s.context().register_table("inv", view.table()).unwrap();
        let found = s
            .sql("SELECT state FROM inv WHERE product_id = 2")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let stock: inventory::Stock =
            serde_json::from_str(found[0].column(0).as_string::<i32>().value(0)).unwrap();
        assert_eq!(stock.units, emitted[&2]);
    }
}

#[derive(Deserialize)]
struct Click {
    #[allow(dead_code)]
    user: String,
}

#[derive(Serialize, Deserialize)]
struct Clicks {
    n: i64,
}

#[derive(Serialize)]
struct Expired {
    user: String,
    clicks: i64,
}

#[tokio::test]
async fn processing_time_timeouts_call_quiet_keys_and_remove_their_state() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    write_lines(
        &input,
        "a.json",
        &[
            "{\"user\":\"ann\"}".into(),
            "{\"user\":\"bob\"}".into(),
            "{\"user\":\"ann\"}".into(),
        ],
    );
    let s = Session::new();
    let schema = Arc::new(Schema::new(vec![Field::new("user", DataType::Utf8, true)]));
    let out = Arc::new(Schema::new(vec![
        Field::new("user", DataType::Utf8, false),
        Field::new("clicks", DataType::Int64, false),
    ]));
    let q = s
        .read_stream()
        .schema(schema)
        .json(input.to_str().unwrap())
        .await
        .unwrap()
        .group_by_key(&["user"])
        .unwrap()
        .flat_map_groups_with_state(
            out,
            GroupStateTimeout::ProcessingTime,
            |user: String, rows: Vec<Click>, state: &mut GroupState<Clicks>| {
                if state.has_timed_out() {
                    let n = state.get()?.map(|c| c.n).unwrap_or(0);
                    state.remove();
                    return Ok(vec![Expired { user, clicks: n }]);
                }
                let n = state.get()?.map(|c| c.n).unwrap_or(0) + rows.len() as i64;
                state.update(&Clicks { n })?;
                state.set_timeout_duration(std::time::Duration::from_millis(300))?;
                Ok(vec![])
            },
        )
        .unwrap()
        .write_stream()
        .format("memory")
        .query_name("expired")
        .trigger(Trigger::ProcessingTime(std::time::Duration::from_millis(
            50,
        )))
        .start("")
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        if s.table("expired").await.unwrap().count().await.unwrap() == 2 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the timeouts never fired"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let rows = s
        .sql("SELECT user, clicks FROM expired ORDER BY user")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let b = &rows[0];
    assert_eq!(b.column(0).as_string::<i32>().value(0), "ann");
    assert_eq!(b.column(1).as_primitive::<Int64Type>().value(0), 2);
    assert_eq!(b.column(1).as_primitive::<Int64Type>().value(1), 1);
    // The memory sink shows an epoch's rows before the epoch's progress is
    // recorded, so wait for the progress of the epoch that expired the keys.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let last = q.last_progress().unwrap();
        if last.state_operators[0]["numRowsTotal"] == 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the state of the expired keys was never removed: {}",
            last.json()
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    q.stop().await.unwrap();
}

#[derive(Deserialize)]
struct Reading {
    event_time: String,
}

#[derive(Serialize, Deserialize)]
struct LastSeen {
    readings: i64,
}

#[derive(Serialize)]
struct Silent {
    sensor: String,
    readings: i64,
}

/// Readings of sensors, with event-time timeouts 30 s after a sensor's last reading: a
/// timed-out sensor emits its reading count. Runs available-now over `input` on `ckpt`, with a
/// state memory budget when given; returns each epoch's rows and the progress.
async fn silent_sensors(
    input: &Path,
    ckpt: &Path,
    memory_limit: Option<&str>,
) -> (Vec<(String, i64)>, Vec<tributary::StreamingQueryProgress>) {
    let schema = Arc::new(Schema::new(vec![
        Field::new("sensor", DataType::Utf8, true),
        Field::new(
            "event_time",
            DataType::Timestamp(TimeUnit::Millisecond, None),
            true,
        ),
    ]));
    let out = Arc::new(Schema::new(vec![
        Field::new("sensor", DataType::Utf8, false),
        Field::new("readings", DataType::Int64, false),
    ]));
    let s = Session::new();
    let seen: Arc<Mutex<BTreeMap<u64, Vec<RecordBatch>>>> = Default::default();
    let mut w = s
        .read_stream()
        .schema(schema)
        .option("max_files_per_trigger", 1)
        .json(input.to_str().unwrap())
        .await
        .unwrap()
        .with_watermark("event_time", "5 seconds")
        .unwrap()
        .group_by_key(&["sensor"])
        .unwrap()
        .flat_map_groups_with_state(
            out,
            GroupStateTimeout::EventTime,
            |sensor: String, rows: Vec<Reading>, state: &mut GroupState<LastSeen>| {
                if state.has_timed_out() {
                    let readings = state.get()?.map(|s| s.readings).unwrap_or(0);
                    state.remove();
                    return Ok(vec![Silent { sensor, readings }]);
                }
                let last = rows.iter().map(|r| r.event_time.clone()).max().unwrap();
                let last = chrono::NaiveDateTime::parse_from_str(&last, "%Y-%m-%dT%H:%M:%S")
                    .unwrap()
                    .and_utc()
                    .timestamp_millis();
                let readings = state.get()?.map(|s| s.readings).unwrap_or(0) + rows.len() as i64;
                state.update(&LastSeen { readings })?;
                state.set_timeout_timestamp(last + 30_000)?;
                Ok(vec![])
            },
        )
        .unwrap()
        .write_stream()
        .trigger(Trigger::AvailableNow)
        .option("checkpoint_location", ckpt.display())
        .foreach_batch(keep_epochs(&seen));
    if let Some(limit) = memory_limit {
        w = w.option("state_memory_limit", limit);
    }
    let q = w.start("").await.unwrap();
    q.await_termination().await.unwrap();
    let mut silent = Vec::new();
    for b in seen.lock().unwrap().values().flatten() {
        for i in 0..b.num_rows() {
            silent.push((
                b.column(0).as_string::<i32>().value(i).to_string(),
                b.column(1).as_primitive::<Int64Type>().value(i),
            ));
        }
    }
    silent.sort();
    (silent, q.recent_progress())
}

#[tokio::test]
async fn event_time_timeouts_fire_when_the_watermark_passes_them() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    // Sensor a reports at 10:00:00 and 10:00:05; b at 10:00:01; then only c, at 10:01:00 —
    // which moves the watermark (delay 5 s) to 10:00:55, past a's and b's timeouts (+30 s).
    write_lines(
        &input,
        "1.json",
        &[
            "{\"sensor\":\"a\",\"event_time\":\"2026-11-21T10:00:00Z\"}".into(),
            "{\"sensor\":\"b\",\"event_time\":\"2026-11-21T10:00:01Z\"}".into(),
            "{\"sensor\":\"a\",\"event_time\":\"2026-11-21T10:00:05Z\"}".into(),
        ],
    );
    write_lines(
        &input,
        "2.json",
        &["{\"sensor\":\"c\",\"event_time\":\"2026-11-21T10:01:00Z\"}".into()],
    );
    let (silent, _) = silent_sensors(&input, &tmp.path().join("ckpt"), None).await;
    // a and b timed out (c's timeout, 10:01:30, is after the final watermark 10:00:55).
    assert_eq!(silent, vec![("a".to_string(), 2), ("b".to_string(), 1)]);
}

#[tokio::test]
async fn user_state_beyond_its_memory_budget_lives_on_disk_restores_and_times_out() {
    let tmp = tempfile::tempdir().unwrap();
    let (input, ckpt) = (tmp.path().join("in"), tmp.path().join("ckpt"));
    // 3,000 sensors report at 10:00:00 (sensor i i % 3 + 1 times); the first run keeps them in
    // state, mostly on disk under an 8 KiB budget.
    let reading = |sensor: &str, at: &str| {
        format!("{{\"sensor\":\"{sensor}\",\"event_time\":\"2026-11-21T{at}Z\"}}")
    };
    let lines: Vec<String> = (0..3000)
        .flat_map(|i| std::iter::repeat_n(reading(&format!("s{i:04}"), "10:00:00"), i % 3 + 1))
        .collect();
    write_lines(&input, "1.json", &lines);
    let (silent, progress) = silent_sensors(&input, &ckpt, Some("8k")).await;
    assert!(silent.is_empty(), "{silent:?}");
    let state = &progress.last().unwrap().state_operators[0];
    assert_eq!(state["numRowsTotal"], 3000, "{state}");
    assert!(
        state["numRowsOnDisk"].as_u64().unwrap() > 0,
        "3,000 keys under an 8 KiB budget, none on disk: {state}"
    );
    // A new run restores them; a later reading moves the watermark past every timeout (found
    // through the time index, on disk too): each sensor emits its count once, and only the
    // new sensor stays.
    write_lines(&input, "2.json", &[reading("late", "10:01:00")]);
    let (silent, progress) = silent_sensors(&input, &ckpt, Some("8k")).await;
    let want: Vec<(String, i64)> = (0..3000)
        .map(|i| (format!("s{i:04}"), (i % 3 + 1) as i64))
        .collect();
    assert_eq!(silent, want);
    let state = &progress.last().unwrap().state_operators[0];
    assert_eq!(state["numRowsTotal"], 1, "{state}");
}
