#![no_main]
//! See `passenger_core::fuzzing::loader_head`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    passenger_core::fuzzing::loader_head(data);
});
