//! Deadline polling. The only place in the tests that sleeps.

use std::time::{Duration, Instant};

/// The base deadline for anything a test waits for.
const BASE_DEADLINE: Duration = Duration::from_secs(10);

/// How often [`wait_until`] re-checks its condition.
const POLL_INTERVAL: Duration = Duration::from_millis(25);

/// The one test deadline (10 s), multiplied by `PASSENGER_TEST_TIMEOUT_SCALE` (a float) when set, so
/// slow CI machines can stretch every wait at once.
pub fn deadline() -> Duration {
    let scale = std::env::var("PASSENGER_TEST_TIMEOUT_SCALE")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
        .unwrap_or(1.0);
    BASE_DEADLINE.mul_f64(scale)
}

/// Polls `cond` every 25 ms until it returns true; panics naming `desc` after `timeout`.
pub fn wait_until(desc: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    loop {
        if cond() {
            return;
        }
        if start.elapsed() >= timeout {
            panic!("timed out after {timeout:?} waiting until {desc}");
        }
        std::thread::sleep(POLL_INTERVAL);
    }
}

/// Like [`wait_until`], but returns whether the condition became true instead of panicking.
pub fn poll(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if cond() {
            return true;
        }
        if start.elapsed() >= timeout {
            return false;
        }
        std::thread::sleep(POLL_INTERVAL);
    }
}
