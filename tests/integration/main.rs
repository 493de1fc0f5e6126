//! End-to-end tests against the real `passenger` binary.
