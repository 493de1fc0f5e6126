//! Picking the app that serves a request: [`Router`].
//!
//! Owns the mapping from (Host header, request path) to an [`AppSpec`], precomputed
//! once from the configured apps so that [`Router::route`] does no allocation beyond
//! the result. It does not look at the pool, serve files or rewrite the request: the
//! caller strips the returned base URI itself when it needs to.
//!
//! Rules, in order: in single-app mode the one app always wins. Otherwise the
//! candidates are the apps whose `server_names` contain the Host (port stripped,
//! case-insensitive); only if none of those matches the path are the apps without
//! `server_names` (which answer any host) considered. Among the candidates the
//! longest matching base URI wins, `/` matching everything.

use std::collections::HashMap;
use std::sync::Arc;

use crate::app::AppSpec;

/// The app chosen for a request.
#[derive(Debug, Clone)]
pub struct Route {
    /// The app that serves the request.
    pub app: Arc<AppSpec>,
    /// The app's base URI, normalized (leading `/`, no trailing `/`); `None` for `/`.
    pub base_uri: Option<String>,
}

/// One app with its normalized base URI.
#[derive(Debug)]
struct Entry {
    app: Arc<AppSpec>,
    /// Normalized base URI; empty for `/`, so that every path starts with it.
    base: String,
}

/// Routes requests to apps. Built once per configuration; cheap to query.
#[derive(Debug)]
pub struct Router {
    /// Set in single-app mode: every request goes to this app.
    single: Option<Entry>,
    /// Lower-cased host name -> apps naming it, longest base URI first.
    by_host: HashMap<String, Vec<Entry>>,
    /// Apps without server names, longest base URI first.
    any_host: Vec<Entry>,
}

/// Longest host name we look up; DNS names are at most 253 bytes.
const MAX_HOST_LEN: usize = 255;

impl Router {
    /// Builds a router over `apps`. With `multi_app == false` the first app serves
    /// every request (and an empty `apps` routes nothing).
    pub fn new(apps: &[Arc<AppSpec>], multi_app: bool) -> Router {
        let entry = |app: &Arc<AppSpec>| Entry {
            app: Arc::clone(app),
            base: normalize_base_uri(app.base_uri.as_deref()),
        };
        if !multi_app {
            return Router {
                single: apps.first().map(entry),
                by_host: HashMap::new(),
                any_host: Vec::new(),
            };
        }
        let mut by_host: HashMap<String, Vec<Entry>> = HashMap::new();
        let mut any_host = Vec::new();
        for app in apps {
            if app.server_names.is_empty() {
                any_host.push(entry(app));
                continue;
            }
            for name in &app.server_names {
                let key = strip_port(name.trim()).to_ascii_lowercase();
                let list = by_host.entry(key).or_default();
                // The same app may list a name twice (with and without port).
                if !list.iter().any(|e| Arc::ptr_eq(&e.app, app)) {
                    list.push(entry(app));
                }
            }
        }
        // Stable sort: among equal base URIs the app listed first wins.
        let by_len = |a: &Entry, b: &Entry| b.base.len().cmp(&a.base.len());
        for list in by_host.values_mut() {
            list.sort_by(by_len);
        }
        any_host.sort_by(by_len);
        Router {
            single: None,
            by_host,
            any_host,
        }
    }

    /// The app for a request with this Host header value (if any) and request path
    /// (which may carry a query string), or `None` when no app matches.
    pub fn route(&self, host: Option<&str>, path: &str) -> Option<Route> {
        if let Some(single) = &self.single {
            return Some(single.to_route());
        }
        if let Some(host) = host {
            let mut buf = [0u8; MAX_HOST_LEN];
            if let Some(key) = lowercase_host(host, &mut buf) {
                if let Some(list) = self.by_host.get(key) {
                    if let Some(e) = list.iter().find(|e| base_matches(&e.base, path)) {
                        return Some(e.to_route());
                    }
                }
            }
        }
        self.any_host
            .iter()
            .find(|e| base_matches(&e.base, path))
            .map(Entry::to_route)
    }
}

impl Entry {
    fn to_route(&self) -> Route {
        Route {
            app: Arc::clone(&self.app),
            base_uri: if self.base.is_empty() {
                None
            } else {
                Some(self.base.clone())
            },
        }
    }
}

/// `/foo/` -> `/foo`, `foo` -> `/foo`, `/` and `` -> `` (root).
fn normalize_base_uri(base: Option<&str>) -> String {
    let trimmed = base.unwrap_or("").trim().trim_end_matches('/');
    if trimmed.is_empty() {
        String::new()
    } else if trimmed.starts_with('/') {
        trimmed.to_string()
    } else {
        format!("/{trimmed}")
    }
}

/// Whether `path` lies under `base`: `/foo` matches `/foo`, `/foo/x` and `/foo?q`,
/// not `/foobar`. The empty (root) base matches everything.
fn base_matches(base: &str, path: &str) -> bool {
    match path.strip_prefix(base) {
        Some(rest) => {
            base.is_empty() || rest.is_empty() || matches!(rest.as_bytes()[0], b'/' | b'?')
        }
        None => false,
    }
}

/// `example.com:8080` -> `example.com`, `[::1]:80` -> `[::1]`; a trailing dot goes too.
fn strip_port(host: &str) -> &str {
    let host = if host.starts_with('[') {
        match host.find(']') {
            Some(end) => &host[..=end],
            None => host,
        }
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
            _ => host,
        }
    };
    host.strip_suffix('.').unwrap_or(host)
}

/// The port-less, lower-cased host in `buf`, without allocating; `None` if it is too
/// long to be a host name we could have been configured with.
fn lowercase_host<'a>(host: &str, buf: &'a mut [u8; MAX_HOST_LEN]) -> Option<&'a str> {
    let name = strip_port(host.trim()).as_bytes();
    let out = buf.get_mut(..name.len())?;
    for (o, b) in out.iter_mut().zip(name) {
        *o = b.to_ascii_lowercase();
    }
    // ASCII lower-casing keeps valid UTF-8 valid.
    std::str::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::AppType;
    use std::path::PathBuf;

    fn app(name: &str, base: Option<&str>, hosts: &[&str]) -> Arc<AppSpec> {
        let mut spec = AppSpec::new(
            name,
            PathBuf::from(format!("/srv/{name}")),
            AppType::Generic {
                start_command: "true".into(),
            },
        );
        spec.base_uri = base.map(str::to_string);
        spec.server_names = hosts.iter().map(|h| h.to_string()).collect();
        Arc::new(spec)
    }

    fn name(r: Option<Route>) -> Option<String> {
        r.map(|r| r.app.name.clone())
    }

    #[test]
    fn single_app_mode_always_routes_to_the_app() {
        let r = Router::new(&[app("a", Some("/foo"), &["x.test"])], false);
        let route = r.route(Some("other.test"), "/bar").expect("routed");
        assert_eq!(route.app.name, "a");
        assert_eq!(route.base_uri.as_deref(), Some("/foo"));
        assert!(Router::new(&[], false).route(None, "/").is_none());
    }

    #[test]
    fn host_match_is_case_insensitive_and_ignores_port() {
        let r = Router::new(
            &[
                app("a", None, &["a.test"]),
                app("b", None, &["B.Test:8080"]),
            ],
            true,
        );
        assert_eq!(name(r.route(Some("A.TEST:3000"), "/")), Some("a".into()));
        assert_eq!(name(r.route(Some("b.test"), "/x")), Some("b".into()));
        assert_eq!(name(r.route(Some("b.test."), "/x")), Some("b".into()));
        assert_eq!(name(r.route(Some("c.test"), "/")), None);
        assert_eq!(name(r.route(None, "/")), None);
    }

    #[test]
    fn app_naming_the_host_wins_over_catch_all() {
        let r = Router::new(
            &[app("any", None, &[]), app("named", None, &["n.test"])],
            true,
        );
        assert_eq!(name(r.route(Some("n.test"), "/")), Some("named".into()));
        assert_eq!(name(r.route(Some("other.test"), "/")), Some("any".into()));
        assert_eq!(name(r.route(None, "/")), Some("any".into()));
    }

    #[test]
    fn catch_all_serves_paths_the_named_app_does_not_cover() {
        let r = Router::new(
            &[app("any", None, &[]), app("named", Some("/n"), &["n.test"])],
            true,
        );
        assert_eq!(name(r.route(Some("n.test"), "/n/x")), Some("named".into()));
        assert_eq!(name(r.route(Some("n.test"), "/other")), Some("any".into()));
    }

    #[test]
    fn longest_base_uri_wins_and_respects_segment_boundaries() {
        let r = Router::new(
            &[
                app("root", None, &[]),
                app("foo", Some("/foo/"), &[]),
                app("foobar", Some("/foo/bar"), &[]),
            ],
            true,
        );
        let route = |p: &str| name(r.route(Some("h.test"), p));
        assert_eq!(route("/"), Some("root".into()));
        assert_eq!(route("/foo"), Some("foo".into()));
        assert_eq!(route("/foo/"), Some("foo".into()));
        assert_eq!(route("/foo?x=1"), Some("foo".into()));
        assert_eq!(route("/foobar"), Some("root".into()));
        assert_eq!(route("/foo/bar/baz"), Some("foobar".into()));
        assert_eq!(route("/foo/barn"), Some("foo".into()));
        let got = r.route(None, "/foo/x").expect("routed");
        assert_eq!(got.base_uri.as_deref(), Some("/foo"));
        assert_eq!(r.route(None, "/x").expect("routed").base_uri, None);
    }

    #[test]
    fn no_match_without_root_app() {
        let r = Router::new(&[app("foo", Some("/foo"), &[])], true);
        assert!(r.route(None, "/bar").is_none());
        assert!(r.route(None, "/").is_none());
    }

    #[test]
    fn ipv6_and_overlong_hosts() {
        let r = Router::new(&[app("v6", None, &["[::1]"])], true);
        assert_eq!(name(r.route(Some("[::1]:8080"), "/")), Some("v6".into()));
        let long = "a".repeat(1000);
        assert!(r.route(Some(&long), "/").is_none());
    }
}
