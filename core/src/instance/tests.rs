use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::*;

fn registry() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("preg")
        .tempdir_in("/tmp")
        .expect("tempdir")
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).expect("metadata").permissions().mode() & 0o7777
}

#[test]
fn create_writes_the_original_layout() {
    let reg = registry();
    let inst = Instance::create(Some(reg.path()), InstanceProperties::default()).expect("create");
    let dir = inst.path().to_path_buf();
    let base = dir
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    assert!(base.starts_with("passenger."));
    let suffix = &base["passenger.".len()..];
    assert_eq!(suffix.len(), 7);
    assert!(suffix.chars().all(|c| c.is_ascii_alphanumeric()));
    assert_eq!(mode(&dir), 0o755);
    assert_eq!(mode(&dir.join("apps.s")), 0o700);
    let agents = if nix::unistd::geteuid().is_root() {
        0o755
    } else {
        0o700
    };
    assert_eq!(mode(&dir.join("agents.s")), agents);
    for file in ["read_only_admin_password.txt", "full_admin_password.txt"] {
        let pw = fs::read_to_string(dir.join(file)).expect("password");
        assert_eq!(pw.len(), 24);
        assert!(pw.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_eq!(mode(&dir.join(file)), 0o600);
    }
    assert_eq!(
        fs::read_to_string(dir.join("full_admin_password.txt")).expect("pw"),
        inst.full_admin_password()
    );
    assert!(dir.join("creation_finalized").is_file());
    let pid = std::process::id().to_string();
    assert_eq!(
        fs::read_to_string(dir.join("core.pid")).expect("core.pid"),
        pid
    );
    assert_eq!(
        fs::read_to_string(dir.join("watchdog.pid")).expect("watchdog.pid"),
        pid
    );
    assert!(dir.join("lock").is_file());
    assert!(!dir.join("properties.json.tmp").exists());

    let props: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(dir.join("properties.json")).expect("props"))
            .expect("json");
    assert_eq!(props["instance_dir"]["major_version"], 4);
    assert_eq!(props["instance_dir"]["minor_version"], 0);
    assert!(
        props["instance_dir"]["created_at"]
            .as_u64()
            .expect("created_at")
            > 0
    );
    assert!(props["instance_dir"]["created_at_monotonic_usec"].is_u64());
    assert_eq!(props["name"], inst.name());
    assert_eq!(inst.name().len(), 8);
    assert_eq!(props["integration_mode"], "standalone");
    assert_eq!(props["standalone_engine"], "builtin");
    assert_eq!(props["server_software"], crate::SERVER_SOFTWARE);
    assert_eq!(props["passenger_version"], crate::VERSION);
    assert_eq!(props["watchdog_pid"], std::process::id());
    assert_eq!(props["core_pid"], std::process::id());
    assert_eq!(props["listen_addresses"], serde_json::json!([]));
    assert_eq!(
        props["core_api_socket"],
        dir.join("agents.s/core_api").to_string_lossy().as_ref()
    );
    let id = props["instance_id"].as_str().expect("id");
    assert_eq!(id.split('-').count(), 3);

    inst.remove().expect("remove");
    assert!(!dir.exists());
}

#[test]
fn update_properties_rewrites_the_file() {
    let reg = registry();
    let mut inst =
        Instance::create(Some(reg.path()), InstanceProperties::default()).expect("create");
    inst.update_properties(|p| p.listen_addresses = vec!["http://127.0.0.1:3000".into()])
        .expect("update");
    let text = fs::read_to_string(inst.path().join("properties.json")).expect("read");
    let props: serde_json::Value = serde_json::from_str(&text).expect("json");
    assert_eq!(
        props["listen_addresses"],
        serde_json::json!(["http://127.0.0.1:3000"])
    );
    assert!(!inst.path().join("properties.json.tmp").exists());
}

#[test]
fn drop_removes_the_directory() {
    let reg = registry();
    let dir = {
        let inst =
            Instance::create(Some(reg.path()), InstanceProperties::default()).expect("create");
        inst.path().to_path_buf()
    };
    assert!(!dir.exists());
}

#[test]
fn too_long_registry_path_is_refused() {
    let long = PathBuf::from(format!("/tmp/{}", "x".repeat(80)));
    let err = Instance::create(Some(&long), InstanceProperties::default()).expect_err("too long");
    match &err {
        InstanceError::RegistryPathTooLong {
            registry, limit, ..
        } => {
            assert_eq!(registry, &long);
            assert_eq!(*limit, 107);
        }
        other => panic!("unexpected error {other:?}"),
    }
    let text = err.to_string();
    assert!(text.contains(&long.display().to_string()));
    assert!(text.contains("107"));
}

#[test]
fn missing_registry_is_an_error() {
    let err = Instance::create(
        Some(Path::new("/nonexistent-registry-dir")),
        InstanceProperties::default(),
    )
    .expect_err("missing");
    assert!(matches!(err, InstanceError::Registry { .. }));
}

/// The pid of a process that has exited and been reaped.
fn dead_pid() -> u32 {
    let mut child = std::process::Command::new("true")
        .spawn()
        .expect("spawn true");
    let pid = child.id();
    child.wait().expect("wait for true");
    pid
}

/// A complete copy of `live` named `name` that nobody locks, as a crashed server of
/// ours leaves it: its owner marker names `owner` (and `core.pid` says `core`).
fn stale_copy(live: &Instance, name: &str, owner: u32, core: u32) -> PathBuf {
    let stale = live.path().with_file_name(name);
    fs::create_dir(&stale).expect("mkdir");
    for entry in ["agents.s", "apps.s"] {
        fs::create_dir(stale.join(entry)).expect("mkdir");
    }
    for entry in ["lock", "creation_finalized", "properties.json"] {
        fs::copy(live.path().join(entry), stale.join(entry)).expect("copy");
    }
    let marker = serde_json::json!({"product": OWNER_PRODUCT, "pid": owner});
    fs::write(stale.join(OWNER_MARKER), marker.to_string()).expect("marker");
    fs::write(stale.join("core.pid"), core.to_string()).expect("core.pid");
    stale
}

#[test]
fn create_writes_an_owner_marker_naming_this_process() {
    let reg = registry();
    let inst = Instance::create(Some(reg.path()), InstanceProperties::default()).expect("create");
    let text = fs::read_to_string(inst.path().join(OWNER_MARKER)).expect("marker");
    let marker: serde_json::Value = serde_json::from_str(&text).expect("json");
    assert_eq!(marker["product"], "passenger-rs");
    assert_eq!(marker["pid"], std::process::id());
    assert_eq!(
        marker["pid_start_time"].as_u64(),
        crate::metrics::process_start_time(std::process::id())
    );
}

#[test]
fn live_instance_is_listed_and_stale_ones_of_ours_are_cleaned() {
    let reg = registry();
    let dirs = vec![reg.path().to_path_buf()];
    let live = Instance::create(Some(reg.path()), InstanceProperties::default()).expect("create");
    let dead = dead_pid();
    let stale = stale_copy(&live, "passenger.STALE01", dead, dead);
    // Something that is not an instance at all stays.
    let other = reg.path().join("unrelated");
    fs::create_dir(&other).expect("mkdir");

    let scan = list_instances(&dirs);
    assert_eq!(scan.instances.len(), 1);
    let info = &scan.instances[0];
    assert_eq!(info.name, live.name());
    assert_eq!(info.path, live.path());
    assert_eq!(info.watchdog_pid, std::process::id());
    assert_eq!(info.core_api_socket, live.core_api_socket_path());
    assert_eq!(
        info.read_only_admin_password().as_deref(),
        Some(live.read_only_admin_password())
    );
    assert_eq!(scan.cleaned, vec![stale.clone()]);
    assert!(!stale.exists());
    assert!(other.exists());
    assert!(live.path().exists());

    // After the owner goes away its directory is gone too.
    drop(live);
    assert!(list_instances(&dirs).instances.is_empty());
}

#[test]
fn directories_that_are_not_provably_stale_instances_of_ours_stay() {
    let reg = registry();
    let dirs = vec![reg.path().to_path_buf()];
    let live = Instance::create(Some(reg.path()), InstanceProperties::default()).expect("create");
    let dead = dead_pid();
    let mut keep = Vec::new();

    // No lock, no marker: an empty directory (one being created looks like this), an
    // unrelated `passenger.*` directory and one of our spawn directories.
    for name in [
        "passenger.CORRUPT",
        "passenger.my-notes",
        "passenger.spawn.00ab12cd34ef5678",
    ] {
        let path = reg.path().join(name);
        fs::create_dir(&path).expect("mkdir");
        keep.push(path);
    }
    fs::write(reg.path().join("passenger.my-notes/todo.txt"), "mine").expect("write");
    // The original Passenger's stale directory: its layout, a free lock, a dead
    // watchdog, no marker of ours.
    let original = stale_copy(&live, "passenger.Orig123", dead, dead);
    fs::remove_file(original.join(OWNER_MARKER)).expect("rm marker");
    keep.push(original);
    // A marker that names another product.
    let foreign = stale_copy(&live, "passenger.Forn123", dead, dead);
    fs::write(foreign.join(OWNER_MARKER), r#"{"product":"other","pid":1}"#).expect("marker");
    keep.push(foreign);
    // Ours with a free lock but a creator that still runs (this process).
    keep.push(stale_copy(
        &live,
        "passenger.Alive12",
        std::process::id(),
        dead,
    ));
    // Ours whose creator is gone but whose core still runs.
    keep.push(stale_copy(
        &live,
        "passenger.CoreUp1",
        dead,
        std::process::id(),
    ));
    // A marker that is a symlink to a marker elsewhere.
    let linked = stale_copy(&live, "passenger.Linkd12", dead, dead);
    let elsewhere = reg.path().join("marker-elsewhere");
    fs::rename(linked.join(OWNER_MARKER), &elsewhere).expect("move marker");
    std::os::unix::fs::symlink(&elsewhere, linked.join(OWNER_MARKER)).expect("symlink");
    keep.push(linked);

    let scan = list_instances(&dirs);
    assert!(scan.cleaned.is_empty(), "cleaned {:?}", scan.cleaned);
    for path in &keep {
        assert!(path.exists(), "{} was removed", path.display());
    }
    assert_eq!(
        fs::read_to_string(reg.path().join("passenger.my-notes/todo.txt")).expect("read"),
        "mine"
    );
    assert_eq!(scan.instances.len(), 1);
}

#[test]
fn cleaning_never_follows_symlinks() {
    let reg = registry();
    let dirs = vec![reg.path().to_path_buf()];
    let live = Instance::create(Some(reg.path()), InstanceProperties::default()).expect("create");
    let dead = dead_pid();
    let outside = tempfile::tempdir_in("/tmp").expect("tempdir");
    fs::write(outside.path().join("precious"), "keep").expect("write");

    // A stale instance of ours with a symlink inside pointing outside.
    let stale = stale_copy(&live, "passenger.Stale02", dead, dead);
    std::os::unix::fs::symlink(outside.path(), stale.join("apps.s/link")).expect("symlink");
    // A symlink named like an instance, pointing at a stale instance of ours elsewhere.
    let target = stale_copy(&live, "passenger.Target1", dead, dead);
    let hidden = outside.path().join("passenger.Target1");
    fs::rename(&target, &hidden).expect("move");
    let link = reg.path().join("passenger.SymLnk1");
    std::os::unix::fs::symlink(&hidden, &link).expect("symlink");

    // A stale-looking instance of ours whose lock is a symlink (to a free lock elsewhere): not a
    // lock it may judge, so it stays.
    let linked_lock = stale_copy(&live, "passenger.LinkLk1", dead, dead);
    let free_lock = outside.path().join("free-lock");
    fs::rename(linked_lock.join("lock"), &free_lock).expect("move lock");
    std::os::unix::fs::symlink(&free_lock, linked_lock.join("lock")).expect("symlink");

    let scan = list_instances(&dirs);
    assert_eq!(scan.cleaned, vec![stale.clone()]);
    assert!(!stale.exists());
    assert!(
        linked_lock.join(OWNER_MARKER).exists(),
        "a symlinked lock stays"
    );
    assert_eq!(
        fs::read_to_string(outside.path().join("precious")).expect("read"),
        "keep"
    );
    assert!(
        hidden.join(OWNER_MARKER).exists(),
        "the link's target stays"
    );
    assert!(fs::symlink_metadata(&link).is_ok(), "the link stays");
}

#[test]
fn locked_but_unfinished_directory_is_left_alone() {
    let reg = registry();
    let live = Instance::create(Some(reg.path()), InstanceProperties::default()).expect("create");
    fs::remove_file(live.path().join("creation_finalized")).expect("rm");
    let scan = list_instances(&[reg.path().to_path_buf()]);
    assert!(scan.instances.is_empty());
    assert!(scan.cleaned.is_empty());
    assert!(live.path().exists());
}

#[test]
fn find_by_prefix() {
    let reg = registry();
    let dirs = vec![reg.path().to_path_buf()];
    assert!(matches!(
        find_instance_in(&dirs, None).0,
        Err(InstanceError::NoInstance)
    ));
    let a = Instance::create(Some(reg.path()), InstanceProperties::default()).expect("a");
    let found = find_instance_in(&dirs, None).0.expect("single");
    assert_eq!(found.name, a.name());

    let b = Instance::create(Some(reg.path()), InstanceProperties::default()).expect("b");
    match find_instance_in(&dirs, None).0 {
        Err(InstanceError::Ambiguous { mut names, .. }) => {
            names.sort();
            let mut expected = vec![a.name().to_string(), b.name().to_string()];
            expected.sort();
            assert_eq!(names, expected);
        }
        other => panic!("expected ambiguity, got {other:?}"),
    }
    // Full names and unique prefixes select.
    assert_eq!(
        find_instance_in(&dirs, Some(b.name()))
            .0
            .expect("exact")
            .name,
        b.name()
    );
    let unique_prefix = (1..=8)
        .map(|n| &a.name()[..n])
        .find(|p| !b.name().starts_with(p))
        .expect("names differ");
    assert_eq!(
        find_instance_in(&dirs, Some(unique_prefix))
            .0
            .expect("prefix")
            .name,
        a.name()
    );
    assert!(matches!(
        find_instance_in(&dirs, Some("#nosuch")).0,
        Err(InstanceError::UnknownName(n)) if n == "#nosuch"
    ));
    assert!(matches!(
        find_instance_in(&dirs, Some("")).0,
        Err(InstanceError::Ambiguous { .. })
    ));
    assert!(find_instance_by_pid(&dirs, 0).0.is_err());
}

#[test]
fn the_search_path_follows_the_environment_and_finds_web_servers_private_tmp() {
    use std::ffi::OsString;
    let tmp = registry();
    let instreg = PathBuf::from("/var/run/passenger-instreg");
    // The variable alone, when set and not empty.
    assert_eq!(
        registry::search_dirs(Some(OsString::from("/srv/reg")), None, tmp.path()),
        vec![PathBuf::from("/srv/reg")]
    );
    let defaults = vec![tmp.path().to_path_buf(), instreg.clone()];
    assert_eq!(
        registry::search_dirs(Some(OsString::new()), Some(OsString::new()), tmp.path()),
        defaults,
        "empty variables count as unset"
    );
    // TMPDIR first; the same directory twice (here through a symlink) is searched once.
    let other = registry();
    assert_eq!(
        registry::search_dirs(None, Some(other.path().into()), tmp.path()),
        vec![
            other.path().to_path_buf(),
            tmp.path().to_path_buf(),
            instreg.clone()
        ]
    );
    let link = other.path().join("tmp-link");
    std::os::unix::fs::symlink(tmp.path(), &link).expect("symlink");
    assert_eq!(
        registry::search_dirs(None, Some(link.clone().into()), tmp.path()),
        vec![link, instreg.clone()]
    );
    // systemd's private /tmp of a web server, and nothing else that looks alike.
    for name in [
        "systemd-private-ab12-nginx.service-Xy9",
        "systemd-private-ab12-apache2.service-Q1",
        "systemd-private-ab12-redis.service-Zz",
        "other-ab12-httpd.service-Zz",
    ] {
        fs::create_dir(tmp.path().join(name)).expect("mkdir");
    }
    assert_eq!(
        registry::search_dirs(None, None, tmp.path()),
        vec![
            tmp.path().to_path_buf(),
            instreg,
            tmp.path()
                .join("systemd-private-ab12-apache2.service-Q1/tmp"),
            tmp.path()
                .join("systemd-private-ab12-nginx.service-Xy9/tmp"),
        ]
    );
}

#[test]
fn instance_directory_names_are_passenger_dot_seven_letters_or_digits() {
    assert!(registry::is_instance_dir_name("passenger.Ab3dE6g"));
    for name in [
        "passenger.Ab3dE6",
        "passenger.Ab3dE6gh",
        "passenger.Ab-dE6g",
        "passenger.Ab3dE6g0a",
        "passenger.spawn.00ab12cd",
        "passenger",
        "pasenger.Ab3dE6g",
    ] {
        assert!(!registry::is_instance_dir_name(name), "{name}");
    }
}

#[test]
fn a_stale_instance_of_ours_is_cleaned_only_under_an_instance_name() {
    let reg = registry();
    let dirs = vec![reg.path().to_path_buf()];
    let live = Instance::create(Some(reg.path()), InstanceProperties::default()).expect("create");
    let dead = dead_pid();
    let misnamed: Vec<PathBuf> = ["passenger.Stal-01", "passenger.Stale0001"]
        .iter()
        .map(|name| stale_copy(&live, name, dead, dead))
        .collect();
    // Without a lock file the lock is free too: a stale instance of ours all the same.
    let lockless = stale_copy(&live, "passenger.NoLock1", dead, dead);
    fs::remove_file(lockless.join("lock")).expect("rm lock");
    let scan = list_instances(&dirs);
    assert_eq!(scan.cleaned, vec![lockless]);
    for path in &misnamed {
        assert!(path.exists(), "{} was removed", path.display());
    }
}

#[test]
fn a_recycled_creator_pid_does_not_keep_a_stale_instance() {
    let reg = registry();
    let dirs = vec![reg.path().to_path_buf()];
    let live = Instance::create(Some(reg.path()), InstanceProperties::default()).expect("create");
    let dead = dead_pid();
    let me = std::process::id();
    let started = crate::metrics::process_start_time(me).expect("own start time");
    let marker = |path: &Path, start: u64| {
        let marker =
            serde_json::json!({"product": OWNER_PRODUCT, "pid": me, "pid_start_time": start});
        fs::write(path.join(OWNER_MARKER), marker.to_string()).expect("marker");
    };
    // The creator is this very process (same pid, same start time): not stale.
    let mine = stale_copy(&live, "passenger.Mine123", me, dead);
    marker(&mine, started);
    // The pid now belongs to another process (this one, started at another time).
    let recycled = stale_copy(&live, "passenger.Recy123", me, dead);
    marker(&recycled, started + 1);
    let scan = list_instances(&dirs);
    assert_eq!(scan.cleaned, vec![recycled]);
    assert!(mine.exists());
}

#[test]
fn an_incomplete_or_nameless_live_instance_is_not_listed() {
    let reg = registry();
    let dirs = vec![reg.path().to_path_buf()];
    let live = Instance::create(Some(reg.path()), InstanceProperties::default()).expect("create");
    assert_eq!(list_instances(&dirs).instances.len(), 1);
    for dir in ["agents.s", "apps.s"] {
        let path = live.path().join(dir);
        let aside = live.path().join(format!("{dir}.aside"));
        fs::rename(&path, &aside).expect("move aside");
        assert!(list_instances(&dirs).instances.is_empty(), "without {dir}");
        fs::rename(&aside, &path).expect("move back");
    }
    let mut live = live;
    live.update_properties(|p| p.server_software = String::new())
        .expect("update");
    assert!(
        list_instances(&dirs).instances.is_empty(),
        "without server_software"
    );
}

#[test]
fn instances_are_found_by_watchdog_or_core_pid_and_expose_both_passwords() {
    let reg = registry();
    let dirs = vec![reg.path().to_path_buf()];
    let mut live =
        Instance::create(Some(reg.path()), InstanceProperties::default()).expect("create");
    let core = dead_pid();
    live.update_properties(|p| p.core_pid = core)
        .expect("update");
    let me = std::process::id();
    let by_watchdog = find_instance_by_pid(&dirs, me).0.expect("by watchdog pid");
    assert_eq!(by_watchdog.name, live.name());
    assert_eq!(by_watchdog.watchdog_pid, me);
    assert_eq!(by_watchdog.core_pid, Some(core));
    let by_core = find_instance_by_pid(&dirs, core).0.expect("by core pid");
    assert_eq!(by_core.name, live.name());
    assert_eq!(
        by_core.full_admin_password().as_deref(),
        Some(live.full_admin_password())
    );
    assert_eq!(
        by_core.read_only_admin_password().as_deref(),
        Some(live.read_only_admin_password())
    );
}
