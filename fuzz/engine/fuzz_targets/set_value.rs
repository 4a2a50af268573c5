#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime")
        .block_on(tributary_sql::fuzzing::set_value(data))
});
