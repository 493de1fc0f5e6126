//! `start_server`: a Server::Starter-compatible superdaemon for hot deploys.
//!
//! Owns: the superdaemon's options, its setup (log file or log pipe, sockets bound
//! once and handed to every generation through `SERVER_STARTER_PORT`, pid file,
//! status file), the generation loop (`supervisor`: start a worker, swap
//! generations on SIGHUP or auto restart, forward SIGTERM/SIGINT, reap) and the two
//! client modes `--restart` and `--stop` (`control`). Its log lines are
//! Server::Starter's, word for word, because deploy scripts read them.
//!
//! Does not own: argument parsing, daemonizing and exit codes (`cli`), nor how a
//! socket notation is parsed and bound (`crate::server::listen`). The supervisor is
//! single-threaded with no async runtime: it forks workers, so it keeps no other
//! thread, and waits for signals with `sigtimedwait` (every signal it handles is
//! blocked, none has a handler).

mod control;
mod error;
mod options;
mod sockets;
mod supervisor;

pub use control::{restart_server, stop_server};
pub use error::StarterError;
pub use options::{parse_signal, signal_name, StarterOptions, COMPATIBLE_VERSION};
use sockets::Sockets;
pub use supervisor::Prepared;
