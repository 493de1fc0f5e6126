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
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use http::HeaderMap;

use crate::app::AppSpec;

/// Every reserved header name starts with this (`!` and `~` are legal in header
/// names but no client library sends them by accident).
pub const RESERVED_PREFIX: &str = "!~";

/// The header carrying the module's secret.
const SECRET: &str = "!~secret";

/// Reserved headers about the request, not the app.
const REQUEST_KEYS: &[&str] = &[
    "!~remote_addr",
    "!~remote_port",
    "!~remote_user",
    "!~https",
    "!~generation",
];

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
    /// Set when this request is the first with options that change what the app's
    /// processes are (another `PassengerAppEnv`, `SetEnv`, interpreter, user...): the
    /// caller hands the group the new spec and restarts it rolling. The group keeps
    /// its name, so one app stays one group whatever its environment.
    pub restart: Option<Arc<AppSpec>>,
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
    /// The raw bytes of a request's option headers (names and values as sent) -> the
    /// spec they describe: an unchanged request is one lookup, nothing is parsed.
    specs: Mutex<HashMap<Vec<u8>, Arc<AppSpec>>>,
    /// App root and base URI -> the spec last served for them (its name is the
    /// group's, kept when the default name would change with the environment).
    current: Mutex<HashMap<AppId, Arc<AppSpec>>>,
    /// The newest web server configuration generation seen (`!~generation`; Apache's
    /// `AP_SQ_CONFIG_GEN`). After a graceful restart an old worker may still serve a
    /// kept-alive client's next request with the old options: those never change an app.
    newest_generation: AtomicU64,
}

/// What identifies one app of the web server: its root and base URI.
type AppId = (std::path::PathBuf, Option<String>);

impl Channel {
    /// A channel that trusts requests carrying `secret`.
    pub fn new(secret: String) -> Channel {
        Channel {
            secret,
            specs: Mutex::new(HashMap::new()),
            current: Mutex::new(HashMap::new()),
            newest_generation: AtomicU64::new(0),
        }
    }

    /// Checks and removes the reserved headers of a request and returns what they
    /// say. On error the headers are left as they were.
    pub fn take(&self, headers: &mut HeaderMap) -> Result<WebServerRequest, ChannelError> {
        let mut secret_ok = false;
        let mut seen = 0usize;
        let mut key: Vec<u8> = Vec::with_capacity(512);
        let mut remote_ip: Option<IpAddr> = None;
        let mut remote_port: u16 = 0;
        let mut https = false;
        let mut generation: u64 = 0;
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
            if REQUEST_KEYS.contains(&n) {
                let text = String::from_utf8_lossy(value.as_bytes());
                match n {
                    "!~remote_addr" => remote_ip = text.parse().ok(),
                    "!~remote_port" => remote_port = text.parse().unwrap_or(0),
                    "!~https" => https = text == "on",
                    "!~generation" => generation = text.parse().unwrap_or(0),
                    _ => vars.push(("REMOTE_USER".to_string(), text.into_owned())),
                }
                continue;
            }
            key.extend_from_slice(n.as_bytes());
            key.push(0);
            key.extend_from_slice(value.as_bytes());
            key.push(0);
        }
        if seen == 0 {
            return Err(ChannelError::NotFromModule);
        }
        if !secret_ok {
            return Err(ChannelError::Forged);
        }
        let newest = self
            .newest_generation
            .fetch_max(generation, Ordering::Relaxed);
        let (app, restart) = self.spec(key, headers, generation < newest)?;
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
            restart,
        })
    }

    /// The spec for these option headers (`key`: their raw bytes), built once and then
    /// shared: the same `Arc` for the same headers, so the pool sees an unchanged app
    /// as unchanged. A new spec for an app root and base URI already served keeps the
    /// group name served before (unless `PassengerAppGroupName` names one), and is
    /// returned a second time when its processes must be replaced. Options from an older
    /// configuration generation (`stale`) change nothing: an app already served keeps
    /// its current spec.
    fn spec(
        &self,
        key: Vec<u8>,
        headers: &HeaderMap,
        stale: bool,
    ) -> Result<(Arc<AppSpec>, Option<Arc<AppSpec>>), ChannelError> {
        let mut specs = self.specs.lock().unwrap_or_else(|e| e.into_inner());
        let spec = match specs.get(&key) {
            Some(spec) => Arc::clone(spec),
            None => {
                let options = options(headers);
                let mut spec = crate::config::app_from_web_server(&options)
                    .map_err(|e| ChannelError::BadOptions(e.to_string()))?;
                let named = options.iter().any(|(k, _)| k == "name");
                let current = self.current.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(before) = current.get(&(spec.app_root.clone(), spec.base_uri.clone())) {
                    if !named {
                        spec.name.clone_from(&before.name);
                    }
                }
                drop(current);
                let spec = Arc::new(spec);
                if specs.len() >= MAX_CACHED {
                    specs.clear();
                }
                specs.insert(key, Arc::clone(&spec));
                spec
            }
        };
        drop(specs);
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        let id = (spec.app_root.clone(), spec.base_uri.clone());
        let restart = match current.get(&id) {
            Some(before) if Arc::ptr_eq(before, &spec) => return Ok((spec, None)),
            Some(before) if stale => return Ok((Arc::clone(before), None)),
            Some(before) => (before.name == spec.name && processes_differ(before, &spec))
                .then(|| Arc::clone(&spec)),
            None => None,
        };
        if current.len() >= MAX_CACHED {
            current.clear();
        }
        current.insert(id, Arc::clone(&spec));
        Ok((spec, restart))
    }
}

/// The (config key, value) pairs of a request's option headers; `env` percent-decoded.
fn options(headers: &HeaderMap) -> Vec<(String, String)> {
    let mut options = Vec::new();
    for (name, value) in headers {
        let n = name.as_str();
        let Some(option) = n.strip_prefix(RESERVED_PREFIX) else {
            continue;
        };
        if n == SECRET || REQUEST_KEYS.contains(&n) {
            continue;
        }
        let text = String::from_utf8_lossy(value.as_bytes()).into_owned();
        let text = if option == "env" {
            percent_encoding::percent_decode_str(&text)
                .decode_utf8_lossy()
                .into_owned()
        } else {
            text
        };
        options.push((option.to_string(), text));
    }
    options
}

/// Whether processes started from `new` would differ from those of `old` (so the
/// running ones must be replaced), rather than only how the pool treats them.
fn processes_differ(old: &AppSpec, new: &AppSpec) -> bool {
    old.environment != new.environment
        || old.env_vars != new.env_vars
        || old.app_type != new.app_type
        || old.startup_file != new.startup_file
        || old.spawn_method != new.spawn_method
        || old.user != new.user
        || old.group != new.group
        || old.ruby != new.ruby
        || old.python != new.python
        || old.nodejs != new.nodejs
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
        assert!(again.restart.is_none());
        // Another environment: the same group, restarted once (by the first request).
        let staging = [
            ("!~secret", "s3cret-s3cret-s3cret"),
            ("!~root", root),
            ("!~environment", "staging"),
        ];
        let staged = ch.take(&mut headers(&staging)).expect("accepted");
        assert_eq!(staged.app.environment, "staging");
        assert_eq!(staged.app.name, format!("{root} (production)"));
        let restart = staged.restart.expect("a restart");
        assert!(Arc::ptr_eq(&restart, &staged.app));
        let next = ch.take(&mut headers(&staging)).expect("accepted");
        assert!(next.restart.is_none() && Arc::ptr_eq(&next.app, &staged.app));
        // A change the pool applies by itself restarts nothing.
        let more = [
            ("!~secret", "s3cret-s3cret-s3cret"),
            ("!~root", root),
            ("!~environment", "staging"),
            ("!~min_instances", "3"),
        ];
        let more = ch.take(&mut headers(&more)).expect("accepted");
        assert_eq!(more.app.min_instances, 3);
        assert!(more.restart.is_none());
    }

    #[test]
    fn options_from_an_older_generation_change_no_app() {
        let dir = app_dir();
        let root = dir.path().to_str().expect("utf8");
        let ch = Channel::new("s3cret-s3cret-s3cret".into());
        // Every reserved header is taken, the generation too: it reaches no app.
        let request = |generation: &str, env: &str| {
            let mut h = headers(&[
                ("!~secret", "s3cret-s3cret-s3cret"),
                ("!~root", root),
                ("!~environment", env),
                ("!~generation", generation),
            ]);
            let taken = ch.take(&mut h).expect("accepted");
            assert!(h.is_empty(), "left: {h:?}");
            taken
        };
        assert!(request("1", "production").restart.is_none());
        // A graceful restart with another environment: the new generation restarts the app.
        let staged = request("2", "staging");
        assert!(staged.restart.is_some());
        // An old worker still serving a kept-alive client sends the old options: served
        // with the current spec, no restart back and forth.
        let late = request("1", "production");
        assert!(
            late.restart.is_none(),
            "an old generation restarted the app"
        );
        assert!(Arc::ptr_eq(&late.app, &staged.app));
        let next = request("2", "staging");
        assert!(next.restart.is_none() && Arc::ptr_eq(&next.app, &staged.app));
        // The generation is not an app option: a newer one with the same options is the
        // same spec.
        let newer = request("3", "staging");
        assert!(newer.restart.is_none() && Arc::ptr_eq(&newer.app, &staged.app));
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
