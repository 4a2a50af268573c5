//! Storage faults under `tributary run`: a full disk and a read-only output. Each ends in a
//! clear stop that names the cause, with nothing committed, and in the exact output once the
//! fault is gone and the job runs again on its checkpoint.
//!
//! The faults are real: the output folder is a small tmpfs mounted in a private mount
//! namespace (`unshare -rm`, from util-linux), filled up or remounted read-only, so nothing
//! outside the test sees them and the mount goes away with the namespace.

mod support;

use std::path::Path;
use std::process::Command;

use support::query_delta;

const ROWS: usize = 20_000;

/// A job appending every event of `input` to the Delta table `out/t`.
fn job(dir: &Path) -> std::path::PathBuf {
    let input = dir.join("in");
    std::fs::create_dir_all(&input).unwrap();
    let mut lines = String::new();
    for i in 0..ROWS {
        lines.push_str(&format!(
            "{{\"id\":{i},\"name\":\"{}\"}}\n",
            "x".repeat(10 + i % 31)
        ));
    }
    std::fs::write(input.join("a.json"), lines).unwrap();
    let job = dir.join("job.sql");
    std::fs::write(
        &job,
        format!(
            "CREATE UNBOUNDED EXTERNAL TABLE events (id BIGINT, name VARCHAR) STORED AS JSON LOCATION '{}';
             CREATE EXTERNAL TABLE out (id BIGINT, name VARCHAR) STORED AS DELTA LOCATION '{}/out/t';
             INSERT INTO out SELECT * FROM events;",
            input.display(),
            dir.display()
        ),
    )
    .unwrap();
    std::fs::create_dir_all(dir.join("out")).unwrap();
    std::fs::create_dir_all(dir.join("saved")).unwrap();
    job
}

/// Run `script` (sh) in a private user and mount namespace, with `BIN` (the tributary binary),
/// `DIR` and `JOB` set. Its stdout.
fn in_namespace(dir: &Path, job: &Path, script: &str) -> String {
    let out = Command::new("unshare")
        .args(["-rm", "sh", "-euc", script])
        .env("BIN", env!("CARGO_BIN_EXE_tributary"))
        .env("DIR", dir)
        .env("JOB", job)
        .output()
        .unwrap_or_else(|e| {
            panic!("this test needs `unshare` (Debian package util-linux) to make its faults: {e}")
        });
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "the fault script failed (it needs unprivileged user and mount namespaces to mount a \
         tmpfs): {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn run_twice(dir: &Path, job: &Path, make_fault: &str, clear_fault: &str) -> (String, String) {
    let script = format!(
        r#"mount -t tmpfs -o size=400k tmpfs "$DIR/out"
        {make_fault}
        run() {{ "$BIN" run "$JOB" --trigger available-now --checkpoint "$DIR/ck" 2>"$DIR/$1.err" >/dev/null; }}
        if run first; then echo first=ok; else echo first=failed; fi
        {clear_fault}
        if run second; then echo second=ok; else echo second=failed; fi
        cp -r "$DIR/out/t" "$DIR/saved/t""#
    );
    let stdout = in_namespace(dir, job, &script);
    let err = |name: &str| std::fs::read_to_string(dir.join(format!("{name}.err"))).unwrap();
    assert!(
        stdout.contains("first=failed"),
        "{stdout}\n{}",
        err("first")
    );
    assert!(stdout.contains("second=ok"), "{stdout}\n{}", err("second"));
    (err("first"), err("second"))
}

fn assert_exact(dir: &Path) {
    let got = query_delta(
        &dir.join("saved/t"),
        "SELECT count(*), count(DISTINCT id), min(id), max(id) FROM t",
    );
    assert_eq!(got, vec![format!("{ROWS}|{ROWS}|0|{}", ROWS - 1)]);
}

#[test]
fn a_full_disk_stops_the_query_saying_so_and_a_restart_after_freeing_space_writes_every_row_once() {
    let tmp = tempfile::tempdir().unwrap();
    let job = job(tmp.path());
    let (first, _) = run_twice(
        tmp.path(),
        &job,
        // Leave about 20 KiB: the epoch's Parquet file needs over 100.
        r#"dd if=/dev/zero of="$DIR/out/filler" bs=1k count=380 2>/dev/null"#,
        r#"rm "$DIR/out/filler""#,
    );
    assert!(
        first.contains("is full") && first.contains("No space left on device"),
        "{first}"
    );
    assert!(
        first.contains("free space and start the query again"),
        "{first}"
    );
    assert!(!first.contains("Failed to parse parquet"), "{first}");
    assert_exact(tmp.path());
}

#[test]
fn a_read_only_output_stops_the_query_naming_the_cause_and_a_restart_writes_every_row_once() {
    let tmp = tempfile::tempdir().unwrap();
    let job = job(tmp.path());
    let (first, _) = run_twice(
        tmp.path(),
        &job,
        r#"mkdir "$DIR/out/t"; mount -o remount,ro "$DIR/out""#,
        r#"mount -o remount,rw "$DIR/out""#,
    );
    assert!(first.contains("Read-only file system"), "{first}");
    assert_exact(tmp.path());
}
