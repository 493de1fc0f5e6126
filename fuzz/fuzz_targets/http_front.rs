#![no_main]
//! See `passenger_core::fuzzing::http_front`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    passenger_core::fuzzing::http_front(data);
});
