//! `tributary-bench ansi [ROWS]`: what Spark's ANSI evaluation costs. The same SQL over the same
//! in-memory rows, run by a Tributary session (checked integer arithmetic, `AND` whose right side
//! runs only on the rows its left side leaves open: `plan/ansi.rs`) and by a plain DataFusion
//! context (wrapping arithmetic, eager `AND`). Prints each query's best of three runs and the
//! ratio.
//!
//! | query | what it exercises |
//! |---|---|
//! | `arithmetic` | `sum(a * 3 + b - c)`: three checked operators per row |
//! | `guarded_division` | `b <> 0 AND a / b > 1`: a right side that can fail, the left side true on 90% of the rows |
//! | `function_guard` | `c > 10 AND upper(s) = 'X'`: a right side that is a function call |
//! | `round` | `sum(round(a / 7.0, 2))`: Spark's `round` of a double (by its decimal text near a half) against DataFusion's (scale, round, unscale) |
//! | `decimal_multiply` | `sum(DECIMAL(18,2) * DECIMAL(10,3))`: Spark's DECIMAL product (the same type here) against DataFusion's |
//! | `decimal_divide` | `sum(DECIMAL(18,2) / DECIMAL(10,0))`: Spark's quotient (`DECIMAL(31,13)`, rounded) against DataFusion's (`DECIMAL(22,6)`, cut off) |
//! | `decimal_avg` | `avg(DECIMAL(18,2))`: Spark's rounded quotient of the sum and count against DataFusion's |
//!
//! (The plain context cannot run `guarded_division` over zero divisors: it reads a copy of the
//! rows whose zero divisors are 1, so the work is the same but its count differs. `round` may
//! differ in the last digits of its sum, where a value is a near-tie that the two round apart;
//! the DECIMAL quotients and averages differ in their scales and last digits. The other answers
//! are compared.)

use std::sync::Arc;
use std::time::Instant;

use arrow::array::{Int32Array, Int64Array, RecordBatch, StringArray};
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;
use tributary::prelude::*;

fn batches(rows: usize, zero_divisors: bool) -> anyhow::Result<(SchemaRef, Vec<RecordBatch>)> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("a", DataType::Int64, false),
        Field::new("b", DataType::Int64, false),
        Field::new("c", DataType::Int32, false),
        Field::new("s", DataType::Utf8, false),
    ]));
    let per = 8192;
    let mut out = Vec::new();
    for start in (0..rows).step_by(per) {
        let n = per.min(rows - start);
        let ids = (start..start + n).map(|i| i as i64);
        let a = Int64Array::from_iter_values(ids.clone().map(|i| (i * 7919) % 1_000_003));
        let b = Int64Array::from_iter_values(ids.clone().map(|i| {
            let d = i % 10;
            if d == 0 && !zero_divisors {
                1
            } else {
                d
            }
        }));
        let c = Int32Array::from_iter_values(ids.clone().map(|i| (i % 100) as i32));
        let s = StringArray::from_iter_values(ids.map(|i| if i % 7 == 0 { "x" } else { "y" }));
        out.push(RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(a), Arc::new(b), Arc::new(c), Arc::new(s)],
        )?);
    }
    Ok((schema, out))
}

const QUERIES: [(&str, &str); 7] = [
    ("arithmetic", "SELECT sum(a * 3 + b - c) AS v FROM t"),
    (
        "guarded_division",
        "SELECT count(*) AS v FROM t WHERE b <> 0 AND a / b > 1",
    ),
    (
        "function_guard",
        "SELECT count(*) AS v FROM t WHERE c > 10 AND upper(s) = 'X'",
    ),
    (
        "round",
        "SELECT sum(round(CAST(a AS DOUBLE) / 7.0, 2)) AS v FROM t",
    ),
    (
        "decimal_multiply",
        "SELECT sum(CAST(a AS DECIMAL(18,2)) * CAST(c AS DECIMAL(10,3))) AS v FROM t",
    ),
    (
        "decimal_divide",
        "SELECT sum(CAST(a AS DECIMAL(18,2)) / CAST(c + 1 AS DECIMAL(10,0))) AS v FROM t",
    ),
    (
        "decimal_avg",
        "SELECT avg(CAST(a AS DECIMAL(18,2))) AS v FROM t",
    ),
];

async fn best_of_three(ctx: &SessionContext, sql: &str) -> anyhow::Result<(f64, String)> {
    let mut best = f64::MAX;
    let mut answer = String::new();
    for _ in 0..3 {
        let started = Instant::now();
        let rows = ctx.sql(sql).await?.collect().await?;
        best = best.min(started.elapsed().as_secs_f64());
        answer = arrow::util::pretty::pretty_format_batches(&rows)?.to_string();
    }
    Ok((best, answer))
}

pub(crate) async fn run(rows: usize) -> anyhow::Result<()> {
    let session = Session::new();
    let (schema, ours) = batches(rows, true)?;
    session.context().register_table(
        "t",
        Arc::new(MemTable::try_new(schema.clone(), vec![ours])?),
    )?;
    let plain = SessionContext::new();
    let (_, same) = batches(rows, true)?;
    plain.register_table(
        "t",
        Arc::new(MemTable::try_new(schema.clone(), vec![same])?),
    )?;
    let (_, no_zeros) = batches(rows, false)?;
    plain.register_table("t_nz", Arc::new(MemTable::try_new(schema, vec![no_zeros])?))?;
    println!("{rows} rows in memory, best of three runs each");
    println!("| query | Tributary (ANSI) s | DataFusion (plain) s | ratio |");
    println!("|---|---|---|---|");
    for (name, sql) in QUERIES {
        let (t, ours) = best_of_three(session.context(), sql).await?;
        let plain_sql = if name == "guarded_division" {
            sql.replace("FROM t ", "FROM t_nz ")
        } else {
            sql.to_string()
        };
        let (d, theirs) = best_of_three(&plain, &plain_sql).await?;
        // The zero divisors the plain context cannot have only drop rows out of the guarded count.
        let compared = ["arithmetic", "function_guard", "decimal_multiply"];
        if compared.contains(&name) {
            anyhow::ensure!(ours == theirs, "{name}: {ours} vs {theirs}");
        }
        println!("| {name} | {t:.3} | {d:.3} | {:.2} |", t / d);
    }
    Ok(())
}
