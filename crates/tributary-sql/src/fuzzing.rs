//! The bodies of the job-file fuzz targets (`fuzz/`, run by `scripts/fuzz.sh`), shared with
//! the test that replays their corpora. Not an API. Each takes arbitrary bytes, must never
//! panic on them, and checks a promise of the job-file reader itself:
//!
//! ```text
//!   any text          ─► substitute ─► parse   : a job or an error, never a panic
//!   any --set value   ─► LOCATION '${v}'       : the table's location is exactly the value
//!                                                (a value can never add SQL of its own)
//! ```

use std::collections::HashMap;

use crate::{substitute, JobFile};

/// Any text as a job file, with two variables set.
pub async fn job_text(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let vars = HashMap::from([
        ("input".to_string(), "/tmp/in".to_string()),
        ("v".to_string(), "it's \"quoted\"; DROP".to_string()),
    ]);
    if let Ok(sql) = substitute(&text, &vars) {
        let _ = JobFile::parse(&sql).await;
    }
}

/// Any value of `--set v=...`, inside a string literal and as a bare name.
pub async fn set_value(data: &[u8]) {
    let Ok(value) = std::str::from_utf8(data) else {
        return;
    };
    let vars = HashMap::from([("v".to_string(), value.to_string())]);
    let job = "CREATE EXTERNAL TABLE t (id BIGINT) STORED AS JSON LOCATION '${v}';\n\
               INSERT INTO t SELECT 1;";
    let sql = substitute(job, &vars).expect("any value fits in a string literal");
    let parsed = JobFile::parse(&sql)
        .await
        .unwrap_or_else(|e| panic!("the value {value:?} broke the job: {e}\n{sql}"));
    assert_eq!(parsed.tables.len(), 1, "{sql}");
    assert_eq!(parsed.inserts.len(), 1, "{sql}");
    assert_eq!(parsed.tables[0].location, value, "{sql}");
    // As a bare name, a value is a plain name or refused.
    let bare = "CREATE EXTERNAL TABLE t (id BIGINT) STORED AS JSON LOCATION '/in';\n\
                INSERT INTO t SELECT ${v} FROM t;";
    if let Ok(sql) = substitute(bare, &vars) {
        let parsed = JobFile::parse(&sql).await;
        if let Ok(job) = parsed {
            assert_eq!(job.inserts.len(), 1, "{sql}");
            assert_eq!(job.tables.len(), 1, "{sql}");
        }
    }
}
