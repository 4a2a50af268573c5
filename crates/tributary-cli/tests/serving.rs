//! The serving layer against real PostgreSQL servers: the PostgreSQL sink exactly once under
//! SIGKILLs of `tributary run`.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

mod support;
use support::postgres::PgServer;
use support::{write_lines, Rng, Running};

fn spawn_run(job: &Path, ckpt: &Path, trigger: &str) -> Running {
    Running::spawn(
        Command::new(env!("CARGO_BIN_EXE_tributary"))
            .args(["run", job.to_str().unwrap(), "--trigger", trigger])
            .args(["--checkpoint", ckpt.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::piped()),
    )
}

/// Two queries of one job write into PostgreSQL while the job is killed at random moments:
/// closed 10-second windows appended (a duplicate would be a second row) and running totals
/// per bucket upserted. After a last available-now run every window is there once, complete,
/// and the totals are those of all the input.
#[test]
fn a_job_killed_at_random_moments_writes_to_postgres_exactly_once() {
    let pg = PgServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let (input, ckpt) = (tmp.path().join("in"), tmp.path().join("ckpt"));
    std::fs::create_dir_all(&input).unwrap();
    let job = tmp.path().join("job.sql");
    let url = pg.url();
    std::fs::write(
        &job,
        format!(
            "CREATE UNBOUNDED EXTERNAL TABLE events (id BIGINT, event_time TIMESTAMP) STORED AS JSON LOCATION '{}'
               OPTIONS ('max_files_per_trigger' '2', 'watermark_column' 'event_time', 'watermark_delay' '5 seconds');
             CREATE EXTERNAL TABLE windows (window_start TIMESTAMP, n BIGINT, total BIGINT)
               STORED AS POSTGRES LOCATION '{url}' OPTIONS ('table' 'windows');
             CREATE EXTERNAL TABLE buckets (bucket BIGINT, n BIGINT, total BIGINT)
               STORED AS POSTGRES LOCATION '{url}' OPTIONS ('table' 'buckets', 'output_mode' 'update');
             INSERT INTO windows
             SELECT window(event_time, '10 seconds')['start'], count(*), sum(id)
             FROM events GROUP BY window(event_time, '10 seconds');
             INSERT INTO buckets SELECT id % 5 AS bucket, count(*) AS n, sum(id) AS total
             FROM events GROUP BY id % 5;",
            input.display(),
        ),
    )
    .unwrap();
    // Event `id` happens `id` seconds after 10:00; files of 7 events.
    let per_file: i64 = 7;
    let write = |index: i64| {
        let lines: Vec<String> = (index * per_file..(index + 1) * per_file)
            .map(|id| {
                format!(
                    "{{\"id\":{id},\"event_time\":\"2026-11-21T10:{:02}:{:02}Z\"}}",
                    id / 60,
                    id % 60
                )
            })
            .collect();
        write_lines(&input, &format!("f{index:04}.json"), &lines);
    };
    let mut files = 0i64;
    let mut rng = Rng(0x5eed);
    for _ in 0..12 {
        for _ in 0..1 + rng.next(3) {
            write(files);
            files += 1;
        }
        let mut child = spawn_run(&job, &ckpt, "20ms");
        std::thread::sleep(Duration::from_millis(100 + rng.next(600)));
        child.kill();
    }
    let mut last = spawn_run(&job, &ckpt, "available-now");
    let mut err = String::new();
    std::io::Read::read_to_string(last.stderr.as_mut().unwrap(), &mut err).unwrap();
    let status = last.wait().unwrap();
    assert!(status.success(), "the last run failed: {err}");

    let n = files * per_file;
    let watermark = n - 1 - 5;
    let mut expected = Vec::new();
    let mut start = 0;
    while start + 10 <= watermark {
        let ids: Vec<i64> = (start..(start + 10).min(n)).collect();
        expected.push(format!("{start}|{}|{}", ids.len(), ids.iter().sum::<i64>()));
        start += 10;
    }
    assert!(expected.len() >= 5, "{files} files gave too few windows");
    let got = pg.rows(
        "SELECT extract(epoch FROM window_start - '2026-11-21 10:00:00')::int8, n, total
         FROM windows ORDER BY window_start, n",
    );
    assert_eq!(got, expected, "each closed window exactly once, complete");
    let expected: Vec<String> = (0..5)
        .map(|b| {
            let ids: Vec<i64> = (0..n).filter(|i| i % 5 == b).collect();
            format!("{b}|{}|{}", ids.len(), ids.iter().sum::<i64>())
        })
        .collect();
    assert_eq!(
        pg.rows("SELECT bucket, n, total FROM buckets ORDER BY bucket"),
        expected
    );
    // Each query recorded its last epoch beside the rows.
    assert_eq!(
        pg.rows("SELECT count(*) FROM tributary_epochs WHERE epoch >= 0"),
        vec!["2"]
    );
}
