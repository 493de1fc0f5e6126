//! Which distribution this is (`/etc/os-release`) and the command that installs a
//! missing dependency there: apt-get, dnf or yum, apk, zypper.
//!
//! Owns: parsing os-release, choosing the package manager and the package names.
//! Does not own: deciding what is missing (see [`crate::checks`]).

use std::collections::BTreeMap;
use std::path::Path;

use crate::checks::Dependency;

/// The fields of `/etc/os-release` the installer uses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OsRelease {
    /// `ID`, e.g. `debian`.
    pub id: String,
    /// `ID_LIKE`, split on spaces.
    pub id_like: Vec<String>,
    /// `VERSION_ID`, e.g. `12`.
    pub version_id: String,
    /// `PRETTY_NAME`, for messages.
    pub pretty_name: String,
}

/// Parses os-release text: `KEY=value` lines, values optionally quoted; comments and
/// blank lines skipped.
pub fn parse_os_release(text: &str) -> OsRelease {
    let mut map = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = value.trim();
        let unquoted = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
            .unwrap_or(value);
        map.insert(key.trim().to_string(), unquoted.replace("\\\"", "\""));
    }
    let get = |k: &str| map.get(k).cloned().unwrap_or_default();
    OsRelease {
        id: get("ID").to_ascii_lowercase(),
        id_like: get("ID_LIKE")
            .split_whitespace()
            .map(str::to_ascii_lowercase)
            .collect(),
        version_id: get("VERSION_ID"),
        pretty_name: get("PRETTY_NAME"),
    }
}

/// Reads `/etc/os-release`, else `/usr/lib/os-release`; `None` when neither is there.
pub fn read_os_release() -> Option<OsRelease> {
    ["/etc/os-release", "/usr/lib/os-release"]
        .iter()
        .find_map(|p| std::fs::read_to_string(Path::new(p)).ok())
        .map(|t| parse_os_release(&t))
}

/// A package manager.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PackageManager {
    /// Debian, Ubuntu and derivatives.
    Apt,
    /// Fedora, RHEL 8+ and derivatives.
    Dnf,
    /// RHEL/CentOS 7 and older.
    Yum,
    /// Alpine.
    Apk,
    /// openSUSE, SLES.
    Zypper,
}

impl OsRelease {
    fn is(&self, family: &str) -> bool {
        self.id == family || self.id_like.iter().any(|l| l == family)
    }

    /// The package manager of this distribution, when we know it.
    pub fn package_manager(&self) -> Option<PackageManager> {
        if self.is("debian") || self.is("ubuntu") {
            Some(PackageManager::Apt)
        } else if self.is("alpine") {
            Some(PackageManager::Apk)
        } else if self.is("suse")
            || self.is("opensuse")
            || self.id.starts_with("opensuse")
            || self.id == "sles"
        {
            Some(PackageManager::Zypper)
        } else if self.is("fedora") || self.is("rhel") || self.is("centos") {
            let major: u32 = self
                .version_id
                .split('.')
                .next()
                .and_then(|m| m.parse().ok())
                .unwrap_or(0);
            // Fedora's versions are all past 8; RHEL-likes got dnf in 8.
            if self.id == "fedora" || major >= 8 {
                Some(PackageManager::Dnf)
            } else {
                Some(PackageManager::Yum)
            }
        } else {
            None
        }
    }
}

/// How to get one dependency with one package manager.
enum Source {
    /// A system package.
    Package(&'static str),
    /// A gem, for distributions that do not package it.
    Gem(&'static str),
    /// Not a package: a sentence saying what to do.
    Advice(&'static str),
}

fn source(pm: PackageManager, dep: Dependency) -> Source {
    use Dependency as D;
    use PackageManager as P;
    match (dep, pm) {
        (D::Compiler, P::Apt) => Source::Package("build-essential"),
        (D::Compiler, P::Apk) => Source::Package("build-base"),
        (D::Compiler, _) => Source::Package("gcc"),
        (D::Apache, P::Dnf | P::Yum) => Source::Package("httpd"),
        (D::Apache, _) => Source::Package("apache2"),
        (D::ApacheDev, P::Apt | P::Apk) => Source::Package("apache2-dev"),
        (D::ApacheDev, P::Dnf | P::Yum) => Source::Package("httpd-devel"),
        (D::ApacheDev, P::Zypper) => Source::Package("apache2-devel"),
        (D::Apr, P::Apt) => Source::Package("libapr1-dev"),
        (D::Apr, P::Dnf | P::Yum) => Source::Package("apr-devel"),
        (D::Apr, P::Apk) => Source::Package("apr-dev"),
        (D::Apr, P::Zypper) => Source::Package("libapr1-devel"),
        (D::Apu, P::Apt) => Source::Package("libaprutil1-dev"),
        (D::Apu, P::Dnf | P::Yum) => Source::Package("apr-util-devel"),
        (D::Apu, P::Apk) => Source::Package("apr-util-dev"),
        (D::Apu, P::Zypper) => Source::Package("libapr-util1-devel"),
        (D::Ruby, _) => Source::Package("ruby"),
        (D::Rack, P::Apt) => Source::Package("ruby-rack"),
        (D::Rack, P::Dnf | P::Yum) => Source::Package("rubygem-rack"),
        (D::Rack, _) => Source::Gem("rack"),
        (D::Python, _) => Source::Package("python3"),
        (D::Node, _) => Source::Package("nodejs"),
        (D::ApacheTooOld, _) => Source::Advice(
            "Apache 2.4 or newer is needed: upgrade Apache (a distribution release from 2014 on ships it).",
        ),
        (D::UnsupportedMpm, _) => Source::Advice(
            "Switch Apache to the event, worker or prefork MPM (Debian: a2dismod <mpm>; a2enmod mpm_event).",
        ),
    }
}

/// The commands (or advice) that install `missing` here. `os` `None` or unknown:
/// the list of what to install, in words. `sudo` is prefixed unless `as_root`.
pub fn install_instructions(
    os: Option<&OsRelease>,
    missing: &[Dependency],
    as_root: bool,
) -> Vec<String> {
    let sudo = if as_root { "" } else { "sudo " };
    let Some(pm) = os.and_then(OsRelease::package_manager) else {
        let mut what: Vec<&str> = Vec::new();
        for dep in missing {
            if !what.contains(&dep.describe()) {
                what.push(dep.describe());
            }
        }
        return vec![format!(
            "Install with your system's package manager: {}.",
            what.join(", ")
        )];
    };
    let mut packages: Vec<&str> = Vec::new();
    let mut gems: Vec<&str> = Vec::new();
    let mut advice: Vec<String> = Vec::new();
    for dep in missing {
        match source(pm, *dep) {
            Source::Package(p) if !packages.contains(&p) => packages.push(p),
            Source::Gem(g) if !gems.contains(&g) => gems.push(g),
            Source::Advice(a) if !advice.iter().any(|x| x == a) => advice.push(a.to_string()),
            _ => {}
        }
    }
    let mut out = Vec::new();
    if !packages.is_empty() {
        let list = packages.join(" ");
        out.push(match pm {
            PackageManager::Apt => format!("{sudo}apt-get install -y {list}"),
            PackageManager::Dnf => format!("{sudo}dnf install -y {list}"),
            PackageManager::Yum => format!("{sudo}yum install -y {list}"),
            PackageManager::Apk => format!("{sudo}apk add {list}"),
            PackageManager::Zypper => format!("{sudo}zypper install -y {list}"),
        });
    }
    if !gems.is_empty() {
        out.push(format!("{sudo}gem install {}", gems.join(" ")));
    }
    out.extend(advice);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Dependency as D;

    fn os(name: &str) -> OsRelease {
        let text = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join(format!("tests/fixtures/os-release-{name}.txt")),
        )
        .expect("fixture");
        parse_os_release(&text)
    }

    #[test]
    fn parses_quoted_and_bare_values() {
        let d = os("debian");
        assert_eq!(d.id, "debian");
        assert_eq!(d.version_id, "12");
        assert_eq!(d.pretty_name, "Debian GNU/Linux 12 (bookworm)");
        let r = os("rocky");
        assert_eq!(r.id, "rocky");
        assert_eq!(r.id_like, vec!["rhel", "centos", "fedora"]);
        assert_eq!(r.version_id, "9.4");
        let e = parse_os_release("# comment\n\nID='arch'\nbroken line\n");
        assert_eq!(e.id, "arch");
    }

    #[test]
    fn picks_the_package_manager() {
        assert_eq!(os("debian").package_manager(), Some(PackageManager::Apt));
        assert_eq!(os("ubuntu").package_manager(), Some(PackageManager::Apt));
        assert_eq!(os("rocky").package_manager(), Some(PackageManager::Dnf));
        assert_eq!(os("centos7").package_manager(), Some(PackageManager::Yum));
        assert_eq!(os("alpine").package_manager(), Some(PackageManager::Apk));
        assert_eq!(
            os("opensuse").package_manager(),
            Some(PackageManager::Zypper)
        );
        assert_eq!(parse_os_release("ID=arch\n").package_manager(), None);
    }

    #[test]
    fn one_command_per_manager_with_deduplicated_packages() {
        let missing = [D::Compiler, D::ApacheDev, D::Apr, D::Apu, D::Rack];
        assert_eq!(
            install_instructions(Some(&os("debian")), &missing, true),
            vec!["apt-get install -y build-essential apache2-dev libapr1-dev libaprutil1-dev ruby-rack"]
        );
        assert_eq!(
            install_instructions(Some(&os("rocky")), &missing, false),
            vec!["sudo dnf install -y gcc httpd-devel apr-devel apr-util-devel rubygem-rack"]
        );
        assert_eq!(
            install_instructions(Some(&os("centos7")), &[D::ApacheDev], true),
            vec!["yum install -y httpd-devel"]
        );
        assert_eq!(
            install_instructions(Some(&os("alpine")), &missing, true),
            vec![
                "apk add build-base apache2-dev apr-dev apr-util-dev",
                "gem install rack"
            ]
        );
        assert_eq!(
            install_instructions(Some(&os("opensuse")), &[D::ApacheDev, D::Node], false),
            vec!["sudo zypper install -y apache2-devel nodejs"]
        );
    }

    #[test]
    fn advice_and_unknown_distributions_are_words() {
        let out = install_instructions(Some(&os("debian")), &[D::UnsupportedMpm], true);
        assert_eq!(out.len(), 1);
        assert!(out[0].contains("event, worker or prefork"), "{out:?}");
        let out = install_instructions(None, &[D::ApacheDev, D::Apr], true);
        assert_eq!(
            out,
            vec![
                "Install with your system's package manager: Apache 2 development headers (apxs), \
                  APR development headers."
            ]
        );
    }
}
