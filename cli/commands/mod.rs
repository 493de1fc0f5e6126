//! One file per subcommand: its clap arguments and its `run`.

pub mod start;
pub mod stop;
