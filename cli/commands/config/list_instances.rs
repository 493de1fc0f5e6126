//! `passenger-config list-instances`: the running instances as a table or JSON.

use passenger_core::instance::{list_instances, registry_search_dirs};

use crate::exit;
use crate::output::{self, PRODUCT};

/// List running passenger-rs instances.
#[derive(clap::Args, Debug, Clone)]
pub struct ListInstancesArgs {
    /// Print a JSON array: each instance's properties.json plus `instance_dir.path` and `core_pid`.
    #[arg(long)]
    pub json: bool,
    /// Print nothing when no instance is running.
    #[arg(short, long)]
    pub quiet: bool,
}

/// Runs `list-instances`.
pub fn run(args: &ListInstancesArgs) -> anyhow::Result<i32> {
    let scan = list_instances(&registry_search_dirs());
    for path in &scan.cleaned {
        eprintln!("*** Cleaning stale instance directory {}", path.display());
    }
    if args.json {
        let docs: Vec<serde_json::Value> = scan
            .instances
            .iter()
            .map(|i| {
                let mut doc = i.properties.clone();
                if let Some(dir) = doc.get_mut("instance_dir").and_then(|d| d.as_object_mut()) {
                    dir.insert("path".into(), i.path.to_string_lossy().into_owned().into());
                }
                if let Some(map) = doc.as_object_mut() {
                    map.insert("core_pid".into(), i.core_pid.into());
                }
                doc
            })
            .collect();
        output::print(&format!("{}\n", serde_json::to_string(&docs)?))?;
    } else if scan.instances.is_empty() {
        if !args.quiet {
            output::print(&format!("There are no {PRODUCT} instances running.\n"))?;
        }
    } else {
        output::print(&output::instance_table(&scan.instances))?;
    }
    Ok(exit::OK)
}
