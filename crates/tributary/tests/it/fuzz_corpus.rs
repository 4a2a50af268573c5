//! The decoder fuzz targets over their corpora and deterministic mutations of them (the
//! fuzzers themselves run in `scripts/fuzz.sh`): every line is one row or one bad record, and
//! nothing panics.

use tributary::fuzzing::{avro_value, csv_records, json_records, replay};

/// This crate's folder: where the test runs (cargo and nextest set it), not where the test
/// binary was compiled (a shared target folder may reuse a binary built in another checkout).
fn repo() -> std::path::PathBuf {
    std::path::PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into()),
    )
}

#[test]
fn json_lines_of_any_bytes_are_each_one_row_or_one_bad_record() {
    assert!(replay(&repo(), "json_records", 300, &json_records) > 300);
}

#[test]
fn csv_lines_of_any_bytes_are_each_one_row_or_one_bad_record() {
    assert!(replay(&repo(), "csv_records", 300, &csv_records) > 300);
}

#[test]
fn avro_values_of_any_bytes_decode_or_give_a_reason() {
    assert!(replay(&repo(), "avro_value", 1000, &avro_value) > 1000);
}
