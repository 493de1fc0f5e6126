//! `passenger-config restart-app`: restart the apps whose root starts with a prefix
//! (or the group named by `--name`), waiting until their processes are replaced.
//!
//! Owns selecting the groups (a dialoguer menu on a TTY when several match, an
//! error listing them otherwise), the restart requests and the progress spinner.

use std::collections::BTreeSet;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::InstanceArg;
use crate::api_client::{select_instance, ApiClient, Auth};
use crate::applet::Invocation;
use crate::exit::{self, Exit};
use crate::output::{self, Tool, PRODUCT};

/// Restart an application.
///
/// `restart-app /webapps` selects the apps whose root begins with /webapps;
/// `restart-app .` those under the current directory; `restart-app --name GROUP`
/// exactly the app group GROUP. When several apps match, a TTY shows a menu, and
/// without a TTY the command lists them and fails unless --all is given.
#[derive(clap::Args, Debug, Clone)]
pub struct RestartAppArgs {
    /// Restart the apps whose root begins with this prefix (`.` = the current directory).
    #[arg(value_name = "APP_ROOT_PREFIX", conflicts_with = "name")]
    pub prefix: Option<String>,
    /// Restart exactly the app group with this name.
    #[arg(long, value_name = "APP_GROUP_NAME")]
    pub name: Option<String>,
    /// Restart every matching app without asking.
    #[arg(long)]
    pub all: bool,
    /// Replace processes one by one, keeping the app serving (the default is a
    /// blocking restart).
    #[arg(long)]
    pub rolling_restart: bool,
    /// Exit successfully if the specified application is not running.
    #[arg(long)]
    pub ignore_app_not_running: bool,
    /// Exit successfully if passenger-rs is not running.
    #[arg(long)]
    pub ignore_passenger_not_running: bool,
    #[command(flatten)]
    pub instance: InstanceArg,
}

#[derive(Debug, Clone)]
struct Group {
    name: String,
    app_root: String,
}

fn groups(pool: &Value) -> Vec<Group> {
    let mut out: Vec<Group> = pool["groups"]
        .as_array()
        .map(|gs| {
            gs.iter()
                .map(|g| Group {
                    name: g["name"].as_str().unwrap_or_default().to_string(),
                    app_root: g["app_root"].as_str().unwrap_or_default().to_string(),
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// PIDs of the group's processes that still count (not detached).
fn live_pids(pool: &Value, group: &str) -> BTreeSet<u64> {
    pool["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|g| g["name"].as_str() == Some(group))
        .flat_map(|g| g["processes"].as_array().cloned().unwrap_or_default())
        .filter(|p| p["enabled"].as_str() != Some("detached"))
        .filter_map(|p| p["pid"].as_u64())
        .collect()
}

fn fetch_pool(client: &ApiClient) -> anyhow::Result<Value> {
    let resp = client.get("/pool.json", Auth::ReadOnly)?;
    if resp.status == 401 {
        return Err(client.not_authorized("query the apps of", &resp).into());
    }
    if !resp.ok() {
        return Err(client.api_error("list the apps", &resp).into());
    }
    resp.json()
}

/// Runs `restart-app`.
pub fn run(args: &RestartAppArgs, inv: &Invocation) -> anyhow::Result<i32> {
    let instance = match select_instance(
        Tool::Config,
        &inv.command_for("config"),
        args.instance.instance.as_deref(),
        false,
    ) {
        Ok(i) => i,
        Err(e)
            if args.ignore_passenger_not_running
                && e.message.contains("doesn't seem to be running") =>
        {
            eprint!(
                "{}",
                output::not_running(Tool::Config, &inv.command_for("config"), true)
            );
            return Ok(exit::OK);
        }
        Err(e) => return Err(e.into()),
    };
    let client = ApiClient::for_instance(&instance)?;
    let pool = fetch_pool(&client)?;
    let all = groups(&pool);
    let tty = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    let not_running_code = if args.ignore_app_not_running {
        exit::OK
    } else {
        exit::FAILURE
    };

    let selected: Vec<Group> = if let Some(name) = &args.name {
        match all.iter().find(|g| &g.name == name) {
            Some(g) => vec![g.clone()],
            None => {
                eprintln!("There is no {PRODUCT}-served application running with the app group name '{name}'.");
                return Ok(not_running_code);
            }
        }
    } else if let Some(prefix) = &args.prefix {
        let prefix = if prefix == "." {
            std::env::current_dir()?.to_string_lossy().into_owned()
        } else {
            prefix.clone()
        };
        let matching: Vec<Group> = all
            .iter()
            .filter(|g| g.app_root.starts_with(&prefix))
            .cloned()
            .collect();
        match matching.len() {
            0 => {
                eprintln!("There are no {PRODUCT}-served applications running whose paths begin with '{prefix}'.");
                return Ok(not_running_code);
            }
            1 => matching,
            _ if args.all => matching,
            _ if tty => choose(&matching, true)?,
            _ => {
                let list: String = matching.iter().map(|g| format!("  {}\n", g.name)).collect();
                return Err(Exit::new(
                    exit::FAILURE,
                    format!(
                        "Several applications' paths begin with '{prefix}':\n{list}\
                         Pass --name <APP_GROUP_NAME> to restart one of them, or --all to restart them all.\n"
                    ),
                )
                .into());
            }
        }
    } else if tty && !all.is_empty() {
        choose(&all, false)?
    } else {
        return Err(Exit::new(
            exit::FAILURE,
            "Please pass either an app path prefix or an app group name. See --help for more information.\n",
        )
        .into());
    };

    let method = if args.rolling_restart {
        "rolling"
    } else {
        "blocking"
    };
    for group in &selected {
        output::print(&format!("Restarting {}\n", group.name))?;
        restart_one(&client, group, method, &pool)?;
    }
    Ok(exit::OK)
}

/// A menu of `groups`: several can be picked when `multi`.
fn choose(groups: &[Group], multi: bool) -> anyhow::Result<Vec<Group>> {
    let items: Vec<String> = groups
        .iter()
        .map(|g| {
            if g.name == g.app_root {
                g.name.clone()
            } else {
                format!("{} ({})", g.name, g.app_root)
            }
        })
        .collect();
    let theme = dialoguer::theme::SimpleTheme;
    let picked: Vec<usize> = if multi {
        dialoguer::MultiSelect::with_theme(&theme)
            .with_prompt(
                "Which applications do you want to restart? (space toggles, enter confirms)",
            )
            .items(&items)
            .defaults(&vec![true; items.len()])
            .interact_opt()?
            .unwrap_or_default()
    } else {
        dialoguer::Select::with_theme(&theme)
            .with_prompt("Which application do you want to restart?")
            .items(&items)
            .default(0)
            .interact_opt()?
            .into_iter()
            .collect()
    };
    if picked.is_empty() {
        return Err(Exit::new(
            exit::FAILURE,
            "Nothing selected; no application was restarted.\n",
        )
        .into());
    }
    Ok(picked.into_iter().map(|i| groups[i].clone()).collect())
}

fn restart_one(
    client: &ApiClient,
    group: &Group,
    method: &str,
    pool: &Value,
) -> anyhow::Result<()> {
    let old = live_pids(pool, &group.name);
    let spinner = indicatif::ProgressBar::new_spinner();
    spinner.enable_steady_tick(Duration::from_millis(100));
    spinner.set_message(format!("restarting {}...", group.name));
    let resp = client.post_json(
        "/pool/restart_app_group.json",
        &json!({ "name": group.name, "restart_method": method }),
        Auth::Full,
    )?;
    if resp.status == 401 {
        spinner.finish_and_clear();
        return Err(client.not_authorized("restart apps of", &resp).into());
    }
    if !resp.ok() {
        spinner.finish_and_clear();
        return Err(client.api_error("restart the app", &resp).into());
    }
    // The restart request returns once the group is told to restart; old processes
    // drain and new ones spawn after that. Show the replacement as it happens.
    let deadline = Instant::now() + Duration::from_secs(120);
    let total = old.len();
    loop {
        let now_pool = fetch_pool(client)?;
        let live = live_pids(&now_pool, &group.name);
        let replaced = old.iter().filter(|p| !live.contains(p)).count();
        spinner.set_message(format!(
            "restarting {}: {replaced} of {total} processes replaced",
            group.name
        ));
        if replaced == total || Instant::now() >= deadline {
            spinner.finish_with_message(format!(
                "restarted {}: {replaced} of {total} processes replaced",
                group.name
            ));
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Ok(())
}
