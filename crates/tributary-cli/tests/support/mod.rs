//! Helpers shared by the CLI's integration tests.
#![allow(dead_code)]

use std::path::Path;

use arrow::util::display::{ArrayFormatter, FormatOptions};
use tributary::prelude::*;

/// Every row as its values joined by `|` (nulls as `NULL`), sorted.
pub fn rows(batches: &[arrow::array::RecordBatch]) -> Vec<String> {
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
pub fn query_delta(path: &Path, sql: &str) -> Vec<String> {
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let s = Session::new();
        let df = s.read().delta(path.to_str().unwrap()).await.unwrap();
        s.register("t", df).unwrap();
        rows(&s.sql(sql).await.unwrap().collect().await.unwrap())
    })
}

/// Write lines to `dir/name` atomically (a stream never sees half a file).
pub fn write_lines(dir: &Path, name: &str, lines: &[String]) {
    std::fs::create_dir_all(dir).unwrap();
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, lines.join("\n") + "\n").unwrap();
    std::fs::rename(tmp, dir.join(name)).unwrap();
}
