//! The server lifecycle: listeners, accept loop, signals and graceful shutdown.
