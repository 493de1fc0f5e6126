#![no_main]
//! See `passenger_core::fuzzing::passengerfile`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    passenger_core::fuzzing::passengerfile(data);
});
