#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| tributary::fuzzing::csv_records(data));
