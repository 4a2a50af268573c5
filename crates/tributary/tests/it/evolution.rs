//! A changed stateful query against its checkpoint: the verdict per operator (`check_state`,
//! what `tributary plan` prints), a run that refuses what it cannot reuse, a reset on request,
//! the reused state's answers, and the state reader.

use std::collections::BTreeMap;
use std::path::Path;

use arrow::array::{AsArray, RecordBatch};
use tributary::evolution::{EvolutionReport, Verdict};
use tributary::prelude::*;
use tributary::DataStreamWriter;

use crate::common::{keep_epochs, timed_schema, write_timed_events, Epochs};
use crate::stateful::rows;

const OLD: &str = "SELECT region, count(*) AS n, sum(amount) AS total FROM events GROUP BY region";

async fn session(input: &Path, delay: &str) -> Session {
    let s = Session::new();
    let df = s
        .read_stream()
        .schema(timed_schema())
        .option("max_files_per_trigger", 1)
        .json(input.to_str().unwrap())
        .await
        .unwrap()
        .with_watermark("event_time", delay)
        .unwrap();
    s.register("events", df).unwrap();
    s
}

/// A writer of `df` in `mode` into a `foreach_batch` that keeps each epoch in `seen`, with the
/// checkpoint `ckpt` and the extra options `opts`.
fn writer(
    df: DataFrame,
    mode: OutputMode,
    ckpt: &Path,
    seen: &Epochs,
    opts: &[(&str, &str)],
) -> DataStreamWriter {
    let mut w = df
        .write_stream()
        .output_mode(mode)
        .trigger(Trigger::AvailableNow)
        .option("checkpoint_location", ckpt.display())
        .foreach_batch(keep_epochs(seen));
    for (k, v) in opts {
        w = w.option(k, v);
    }
    w
}

/// Run `sql` in `mode` over what `input` holds now, to the end.
async fn run_in(
    mode: OutputMode,
    sql: &str,
    input: &Path,
    ckpt: &Path,
    seen: &Epochs,
    opts: &[(&str, &str)],
) -> tributary::Result<()> {
    let s = session(input, "1 minute").await;
    let q = writer(s.sql(sql).await?, mode, ckpt, seen, opts)
        .start("")
        .await?;
    q.await_termination().await
}

/// [`run_in`] update mode.
async fn run(
    sql: &str,
    input: &Path,
    ckpt: &Path,
    seen: &Epochs,
    opts: &[(&str, &str)],
) -> tributary::Result<()> {
    run_in(OutputMode::Update, sql, input, ckpt, seen, opts).await
}

/// [`run_in`] append mode.
async fn run_append(
    sql: &str,
    input: &Path,
    ckpt: &Path,
    seen: &Epochs,
    opts: &[(&str, &str)],
) -> tributary::Result<()> {
    run_in(OutputMode::Append, sql, input, ckpt, seen, opts).await
}

/// The report on `sql` (in `mode`, watermark `delay`) against the checkpoint `ckpt`.
async fn check_in(
    mode: OutputMode,
    sql: &str,
    input: &Path,
    ckpt: &Path,
    delay: &str,
    opts: &[(&str, &str)],
) -> EvolutionReport {
    let s = session(input, delay).await;
    writer(
        s.sql(sql).await.unwrap(),
        mode,
        ckpt,
        &Epochs::default(),
        opts,
    )
    .check_state("")
    .await
    .unwrap()
    .expect("a checkpoint to compare with")
}

async fn check(
    sql: &str,
    input: &Path,
    ckpt: &Path,
    delay: &str,
    opts: &[(&str, &str)],
) -> EvolutionReport {
    check_in(OutputMode::Update, sql, input, ckpt, delay, opts).await
}

async fn append_check(input: &Path, ckpt: &Path, sql: String) -> EvolutionReport {
    check_in(OutputMode::Append, &sql, input, ckpt, "1 minute", &[]).await
}

/// The latest row per key (the first column) over every epoch an update-mode query delivered.
fn latest(seen: &Epochs) -> Vec<Vec<String>> {
    let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for b in seen.lock().unwrap().values() {
        for r in rows(b) {
            m.insert(r[0].clone(), r);
        }
    }
    m.into_values().collect()
}

async fn batch(sql: &str, input: &Path) -> Vec<Vec<String>> {
    let s = Session::new();
    let df = s
        .read()
        .schema(timed_schema())
        .json(input.to_str().unwrap())
        .await
        .unwrap();
    s.register("events", df).unwrap();
    let mut r = rows(&s.sql(sql).await.unwrap().collect().await.unwrap());
    r.sort();
    r
}

fn files(dir: &Path, from: i64, to: i64) {
    for i in from..to {
        write_timed_events(dir, &format!("part-{i}.json"), i * 40, 40);
    }
}

/// A changed query, its watermark delay and writer options, its verdict and what the report says.
type Case<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)], Verdict, &'a str);

#[tokio::test]
async fn each_kind_of_change_gets_its_verdict() {
    let tmp = tempfile::tempdir().unwrap();
    let (input, ckpt) = (tmp.path().join("in"), tmp.path().join("chk"));
    files(&input, 0, 2);
    let windowed = "SELECT window(event_time, '1 minute') AS w, region, count(*) AS n FROM events \
                    WHERE amount >= 0 GROUP BY window(event_time, '1 minute'), region";
    run(windowed, &input, &ckpt, &Epochs::default(), &[])
        .await
        .unwrap();
    let cases: &[Case] = &[
        (windowed, "1 minute", &[], Verdict::Reuse, ""),
        (
            "SELECT w['end'] AS e, region, n * 2 AS twice FROM (SELECT window(event_time, '1 minute') AS w, \
             region, count(*) AS n FROM events WHERE amount >= 0 GROUP BY window(event_time, '1 minute'), region)",
            "1 minute",
            &[],
            Verdict::Reuse,
            "",
        ),
        (
            "SELECT window(event_time, '1 minute') AS w, region, count(*) AS n FROM events \
             WHERE amount >= 10 GROUP BY window(event_time, '1 minute'), region",
            "1 minute",
            &[],
            Verdict::Reuse,
            "plan below it changes",
        ),
        (windowed, "5 minutes", &[], Verdict::Reuse, "from 1 min to 5 min"),
        (
            "SELECT window(event_time, '1 minute') AS w, region, count(*) AS n, max(amount) AS top FROM events \
             WHERE amount >= 0 GROUP BY window(event_time, '1 minute'), region",
            "1 minute",
            &[],
            Verdict::Extend,
            "new aggregates [max(events.amount)",
        ),
        (
            "SELECT window(event_time, '1 minute') AS w, region FROM events \
             WHERE amount >= 0 GROUP BY window(event_time, '1 minute'), region",
            "1 minute",
            &[],
            Verdict::Extend,
            "aggregates removed [count(Int64(1))",
        ),
        (
            "SELECT window(event_time, '2 minutes') AS w, region, count(*) AS n FROM events \
             WHERE amount >= 0 GROUP BY window(event_time, '2 minutes'), region",
            "1 minute",
            &[],
            Verdict::Rebuild,
            "the window changes",
        ),
        (
            "SELECT window(event_time, '1 minute') AS w, user_id, count(*) AS n FROM events \
             WHERE amount >= 0 GROUP BY window(event_time, '1 minute'), user_id",
            "1 minute",
            &[],
            Verdict::Rebuild,
            "the keys change",
        ),
        (
            "SELECT window(event_time, '1 minute') AS w, upper(region) AS region, count(*) AS n FROM events \
             WHERE amount >= 0 GROUP BY window(event_time, '1 minute'), upper(region)",
            "1 minute",
            &[],
            Verdict::Rebuild,
            "the keys change",
        ),
        (
            "SELECT DISTINCT region FROM events",
            "1 minute",
            &[],
            Verdict::Incompatible,
            "written by a aggregation",
        ),
        (windowed, "1 minute", &[("state_partitions", "8")], Verdict::Incompatible, "repartition"),
    ];
    for (sql, delay, opts, verdict, says) in cases {
        let r = check(sql, &input, &ckpt, delay, opts).await;
        assert_eq!(r.worst(), *verdict, "{sql} (delay {delay}, {opts:?}):\n{r}");
        assert!(
            r.to_string().contains(says),
            "{sql}: expected '{says}' in\n{r}"
        );
    }
}

#[tokio::test]
async fn joins_and_deduplications_rebuild_when_their_keys_or_condition_change() {
    let tmp = tempfile::tempdir().unwrap();
    let (input, ckpt) = (tmp.path().join("in"), tmp.path().join("chk"));
    files(&input, 0, 2);
    let join = |cond: &str| {
        format!(
            "SELECT a.id, b.id AS other FROM events a JOIN events b ON a.user_id = b.user_id \
             AND b.event_time BETWEEN a.event_time AND a.event_time + INTERVAL '{cond}' SECOND"
        )
    };
    run_append(&join("30"), &input, &ckpt, &Epochs::default(), &[])
        .await
        .unwrap();
    assert_eq!(
        append_check(&input, &ckpt, join("30")).await.worst(),
        Verdict::Reuse
    );
    let r = append_check(&input, &ckpt, join("45")).await;
    assert_eq!(r.worst(), Verdict::Rebuild, "{r}");
    assert!(r.to_string().contains("join condition changes"), "{r}");
    let r = append_check(
        &input,
        &ckpt,
        join("30").replace("a.user_id = b.user_id", "a.region = b.region"),
    )
    .await;
    assert_eq!(r.worst(), Verdict::Rebuild, "{r}");
    assert!(r.to_string().contains("the keys change"), "{r}");
    let r = append_check(
        &input,
        &ckpt,
        join("30").replace("b.id AS other", "b.id AS other, b.amount"),
    )
    .await;
    assert_eq!(r.worst(), Verdict::Rebuild, "{r}");
    assert!(r.to_string().contains("right amount"), "{r}");
}

#[tokio::test]
async fn a_change_above_the_state_resumes_on_it_with_the_new_querys_batch_answer() {
    let tmp = tempfile::tempdir().unwrap();
    let (input, ckpt) = (tmp.path().join("in"), tmp.path().join("chk"));
    files(&input, 0, 2);
    run(OLD, &input, &ckpt, &Epochs::default(), &[])
        .await
        .unwrap();
    // A new output column computed from the state, and a stateless change above it.
    let new = "SELECT upper(region) AS region, n, total, total / n AS mean FROM \
               (SELECT region, count(*) AS n, sum(amount) AS total FROM events GROUP BY region)";
    assert_eq!(
        check(new, &input, &ckpt, "1 minute", &[]).await.worst(),
        Verdict::Reuse
    );
    files(&input, 2, 4);
    let seen = Epochs::default();
    run(new, &input, &ckpt, &seen, &[]).await.unwrap();
    // Each region's row counts every file: the first two through the reused state.
    assert_eq!(latest(&seen), batch(new, &input).await);
}

#[tokio::test]
async fn a_run_refuses_state_it_cannot_reuse_unless_told_to_reset_it() {
    let tmp = tempfile::tempdir().unwrap();
    let (input, ckpt) = (tmp.path().join("in"), tmp.path().join("chk"));
    files(&input, 0, 2);
    run(OLD, &input, &ckpt, &Epochs::default(), &[])
        .await
        .unwrap();
    let by_user =
        "SELECT user_id, count(*) AS n, sum(amount) AS total FROM events GROUP BY user_id";
    files(&input, 2, 4);
    let e = run(by_user, &input, &ckpt, &Epochs::default(), &[])
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("rebuild: the keys change") && e.contains("state_evolution = 'reset'"),
        "{e}"
    );
    // Refused before anything was read: the old query still resumes on its state.
    assert_eq!(
        check(OLD, &input, &ckpt, "1 minute", &[]).await.worst(),
        Verdict::Reuse
    );
    let seen = Epochs::default();
    run(
        by_user,
        &input,
        &ckpt,
        &seen,
        &[("state_evolution", "reset")],
    )
    .await
    .unwrap();
    // The reset operator counts only what the query read after the change: the new files.
    let only_new = tmp.path().join("new");
    for i in 2..4 {
        let name = format!("part-{i}.json");
        std::fs::create_dir_all(&only_new).unwrap();
        std::fs::copy(input.join(&name), only_new.join(&name)).unwrap();
    }
    let mut got = latest(&seen);
    got.sort();
    assert_eq!(got, batch(by_user, &only_new).await);
    // From now on the state is the new query's: a restart reuses it.
    assert_eq!(
        check(by_user, &input, &ckpt, "1 minute", &[]).await.worst(),
        Verdict::Reuse
    );
}

#[tokio::test]
async fn the_state_reader_reads_each_operator_at_each_retained_epoch() {
    let tmp = tempfile::tempdir().unwrap();
    let (input, ckpt) = (tmp.path().join("in"), tmp.path().join("chk"));
    files(&input, 0, 3);
    run(OLD, &input, &ckpt, &Epochs::default(), &[])
        .await
        .unwrap();
    let loc = tributary::location::Location::resolve(ckpt.to_str().unwrap()).unwrap();
    let reader = tributary::state::StateReader::open(loc).await.unwrap();
    // Three epochs of one file each (and a last one without data, when the watermark moved).
    let last = reader.committed().unwrap();
    assert!((2..=3).contains(&last), "{last}");
    let ops = reader.describe().await.unwrap();
    assert_eq!(ops.len(), 1);
    assert_eq!(
        (ops[0].kind.as_str(), ops[0].rows, ops[0].partitions),
        ("aggregation", 3, 4)
    );
    // The batch format reads the same state: one row per region, counted over every file.
    let s = Session::new();
    let counts = |batches: Vec<RecordBatch>| -> BTreeMap<String, i64> {
        let mut m = BTreeMap::new();
        for b in batches {
            let key = b.column(0).as_struct();
            let value = b.column(1).as_struct();
            let region = arrow::compute::cast(key.column(0), &DataType::Utf8).unwrap();
            for r in 0..b.num_rows() {
                let n = value
                    .column(0)
                    .as_primitive::<arrow::datatypes::Int64Type>()
                    .value(r);
                m.insert(region.as_string::<i32>().value(r).to_string(), n);
            }
        }
        m
    };
    let read = |epoch: Option<u64>| {
        let s = s.clone();
        let path = ckpt.display().to_string();
        async move {
            let mut r = s.read().format("state").option("operator_id", 0);
            if let Some(e) = epoch {
                r = r.option("batch_id", e);
            }
            match r.load(&path).await {
                Ok(df) => df.collect().await.map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            }
        }
    };
    let now = counts(read(None).await.unwrap());
    assert_eq!(now.values().sum::<i64>(), 120, "{now:?}");
    assert_eq!(now.len(), 3);
    // Epoch 0 read only the first file.
    let first = counts(read(Some(0)).await.unwrap());
    assert_eq!(first.values().sum::<i64>(), 40, "{first:?}");
    let e = read(Some(9)).await.unwrap_err();
    assert!(e.contains(&format!("epochs 0 to {last}")), "{e}");
    let e = s
        .read()
        .format("state")
        .option("operator_id", 3)
        .load(&ckpt.display().to_string())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("no stateful operator 3") && e.contains("0 (aggregation)"),
        "{e}"
    );
}

/// The state rows of operator 0 at the last committed epoch (a join's `side`), as sorted text.
async fn state_rows(ckpt: &Path) -> (u64, Vec<String>) {
    side_rows(ckpt, None).await
}

async fn side_rows(ckpt: &Path, side: Option<tributary::state::JoinSide>) -> (u64, Vec<String>) {
    let loc = tributary::location::Location::resolve(ckpt.to_str().unwrap()).unwrap();
    let reader = tributary::state::StateReader::open(loc).await.unwrap();
    let (_, batches) = reader.read(0, None, side).await.unwrap();
    let mut out: Vec<String> = rows(&batches)
        .into_iter()
        .map(|r| r[..2].join(" | "))
        .collect();
    out.sort();
    (reader.committed().unwrap(), out)
}

#[tokio::test]
async fn a_rebuild_replays_the_committed_epochs_into_the_state_the_new_query_would_have() {
    let tmp = tempfile::tempdir().unwrap();
    let (input, ckpt) = (tmp.path().join("in"), tmp.path().join("chk"));
    files(&input, 0, 3);
    let windowed = |size: &str| {
        format!(
            "SELECT window(event_time, '{size}') AS w, region, count(*) AS n, max(amount) AS top \
             FROM events GROUP BY window(event_time, '{size}'), region"
        )
    };
    let old = "SELECT window(event_time, '1 minute') AS w, region, count(*) AS n FROM events \
               GROUP BY window(event_time, '1 minute'), region";
    run(old, &input, &ckpt, &Epochs::default(), &[])
        .await
        .unwrap();
    // A crash after the last epoch's sink commit and before its commit file: the new query
    // runs that epoch again.
    crate::stateful::drop_last_commit(&ckpt);
    let new = windowed("10 minutes");
    let r = check(&new, &input, &ckpt, "1 minute", &[]).await;
    assert_eq!(r.worst(), Verdict::Rebuild, "{r}");
    run(
        &new,
        &input,
        &ckpt,
        &Epochs::default(),
        &[("state_evolution", "rebuild")],
    )
    .await
    .unwrap();
    // The same state as the new query run from the start over the same files, epoch by epoch.
    let fresh = tmp.path().join("fresh");
    run(&new, &input, &fresh, &Epochs::default(), &[])
        .await
        .unwrap();
    let (rebuilt, expected) = (state_rows(&ckpt).await, state_rows(&fresh).await);
    assert!(!expected.1.is_empty());
    assert_eq!(rebuilt, expected);
    assert_eq!(
        check(&new, &input, &ckpt, "1 minute", &[]).await.worst(),
        Verdict::Reuse
    );
}

#[tokio::test]
async fn a_rebuilt_aggregation_gives_the_new_querys_batch_answer() {
    let tmp = tempfile::tempdir().unwrap();
    let (input, ckpt) = (tmp.path().join("in"), tmp.path().join("chk"));
    files(&input, 0, 2);
    run(OLD, &input, &ckpt, &Epochs::default(), &[])
        .await
        .unwrap();
    // New keys and a new aggregate: every group counts every row, the first files' too.
    let new = "SELECT user_id, count(*) AS n, max(amount) AS top FROM events GROUP BY user_id";
    files(&input, 2, 4);
    let seen = Epochs::default();
    run(new, &input, &ckpt, &seen, &[("state_evolution", "rebuild")])
        .await
        .unwrap();
    let mut got = latest(&seen);
    got.sort();
    // Users not seen after the change keep their rows from before (in the rebuilt state, not
    // emitted again): compare the groups the new epochs emitted.
    let expected: Vec<Vec<String>> = batch(new, &input)
        .await
        .into_iter()
        .filter(|r| got.iter().any(|g| g[0] == r[0]))
        .collect();
    assert!(got.len() > 5, "{got:?}");
    assert_eq!(got, expected);
}

#[tokio::test]
async fn a_rebuild_is_refused_when_the_offsets_log_lost_the_first_epochs() {
    let tmp = tempfile::tempdir().unwrap();
    let (input, ckpt) = (tmp.path().join("in"), tmp.path().join("chk"));
    files(&input, 0, 12);
    run(
        OLD,
        &input,
        &ckpt,
        &Epochs::default(),
        &[("min_epochs_to_retain", "2")],
    )
    .await
    .unwrap();
    let by_user = "SELECT user_id, count(*) AS n FROM events GROUP BY user_id";
    let e = run(
        by_user,
        &input,
        &ckpt,
        &Epochs::default(),
        &[("state_evolution", "rebuild")],
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("no longer holds epoch 0") && e.contains("min_epochs_to_retain"),
        "{e}"
    );
    // Refused before anything was written: the old query resumes on its state.
    assert_eq!(
        check(OLD, &input, &ckpt, "1 minute", &[]).await.worst(),
        Verdict::Reuse
    );
}

/// Every row an append-mode query emitted, sorted.
fn appended(seen: &Epochs) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = seen
        .lock()
        .unwrap()
        .values()
        .flat_map(|b| rows(b))
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn a_repartitioned_state_resumes_with_every_key_where_the_query_looks_for_it() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    files(&input, 0, 2);
    let dedup = "SELECT DISTINCT user_id, region FROM events";
    let join = "SELECT a.id, b.id AS other FROM events a JOIN events b ON a.user_id = b.user_id \
                AND b.event_time BETWEEN a.event_time AND a.event_time + INTERVAL '30' SECOND";
    let (agg_ckpt, dedup_ckpt, join_ckpt) = (
        tmp.path().join("agg"),
        tmp.path().join("dedup"),
        tmp.path().join("join"),
    );
    let (agg_seen, dedup_seen, join_seen) =
        (Epochs::default(), Epochs::default(), Epochs::default());
    run(OLD, &input, &agg_ckpt, &agg_seen, &[]).await.unwrap();
    run_append(dedup, &input, &dedup_ckpt, &dedup_seen, &[])
        .await
        .unwrap();
    run_append(join, &input, &join_ckpt, &join_seen, &[])
        .await
        .unwrap();
    let loc = |p: &Path| tributary::location::Location::resolve(p.to_str().unwrap()).unwrap();
    // Asking for other partitions without moving the state is refused, naming the way out.
    let e = run(
        OLD,
        &input,
        &agg_ckpt,
        &agg_seen,
        &[("state_partitions", "7")],
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("tributary state repartition") && e.contains("--partitions 7"),
        "{e}"
    );
    for ckpt in [&agg_ckpt, &dedup_ckpt, &join_ckpt] {
        let before = tributary::state::StateReader::open(loc(ckpt))
            .await
            .unwrap()
            .describe()
            .await
            .unwrap();
        let done = tributary::state::repartition(loc(ckpt), 7).await.unwrap();
        assert_eq!((done.from, done.to), (4, 7));
        let after = tributary::state::StateReader::open(loc(ckpt))
            .await
            .unwrap()
            .describe()
            .await
            .unwrap();
        assert_eq!(after.len(), before.len());
        for (b, a) in before.iter().zip(&after) {
            assert_eq!((a.rows, a.partitions), (b.rows, 7), "{ckpt:?}");
        }
        assert!(before.iter().map(|o| o.rows).sum::<u64>() > 0, "{ckpt:?}");
        // Done already: a second call moves nothing.
        assert_eq!(
            tributary::state::repartition(loc(ckpt), 7)
                .await
                .unwrap()
                .rows,
            0
        );
    }
    files(&input, 2, 4);
    run(
        OLD,
        &input,
        &agg_ckpt,
        &agg_seen,
        &[("state_partitions", "7")],
    )
    .await
    .unwrap();
    run_append(dedup, &input, &dedup_ckpt, &dedup_seen, &[])
        .await
        .unwrap();
    run_append(join, &input, &join_ckpt, &join_seen, &[])
        .await
        .unwrap();
    // Each key was found in its new partition: the answers are the batch answers over every
    // file (a key looked for in the wrong partition would count or emit twice).
    assert_eq!(latest(&agg_seen), batch(OLD, &input).await);
    assert_eq!(appended(&dedup_seen), batch(dedup, &input).await);
    assert_eq!(appended(&join_seen), batch(join, &input).await);
}

#[tokio::test]
async fn a_rebuilt_join_keeps_the_rows_the_new_condition_keeps() {
    use tributary::state::JoinSide;
    let tmp = tempfile::tempdir().unwrap();
    let (input, ckpt) = (tmp.path().join("in"), tmp.path().join("chk"));
    files(&input, 0, 3);
    let join = |secs: &str| {
        format!(
            "SELECT a.id, b.id AS other FROM events a JOIN events b ON a.user_id = b.user_id \
             AND b.event_time BETWEEN a.event_time AND a.event_time + INTERVAL '{secs}' SECOND"
        )
    };
    run_append(&join("30"), &input, &ckpt, &Epochs::default(), &[])
        .await
        .unwrap();
    let wider = join("300");
    assert_eq!(
        append_check(&input, &ckpt, wider.clone()).await.worst(),
        Verdict::Rebuild
    );
    run_append(
        &wider,
        &input,
        &ckpt,
        &Epochs::default(),
        &[("state_evolution", "rebuild")],
    )
    .await
    .unwrap();
    // Each side keeps what the wider condition keeps, as a fresh run of it would.
    let fresh = tmp.path().join("fresh");
    run_append(&wider, &input, &fresh, &Epochs::default(), &[])
        .await
        .unwrap();
    for side in [JoinSide::Left, JoinSide::Right] {
        let (rebuilt, expected) = (
            side_rows(&ckpt, Some(side)).await,
            side_rows(&fresh, Some(side)).await,
        );
        assert!(!expected.1.is_empty(), "{side:?}");
        assert_eq!(rebuilt, expected, "{side:?}");
    }
    // A join's state is read one side at a time.
    let s = Session::new();
    let e = s
        .read()
        .format("state")
        .load(&ckpt.display().to_string())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("stream-stream join") && e.contains("left or right"),
        "{e}"
    );
}

#[tokio::test]
async fn the_state_reader_reads_a_top_n_and_a_deduplication() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    files(&input, 0, 2);
    let top = "SELECT region, id, amount FROM (SELECT region, id, amount, row_number() OVER \
               (PARTITION BY region ORDER BY amount DESC, id) AS rn FROM events) WHERE rn <= 2";
    let (top_ckpt, dedup_ckpt) = (tmp.path().join("top"), tmp.path().join("dedup"));
    run(top, &input, &top_ckpt, &Epochs::default(), &[])
        .await
        .unwrap();
    run_append(
        "SELECT DISTINCT region FROM events",
        &input,
        &dedup_ckpt,
        &Epochs::default(),
        &[],
    )
    .await
    .unwrap();
    let read = |ckpt: &Path| {
        let path = ckpt.display().to_string();
        async move {
            let s = Session::new();
            s.read()
                .format("statestore")
                .load(&path)
                .await
                .unwrap()
                .collect()
                .await
                .unwrap()
        }
    };
    // Top-N: the two best rows of each region, keyed by region.
    let top_rows = rows(&read(&top_ckpt).await);
    assert_eq!(top_rows.len(), 6, "{top_rows:?}");
    let best: Vec<Vec<String>> = batch(top, &input).await;
    for r in &best {
        assert!(
            top_rows
                .iter()
                .any(|t| t[0].contains(&r[0]) && t[1].contains(&r[1])),
            "{r:?} not in {top_rows:?}"
        );
    }
    // Deduplication: each region seen, once.
    let seen = rows(&read(&dedup_ckpt).await);
    let mut regions: Vec<String> = seen.iter().map(|r| r[0].clone()).collect();
    regions.sort();
    assert_eq!(regions.len(), 3, "{seen:?}");
    assert!(regions.iter().all(|r| r.contains("region")), "{regions:?}");
}

#[tokio::test]
async fn a_state_change_interrupted_before_its_shape_was_recorded_is_never_reused() {
    let tmp = tempfile::tempdir().unwrap();
    let (input, ckpt) = (tmp.path().join("in"), tmp.path().join("chk"));
    files(&input, 0, 2);
    run(OLD, &input, &ckpt, &Epochs::default(), &[])
        .await
        .unwrap();
    let by_user =
        "SELECT user_id, count(*) AS n, sum(amount) AS total FROM events GROUP BY user_id";
    run(
        by_user,
        &input,
        &ckpt,
        &Epochs::default(),
        &[("state_evolution", "rebuild")],
    )
    .await
    .unwrap();
    assert!(!ckpt.join("shapes/changing").exists());
    // As if the run had died after writing the rebuilt state and before recording its shape:
    // the newest shape is the old query's, and the marker names the operator.
    let mut shapes: Vec<u64> = std::fs::read_dir(ckpt.join("shapes"))
        .unwrap()
        .filter_map(|e| e.unwrap().file_name().to_str()?.parse().ok())
        .collect();
    shapes.sort();
    assert_eq!(shapes.len(), 2, "{shapes:?}");
    std::fs::remove_file(ckpt.join(format!("shapes/{}", shapes[1]))).unwrap();
    std::fs::write(ckpt.join("shapes/changing"), "[0]").unwrap();
    // Neither query may take that state as it is.
    for sql in [OLD, by_user] {
        let r = check(sql, &input, &ckpt, "1 minute", &[]).await;
        assert_eq!(r.worst(), Verdict::Rebuild, "{sql}:\n{r}");
        assert!(r.to_string().contains("was interrupted"), "{r}");
        let e = run(sql, &input, &ckpt, &Epochs::default(), &[])
            .await
            .unwrap_err();
        assert!(e.to_string().contains("was interrupted"), "{e}");
    }
    // Rebuilt again, it is the new query's.
    files(&input, 2, 3);
    let seen = Epochs::default();
    run(
        by_user,
        &input,
        &ckpt,
        &seen,
        &[("state_evolution", "rebuild")],
    )
    .await
    .unwrap();
    assert!(!ckpt.join("shapes/changing").exists());
    assert_eq!(
        check(by_user, &input, &ckpt, "1 minute", &[]).await.worst(),
        Verdict::Reuse
    );
    let got = latest(&seen);
    let expected: Vec<Vec<String>> = batch(by_user, &input)
        .await
        .into_iter()
        .filter(|r| got.iter().any(|g| g[0] == r[0]))
        .collect();
    assert!(got.len() > 5);
    assert_eq!(got.len(), expected.len());
    let mut got = got;
    got.sort();
    assert_eq!(got, expected);
}

#[tokio::test]
async fn a_rebuilt_operator_above_another_replays_the_one_below_from_the_start() {
    let tmp = tempfile::tempdir().unwrap();
    let (input, ckpt) = (tmp.path().join("in"), tmp.path().join("chk"));
    files(&input, 0, 2);
    let users = "(SELECT DISTINCT user_id, region FROM events)";
    let old = format!("SELECT region, count(*) AS n FROM {users} GROUP BY region");
    let new =
        format!("SELECT region, count(*) AS n, max(user_id) AS top FROM {users} GROUP BY region");
    run(&old, &input, &ckpt, &Epochs::default(), &[])
        .await
        .unwrap();
    let r = check(&new, &input, &ckpt, "1 minute", &[]).await;
    let verdicts: Vec<Verdict> = r.operators.iter().map(|o| o.verdict).collect();
    assert_eq!(verdicts, vec![Verdict::Reuse, Verdict::Extend], "{r}");
    files(&input, 2, 4);
    let seen = Epochs::default();
    run(
        &new,
        &input,
        &ckpt,
        &seen,
        &[("state_evolution", "rebuild")],
    )
    .await
    .unwrap();
    // Distinct users per region over every file, the first two through the rebuilt state.
    let mut got = latest(&seen);
    got.sort();
    assert_eq!(got, batch(&new, &input).await);
}
