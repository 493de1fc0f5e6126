//! Talking to an instance's admin API (`<instance>/agents.s/core_api`) from the
//! tools: choosing the instance, reading the password files, and blocking
//! HTTP/1.1 over the unix socket with reqwest.
//!
//! Owns: instance selection with the tools' messages and exit codes, the request
//! and its auth, and turning transport failures into operator-facing errors. Does
//! not own: what the endpoints return (core::admin) or how commands print it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use passenger_core::instance::{
    find_instance_by_pid, find_instance_in, list_instances, registry_search_dirs, InstanceError,
    InstanceInfo,
};

use crate::exit::{self, Exit};
use crate::output::{self, Tool, PRODUCT};

/// How a request authenticates, besides the peer credentials the server always checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// `ro_admin:<read_only_admin_password.txt>`: reading the pool and state.
    ReadOnly,
    /// `admin:<full_admin_password.txt>`: everything.
    Full,
}

/// A response, fully read.
#[derive(Debug, Clone)]
pub struct ApiResponse {
    /// HTTP status code.
    pub status: u16,
    /// Canonical reason phrase of the status.
    pub reason: String,
    /// Response headers in arrival order, names lowercased.
    pub headers: Vec<(String, String)>,
    /// The body as text (lossy UTF-8).
    pub body: String,
    /// Whether we could read the password file and sent Basic auth.
    pub sent_auth: bool,
}

impl ApiResponse {
    /// Whether the status is 2xx.
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The first header called `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body parsed as JSON.
    pub fn json(&self) -> anyhow::Result<serde_json::Value> {
        serde_json::from_str(&self.body).map_err(|err| {
            anyhow::anyhow!(
                "the admin API answered with invalid JSON ({err}): {}",
                self.body
            )
        })
    }
}

/// Picks the instance the user means: by name or unique prefix, by watchdog/core
/// PID, or the only one running. Prints the cleanup lines of stale directories.
/// Errors are [`Exit`]s with the tools' messages and code 1.
pub fn select_instance(
    tool: Tool,
    bin: &str,
    name: Option<&str>,
    by_pid: bool,
) -> Result<InstanceInfo, Exit> {
    let dirs = registry_search_dirs();
    let (found, cleaned) = match (name, by_pid) {
        (Some(pid_text), true) => match pid_text.parse::<u32>() {
            Ok(pid) => find_instance_by_pid(&dirs, pid),
            Err(_) => {
                return Err(Exit::new(
                    exit::FAILURE,
                    format!("ERROR: '{pid_text}' is not a PID (--pid-identifier selects an instance by its PID).\n"),
                ))
            }
        },
        _ => find_instance_in(&dirs, name),
    };
    for path in cleaned {
        eprintln!("*** Cleaning stale instance directory {}", path.display());
    }
    found.map_err(|err| match err {
        InstanceError::NoInstance => {
            Exit::new(exit::FAILURE, output::not_running(tool, bin, false))
        }
        // The original prints the list to choose from on stdout.
        InstanceError::Ambiguous { instances, .. } => Exit::on_stdout(
            exit::FAILURE,
            output::several_instances(tool, bin, &instances),
        ),
        InstanceError::UnknownName(name) => {
            let running = list_instances(&dirs).instances;
            Exit::new(
                exit::FAILURE,
                output::unknown_instance(tool, &name, &running),
            )
        }
        other => Exit::new(exit::FAILURE, format!("*** ERROR: {other}\n")),
    })
}

/// A blocking client for one admin socket.
pub struct ApiClient {
    socket: PathBuf,
    /// The instance directory holding the password files (none with `--socket`).
    instance_dir: Option<PathBuf>,
    /// Instance name for messages.
    label: String,
    client: reqwest::blocking::Client,
}

impl ApiClient {
    /// A client for `instance`'s core API.
    pub fn for_instance(instance: &InstanceInfo) -> anyhow::Result<Self> {
        Self::build(
            instance.core_api_socket.clone(),
            Some(instance.path.clone()),
            format!("instance {}", instance.name),
        )
    }

    /// A client for an explicit socket (`api-call -S`); no password files, so only
    /// peer credentials authorize it.
    pub fn for_socket(socket: &Path) -> anyhow::Result<Self> {
        Self::build(
            socket.to_path_buf(),
            None,
            format!("socket {}", socket.display()),
        )
    }

    fn build(
        socket: PathBuf,
        instance_dir: Option<PathBuf>,
        label: String,
    ) -> anyhow::Result<Self> {
        let client = reqwest::blocking::Client::builder()
            .unix_socket(socket.clone())
            // A blocking restart waits for the new processes; the server bounds it.
            .timeout(Duration::from_secs(300))
            .build()
            .map_err(|err| anyhow::anyhow!("cannot create the HTTP client: {err}"))?;
        Ok(ApiClient {
            socket,
            instance_dir,
            label,
            client,
        })
    }

    fn password(&self, auth: Auth) -> Option<(&'static str, String)> {
        let dir = self.instance_dir.as_ref()?;
        let (user, file) = match auth {
            Auth::ReadOnly => ("ro_admin", "read_only_admin_password.txt"),
            Auth::Full => ("admin", "full_admin_password.txt"),
        };
        let text = std::fs::read_to_string(dir.join(file)).ok()?;
        Some((user, text.trim().to_string()))
    }

    /// `GET path`.
    pub fn get(&self, path: &str, auth: Auth) -> Result<ApiResponse, Exit> {
        self.request("GET", path, None, auth)
    }

    /// `POST path` with a JSON body.
    pub fn post_json(
        &self,
        path: &str,
        body: &serde_json::Value,
        auth: Auth,
    ) -> Result<ApiResponse, Exit> {
        self.request("POST", path, Some(body.to_string().into_bytes()), auth)
    }

    /// Any method; `path` may carry a query string. Transport failures become an
    /// [`Exit`] with code 2 that says whether the socket is gone (stale instance).
    pub fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<Vec<u8>>,
        auth: Auth,
    ) -> Result<ApiResponse, Exit> {
        let method = reqwest::Method::from_bytes(method.as_bytes()).map_err(|_| {
            Exit::new(
                exit::FAILURE,
                format!(
                    "'{method}' is not a valid HTTP method. See --help for more information.\n"
                ),
            )
        })?;
        let url = format!("http://localhost{path}");
        let mut req = self.client.request(method, &url);
        let password = self.password(auth);
        let sent_auth = password.is_some();
        if let Some((user, pw)) = password {
            req = req.basic_auth(user, Some(pw));
        }
        if let Some(body) = body {
            req = req
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body);
        }
        let resp = req.send().map_err(|err| self.transport_error(&err))?;
        let status = resp.status();
        let headers = resp
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_ascii_lowercase(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let bytes = resp.bytes().map_err(|err| self.transport_error(&err))?;
        Ok(ApiResponse {
            status: status.as_u16(),
            reason: status.canonical_reason().unwrap_or("").to_string(),
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
            sent_auth,
        })
    }

    fn transport_error(&self, err: &reqwest::Error) -> Exit {
        let mut cause = err.to_string();
        let mut source = std::error::Error::source(err);
        while let Some(s) = source {
            cause = s.to_string();
            source = s.source();
        }
        let gone = !self.socket.exists();
        let hint = if gone {
            "The socket no longer exists: the instance has stopped (a stale instance \
             directory). Run the command again; `passenger-config list-instances` shows \
             what is running."
        } else if err.is_connect() {
            "Nobody accepts connections on it: the instance is shutting down or has \
             crashed. Run the command again in a moment, or check its log."
        } else if err.is_timeout() {
            "The instance did not answer in time; it may be overloaded."
        } else {
            "The instance closed the connection unexpectedly; check its log."
        };
        Exit::new(
            exit::API_ERROR,
            format!(
                "*** ERROR: cannot talk to {PRODUCT} {} through {}: {cause}.\n{hint}\n",
                self.label,
                self.socket.display()
            ),
        )
    }

    /// The error for a 401: whether we could read the password files decides the advice.
    pub fn not_authorized(&self, what: &str, resp: &ApiResponse) -> Exit {
        let advice = if resp.sent_auth {
            "The password file was read but the instance refused it; the instance may \
             have been restarted. Run the command again."
                .to_string()
        } else {
            let dir = self
                .instance_dir
                .as_ref()
                .map(|d| d.display().to_string())
                .unwrap_or_else(|| "the instance directory".into());
            format!(
                "You cannot read the admin password files in {dir}: run this command as \
                 root or as the user that started {PRODUCT}."
            )
        };
        Exit::new(
            exit::API_ERROR,
            format!(
                "*** ERROR: You are not authorized to {what} this {PRODUCT} instance. Please try again with 'sudo'.\n{advice}\n"
            ),
        )
    }

    /// The error for any other unexpected status.
    pub fn api_error(&self, what: &str, resp: &ApiResponse) -> Exit {
        Exit::new(
            exit::API_ERROR,
            format!(
                "*** ERROR: cannot {what}: the admin API of {} answered {} {}: {}\n",
                self.label,
                resp.status,
                resp.reason,
                resp.body.trim_end()
            ),
        )
    }
}
