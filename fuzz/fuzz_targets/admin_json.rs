#![no_main]
//! See `passenger_core::fuzzing::admin_json`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    passenger_core::fuzzing::admin_json(data);
});
