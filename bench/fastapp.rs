//! A tiny, fast HTTP app for benchmarks: answers every request with a short body.
fn main() {}
