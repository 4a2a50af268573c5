//! The PostgreSQL table source against a real server: each test starts a throwaway cluster
//! with `scripts/postgres.sh` (which installs Debian's postgresql if needed) on a free port.
#![cfg(feature = "postgres")]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, OnceLock};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{
    Date32Type, Float64Type, Int32Type, Int64Type, TimestampMicrosecondType,
    TimestampNanosecondType,
};
use tributary::prelude::*;

/// Eight types, the fallback to text (`int4[]`) and a row of NULLs.
const CITIES: &str = "
    CREATE TABLE public.cities (id int8, name text, score float8, price numeric(10, 2),
                                seen timestamp, active bool, day date, tags int4[]);
    INSERT INTO public.cities VALUES
      (1, 'Lyon', 1.5, 10.25, '2024-01-02 03:04:05.123456', true, '2024-01-02', '{1,2}'),
      (2, 'Oslo', -2.0, 0.5, '1999-12-31 23:59:59', false, '1969-12-31', '{}'),
      (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL);";

/// 2024-01-02 03:04:05.123456 and 1999-12-31 23:59:59, in microseconds since 1970.
const SEEN_US: [i64; 2] = [1_704_164_645_123_456, 946_684_799_000_000];

fn script() -> PathBuf {
    std::path::PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into()),
    )
    .join("../../scripts/postgres.sh")
}

/// Run `scripts/postgres.sh args..`; its stderr on failure.
fn run_script(args: &[&str]) -> Result<(), String> {
    let out = Command::new("bash")
        .arg(script())
        .args(args)
        .output()
        .map_err(|e| format!("cannot run bash: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`scripts/postgres.sh {}` failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A running cluster in a temporary folder, stopped when dropped.
struct Postgres {
    dir: tempfile::TempDir,
    port: u16,
}

impl Postgres {
    fn start() -> Self {
        // Once per test binary: parallel apt-get runs would fight over dpkg's lock.
        static INSTALLED: OnceLock<Result<(), String>> = OnceLock::new();
        if let Err(e) = INSTALLED.get_or_init(|| run_script(&["install"])) {
            panic!("cannot install PostgreSQL for the test: {e}");
        }
        let pg = Postgres {
            dir: tempfile::tempdir().unwrap(),
            port: free_port(),
        };
        if let Err(e) = run_script(&["start", &pg.data_dir(), &pg.port.to_string()]) {
            panic!("cannot start PostgreSQL for the test: {e}");
        }
        pg
    }

    fn data_dir(&self) -> String {
        self.dir.path().join("pg").display().to_string()
    }

    fn url(&self) -> String {
        format!("postgresql://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn psql(&self, sql: &str) {
        let port = self.port.to_string();
        let out = Command::new("psql")
            .args([
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                "127.0.0.1",
                "-p",
                &port,
            ])
            .args(["-U", "postgres", "-d", "postgres", "-c", sql])
            .output()
            .expect("psql runs (it comes with the postgresql package)");
        assert!(
            out.status.success(),
            "psql failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if let Err(e) = run_script(&["stop", &self.data_dir()]) {
            eprintln!("{e}");
        }
    }
}

async fn read_cities(
    session: &Session,
    pg: &Postgres,
    schema: Option<SchemaRef>,
) -> tributary::Result<DataFrame> {
    let mut reader = session
        .read()
        .format("postgres")
        .option("table", "public.cities");
    if let Some(s) = schema {
        reader = reader.schema(s);
    }
    reader.load(&pg.url()).await
}

/// All rows, ordered by `id`, in one batch.
async fn sorted(df: DataFrame) -> RecordBatch {
    let batches = df
        .sort(vec![col("id").sort(true, true)])
        .unwrap()
        .collect()
        .await
        .unwrap();
    arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap()
}

fn types(df: &DataFrame) -> Vec<(String, DataType)> {
    df.schema()
        .fields()
        .iter()
        .map(|f| (f.name().clone(), f.data_type().clone()))
        .collect()
}

fn named(types: &[(&str, DataType)]) -> Vec<(String, DataType)> {
    types
        .iter()
        .map(|(n, t)| (n.to_string(), t.clone()))
        .collect()
}

#[tokio::test]
async fn a_table_reads_with_the_arrow_types_of_its_columns() {
    let pg = Postgres::start();
    pg.psql(CITIES);
    let session = Session::new();
    let df = read_cities(&session, &pg, None).await.unwrap();
    assert_eq!(
        types(&df),
        named(&[
            ("id", DataType::Int64),
            ("name", DataType::Utf8),
            ("score", DataType::Float64),
            ("price", DataType::Float64),
            ("seen", DataType::Timestamp(TimeUnit::Microsecond, None)),
            ("active", DataType::Boolean),
            ("day", DataType::Date32),
            ("tags", DataType::Utf8),
        ])
    );
    let b = sorted(df.clone()).await;
    assert_eq!(b.num_rows(), 3);
    assert_eq!(b.column(0).as_primitive::<Int64Type>().values(), &[1, 2, 3]);
    let name = b.column(1).as_string::<i32>();
    assert_eq!((name.value(0), name.value(1)), ("Lyon", "Oslo"));
    let score = b.column(2).as_primitive::<Float64Type>();
    assert_eq!((score.value(0), score.value(1)), (1.5, -2.0));
    let price = b.column(3).as_primitive::<Float64Type>();
    assert_eq!((price.value(0), price.value(1)), (10.25, 0.5));
    let seen = b.column(4).as_primitive::<TimestampMicrosecondType>();
    assert_eq!([seen.value(0), seen.value(1)], SEEN_US);
    let active = b.column(5).as_boolean();
    assert_eq!((active.value(0), active.value(1)), (true, false));
    let day = b.column(6).as_primitive::<Date32Type>();
    assert_eq!((day.value(0), day.value(1)), (19_724, -1));
    let tags = b.column(7).as_string::<i32>();
    assert_eq!((tags.value(0), tags.value(1)), ("{1,2}", "{}"));
    // The third row is NULL but for its id.
    for (i, c) in b.columns().iter().enumerate().skip(1) {
        assert!(c.is_null(2), "column {i}");
    }

    // A projection selects fewer columns; count(*) selects none.
    let names = df
        .clone()
        .select_columns(&["name"])
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(names.iter().map(RecordBatch::num_rows).sum::<usize>(), 3);
    assert_eq!(df.count().await.unwrap(), 3);
}

#[tokio::test]
async fn a_declared_schema_picks_and_casts_the_columns() {
    let pg = Postgres::start();
    pg.psql(CITIES);
    let declared = named(&[
        ("name", DataType::Utf8),
        ("id", DataType::Int32),
        ("price", DataType::Float64),
        ("seen", DataType::Timestamp(TimeUnit::Nanosecond, None)),
        ("active", DataType::Utf8),
    ]);
    let schema = Arc::new(Schema::new(
        declared
            .iter()
            .map(|(n, t)| Field::new(n, t.clone(), true))
            .collect::<Vec<_>>(),
    ));
    let session = Session::new();
    let df = read_cities(&session, &pg, Some(schema)).await.unwrap();
    assert_eq!(types(&df), declared);
    let b = sorted(df).await;
    assert_eq!(b.column(0).as_string::<i32>().value(1), "Oslo");
    assert_eq!(b.column(1).as_primitive::<Int32Type>().values(), &[1, 2, 3]);
    assert_eq!(b.column(2).as_primitive::<Float64Type>().value(0), 10.25);
    let seen = b.column(3).as_primitive::<TimestampNanosecondType>();
    assert_eq!(seen.value(0), SEEN_US[0] * 1000);
    let active = b.column(4).as_string::<i32>();
    assert_eq!((active.value(0), active.value(1)), ("true", "false"));
    assert!(active.is_null(2));
}

#[tokio::test]
async fn a_stream_joins_a_postgres_dimension_table() {
    let pg = Postgres::start();
    pg.psql(CITIES);
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("events");
    std::fs::create_dir_all(&input).unwrap();
    std::fs::write(
        input.join("a.json"),
        "{\"event\":10,\"city_id\":1}\n{\"event\":11,\"city_id\":2}\n{\"event\":12,\"city_id\":9}\n",
    )
    .unwrap();
    let session = Session::new();
    let events_schema = Arc::new(Schema::new(vec![
        Field::new("event", DataType::Int64, true),
        Field::new("city_id", DataType::Int64, true),
    ]));
    let events = session
        .read_stream()
        .schema(events_schema)
        .json(input.to_str().unwrap())
        .await
        .unwrap();
    session.register("events", events).unwrap();
    session
        .register("cities", read_cities(&session, &pg, None).await.unwrap())
        .unwrap();
    let q = session
        .sql("SELECT e.event AS id, c.name FROM events e JOIN cities c ON e.city_id = c.id")
        .await
        .unwrap()
        .write_stream()
        .format("memory")
        .query_name("joined")
        .trigger(Trigger::AvailableNow)
        .start("")
        .await
        .unwrap();
    q.await_termination().await.unwrap();
    let b = sorted(session.sql("SELECT id, name FROM joined").await.unwrap()).await;
    assert_eq!(b.column(0).as_primitive::<Int64Type>().values(), &[10, 11]);
    let name = b.column(1).as_string::<i32>();
    assert_eq!((name.value(0), name.value(1)), ("Lyon", "Oslo"));
}

#[tokio::test]
async fn a_missing_table_is_named_in_the_error() {
    let pg = Postgres::start();
    let server = format!("127.0.0.1:{}", pg.port);
    let id = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, true)]));
    // Without a schema the columns are looked up; with one, a probe SELECT checks them.
    for schema in [None, Some(id)] {
        let mut reader = Session::new()
            .read()
            .format("postgres")
            .option("table", "public.no_such_table");
        if let Some(s) = schema {
            reader = reader.schema(s);
        }
        let err = reader.load(&pg.url()).await.unwrap_err().to_string();
        assert!(
            err.contains("public.no_such_table") && err.contains(&server),
            "{err}"
        );
    }
    let err = Session::new()
        .read()
        .format("postgres")
        .load(&pg.url())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("option 'table'"), "{err}");
}

#[tokio::test]
async fn an_unreachable_server_is_named_without_the_password() {
    let port = free_port();
    let err = Session::new()
        .read()
        .format("postgres")
        .option("table", "cities")
        .load(&format!("postgresql://app:s3cret@127.0.0.1:{port}/shop"))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!("cannot connect to PostgreSQL at 127.0.0.1:{port}")),
        "{err}"
    );
    assert!(!err.contains("s3cret"), "{err}");
}
