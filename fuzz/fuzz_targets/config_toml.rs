#![no_main]
//! See `passenger_core::fuzzing::config_toml`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    passenger_core::fuzzing::config_toml(data);
});
