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

// ---------------------------------------------------------------------------------------------
// The PostgreSQL sink.

impl Postgres {
    /// The rows of `sql`, each as `a|b|c` (NULL as empty), in the order the query gives.
    fn rows(&self, sql: &str) -> Vec<String> {
        let port = self.port.to_string();
        let out = Command::new("psql")
            .args(["-X", "-q", "-A", "-t", "-h", "127.0.0.1", "-p", &port])
            .args([
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                sql,
            ])
            .output()
            .expect("psql runs");
        assert!(
            out.status.success(),
            "psql failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    }
}

fn write_json(dir: &std::path::Path, name: &str, lines: &[&str]) {
    std::fs::create_dir_all(dir).unwrap();
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, lines.join("\n") + "\n").unwrap();
    std::fs::rename(tmp, dir.join(name)).unwrap();
}

fn kv_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("k", DataType::Utf8, true),
        Field::new("v", DataType::Int64, true),
    ]))
}

/// One available-now run of `sql` over the JSON files in `input` (registered as `events`)
/// into the PostgreSQL table `table`.
async fn run_into_postgres(
    pg: &Postgres,
    input: &std::path::Path,
    ckpt: &std::path::Path,
    sql: &str,
    mode: OutputMode,
    options: &[(&str, &str)],
) -> tributary::Result<()> {
    let session = Session::new();
    let events = session
        .read_stream()
        .schema(kv_schema())
        .json(input.to_str().unwrap())
        .await?;
    session.register("events", events)?;
    let mut writer = session
        .sql(sql)
        .await?
        .write_stream()
        .format("postgres")
        .output_mode(mode)
        .trigger(Trigger::AvailableNow)
        .option("checkpoint_location", ckpt.display());
    for (k, v) in options {
        writer = writer.option(k, v);
    }
    let q = writer.start(&pg.url()).await?;
    q.await_termination().await
}

#[tokio::test]
async fn appended_epochs_land_once_even_when_an_epoch_is_run_again() {
    let pg = Postgres::start();
    let tmp = tempfile::tempdir().unwrap();
    let (input, ckpt) = (tmp.path().join("in"), tmp.path().join("ckpt"));
    write_json(
        &input,
        "a.json",
        &[
            r#"{"k":"a","v":1}"#,
            r#"{"k":"b\tc\\d","v":2}"#,
            r#"{"k":null,"v":3}"#,
        ],
    );
    let sql = "SELECT k, v FROM events";
    let opts = [("table", "public.appended")];
    run_into_postgres(&pg, &input, &ckpt, sql, OutputMode::Append, &opts)
        .await
        .unwrap();
    assert_eq!(
        pg.rows("SELECT k, v FROM appended ORDER BY v"),
        vec!["a|1", "b\tc\\d|2", "|3"]
    );
    // A crash after the sink's commit and before the checkpoint's: the epoch runs again and
    // the sink, which recorded it in the same transaction as the rows, skips it.
    std::fs::remove_file(ckpt.join("commits/0")).unwrap();
    run_into_postgres(&pg, &input, &ckpt, sql, OutputMode::Append, &opts)
        .await
        .unwrap();
    assert_eq!(pg.rows("SELECT count(*) FROM appended"), vec!["3"]);
    assert!(
        ckpt.join("commits/0").exists(),
        "the re-run epoch is committed"
    );
    write_json(&input, "b.json", &[r#"{"k":"e","v":4}"#]);
    run_into_postgres(&pg, &input, &ckpt, sql, OutputMode::Append, &opts)
        .await
        .unwrap();
    assert_eq!(
        pg.rows("SELECT count(*), sum(v) FROM appended"),
        vec!["4|10"]
    );
    // The epochs table says what the target holds.
    assert_eq!(
        pg.rows("SELECT target, epoch FROM tributary_epochs"),
        vec!["\"public\".\"appended\"|1"]
    );
}

#[tokio::test]
async fn update_and_complete_modes_keep_the_batch_answer_in_postgres() {
    let pg = Postgres::start();
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    let sql = "SELECT k, count(*) AS n, sum(v) AS total FROM events GROUP BY k";
    let files: [&[&str]; 3] = [
        &[
            r#"{"k":"a","v":1}"#,
            r#"{"k":"b","v":2}"#,
            r#"{"k":null,"v":5}"#,
        ],
        &[r#"{"k":"a","v":10}"#, r#"{"k":"c","v":3}"#],
        &[r#"{"k":null,"v":1}"#, r#"{"k":"b","v":20}"#],
    ];
    for (i, lines) in files.iter().enumerate() {
        write_json(&input, &format!("f{i}.json"), lines);
        for (mode, table) in [
            (OutputMode::Update, "counts_u"),
            (OutputMode::Complete, "counts_c"),
        ] {
            let ckpt = tmp.path().join(table);
            run_into_postgres(&pg, &input, &ckpt, sql, mode, &[("table", table)])
                .await
                .unwrap();
        }
    }
    let expected = vec!["a|2|11", "b|2|22", "c|1|3", "|2|6"];
    assert_eq!(
        pg.rows("SELECT k, n, total FROM counts_u ORDER BY k NULLS LAST"),
        expected
    );
    assert_eq!(
        pg.rows("SELECT k, n, total FROM counts_c ORDER BY k NULLS LAST"),
        expected
    );
    // Update mode created the table with a key that treats NULLs as one group.
    let constraint = pg.rows(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'counts_u'::regclass",
    );
    assert_eq!(constraint, vec!["UNIQUE NULLS NOT DISTINCT (k)"]);
}

#[tokio::test]
async fn a_change_stream_is_applied_by_key_in_sequence_order() {
    let pg = Postgres::start();
    let tmp = tempfile::tempdir().unwrap();
    let (input, ckpt) = (tmp.path().join("in"), tmp.path().join("ckpt"));
    pg.psql("CREATE TABLE people (id int8 PRIMARY KEY, name text, seq int8)");
    let session = Session::new();
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, true),
        Field::new("name", DataType::Utf8, true),
        Field::new("seq", DataType::Int64, true),
        Field::new("op", DataType::Utf8, true),
    ]));
    let run = |schema: SchemaRef| {
        let (session, input, ckpt, url) = (session.clone(), input.clone(), ckpt.clone(), pg.url());
        async move {
            let q = session
                .read_stream()
                .schema(schema)
                .json(input.to_str().unwrap())
                .await
                .unwrap()
                .write_stream()
                .format("postgres")
                .option("table", "people")
                .option("cdc_keys", "id")
                .option("cdc_sequence", "seq")
                .trigger(Trigger::AvailableNow)
                .option("checkpoint_location", ckpt.display())
                .start(&url)
                .await
                .unwrap();
            q.await_termination().await.unwrap();
        }
    };
    write_json(
        &input,
        "e0.json",
        &[
            r#"{"id":1,"name":"ann","seq":1,"op":"i"}"#,
            r#"{"id":2,"name":"bob","seq":1,"op":"i"}"#,
            r#"{"id":1,"name":"anne","seq":2,"op":"u"}"#,
        ],
    );
    run(schema.clone()).await;
    assert_eq!(
        pg.rows("SELECT id, name, seq FROM people ORDER BY id"),
        vec!["1|anne|2", "2|bob|1"]
    );
    write_json(
        &input,
        "e1.json",
        &[
            r#"{"id":2,"name":null,"seq":3,"op":"d"}"#,
            // Older than the row: ignored.
            r#"{"id":1,"name":"old","seq":1,"op":"u"}"#,
            // Older than the delete: must not bring bob back.
            r#"{"id":2,"name":"bob","seq":2,"op":"u"}"#,
            r#"{"id":3,"name":"cy","seq":5,"op":"insert"}"#,
        ],
    );
    run(schema.clone()).await;
    assert_eq!(
        pg.rows("SELECT id, name, seq FROM people ORDER BY id"),
        vec!["1|anne|2", "3|cy|5"]
    );
    write_json(
        &input,
        "e2.json",
        &[r#"{"id":2,"name":"bo","seq":4,"op":"i"}"#],
    );
    run(schema).await;
    assert_eq!(
        pg.rows("SELECT id, name, seq FROM people ORDER BY id"),
        vec!["1|anne|2", "2|bo|4", "3|cy|5"],
        "a change newer than the delete brings the key back"
    );
}

#[tokio::test]
async fn batch_writes_round_trip_every_column_type() {
    let pg = Postgres::start();
    let session = Session::new();
    let df = session
        .sql(
            "SELECT * FROM (VALUES
               (1, 'tab\there', 1.5, true, CAST('2024-01-02 03:04:05.123456' AS TIMESTAMP),
                CAST('2024-01-02' AS DATE), CAST(10.25 AS DECIMAL(10, 2)), X'00ff'),
               (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL))
             AS t(id, name, score, active, seen, day, price, raw)",
        )
        .await
        .unwrap();
    let url = pg.url();
    let write = |mode: SaveMode| {
        let (df, url) = (df.clone(), url.clone());
        async move {
            df.write()
                .format("postgres")
                .option("table", "typed")
                .mode(mode)
                .save(&url)
                .await
        }
    };
    write(SaveMode::ErrorIfExists).await.unwrap();
    let err = write(SaveMode::ErrorIfExists)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("already exists") && err.contains("Overwrite"),
        "{err}"
    );
    write(SaveMode::Append).await.unwrap();
    assert_eq!(pg.rows("SELECT count(*) FROM typed"), vec!["4"]);
    write(SaveMode::Overwrite).await.unwrap();
    assert_eq!(
        pg.rows("SELECT id, name, score, active, seen, day, price, raw FROM typed ORDER BY id"),
        vec![
            "1|tab\there|1.5|t|2024-01-02 03:04:05.123456|2024-01-02|10.25|\\x00ff",
            "2|||||||"
        ]
    );
    assert_eq!(
        pg.rows(
            "SELECT string_agg(data_type, ',' ORDER BY ordinal_position) FROM information_schema.columns WHERE table_name = 'typed'"
        ),
        vec!["bigint,text,double precision,boolean,timestamp without time zone,date,numeric,bytea"]
    );
    // Read back through the table source: the same rows.
    let back = sorted(read_table(&session, &pg, "typed").await).await;
    assert_eq!(back.num_rows(), 2);
    assert_eq!(back.column(1).as_string::<i32>().value(0), "tab\there");
}

async fn read_table(session: &Session, pg: &Postgres, table: &str) -> DataFrame {
    session
        .read()
        .format("postgres")
        .option("table", table)
        .load(&pg.url())
        .await
        .unwrap()
}

#[tokio::test]
async fn sink_mistakes_are_named_with_the_fix() {
    let pg = Postgres::start();
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    write_json(&input, "a.json", &[r#"{"k":"a","v":1}"#]);
    pg.psql("CREATE TABLE narrow (k text); CREATE TABLE nokey (k text, n int8)");
    let ck = |n: &str| tmp.path().join(n);
    let err = run_into_postgres(
        &pg,
        &input,
        &ck("1"),
        "SELECT k, v FROM events",
        OutputMode::Append,
        &[("table", "narrow")],
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("no column 'v'") && err.contains("ADD COLUMN"),
        "{err}"
    );
    let err = run_into_postgres(
        &pg,
        &input,
        &ck("2"),
        "SELECT k, count(*) AS n FROM events GROUP BY k",
        OutputMode::Update,
        &[("table", "nokey")],
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("unique constraint") && err.contains("ADD UNIQUE"),
        "{err}"
    );
    let err = run_into_postgres(
        &pg,
        &input,
        &ck("3"),
        "SELECT k FROM events",
        OutputMode::Append,
        &[],
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(err.contains("option 'table'"), "{err}");
    let err = run_into_postgres(
        &pg,
        &input,
        &ck("4"),
        "SELECT k FROM events",
        OutputMode::Append,
        &[("table", "t"), ("merge_key", "k")],
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(err.contains("merge_keys"), "{err}");
}
