#![no_main]
//! See `passenger_core::fuzzing::static_path`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    passenger_core::fuzzing::static_path(data);
});
