//! The channel from a web server module (mod_passenger) to its core: reserved request
//! headers that name the request's app and carry its options.
//!
//! Owns: checking the module's secret, reading the reserved headers (names start
//! with `!~`, see [`RESERVED_PREFIX`]) into an [`AppSpec`] (through
//! `config::app_from_web_server`, so validation and defaults are those of an
//! `[[app]]` table), a cache of the specs built, and the per-request facts the module
//! knows and the core cannot (client address, TLS, `REMOTE_USER`). It does not route
//! or forward: `forward` asks it for the app and goes on as for any request.
//!
//! **Invariant:** a request carrying any reserved header is obeyed only when it
//! carries the right secret exactly once and every reserved name at most once;
//! anything else is answered 400 and nothing of it is used. Reserved headers never
//! reach an app.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use http::HeaderMap;

use crate::app::AppSpec;

/// Every reserved header name starts with this (`!` and `~` are legal in header
/// names but no client library sends them by accident).
pub const RESERVED_PREFIX: &str = "!~";

/// The header carrying the module's secret.
const SECRET: &str = "!~secret";

/// Reserved headers about the request, not the app.
const REQUEST_KEYS: &[&str] = &["!~remote_addr", "!~remote_port", "!~remote_user", "!~https"];

/// Specs kept before the cache starts over (apps come and go with the config).
const MAX_CACHED: usize = 1024;

/// What the module said about one request.
#[derive(Debug)]
pub struct WebServerRequest {
    /// The app that serves it.
    pub app: Arc<AppSpec>,
    /// The client's address as the web server saw it.
    pub remote: Option<SocketAddr>,
    /// Whether the client connection is TLS.
    pub https: bool,
    /// CGI variables for the app beyond the request's own (`REMOTE_USER`).
    pub vars: Vec<(String, String)>,
    /// The group this app was served by until its options renamed it (a changed
    /// `PassengerAppEnv`): the caller removes it, its processes finish their requests.
    pub replaced: Option<String>,
}

/// Why a request from (or pretending to be from) the module is refused.
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    /// No reserved headers: a client reached the core's socket directly.
    #[error("the request did not come from the web server module")]
    NotFromModule,
    /// Reserved headers without the right secret, or a reserved name twice.
    #[error("reserved headers without the web server module's secret")]
    Forged,
    /// The options do not describe a valid app.
    #[error("{0}")]
    BadOptions(String),
}

/// The core's side of the channel: the secret and the specs built so far.
#[derive(Debug)]
pub struct Channel {
    secret: String,
    specs: Mutex<HashMap<String, Arc<AppSpec>>>,
    /// App root and base URI -> the group name last used for them.
    names: Mutex<HashMap<(std::path::PathBuf, Option<String>), String>>,
}

impl Channel {
    /// A channel that trusts requests carrying `secret`.
    pub fn new(secret: String) -> Channel {
        Channel {
            secret,
            specs: Mutex::new(HashMap::new()),
            names: Mutex::new(HashMap::new()),
        }
    }

    /// Checks and removes the reserved headers of a request and returns what they
    /// say. On error the headers are left as they were.
    pub fn take(&self, headers: &mut HeaderMap) -> Result<WebServerRequest, ChannelError> {
        let mut secret_ok = false;
        let mut seen = 0usize;
        let mut options: Vec<(String, String)> = Vec::new();
        let mut key = String::new();
        let mut remote_ip: Option<IpAddr> = None;
        let mut remote_port: u16 = 0;
        let mut https = false;
        let mut vars = Vec::new();
        for name in headers.keys() {
            let n = name.as_str();
            if !n.starts_with(RESERVED_PREFIX) {
                continue;
            }
            seen += 1;
            let mut values = headers.get_all(name).iter();
            let (Some(value), None) = (values.next(), values.next()) else {
                return Err(ChannelError::Forged);
            };
            if n == SECRET {
                secret_ok = constant_time_eq(value.as_bytes(), self.secret.as_bytes());
                continue;
            }
            let text = String::from_utf8_lossy(value.as_bytes()).into_owned();
            if REQUEST_KEYS.contains(&n) {
                match n {
                    "!~remote_addr" => remote_ip = text.parse().ok(),
                    "!~remote_port" => remote_port = text.parse().unwrap_or(0),
                    "!~https" => https = text == "on",
                    _ => vars.push(("REMOTE_USER".to_string(), text)),
                }
                continue;
            }
            let option = &n[RESERVED_PREFIX.len()..];
            let text = if option == "env" {
                percent_encoding::percent_decode_str(&text)
                    .decode_utf8_lossy()
                    .into_owned()
            } else {
                text
            };
            key.push_str(option);
            key.push('\0');
            key.push_str(&text);
            key.push('\0');
            options.push((option.to_string(), text));
        }
        if seen == 0 {
            return Err(ChannelError::NotFromModule);
        }
        if !secret_ok {
            return Err(ChannelError::Forged);
        }
        let app = self.spec(key, &options)?;
        let replaced = self.rename(&app);
        let reserved: Vec<_> = headers
            .keys()
            .filter(|k| k.as_str().starts_with(RESERVED_PREFIX))
            .cloned()
            .collect();
        for name in reserved {
            headers.remove(name);
        }
        Ok(WebServerRequest {
            app,
            remote: remote_ip.map(|ip| SocketAddr::new(ip, remote_port)),
            https,
            vars,
            replaced,
        })
    }

    /// Records the group name of `app`'s root and base URI; returns the previous one
    /// when it changed.
    fn rename(&self, app: &AppSpec) -> Option<String> {
        let mut names = self.names.lock().unwrap_or_else(|e| e.into_inner());
        let id = (app.app_root.clone(), app.base_uri.clone());
        if names.get(&id).is_some_and(|n| *n == app.name) {
            return None;
        }
        if names.len() >= MAX_CACHED {
            names.clear();
        }
        names
            .insert(id, app.name.clone())
            .filter(|old| *old != app.name)
    }

    /// The spec for these options, built once and then shared: the same `Arc` for
    /// the same options, so the pool sees an unchanged app as unchanged.
    fn spec(
        &self,
        key: String,
        options: &[(String, String)],
    ) -> Result<Arc<AppSpec>, ChannelError> {
        let mut specs = self.specs.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(spec) = specs.get(&key) {
            return Ok(Arc::clone(spec));
        }
        let spec = crate::config::app_from_web_server(options)
            .map_err(|e| ChannelError::BadOptions(e.to_string()))?;
        let spec = Arc::new(spec);
        if specs.len() >= MAX_CACHED {
            specs.clear();
        }
        specs.insert(key, Arc::clone(&spec));
        Ok(spec)
    }
}

/// Compares without an early exit, so timing tells nothing about the secret.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                http::HeaderName::from_bytes(k.as_bytes()).expect("name"),
                HeaderValue::from_str(v).expect("value"),
            );
        }
        h
    }

    fn app_dir() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("config.ru"), "run lambda { |e| }").expect("write");
        dir
    }

    #[test]
    fn obeys_the_module_and_strips_its_headers() {
        let dir = app_dir();
        let root = dir.path().to_str().expect("utf8");
        let ch = Channel::new("s3cret-s3cret-s3cret".into());
        let mut h = headers(&[
            ("!~secret", "s3cret-s3cret-s3cret"),
            ("!~root", root),
            ("!~environment", "production"),
            ("!~min_instances", "2"),
            ("!~env", "A=1%0AB=x%20y"),
            ("!~remote_addr", "10.0.0.7"),
            ("!~remote_port", "4242"),
            ("!~https", "on"),
            ("host", "example.org"),
        ]);
        let req = ch.take(&mut h).expect("accepted");
        assert_eq!(req.app.min_instances, 2);
        assert_eq!(req.app.environment, "production");
        assert_eq!(req.app.name, format!("{root} (production)"));
        assert_eq!(
            req.app.env_vars,
            vec![("A".into(), "1".into()), ("B".into(), "x y".into())]
        );
        assert_eq!(req.remote, Some("10.0.0.7:4242".parse().expect("addr")));
        assert!(req.https);
        assert_eq!(h.len(), 1, "only the client's own header is left");
        // The same options give the same spec.
        let mut h2 = headers(&[
            ("!~secret", "s3cret-s3cret-s3cret"),
            ("!~root", root),
            ("!~environment", "production"),
            ("!~min_instances", "2"),
            ("!~env", "A=1%0AB=x%20y"),
        ]);
        let again = ch.take(&mut h2).expect("accepted");
        assert!(Arc::ptr_eq(&req.app, &again.app));
        assert_eq!(again.replaced, None);
        // Another environment is another group; the old one is named for removal.
        let mut h3 = headers(&[
            ("!~secret", "s3cret-s3cret-s3cret"),
            ("!~root", root),
            ("!~environment", "staging"),
        ]);
        let staged = ch.take(&mut h3).expect("accepted");
        assert_eq!(staged.replaced, Some(format!("{root} (production)")));
    }

    #[test]
    fn refuses_forged_or_duplicated_reserved_headers() {
        let dir = app_dir();
        let root = dir.path().to_str().expect("utf8");
        let ch = Channel::new("s3cret-s3cret-s3cret".into());
        for pairs in [
            vec![("!~root", root)],
            vec![("!~secret", "wrong-wrong-wrong-wrong"), ("!~root", root)],
            vec![
                ("!~secret", "s3cret-s3cret-s3cret"),
                ("!~root", root),
                ("!~root", "/"),
            ],
            vec![
                ("!~secret", "s3cret-s3cret-s3cret"),
                ("!~secret", "s3cret-s3cret-s3cret"),
                ("!~root", root),
            ],
        ] {
            let mut h = headers(&pairs);
            let before = h.clone();
            assert!(
                matches!(ch.take(&mut h), Err(ChannelError::Forged)),
                "{pairs:?}"
            );
            assert_eq!(h, before, "nothing is stripped silently");
        }
        let mut h = headers(&[("host", "x")]);
        assert!(matches!(ch.take(&mut h), Err(ChannelError::NotFromModule)));
    }

    #[test]
    fn buffering_directives_reach_the_app_spec() {
        let dir = app_dir();
        let root = dir.path().to_str().expect("utf8");
        let ch = Channel::new("s3cret-s3cret-s3cret".into());
        let mut h = headers(&[("!~secret", "s3cret-s3cret-s3cret"), ("!~root", root)]);
        let default = ch.take(&mut h).expect("accepted");
        assert!(default.app.buffer_response && default.app.buffer_upload);
        let mut h = headers(&[
            ("!~secret", "s3cret-s3cret-s3cret"),
            ("!~root", root),
            ("!~buffer_response", "off"),
            ("!~buffer_upload", "off"),
        ]);
        let off = ch.take(&mut h).expect("accepted");
        assert!(!off.app.buffer_response && !off.app.buffer_upload);
    }

    #[test]
    fn bad_options_are_named() {
        let ch = Channel::new("s3cret-s3cret-s3cret".into());
        let mut h = headers(&[
            ("!~secret", "s3cret-s3cret-s3cret"),
            ("!~root", "/nonexistent/app"),
        ]);
        let err = ch.take(&mut h).expect_err("bad root");
        assert!(err.to_string().contains("is not a directory"), "{err}");
    }
}
