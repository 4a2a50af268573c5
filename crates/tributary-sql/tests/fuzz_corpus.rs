//! The job-file fuzz targets over their corpora and deterministic mutations of them (the
//! fuzzers themselves run in `scripts/fuzz.sh`).

use tributary::fuzzing::replay;
use tributary_sql::fuzzing::{job_text, set_value};

/// This crate's folder: where the test runs (cargo and nextest set it), not where the test
/// binary was compiled (a shared target folder may reuse a binary built in another checkout).
fn repo() -> std::path::PathBuf {
    std::path::PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into()),
    )
}

fn block_on(body: impl std::future::Future<Output = ()>) {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(body)
}

#[test]
fn any_job_text_gives_a_job_or_an_error() {
    assert!(replay(&repo(), "job_text", 300, &|d| block_on(job_text(d))) > 300);
}

#[test]
fn a_set_value_never_leaves_its_string_literal() {
    assert!(replay(&repo(), "set_value", 300, &|d| block_on(set_value(d))) > 300);
}
