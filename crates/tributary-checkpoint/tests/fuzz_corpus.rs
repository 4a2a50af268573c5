//! The checkpoint fuzz targets over their corpora and deterministic mutations of them (the
//! fuzzers themselves run in `scripts/fuzz.sh`).

use tributary_checkpoint::fuzzing::{listing, records, replay};

/// This crate's folder: where the test runs (cargo and nextest set it), not where the test
/// binary was compiled (a shared target folder may reuse a binary built in another checkout).
fn repo() -> std::path::PathBuf {
    std::path::PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into()),
    )
}

#[test]
fn checkpoint_files_with_any_bytes_are_refused_by_name_or_read_back_exactly() {
    assert!(replay(&repo(), "checkpoint_records", 2000, &records) > 2000);
}

#[test]
fn any_listing_of_a_checkpoint_folder_gives_a_consistent_restart_decision() {
    assert!(replay(&repo(), "checkpoint_listing", 2000, &listing) > 2000);
}
