//! App loading failures, with friendly and plain error pages.

use crate::support::apps::{copy_app, require_python, require_rack};
use crate::support::{deadline, get, start_app, Request, TestDir};

/// One way for an app to fail to start, and what its pages must show.
struct Failure {
    /// Fixture app name.
    app: &'static str,
    /// Extra flags (e.g. a short start timeout).
    flags: &'static [&'static str],
    /// In the friendly page (the error message or the app's output), never in the plain one.
    marker: &'static str,
    /// Backtrace fragments the friendly page shows.
    backtrace: &'static [&'static str],
    /// Text of the "Failed step" row.
    step: &'static str,
    /// Further text the friendly page shows (e.g. captured output).
    also: &'static [&'static str],
}

fn unescape(html: &str) -> String {
    html.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&amp;", "&")
}

fn error_id(body: &str) -> String {
    let start = body
        .find("<span class=\"id\">")
        .map(|i| i + "<span class=\"id\">".len())
        .unwrap_or_else(|| panic!("no error ID in {body}"));
    let len = body[start..]
        .find('<')
        .unwrap_or_else(|| panic!("unterminated error ID in {body}"));
    let id = body[start..start + len].to_string();
    assert!(!id.is_empty(), "empty error ID in {body}");
    id
}

fn table_cell<'a>(body: &'a str, header: &str) -> &'a str {
    let key = format!("<th>{header}</th><td>");
    let start = body
        .find(&key)
        .map(|i| i + key.len())
        .unwrap_or_else(|| panic!("no {header:?} row in {body}"));
    let len = body[start..]
        .find("</td>")
        .unwrap_or_else(|| panic!("unterminated {header:?} cell in {body}"));
    &body[start..start + len]
}

/// Starts the failing app and checks its page; `friendly` picks the development default
/// (friendly) or production (plain). Ruby apps use `spawn_method`.
fn check_failure(f: &Failure, spawn_method: Option<&str>, friendly: bool) {
    if f.app.starts_with("rack") {
        require_rack();
    } else {
        require_python();
    }
    let dir = TestDir::new();
    let root = copy_app(&dir, f.app);
    let mut flags: Vec<&str> = f.flags.to_vec();
    // A secret of the app's own: the page lists the variable but not its value.
    flags.extend(["--envvar", "SECRET_KEY_BASE=topsecret-value"]);
    if let Some(method) = spawn_method {
        flags.extend(["--spawn-method", method]);
    }
    if !friendly {
        flags.extend(["-e", "production"]);
    }
    let server = start_app(&dir, &root, &flags);
    let resp = Request::new("GET", "/")
        .timeout(deadline() * 2)
        .send(server.addr)
        .expect("GET /");
    assert_eq!(resp.status, 500, "{}", resp.text());
    assert!(
        resp.header("content-type")
            .is_some_and(|t| t.starts_with("text/html")),
        "{:?}",
        resp.headers
    );
    let raw = resp.text();
    let body = unescape(&raw);
    let id = error_id(&raw);
    let root_text = root.display().to_string();
    if friendly {
        assert!(
            body.contains(f.marker),
            "error message {:?} in {body}",
            f.marker
        );
        for frame in f.backtrace {
            assert!(body.contains(frame), "backtrace frame {frame:?} in {body}");
        }
        let step = table_cell(&raw, "Failed step");
        assert!(
            !step.trim().is_empty() && step.contains(f.step),
            "step {:?} in {body}",
            f.step
        );
        assert_eq!(unescape(table_cell(&raw, "App root")), root_text);
        let user = table_cell(&raw, "User and group");
        assert!(
            !user.trim().is_empty() && user.contains("group"),
            "user and group: {user:?}"
        );
        assert!(
            body.contains("Application output"),
            "captured output: {body}"
        );
        for text in f.also {
            assert!(body.contains(text), "{text:?} in {body}");
        }
        assert!(body.contains("Environment variables"), "{body}");
        assert!(
            !body.contains("PASSENGER_CONNECT_PASSWORD") && !body.contains("topsecret-value"),
            "no secret on the page: {body}"
        );
        assert!(body.contains("SECRET_KEY_BASE"), "{body}");
        assert!(
            body.contains("PASSENGER_APP_ENV") && body.contains("development"),
            "the app's environment: {body}"
        );
    } else {
        assert!(
            body.contains("We're sorry, but something went wrong"),
            "apology: {body}"
        );
        assert!(!body.contains(f.marker), "leaks the error: {body}");
        assert!(!body.contains(&root_text), "leaks the app root: {body}");
        assert!(!body.contains("Environment variables"), "{body}");
        for text in f.also {
            assert!(!body.contains(text), "leaks {text:?}: {body}");
        }
    }
    let log = server.log();
    assert!(log.contains(&id), "the log names error ID {id}:\n{log}");
    assert!(
        log.contains(f.marker),
        "the log has the details ({:?}):\n{log}",
        f.marker
    );
}

const RACK_RAISE: Failure = Failure {
    app: "rack_raise",
    flags: &[],
    marker: "ArgumentError: RACK_RAISE_MARKER: the app refuses to load",
    backtrace: &["config.ru:3:in `load_things'", "config.ru:6"],
    step: "APP_LOAD",
    also: &["RACK_RAISE_OUTPUT before raising"],
};

const RACK_SYNTAX: Failure = Failure {
    app: "rack_syntax",
    flags: &[],
    marker: "syntax error",
    backtrace: &["config.ru:2"],
    step: "APP_LOAD",
    also: &[],
};

const RACK_MISSING_GEM: Failure = Failure {
    app: "rack_missing_gem",
    flags: &[],
    marker: "cannot load such file -- passenger_rs_no_such_gem_marker",
    backtrace: &["config.ru:2"],
    step: "APP_LOAD",
    also: &[],
};

const RACK_EXIT: Failure = Failure {
    app: "rack_exit",
    flags: &[],
    marker: "RACK_EXIT_MARKER going away",
    backtrace: &[],
    step: "",
    also: &["exited prematurely", "code 3"],
};

const RACK_SLOW: Failure = Failure {
    app: "rack_slow",
    flags: &["--start-timeout", "2"],
    marker: "RACK_SLOW_MARKER loading slowly",
    backtrace: &[],
    step: "",
    also: &["start timeout"],
};

const WSGI_RAISE: Failure = Failure {
    app: "wsgi_raise",
    flags: &[],
    marker: "ValueError: WSGI_RAISE_MARKER: the app refuses to load",
    backtrace: &["passenger_wsgi.py\", line 6, in load_things"],
    step: "APP_LOAD",
    also: &["WSGI_RAISE_OUTPUT before raising"],
};

const WSGI_SYNTAX: Failure = Failure {
    app: "wsgi_syntax",
    flags: &[],
    marker: "SyntaxError",
    backtrace: &["passenger_wsgi.py\", line 2"],
    step: "APP_LOAD",
    also: &[],
};

const WSGI_MISSING_MODULE: Failure = Failure {
    app: "wsgi_missing_module",
    flags: &[],
    marker: "No module named 'passenger_rs_no_such_module_marker'",
    backtrace: &["passenger_wsgi.py\", line 2"],
    step: "APP_LOAD",
    also: &[],
};

const WSGI_EXIT: Failure = Failure {
    app: "wsgi_exit",
    flags: &[],
    marker: "WSGI_EXIT_MARKER going away",
    backtrace: &[],
    step: "",
    also: &["exited prematurely", "code 3"],
};

const WSGI_SLOW: Failure = Failure {
    app: "wsgi_slow",
    flags: &["--start-timeout", "2"],
    marker: "WSGI_SLOW_MARKER loading slowly",
    backtrace: &[],
    step: "",
    also: &["start timeout"],
};

/// Two tests (friendly and plain page) for one failure and spawn method.
macro_rules! failure_tests {
    ($friendly:ident, $plain:ident, $case:expr, $method:expr) => {
        #[test]
        fn $friendly() {
            check_failure(&$case, $method, true);
        }

        #[test]
        fn $plain() {
            check_failure(&$case, $method, false);
        }
    };
}

failure_tests!(
    rack_raise_direct_friendly,
    rack_raise_direct_plain,
    RACK_RAISE,
    Some("direct")
);
failure_tests!(
    rack_syntax_direct_friendly,
    rack_syntax_direct_plain,
    RACK_SYNTAX,
    Some("direct")
);
failure_tests!(
    rack_missing_gem_direct_friendly,
    rack_missing_gem_direct_plain,
    RACK_MISSING_GEM,
    Some("direct")
);
failure_tests!(
    rack_exit_direct_friendly,
    rack_exit_direct_plain,
    RACK_EXIT,
    Some("direct")
);
failure_tests!(
    rack_slow_direct_friendly,
    rack_slow_direct_plain,
    RACK_SLOW,
    Some("direct")
);
failure_tests!(
    rack_raise_smart_friendly,
    rack_raise_smart_plain,
    RACK_RAISE,
    Some("smart")
);
failure_tests!(
    rack_syntax_smart_friendly,
    rack_syntax_smart_plain,
    RACK_SYNTAX,
    Some("smart")
);
failure_tests!(
    rack_missing_gem_smart_friendly,
    rack_missing_gem_smart_plain,
    RACK_MISSING_GEM,
    Some("smart")
);
failure_tests!(
    rack_exit_smart_friendly,
    rack_exit_smart_plain,
    RACK_EXIT,
    Some("smart")
);
failure_tests!(
    rack_slow_smart_friendly,
    rack_slow_smart_plain,
    RACK_SLOW,
    Some("smart")
);
failure_tests!(wsgi_raise_friendly, wsgi_raise_plain, WSGI_RAISE, None);
failure_tests!(wsgi_syntax_friendly, wsgi_syntax_plain, WSGI_SYNTAX, None);
failure_tests!(
    wsgi_missing_module_friendly,
    wsgi_missing_module_plain,
    WSGI_MISSING_MODULE,
    None
);
failure_tests!(wsgi_exit_friendly, wsgi_exit_plain, WSGI_EXIT, None);
failure_tests!(wsgi_slow_friendly, wsgi_slow_plain, WSGI_SLOW, None);

#[test]
fn friendly_pages_flag_overrides_production() {
    require_rack();
    let dir = TestDir::new();
    let root = copy_app(&dir, "rack_raise");
    let server = start_app(
        &dir,
        &root,
        &[
            "--spawn-method",
            "direct",
            "-e",
            "production",
            "--friendly-error-pages",
        ],
    );
    let body = unescape(&get(server.addr, "/").text());
    assert!(body.contains("RACK_RAISE_MARKER"), "{body}");
    assert!(body.contains("production"), "the app's environment: {body}");
}

#[test]
fn no_friendly_pages_flag_overrides_development() {
    require_python();
    let dir = TestDir::new();
    let root = copy_app(&dir, "wsgi_raise");
    let server = start_app(&dir, &root, &["--no-friendly-error-pages"]);
    let resp = get(server.addr, "/");
    assert_eq!(resp.status, 500);
    let body = resp.text();
    assert!(body.contains("Error ID"), "{body}");
    assert!(!body.contains("WSGI_RAISE_MARKER"), "{body}");
}
