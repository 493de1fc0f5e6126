//! `passenger-config api-call METHOD PATH`: send one raw admin API request.

use std::io::Read;
use std::path::PathBuf;

use super::InstanceArg;
use crate::api_client::{select_instance, ApiClient, Auth};
use crate::applet::Invocation;
use crate::exit::{self, Exit};
use crate::output::{self, Tool};

/// Make an API call to the admin API of a passenger-rs instance (with the full
/// admin password). Example: `passenger-config api-call GET /server.json`;
/// `passenger-config api-call PUT /config.json -d '{"log_level":"debug"}'`.
/// Exits 2 (an admin API error, as every tool) on a non-2xx answer unless
/// --ignore-response-code.
#[derive(clap::Args, Debug, Clone)]
pub struct ApiCallArgs {
    /// An HTTP verb: GET, POST, PUT or DELETE.
    #[arg(value_name = "METHOD")]
    pub method: String,
    /// The admin URI, starting with a slash, e.g. /pool.txt.
    #[arg(value_name = "PATH")]
    pub path: String,
    /// The HTTP request body.
    #[arg(short, long, value_name = "DATA", group = "body")]
    pub data: Option<String>,
    /// Read the request body from stdin.
    #[arg(short = 'i', long, group = "body")]
    pub stdin: bool,
    /// Read the request body from a file.
    #[arg(short = 'f', long, value_name = "PATH", group = "body")]
    pub data_file: Option<PathBuf>,
    /// Send to this unix socket instead of the selected instance's core_api socket.
    #[arg(short = 'S', long, value_name = "PATH", conflicts_with = "instance")]
    pub socket: Option<PathBuf>,
    /// Show the HTTP response status line and headers.
    #[arg(long)]
    pub show_headers: bool,
    /// Exit successfully even if a non-2xx response was returned.
    #[arg(long)]
    pub ignore_response_code: bool,
    #[command(flatten)]
    pub instance: InstanceArg,
}

/// Runs `api-call`.
pub fn run(args: &ApiCallArgs, inv: &Invocation) -> anyhow::Result<i32> {
    if !args.path.starts_with('/') {
        return Err(Exit::new(
            exit::FAILURE,
            "The path must start with a slash (/). See --help for more information.\n",
        )
        .into());
    }
    let body = if let Some(d) = &args.data {
        Some(d.clone().into_bytes())
    } else if args.stdin {
        let mut buf = Vec::new();
        std::io::stdin().read_to_end(&mut buf)?;
        Some(buf)
    } else if let Some(path) = &args.data_file {
        Some(std::fs::read(path).map_err(|err| {
            Exit::new(
                exit::FAILURE,
                format!("*** ERROR: cannot read {}: {err}\n", path.display()),
            )
        })?)
    } else {
        None
    };
    let client = match &args.socket {
        Some(socket) => ApiClient::for_socket(socket)?,
        None => {
            let instance = select_instance(
                Tool::Config,
                &inv.command_for("config"),
                args.instance.instance.as_deref(),
                false,
            )?;
            ApiClient::for_instance(&instance)?
        }
    };
    let method = args.method.to_ascii_uppercase();
    let resp = client.request(&method, &args.path, body, Auth::Full)?;
    let mut text = String::new();
    if args.show_headers {
        // The original's quirky status line: message before code.
        text.push_str(&format!("HTTP/1.1 {} {}\n", resp.reason, resp.status));
        for (k, v) in &resp.headers {
            text.push_str(&format!("{k}: {v}\n"));
        }
        text.push('\n');
    }
    text.push_str(&output::with_newline(&resp.body));
    output::print(&text)?;
    Ok(if resp.ok() || args.ignore_response_code {
        exit::OK
    } else {
        exit::API_ERROR
    })
}
