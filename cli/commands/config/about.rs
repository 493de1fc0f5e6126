//! `passenger-config about [WHAT]`: facts about this installation.

use clap::ValueEnum;
use passenger_core::instance::registry_search_dirs;

use crate::exit;
use crate::output::{self, PRODUCT};
use crate::resources;

/// Show information about this passenger-rs installation: version, root and paths.
#[derive(clap::Args, Debug, Clone)]
pub struct AboutArgs {
    /// Print only this item.
    #[arg(value_enum, value_name = "WHAT")]
    pub what: Option<About>,
}

/// Items of `about`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum About {
    /// The version number.
    Version,
    /// The root: the resources directory.
    Root,
    /// The resources directory (same as root).
    Resourcesdir,
    /// The directory of the language loaders.
    HelperScriptsDir,
    /// The passenger binary.
    Bin,
}

/// Runs `about`.
pub fn run(args: &AboutArgs) -> anyhow::Result<i32> {
    let root = resources::root_or_default();
    let bin = resources::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "unknown".into());
    let helpers = root.join(resources::HELPER_SCRIPTS);
    let text = match args.what {
        Some(About::Version) => format!("{}\n", output::version_line()),
        Some(About::Root) | Some(About::Resourcesdir) => format!("{}\n", root.display()),
        Some(About::HelperScriptsDir) => format!("{}\n", helpers.display()),
        Some(About::Bin) => format!("{bin}\n"),
        None => {
            let show = |p: Option<std::path::PathBuf>| {
                p.map(|p| p.display().to_string())
                    .unwrap_or_else(|| "unknown".into())
            };
            let registry: Vec<String> = registry_search_dirs()
                .iter()
                .map(|p| p.display().to_string())
                .collect();
            format!(
                "{PRODUCT} {version}\n\
                 Binary            : {bin}\n\
                 Root              : {root}\n\
                 Loaders           : {helpers}\n\
                 Man pages         : {man}\n\
                 Completions       : {completions}\n\
                 Instance registry : {registry}\n",
                version = passenger_core::VERSION,
                root = root.display(),
                helpers = helpers.display(),
                man = show(resources::man_dir()),
                completions = show(resources::completions_dir()),
                registry = registry.join(", "),
            )
        }
    };
    output::print(&text)?;
    Ok(exit::OK)
}
