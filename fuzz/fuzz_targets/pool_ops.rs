#![no_main]
//! See `passenger_core::fuzzing::pool_ops`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    passenger_core::fuzzing::pool_ops(data);
});
