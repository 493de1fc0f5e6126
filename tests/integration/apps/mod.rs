//! Real apps under the real interpreters (Debian's `ruby`, `ruby-rack`, `ruby-sinatra`,
//! `python3`, `python3-flask`, `nodejs`; `tests/run-all` installs them): hello apps of every
//! type, Sinatra and Flask, streaming and large bodies, the Passenger Ruby API events,
//! out-of-band work, every app-loading failure in both error page modes, smart versus direct
//! spawning, preloader idle stop and restart.txt replacing the preloader.
//!
//! The apps live in `tests/fixtures/apps/<name>/` and are copied into the test dir, so tests
//! can write `tmp/restart.txt` without touching the repository. A missing interpreter or
//! package fails the test with what to install, rather than skipping it.
//!
//! Smart spawning tests (`--spawn-method smart`) need the preloader; direct-mode tests name
//! `--spawn-method direct` explicitly so they do not depend on it.
//!
//! The helpers they share (interpreter checks, copying fixtures, finding processes by title)
//! live in `support/apps.rs`.

mod bodies;
mod failures;
mod frameworks;
mod hello;
mod oob_work;
mod pipelining;
mod preloader;
mod ruby_api_events;
mod session_connections;
