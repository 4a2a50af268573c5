//! The `tributary` binary, run as a child process: verify, errors, and a crash test with
//! SIGKILLs at random moments.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use arrow::array::{Array, Int64Array};
use tributary::prelude::*;

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_tributary")
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn verify_says_identical_for_the_etl_example() {
    let tmp = tempfile::tempdir().unwrap();
    let ex = repo().join("examples/etl");
    let out = Command::new(bin())
        .args(["verify", ex.join("job.sql").to_str().unwrap()])
        .arg("--set")
        .arg(format!("input={}", ex.join("data/events").display()))
        .arg("--set")
        .arg(format!("regions={}", ex.join("data/regions.csv").display()))
        .arg("--set")
        .arg(format!("output={}", tmp.path().join("silver").display()))
        .arg("--set")
        .arg(format!("bad={}", tmp.path().join("bad").display()))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.trim(), "identical");
}

#[test]
fn a_missing_variable_is_named() {
    let ex = repo().join("examples/etl/job.sql");
    let out = Command::new(bin())
        .args(["batch", ex.to_str().unwrap(), "--set", "input=x"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr.contains("${bad}") && stderr.contains("${output}") && stderr.contains("--set"),
        "{stderr}"
    );
}

fn write_file(dir: &Path, index: usize, per_file: i64) {
    let mut s = String::new();
    for i in 0..per_file {
        let id = index as i64 * per_file + i;
        s.push_str(&format!("{{\"id\":{id},\"region\":\"r{}\"}}\n", id % 7));
    }
    let tmp = dir.join(format!(".f{index:04}.tmp"));
    std::fs::write(&tmp, s).unwrap();
    std::fs::rename(tmp, dir.join(format!("f{index:04}.json"))).unwrap();
}

fn ids_of(batches: &[arrow::array::RecordBatch]) -> Vec<i64> {
    let mut v = Vec::new();
    for b in batches {
        let c = b.column(b.schema().index_of("id").unwrap());
        let a = c.as_any().downcast_ref::<Int64Array>().unwrap();
        for i in 0..a.len() {
            v.push(a.value(i));
        }
    }
    v.sort();
    v
}

#[test]
fn killed_at_random_moments_every_row_lands_exactly_once() {
    let tmp = tempfile::tempdir().unwrap();
    let (input, delta, parquet, ckpt) = (
        tmp.path().join("in"),
        tmp.path().join("delta"),
        tmp.path().join("parquet"),
        tmp.path().join("ckpt"),
    );
    std::fs::create_dir_all(&input).unwrap();
    let job = tmp.path().join("job.sql");
    std::fs::write(
        &job,
        format!(
            "CREATE UNBOUNDED EXTERNAL TABLE events (id BIGINT, region VARCHAR) STORED AS JSON LOCATION '{}' OPTIONS ('max_files_per_trigger' '2');
             CREATE EXTERNAL TABLE to_delta (id BIGINT, region VARCHAR) STORED AS DELTA LOCATION '{}';
             CREATE EXTERNAL TABLE to_parquet (id BIGINT, region VARCHAR) STORED AS PARQUET LOCATION '{}';
             INSERT INTO to_delta SELECT id, region FROM events;
             INSERT INTO to_parquet SELECT id, upper(region) FROM events;",
            input.display(),
            delta.display(),
            parquet.display()
        ),
    )
    .unwrap();
    let per_file = 25;
    let mut files = 0;
    let mut seed: u64 = 0x5eed;
    let mut rnd = |bound: u64| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) % bound
    };
    let mut kills = 0;
    while kills < 22 {
        for _ in 0..1 + rnd(3) {
            write_file(&input, files, per_file);
            files += 1;
        }
        let mut child = Command::new(bin())
            .args([
                "run",
                job.to_str().unwrap(),
                "--trigger",
                "20ms",
                "--checkpoint",
                ckpt.to_str().unwrap(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(30 + rnd(400)));
        // SIGKILL: no chance to clean up.
        child.kill().unwrap();
        child.wait().unwrap();
        kills += 1;
    }
    // Finish what is left, cleanly.
    let status = Command::new(bin())
        .args([
            "run",
            job.to_str().unwrap(),
            "--trigger",
            "available-now",
            "--checkpoint",
            ckpt.to_str().unwrap(),
        ])
        .status()
        .unwrap();
    assert!(status.success());
    let expected: Vec<i64> = (0..files as i64 * per_file).collect();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let s = Session::new();
        let d = s
            .read()
            .delta(delta.to_str().unwrap())
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        assert_eq!(
            ids_of(&d),
            expected,
            "Delta: every row exactly once after {kills} kills"
        );
        let p = s
            .read()
            .parquet(parquet.to_str().unwrap())
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        assert_eq!(
            ids_of(&p),
            expected,
            "Parquet: every row exactly once after {kills} kills"
        );
    });
}
