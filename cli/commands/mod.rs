//! One file per subcommand: its clap arguments and its `run`.

pub mod config;
pub mod gen_docs;
pub mod install_apache2_module;
pub mod install_links;
pub mod start;
pub mod start_server;
pub mod status;
pub mod stop;
