//! Helpers shared by the CLI's integration tests.
#![allow(dead_code)]

use std::path::Path;

use arrow::util::display::{ArrayFormatter, FormatOptions};
use tributary::prelude::*;

pub(crate) mod postgres;

/// Every row as its values joined by `|` (nulls as `NULL`), sorted.
pub(crate) fn rows(batches: &[arrow::array::RecordBatch]) -> Vec<String> {
    let opts = FormatOptions::default().with_null("NULL");
    let mut out = Vec::new();
    for b in batches {
        let f: Vec<_> = b
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &opts).unwrap())
            .collect();
        for r in 0..b.num_rows() {
            out.push(
                f.iter()
                    .map(|f| f.value(r).to_string())
                    .collect::<Vec<_>>()
                    .join("|"),
            );
        }
    }
    out.sort();
    out
}

/// Run `sql` over the Delta table at `path`, registered as `t`.
pub(crate) fn query_delta(path: &Path, sql: &str) -> Vec<String> {
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let s = Session::new();
        let df = s.read().delta(path.to_str().unwrap()).await.unwrap();
        s.register("t", df).unwrap();
        rows(&s.sql(sql).await.unwrap().collect().await.unwrap())
    })
}

/// Write lines to `dir/name` atomically (a stream never sees half a file).
pub(crate) fn write_lines(dir: &Path, name: &str, lines: &[String]) {
    std::fs::create_dir_all(dir).unwrap();
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, lines.join("\n") + "\n").unwrap();
    std::fs::rename(tmp, dir.join(name)).unwrap();
}

/// Write file `index` of the timed events to `dir` (atomically): events `index * per_file ..
/// (index + 1) * per_file`, event `id` happening `id` seconds after 2026-11-21 10:00.
pub(crate) fn write_timed_events(dir: &Path, index: i64, per_file: i64) {
    let lines: Vec<String> = (index * per_file..(index + 1) * per_file)
        .map(|id| {
            format!(
                "{{\"id\":{id},\"event_time\":\"2026-11-21T10:{:02}:{:02}Z\"}}",
                id / 60,
                id % 60
            )
        })
        .collect();
    write_lines(dir, &format!("f{index:04}.json"), &lines);
}

/// The 10-second windows (start second, events, sum of ids) of the timed events `0..n` that a
/// watermark `delay` seconds behind the last event has closed.
pub(crate) fn closed_windows(n: i64, delay: i64) -> Vec<(i64, i64, i64)> {
    let watermark = n - 1 - delay;
    let mut out = Vec::new();
    let mut start = 0;
    while start + 10 <= watermark {
        let ids: Vec<i64> = (start..(start + 10).min(n)).collect();
        out.push((start, ids.len() as i64, ids.iter().sum::<i64>()));
        start += 10;
    }
    out
}

/// The test venv's Python (or $TRIBUTARY_TEST_PYTHON), checked to import `imports`; a failure
/// says how to get one (`setup`).
pub(crate) fn venv_python(imports: &str, setup: &str) -> String {
    let py = std::env::var("TRIBUTARY_TEST_PYTHON").unwrap_or_else(|_| {
        let home = std::env::var("HOME").unwrap_or_default();
        format!("{home}/.cache/tributary-pyenv/bin/python")
    });
    let ok = std::process::Command::new(&py)
        .args(["-c", &format!("import {imports}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        ok,
        "{py} cannot import {imports}: run `{setup}` (or set TRIBUTARY_TEST_PYTHON to a Python that has it)"
    );
    py
}

/// A child process that is killed (and reaped) when the guard is dropped, so a test that fails
/// or panics never leaves a `tributary run` behind.
pub(crate) struct Running(pub std::process::Child);

impl Running {
    /// Spawn `cmd` under the guard.
    pub(crate) fn spawn(cmd: &mut std::process::Command) -> Running {
        Running(cmd.spawn().expect("spawn the tributary binary"))
    }

    /// SIGKILL the process now and reap it.
    pub(crate) fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl std::ops::Deref for Running {
    type Target = std::process::Child;
    fn deref(&self) -> &std::process::Child {
        &self.0
    }
}

impl std::ops::DerefMut for Running {
    fn deref_mut(&mut self) -> &mut std::process::Child {
        &mut self.0
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Wait until `done` holds, checking every 20 ms, for at most `deadline`; panics with `what`.
pub(crate) fn wait_until(
    what: &str,
    deadline: std::time::Duration,
    mut done: impl FnMut() -> bool,
) {
    let start = std::time::Instant::now();
    while !done() {
        assert!(start.elapsed() < deadline, "timed out waiting until {what}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// A small deterministic generator (the same sequence for the same seed).
pub(crate) struct Rng(pub u64);

impl Rng {
    /// A number in `0..bound`.
    pub(crate) fn next(&mut self, bound: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % bound.max(1)
    }
}
