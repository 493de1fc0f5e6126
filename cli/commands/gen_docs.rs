//! `passenger generate-docs DIR` (hidden): writes the shell completions and man
//! pages of every command name from the one clap tree. The integration test
//! compares them with the committed `completions/` and `man/`.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap_complete::Shell;

use crate::applet::{applet_command, APPLETS};
use crate::exit;

/// Write completions (DIR/completions) and man pages (DIR/man).
#[derive(clap::Args, Debug, Clone)]
pub struct GenerateDocsArgs {
    /// Output directory; `completions/` and `man/` are created in it.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
}

/// Runs `generate-docs` with `root` being the whole `passenger` command tree.
pub fn run(args: &GenerateDocsArgs, root: clap::Command) -> anyhow::Result<i32> {
    let completions = args.dir.join("completions");
    let man = args.dir.join("man");
    for d in [&completions, &man] {
        std::fs::create_dir_all(d).with_context(|| format!("cannot create {}", d.display()))?;
    }
    let root = root.bin_name("passenger");
    let mut commands = vec![("passenger".to_string(), root.clone())];
    for (name, sub) in APPLETS {
        commands.push((name.to_string(), applet_command(&root, sub, name)));
    }
    for (name, cmd) in &commands {
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            let file = match shell {
                Shell::Bash => format!("{name}.bash"),
                Shell::Zsh => format!("_{name}"),
                _ => format!("{name}.fish"),
            };
            let mut buf = Vec::new();
            clap_complete::generate(shell, &mut cmd.clone(), name.clone(), &mut buf);
            write(&completions.join(file), &buf)?;
        }
    }
    // One page per command: passenger.1, passenger-start.1, ..., passenger-config-restart-app.1.
    // The applet pages (passenger-status.1) are the same commands under their link names.
    write_pages(&man, "passenger", &root)?;
    // Applets whose name is not `passenger-<subcommand>` get a page of their own
    // too (start_server.1).
    for (name, sub) in APPLETS {
        if *name != format!("passenger-{sub}") {
            write_pages(&man, name, &applet_command(&root, sub, name))?;
        }
    }
    Ok(exit::OK)
}

fn write_pages(dir: &Path, page: &str, cmd: &clap::Command) -> anyhow::Result<()> {
    let cmd = cmd
        .clone()
        .name(page.to_string())
        .display_name(page.to_string());
    let mut buf = Vec::new();
    clap_mangen::Man::new(cmd.clone()).render(&mut buf)?;
    write(&dir.join(format!("{page}.1")), &buf)?;
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        if sub.get_name() == "help" {
            continue;
        }
        write_pages(dir, &format!("{page}-{}", sub.get_name()), sub)?;
    }
    Ok(())
}

fn write(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))
}
