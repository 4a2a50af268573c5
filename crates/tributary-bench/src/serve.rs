//! The serving layer's figures.
//!
//! `tributary-bench serve [KEYS] [LOOKUPS]`: point lookups on the live state of a running
//! aggregation (`SELECT k, count(*), sum(v) ... GROUP BY k` over KEYS keys, default 1M): the
//! view's own lookup, the same through DataFusion SQL (plan + run), and through the PostgreSQL
//! endpoint with a tokio-postgres client on loopback (wire + bind + plan + run); p50/p99 and
//! lookups per second from one client.
//!
//! `tributary-bench postgres URL [ROWS]`: the PostgreSQL sink writing ROWS rows (default 1M) in
//! epochs of 100K, append (COPY) and update (COPY into a stage + `INSERT .. ON CONFLICT`),
//! against `psql \copy` of the same rows from a CSV file.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use arrow::array::{Float64Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::common::ScalarValue;
use tributary::prelude::*;
use tributary::MemoryStream;

/// p50, p99 and mean of `samples`, in microseconds.
fn summary(samples: &mut [Duration]) -> (f64, f64, f64) {
    samples.sort();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let at = |q: f64| us(samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)]);
    let mean = samples.iter().map(|d| us(*d)).sum::<f64>() / samples.len() as f64;
    (at(0.5), at(0.99), mean)
}

fn print_row(what: &str, samples: &mut [Duration]) {
    let (p50, p99, mean) = summary(samples);
    println!(
        "  {what:<44} p50 {p50:>9.1} us  p99 {p99:>9.1} us  {:>9.0} lookups/s",
        1e6 / mean
    );
}

/// A key in 0..keys, spread (a multiplicative hash of i).
fn key_at(i: u64, keys: u64) -> i64 {
    (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) % keys) as i64
}

pub(crate) async fn lookups(keys: u64, lookups: usize) -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let session = Session::new();
    session.set_conf(tributary::state::LIVE_STATE_CONF, "true");
    let schema: SchemaRef = Arc::new(Schema::new(vec![
        Field::new("k", DataType::Int64, false),
        Field::new("v", DataType::Int64, false),
    ]));
    let stream = MemoryStream::new("events", schema.clone());
    session.register("events", session.read_stream().memory(&stream)?)?;
    // Every key four times, in four epochs.
    for round in 0..4i64 {
        let k: Vec<i64> = (0..keys as i64).collect();
        let v: Vec<i64> = (0..keys as i64).map(|i| i * 4 + round).collect();
        stream.push(RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(Int64Array::from(k)), Arc::new(Int64Array::from(v))],
        )?)?;
    }
    let started = Instant::now();
    let q = session
        .sql("SELECT k, count(*) AS n, sum(v) AS total FROM events GROUP BY k")
        .await?
        .write_stream()
        .output_mode(OutputMode::Update)
        .query_name("bench")
        .option("checkpoint_location", tmp.path().join("ckpt").display())
        .foreach_batch(|_, _| async { Ok(()) })
        .start("")
        .await?;
    q.process_all_available().await?;
    let view = q
        .live_state()
        .into_iter()
        .next()
        .context("the query's live view")?;
    println!(
        "serve benchmark: live state of `GROUP BY k` over {keys} keys ({} rows, built in {:.1} s), {} cores",
        view.snapshot().1.num_rows(),
        started.elapsed().as_secs_f64(),
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    // 1. The view's own lookup.
    let mut direct = Vec::with_capacity(lookups);
    for i in 0..lookups as u64 {
        let key = ScalarValue::Int64(Some(key_at(i, keys)));
        let t = Instant::now();
        let row = view.lookup(std::slice::from_ref(&key))?;
        direct.push(t.elapsed());
        anyhow::ensure!(
            row.is_some_and(|r| r.num_rows() == 1),
            "key {key} not found"
        );
    }
    print_row("LiveState::lookup (engine, in process)", &mut direct);
    // 2. SQL through DataFusion: plan and run per query.
    let ctx = datafusion::prelude::SessionContext::new();
    ctx.register_table("bench_state", view.table())?;
    let sql_n = lookups.min(20_000);
    let mut sql = Vec::with_capacity(sql_n);
    for i in 0..sql_n as u64 {
        let text = format!(
            "SELECT n, total FROM bench_state WHERE k = {}",
            key_at(i, keys)
        );
        let t = Instant::now();
        let rows = ctx.sql(&text).await?.collect().await?;
        sql.push(t.elapsed());
        anyhow::ensure!(rows.iter().map(RecordBatch::num_rows).sum::<usize>() == 1);
    }
    print_row("SQL WHERE k = .. (DataFusion plan + run)", &mut sql);
    let t = Instant::now();
    let all = ctx
        .sql("SELECT sum(n) FROM bench_state")
        .await?
        .collect()
        .await?;
    println!(
        "  {:<44} {:>9.1} ms ({} rows)",
        "SQL full scan sum(n) (for contrast)",
        t.elapsed().as_secs_f64() * 1e3,
        view.snapshot().1.num_rows()
    );
    drop(all);
    // 3. Through the PostgreSQL endpoint, one client on loopback.
    let catalog = Arc::new(tributary_serve::Catalog::new(session.clone()));
    catalog.add(
        "bench_state",
        tributary_serve::ServedTable::Live(view.table()),
    );
    let credentials = tributary_serve::Credentials {
        user: "bench".into(),
        password: "bench".into(),
    };
    let endpoint = tributary_serve::PgEndpoint::start("127.0.0.1:0", catalog, credentials).await?;
    let (client, conn) = tokio_postgres::connect(
        &format!(
            "host=127.0.0.1 port={} user=bench password=bench dbname=tributary",
            endpoint.addr().port()
        ),
        tokio_postgres::NoTls,
    )
    .await?;
    tokio::spawn(conn);
    // The endpoint leaves parameter types to the client: say it is a bigint.
    let stmt = client
        .prepare_typed(
            "SELECT n, total FROM bench_state WHERE k = $1",
            &[tokio_postgres::types::Type::INT8],
        )
        .await?;
    let mut wire = Vec::with_capacity(sql_n);
    for i in 0..sql_n as u64 {
        let key = key_at(i, keys);
        let t = Instant::now();
        let rows = client.query(&stmt, &[&key]).await?;
        wire.push(t.elapsed());
        anyhow::ensure!(rows.len() == 1, "key {key}: {} rows", rows.len());
    }
    print_row("PostgreSQL wire, prepared, tokio-postgres", &mut wire);
    q.stop().await?;
    Ok(())
}

/// `rows` rows of (id, k, v, ts) in batches of `per`.
fn sink_rows(rows: usize, per: usize) -> anyhow::Result<(SchemaRef, Vec<RecordBatch>)> {
    let schema: SchemaRef = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("k", DataType::Utf8, false),
        Field::new("v", DataType::Float64, false),
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Microsecond, None),
            false,
        ),
    ]));
    let mut out = Vec::new();
    let mut start = 0;
    while start < rows {
        let n = per.min(rows - start);
        let ids: Vec<i64> = (start..start + n).map(|i| i as i64).collect();
        out.push(RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from(ids.clone())),
                Arc::new(StringArray::from_iter_values(
                    ids.iter().map(|i| format!("user-{}", i % 10_000)),
                )),
                Arc::new(Float64Array::from_iter_values(
                    ids.iter().map(|i| *i as f64 * 0.25),
                )),
                Arc::new(TimestampMicrosecondArray::from_iter_values(
                    ids.iter().map(|i| 1_780_000_000_000_000 + i * 1000),
                )),
            ],
        )?);
        start += n;
    }
    Ok((schema, out))
}

fn psql(url: &str, sql: &str) -> anyhow::Result<String> {
    let out = std::process::Command::new("psql")
        .args([
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            url,
            "-c",
            sql,
        ])
        .output()
        .context("psql (the PostgreSQL client) must be on PATH")?;
    anyhow::ensure!(
        out.status.success(),
        "psql -c {sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Stream `batches` into the PostgreSQL table `table` in `mode`; the seconds it took.
async fn sink_run(
    url: &str,
    table: &str,
    mode: OutputMode,
    schema: &SchemaRef,
    batches: &[RecordBatch],
) -> anyhow::Result<f64> {
    let tmp = tempfile::tempdir()?;
    let session = Session::new();
    let stream = MemoryStream::new(table, schema.clone());
    for b in batches {
        stream.push(b.clone())?;
    }
    let df = session.read_stream().memory(&stream)?;
    let mut writer = df
        .write_stream()
        .format("postgres")
        .output_mode(mode)
        .option("table", table)
        .option("checkpoint_location", tmp.path().join("ckpt").display());
    if mode == OutputMode::Update {
        writer = writer.option("merge_keys", "id");
    }
    let t = Instant::now();
    let q = writer.start(url).await?;
    q.process_all_available().await?;
    let took = t.elapsed().as_secs_f64();
    q.stop().await?;
    Ok(took)
}

pub(crate) async fn postgres(url: &str, rows: usize) -> anyhow::Result<()> {
    let (schema, batches) = sink_rows(rows, 100_000)?;
    for t in [
        "bench_append",
        "bench_update",
        "bench_copy",
        "tributary_epochs",
    ] {
        psql(url, &format!("DROP TABLE IF EXISTS {t}"))?;
    }
    println!(
        "postgres sink benchmark: {rows} rows (bigint, text, double, timestamp) in epochs of 100K, PostgreSQL {} on loopback, {} cores",
        psql(url, "SHOW server_version")?,
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    // The peer: psql's \copy of the same rows from CSV (written before the clock starts).
    let tmp = tempfile::tempdir()?;
    let csv = tmp.path().join("rows.csv");
    {
        let file = std::fs::File::create(&csv)?;
        let mut w = arrow::csv::WriterBuilder::new()
            .with_header(false)
            .with_timestamp_format("%Y-%m-%d %H:%M:%S%.6f".into())
            .build(file);
        for b in &batches {
            w.write(b)?;
        }
    }
    psql(
        url,
        "CREATE TABLE bench_copy (id bigint, k text, v double precision, ts timestamp)",
    )?;
    let t = Instant::now();
    psql(
        url,
        &format!(
            "\\copy bench_copy FROM '{}' WITH (FORMAT csv)",
            csv.display()
        ),
    )?;
    let copy = t.elapsed().as_secs_f64();
    let append = sink_run(url, "bench_append", OutputMode::Append, &schema, &batches).await?;
    // Update: every row a new key the first time, then the same keys again (all conflicts).
    let first = sink_run(url, "bench_update", OutputMode::Update, &schema, &batches).await?;
    let again = sink_run(url, "bench_update", OutputMode::Update, &schema, &batches).await?;
    for t in ["bench_copy", "bench_append", "bench_update"] {
        let n: usize = psql(url, &format!("SELECT count(*) FROM {t}"))?.parse()?;
        anyhow::ensure!(n == rows, "{t} holds {n} rows, not {rows}");
    }
    let line = |what: &str, s: f64| {
        println!(
            "  {what:<52} {s:>7.2} s  {:>10.0} rows/s  {:>5.2}x psql \\copy's time",
            rows as f64 / s,
            s / copy
        )
    };
    line("psql \\copy FROM csv (the peer)", copy);
    line("tributary stream -> postgres, append (COPY)", append);
    line("tributary stream -> postgres, update, new keys", first);
    line(
        "tributary stream -> postgres, update, every key again",
        again,
    );
    Ok(())
}
