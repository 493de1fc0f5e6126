//! Per-test temporary directories.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

static NEXT_ID: AtomicUsize = AtomicUsize::new(0);

/// A unique, short directory `/tmp/pt-<pid>-<n>` (mode 01777) for one test.
///
/// Short because unix socket paths inside it must stay under 108 bytes. Removed on drop, except when
/// the test is panicking: then it is kept and its path printed so the logs can be read. Its marker
/// names every process started on its behalf (see [`crate::support::passenger`]), and dropping it
/// runs the leak check once more.
pub struct TestDir {
    path: PathBuf,
    marker: String,
}

impl TestDir {
    /// Creates a fresh, empty directory.
    pub fn new() -> TestDir {
        let n = NEXT_ID.fetch_add(1, Ordering::SeqCst);
        let pid = std::process::id();
        let path = PathBuf::from(format!("/tmp/pt-{pid}-{n}"));
        // A leftover from a crashed earlier run with a recycled pid must not leak into this test.
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path)
            .unwrap_or_else(|e| panic!("cannot create test dir {}: {e}", path.display()));
        // As root, apps run as the owner of their startup file, and as `nobody` when root owns
        // it (user switching): the marker files apps write here must be creatable by them.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o1777))
            .unwrap_or_else(|e| panic!("cannot chmod test dir {}: {e}", path.display()));
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        TestDir {
            path,
            marker: format!("pt-{pid}-{n}-{nanos:08x}"),
        }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `self.path().join(rel)`.
    pub fn join(&self, rel: &str) -> PathBuf {
        self.path.join(rel)
    }

    /// The value of `PASSENGER_TEST_ID` given to every process started for this test.
    pub fn marker(&self) -> &str {
        &self.marker
    }

    /// Writes `contents` to `rel`, creating parent directories.
    pub fn write(&self, rel: &str, contents: &str) -> PathBuf {
        let p = self.path.join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("invariant: test dir is writable");
        }
        std::fs::write(&p, contents).expect("invariant: test dir is writable");
        p
    }
}

impl Default for TestDir {
    fn default() -> Self {
        TestDir::new()
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        super::process::check_no_leaks(&self.marker, "test dir");
        if std::thread::panicking() {
            eprintln!("test failed; keeping test dir {}", self.path.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}
