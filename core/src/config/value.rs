//! Configuration values from every source (flags, `Passengerfile.json`, the TOML file)
//! in one shape, each layer knowing where it came from.
//!
//! Owns the typed getters that turn a raw value into a setting or into a
//! [`ConfigProblem`] naming the flag or the key and file. It does not know which keys
//! exist or what they mean: `keys` and `build` do.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use super::ConfigProblem;

/// A raw configuration value, independent of the format it was read from.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Val {
    Str(String),
    Path(PathBuf),
    Int(i64),
    Float(f64),
    Bool(bool),
    Array(Vec<Val>),
    Table(Vec<(String, Val)>),
    Date(String),
    Null,
}

impl Val {
    /// What the value is, for "expected X, got Y" messages.
    fn kind(&self) -> &'static str {
        match self {
            Val::Str(_) => "a string",
            Val::Path(_) => "a path",
            Val::Int(_) => "an integer",
            Val::Float(_) => "a fractional number",
            Val::Bool(_) => "a boolean",
            Val::Array(_) => "an array",
            Val::Table(_) => "a table",
            Val::Date(_) => "a date",
            Val::Null => "null",
        }
    }

    pub(crate) fn from_json(value: serde_json::Value) -> Val {
        match value {
            serde_json::Value::Null => Val::Null,
            serde_json::Value::Bool(b) => Val::Bool(b),
            serde_json::Value::Number(n) => match (n.as_i64(), n.as_u64()) {
                (Some(i), _) => Val::Int(i),
                // Above i64::MAX: saturate so the range check reports "too large".
                (None, Some(_)) => Val::Int(i64::MAX),
                (None, None) => Val::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            serde_json::Value::String(s) => Val::Str(s),
            serde_json::Value::Array(items) => {
                Val::Array(items.into_iter().map(Val::from_json).collect())
            }
            serde_json::Value::Object(map) => Val::Table(
                map.into_iter()
                    .map(|(k, v)| (k, Val::from_json(v)))
                    .collect(),
            ),
        }
    }

    pub(crate) fn from_toml(value: toml::Value) -> Val {
        match value {
            toml::Value::String(s) => Val::Str(s),
            toml::Value::Integer(i) => Val::Int(i),
            toml::Value::Float(f) => Val::Float(f),
            toml::Value::Boolean(b) => Val::Bool(b),
            toml::Value::Datetime(d) => Val::Date(d.to_string()),
            toml::Value::Array(items) => {
                Val::Array(items.into_iter().map(Val::from_toml).collect())
            }
            toml::Value::Table(map) => Val::Table(
                map.into_iter()
                    .map(|(k, v)| (k, Val::from_toml(v)))
                    .collect(),
            ),
        }
    }
}

/// Shows a value the way the user would have written it, for error messages.
impl fmt::Display for Val {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Val::Str(s) => write!(f, "{s:?}"),
            Val::Path(p) => write!(f, "{:?}", p.display().to_string()),
            Val::Int(i) => write!(f, "{i}"),
            Val::Float(x) => write!(f, "{x}"),
            Val::Bool(b) => write!(f, "{b}"),
            Val::Date(d) => write!(f, "{d}"),
            Val::Array(_) => f.write_str("an array"),
            Val::Table(_) => f.write_str("a table"),
            Val::Null => f.write_str("null"),
        }
    }
}

/// Where a layer of values came from; decides how a key is named in messages.
#[derive(Debug, Clone)]
pub(crate) enum Origin {
    /// Command-line flags.
    Flags,
    /// An app's `Passengerfile.json`.
    Passengerfile(PathBuf),
    /// The top level of the multi-app TOML file.
    TomlTop(PathBuf),
    /// One `[[app]]` table (1-based index) of the multi-app TOML file.
    TomlApp { file: PathBuf, index: usize },
    /// The options a web server module sent with a request.
    WebServer,
}

impl Origin {
    /// How `key` is named to the user when it came from this origin.
    pub(crate) fn locate(&self, key: &str) -> String {
        match self {
            Origin::Flags => flag_name(key),
            Origin::Passengerfile(file) => {
                let shown = if key == "env" { "envvars" } else { key };
                format!("`{shown}` in {}", file.display())
            }
            Origin::TomlTop(file) => format!("`{key}` in {}", file.display()),
            Origin::TomlApp { file, index } => {
                format!("`{key}` of [[app]] #{index} in {}", file.display())
            }
            Origin::WebServer => format!("`{key}` from the web server module"),
        }
    }
}

/// The command-line flag that sets `key`.
pub(crate) fn flag_name(key: &str) -> String {
    match key {
        "env" => "--envvar".to_string(),
        "app_dir" => "APP_DIR".to_string(),
        "dont_install_runtime" => "--no-install-runtime".to_string(),
        "dont_compile_runtime" => "--no-compile-runtime".to_string(),
        _ => format!("--{}", key.replace('_', "-")),
    }
}

/// One source's values, by internal key name.
#[derive(Debug, Clone)]
pub(crate) struct Layer {
    pub(crate) origin: Origin,
    /// Relative paths in this layer are relative to this directory.
    pub(crate) base_dir: PathBuf,
    pub(crate) values: BTreeMap<String, Val>,
}

impl Layer {
    pub(crate) fn new(origin: Origin, base_dir: PathBuf) -> Layer {
        Layer {
            origin,
            base_dir,
            values: BTreeMap::new(),
        }
    }

    pub(crate) fn set(&mut self, key: &str, value: Val) {
        self.values.insert(key.to_string(), value);
    }
}

/// Looks keys up in layers, highest priority first, and records every bad value.
pub(crate) struct Resolver<'a> {
    layers: Vec<&'a Layer>,
    problems: &'a mut Vec<ConfigProblem>,
}

impl<'a> Resolver<'a> {
    pub(crate) fn new(layers: Vec<&'a Layer>, problems: &'a mut Vec<ConfigProblem>) -> Self {
        Resolver { layers, problems }
    }

    /// The winning value of `key` and its layer; JSON `null` counts as unset.
    fn find(&self, key: &str) -> Option<(&'a Val, &'a Layer)> {
        self.layers
            .iter()
            .find_map(|layer| match layer.values.get(key) {
                None | Some(Val::Null) => None,
                Some(v) => Some((v, *layer)),
            })
    }

    /// Where `key` was set (the winning layer), or `None` when unset.
    pub(crate) fn location(&self, key: &str) -> Option<String> {
        self.find(key).map(|(_, layer)| layer.origin.locate(key))
    }

    pub(crate) fn is_set(&self, key: &str) -> bool {
        self.find(key).is_some()
    }

    fn bad(&mut self, layer: &Layer, key: &str, message: String) {
        self.problems.push(ConfigProblem {
            location: Some(layer.origin.locate(key)),
            message,
        });
    }

    /// Records a problem that is not about one key.
    pub(crate) fn push_problem(&mut self, location: Option<String>, message: String) {
        self.problems.push(ConfigProblem { location, message });
    }

    /// Records a problem about `key` at its winning location (or with no location).
    pub(crate) fn report(&mut self, key: &str, message: String) {
        let location = self.location(key);
        self.problems.push(ConfigProblem { location, message });
    }

    /// An integer within `min..=max`.
    pub(crate) fn int(&mut self, key: &str, min: i64, max: i64) -> Option<i64> {
        let (val, layer) = self.find(key)?;
        // Type limits are not worth spelling out; "at least 0" reads better.
        let range = if max >= i64::from(u32::MAX) {
            format!("an integer of at least {min}")
        } else {
            format!("an integer from {min} to {max}")
        };
        match val {
            Val::Int(i) if (min..=max).contains(i) => Some(*i),
            Val::Int(i) => {
                self.bad(layer, key, format!("must be {range}, got {i}"));
                None
            }
            other => {
                let msg = format!("must be {range}, got {} {other}", other.kind());
                self.bad(layer, key, msg);
                None
            }
        }
    }

    pub(crate) fn u32(&mut self, key: &str, min: u32) -> Option<u32> {
        self.int(key, i64::from(min), i64::from(u32::MAX))
            .and_then(|i| u32::try_from(i).ok())
    }

    pub(crate) fn u64(&mut self, key: &str) -> Option<u64> {
        self.int(key, 0, i64::MAX)
            .and_then(|i| u64::try_from(i).ok())
    }

    /// A whole number of seconds.
    pub(crate) fn secs(&mut self, key: &str) -> Option<Duration> {
        self.u64(key).map(Duration::from_secs)
    }

    pub(crate) fn bool(&mut self, key: &str) -> Option<bool> {
        let (val, layer) = self.find(key)?;
        match val {
            Val::Bool(b) => Some(*b),
            other => {
                let msg = format!("must be true or false, got {} {other}", other.kind());
                self.bad(layer, key, msg);
                None
            }
        }
    }

    /// A non-empty string.
    pub(crate) fn string(&mut self, key: &str) -> Option<String> {
        let (val, layer) = self.find(key)?;
        match val {
            Val::Str(s) if !s.trim().is_empty() => Some(s.clone()),
            Val::Str(_) => {
                self.bad(layer, key, "must not be empty".to_string());
                None
            }
            other => {
                let msg = format!("must be a string, got {} {other}", other.kind());
                self.bad(layer, key, msg);
                None
            }
        }
    }

    /// One of `choices` (matched exactly), mapped to its value.
    pub(crate) fn choice<T: Clone>(&mut self, key: &str, choices: &[(&str, T)]) -> Option<T> {
        let (val, layer) = self.find(key)?;
        let found = match val {
            Val::Str(s) => choices.iter().find(|(name, _)| name == s),
            _ => None,
        };
        match found {
            Some((_, value)) => Some(value.clone()),
            None => {
                let names: Vec<&str> = choices.iter().map(|(n, _)| *n).collect();
                let msg = format!("must be one of {}, got {val}", names.join(", "));
                self.bad(layer, key, msg);
                None
            }
        }
    }

    /// A path; a relative one is taken relative to `relative_to`, or to the layer's
    /// base directory when `None`.
    pub(crate) fn path(&mut self, key: &str, relative_to: Option<&Path>) -> Option<PathBuf> {
        let (val, layer) = self.find(key)?;
        let raw = match val {
            Val::Path(p) if !p.as_os_str().is_empty() => p.clone(),
            Val::Str(s) if !s.trim().is_empty() => PathBuf::from(s),
            Val::Str(_) | Val::Path(_) => {
                self.bad(layer, key, "must not be empty".to_string());
                return None;
            }
            other => {
                let msg = format!("must be a path (a string), got {} {other}", other.kind());
                self.bad(layer, key, msg);
                return None;
            }
        };
        Some(absolutize(relative_to.unwrap_or(&layer.base_dir), &raw))
    }

    /// An array of non-empty strings.
    pub(crate) fn strings(&mut self, key: &str) -> Option<Vec<String>> {
        let (val, layer) = self.find(key)?;
        match val {
            Val::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    match item {
                        Val::Str(s) if !s.trim().is_empty() => out.push(s.clone()),
                        other => {
                            let msg = format!(
                                "must be an array of non-empty strings, but contains {} {other}",
                                other.kind()
                            );
                            self.bad(layer, key, msg);
                            return None;
                        }
                    }
                }
                Some(out)
            }
            other => {
                let msg = format!("must be an array of strings, got {} {other}", other.kind());
                self.bad(layer, key, msg);
                None
            }
        }
    }

    /// Environment variables from every layer that sets one of `keys` (a layer uses
    /// one of them), merged by name: a higher-priority layer replaces a variable of a
    /// lower one in place.
    pub(crate) fn env(&mut self, keys: &[&str]) -> Vec<(String, String)> {
        let mut merged: Vec<(String, String)> = Vec::new();
        let layers = self.layers.clone();
        for layer in layers.iter().rev() {
            let Some((key, val)) = keys
                .iter()
                .find_map(|k| layer.values.get(*k).map(|v| (*k, v)))
            else {
                continue;
            };
            let entries = match val {
                Val::Null => continue,
                Val::Table(entries) => entries,
                other => {
                    let msg = format!(
                        "must be a table of NAME = \"value\", got {} {other}",
                        other.kind()
                    );
                    self.bad(layer, key, msg);
                    continue;
                }
            };
            for (name, value) in entries {
                if let Some(problem) = env_name_problem(name) {
                    self.bad(layer, key, problem);
                    continue;
                }
                // Numbers and booleans are accepted as their text, as a shell would.
                let text = match value {
                    Val::Str(s) => s.clone(),
                    Val::Int(_) | Val::Float(_) | Val::Bool(_) => value.to_string(),
                    other => {
                        let msg = format!(
                            "the value of {name} must be a string, got {} {other}",
                            other.kind()
                        );
                        self.bad(layer, key, msg);
                        continue;
                    }
                };
                if text.contains('\0') {
                    let msg = format!("the value of {name} contains a NUL byte");
                    self.bad(layer, key, msg);
                    continue;
                }
                match merged.iter_mut().find(|(n, _)| n == name) {
                    Some(slot) => slot.1 = text,
                    None => merged.push((name.clone(), text)),
                }
            }
        }
        merged
    }

    /// The `hooks` table of every layer, merged by hook name (a higher-priority layer
    /// wins); unknown hook names and non-string commands are problems.
    pub(crate) fn hooks(&mut self) -> crate::hooks::Hooks {
        let mut merged: Vec<(String, String)> = Vec::new();
        let layers = self.layers.clone();
        for layer in layers.iter().rev() {
            let entries = match layer.values.get("hooks") {
                None | Some(Val::Null) => continue,
                Some(Val::Table(entries)) => entries,
                Some(other) => {
                    let msg = format!(
                        "must be a table of hook name = \"command\", got {} {other}",
                        other.kind()
                    );
                    self.bad(layer, "hooks", msg);
                    continue;
                }
            };
            for (name, value) in entries {
                if let Some(problem) = crate::hooks::name_problem(name) {
                    self.bad(layer, "hooks", problem);
                    continue;
                }
                let Val::Str(command) = value else {
                    let msg = format!(
                        "the command of hook {name} must be a string, got {} {value}",
                        value.kind()
                    );
                    self.bad(layer, "hooks", msg);
                    continue;
                };
                match merged.iter_mut().find(|(n, _)| n == name) {
                    Some(slot) => slot.1 = command.clone(),
                    None => merged.push((name.clone(), command.clone())),
                }
            }
        }
        crate::hooks::Hooks::new(merged)
    }
}

/// Why `name` cannot be an environment variable name, if it cannot.
pub(crate) fn env_name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        Some("an environment variable name must not be empty".to_string())
    } else if name.contains('=') || name.contains('\0') {
        Some(format!(
            "environment variable name {name:?} must not contain '=' or NUL"
        ))
    } else {
        None
    }
}

/// `path` made absolute against `base`, with `.` and `..` resolved lexically (as
/// Passenger's `File.expand_path` does), without touching the file system.
pub(crate) fn absolutize(base: &Path, path: &Path) -> PathBuf {
    let joined = if path.is_absolute() {
        path.to_path_buf()
    } else {
        base.join(path)
    };
    let mut out = PathBuf::new();
    for component in joined.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                // At the root, `..` stays at the root.
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}
