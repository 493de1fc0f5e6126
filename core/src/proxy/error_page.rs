//! The HTML pages the proxy answers with when it cannot give the app's own response.
//!
//! Owns the status, headers and body of: queue full (503), incomplete response (502),
//! not found / no app (404), internal error (500), gateway timeout (504) and the spawn
//! error page (500, with or without details). It does not decide *when* to send them,
//! nor log the errors: the caller does both. Every piece of text that comes from an
//! app, a request or the environment goes through [`html_escape`].

use std::fmt::Write as _;

use http::{header, HeaderValue, Response, StatusCode};

use super::{full_body, ProxyBody};
use crate::spawn::{SpawnError, SpawnStep};

/// Passenger's exact queue-full message.
const QUEUE_FULL_BODY: &str = "<h2>This website is under heavy load (queue full)</h2><p>We're sorry, too many people are accessing this website at the same time. We're working on this problem. Please try again later.</p>";

/// Passenger's exact 502 body, sent bare as Passenger does.
const INCOMPLETE_RESPONSE_BODY: &str = "<h1>Incomplete response received from application</h1>";

/// Title of the detailed spawn error page.
const SPAWN_TITLE: &str = "Web application could not be started";

/// Title of the spawn error page without details.
const SORRY_TITLE: &str = "We're sorry, but something went wrong";

/// Kept small so that the page stays a few KB plus the captured output.
const STYLE: &str = "body{font-family:sans-serif;margin:2em auto;max-width:60em;padding:0 1em;color:#222}\
pre{background:#f4f4f4;padding:1em;overflow:auto;white-space:pre-wrap}\
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2em .5em;text-align:left;vertical-align:top;font-family:monospace}\
.id{font-family:monospace;font-weight:bold}";

/// Escapes `s` for use in HTML text and in double- or single-quoted attributes.
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// An HTML response with Passenger's no-cache headers for error pages.
fn html_response(status: StatusCode, body: String) -> Response<ProxyBody> {
    let mut resp = Response::new(full_body(body));
    *resp.status_mut() = status;
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, no-store, must-revalidate"),
    );
    resp
}

/// A minimal HTML document; `title` and `body` must already be escaped.
fn document(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html>\n<head>\n<meta charset=\"utf-8\">\n<title>{title}</title>\n\
         <style>{STYLE}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n"
    )
}

/// 503 for a request rejected because the app's request queue is full.
pub fn queue_full() -> Response<ProxyBody> {
    queue_full_with_status(StatusCode::SERVICE_UNAVAILABLE)
}

/// The queue-full page with a configured status (Passenger's
/// `request_queue_overflow_status_code`).
pub fn queue_full_with_status(status: StatusCode) -> Response<ProxyBody> {
    html_response(status, document("Queue full", QUEUE_FULL_BODY))
}

/// 502 for an app process that closed the connection or sent a malformed response.
pub fn incomplete_response() -> Response<ProxyBody> {
    html_response(
        StatusCode::BAD_GATEWAY,
        INCOMPLETE_RESPONSE_BODY.to_string(),
    )
}

/// 504 for an app that did not answer in time.
pub fn gateway_timeout() -> Response<ProxyBody> {
    html_response(
        StatusCode::GATEWAY_TIMEOUT,
        document(
            "Gateway timeout",
            "<h1>Gateway timeout</h1><p>The application did not respond in time.</p>",
        ),
    )
}

/// 404 for a path that is not there (also used for rejected static file paths).
pub fn not_found() -> Response<ProxyBody> {
    html_response(
        StatusCode::NOT_FOUND,
        document(
            "Not found",
            "<h1>Not found</h1><p>The requested URL was not found on this server.</p>",
        ),
    )
}

/// 404 for a request that no configured app answers (unknown Host or base URI).
pub fn no_app() -> Response<ProxyBody> {
    html_response(
        StatusCode::NOT_FOUND,
        document(
            "Not found",
            "<h1>Not found</h1><p>No web application is configured for this host and path.</p>",
        ),
    )
}

/// 503 for a request that arrives while the server is shutting down.
pub fn service_unavailable() -> Response<ProxyBody> {
    html_response(
        StatusCode::SERVICE_UNAVAILABLE,
        document(
            "Service unavailable",
            "<h1>Service unavailable</h1><p>The server is shutting down. Please try again later.</p>",
        ),
    )
}

/// 400 for a request the proxy cannot make sense of.
pub fn bad_request() -> Response<ProxyBody> {
    html_response(
        StatusCode::BAD_REQUEST,
        document("Bad request", "<h1>Bad request</h1>"),
    )
}

/// A 4xx page for a request refused by one of the server's limits (413, 414, 431),
/// with `Connection: close`: the rest of what the client sent is not read.
pub fn limit_exceeded(status: StatusCode, message: &str) -> Response<ProxyBody> {
    let title = status.canonical_reason().unwrap_or("Request refused");
    let mut resp = html_response(
        status,
        document(
            title,
            &format!("<h1>{title}</h1><p>{}</p>", html_escape(message)),
        ),
    );
    resp.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    resp
}

/// 500 for a failure inside the server (not a spawn error), as Passenger's
/// `<h2>Internal server error</h2>`; `detail` (escaped) is shown only when given,
/// which callers do only with friendly error pages on.
pub fn internal_error(detail: Option<&str>) -> Response<ProxyBody> {
    let mut body = String::from("<h2>Internal server error</h2>");
    if let Some(detail) = detail {
        let _ = write!(body, "<pre>{}</pre>", html_escape(detail));
    }
    html_response(
        StatusCode::INTERNAL_SERVER_ERROR,
        document("Internal server error", &body),
    )
}

/// 500 page for a failed spawn: with `friendly`, every detail of `err`; without,
/// only an apology and the error ID (the details are in the log).
pub fn spawn_error(err: &SpawnError, friendly: bool) -> Response<ProxyBody> {
    spawn_error_with_status(err, friendly, StatusCode::INTERNAL_SERVER_ERROR)
}

/// [`spawn_error`] with a configured status (Passenger's
/// `spawn_exception_status_code`).
pub fn spawn_error_with_status(
    err: &SpawnError,
    friendly: bool,
    status: StatusCode,
) -> Response<ProxyBody> {
    let body = if friendly {
        spawn_error_details(err)
    } else {
        spawn_error_sorry(err)
    };
    html_response(status, body)
}

fn step_description(step: SpawnStep) -> &'static str {
    match step {
        SpawnStep::Preparation => "Preparing to start the application (PREPARATION)",
        SpawnStep::ForkSubprocess => "Starting the application process (FORK_SUBPROCESS)",
        SpawnStep::HandshakePerform => {
            "Waiting for the application to accept connections (HANDSHAKE_PERFORM)"
        }
        SpawnStep::AppLoad => "Loading the application (APP_LOAD)",
    }
}

fn spawn_error_details(err: &SpawnError) -> String {
    let mut b = String::with_capacity(2048 + err.output.len());
    let _ = write!(
        b,
        "<h1>{SPAWN_TITLE}</h1>\n<p>{}</p>\n<p>Error ID: <span class=\"id\">{}</span></p>\n\
         <h2>Details</h2>\n<table>\n\
         <tr><th>Failed step</th><td>{}</td></tr>\n\
         <tr><th>App root</th><td>{}</td></tr>\n\
         <tr><th>User and group</th><td>{}</td></tr>\n\
         <tr><th>Command</th><td>{}</td></tr>\n</table>\n",
        html_escape(&err.summary),
        html_escape(&err.error_id),
        step_description(err.step),
        html_escape(&err.app_root),
        html_escape(&err.user),
        html_escape(&err.command),
    );
    b.push_str("<h2>Application output (stdout and stderr)</h2>\n");
    if err.output.is_empty() {
        b.push_str("<p>The application wrote nothing.</p>\n");
    } else {
        let _ = writeln!(b, "<pre>{}</pre>", html_escape(&err.output));
    }
    b.push_str("<h2>Environment variables</h2>\n");
    if err.envvars.is_empty() {
        b.push_str("<p>None recorded.</p>\n");
    } else {
        b.push_str("<table>\n<tr><th>Name</th><th>Value</th></tr>\n");
        for (name, value) in &err.envvars {
            let _ = writeln!(
                b,
                "<tr><td>{}</td><td>{}</td></tr>",
                html_escape(name),
                html_escape(value)
            );
        }
        b.push_str("</table>\n");
    }
    b.push_str(
        "<p>This detailed report is shown because friendly error pages are on; \
         turn them off in production.</p>",
    );
    document(SPAWN_TITLE, &b)
}

fn spawn_error_sorry(err: &SpawnError) -> String {
    let body = format!(
        "<h1>{SORRY_TITLE}.</h1>\n<p>The issue has been logged for investigation. \
         Please try again later.</p>\n\
         <p>Error ID: <span class=\"id\">{}</span></p>\n\
         <p>Technical details for the administrator of this website: the web application \
         could not be started. Search the server log for the Error ID to find the details.</p>",
        html_escape(&err.error_id)
    );
    document(&format!("{SORRY_TITLE}: {SPAWN_TITLE}"), &body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn body_string(resp: Response<ProxyBody>) -> String {
        let bytes = resp
            .into_body()
            .collect()
            .await
            .expect("in-memory body")
            .to_bytes();
        String::from_utf8(bytes.to_vec()).expect("utf-8 page")
    }

    fn hostile_error() -> SpawnError {
        SpawnError {
            summary: "boom <script>alert(1)</script>".into(),
            step: SpawnStep::HandshakePerform,
            app_root: "/srv/<app>".into(),
            output: "line1\n</pre><b>x</b> & more".into(),
            command: "exec ruby -e \"puts '<hi>'\"".into(),
            envvars: vec![
                ("PATH".into(), "/bin".into()),
                ("EVIL".into(), "<i>".into()),
            ],
            user: "deploy (group <staff>)".into(),
            error_id: "deadbeef".into(),
        }
    }

    #[test]
    fn escape_covers_the_special_characters() {
        assert_eq!(
            html_escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(html_escape("plain ü"), "plain ü");
    }

    #[tokio::test]
    async fn queue_full_has_passengers_body() {
        let resp = queue_full();
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            resp.headers()[header::CONTENT_TYPE],
            "text/html; charset=utf-8"
        );
        assert!(body_string(resp).await.contains(QUEUE_FULL_BODY));
    }

    #[tokio::test]
    async fn simple_pages_have_their_status() {
        let resp = incomplete_response();
        assert_eq!(resp.status(), StatusCode::BAD_GATEWAY);
        assert_eq!(body_string(resp).await, INCOMPLETE_RESPONSE_BODY);
        assert_eq!(not_found().status(), StatusCode::NOT_FOUND);
        assert_eq!(no_app().status(), StatusCode::NOT_FOUND);
        assert_eq!(gateway_timeout().status(), StatusCode::GATEWAY_TIMEOUT);
        assert_eq!(bad_request().status(), StatusCode::BAD_REQUEST);
        let resp = internal_error(Some("<oops>"));
        assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = body_string(resp).await;
        assert!(body.contains("<h2>Internal server error</h2>"));
        assert!(body.contains("&lt;oops&gt;") && !body.contains("<oops>"));
    }

    #[tokio::test]
    async fn friendly_spawn_page_shows_everything_escaped() {
        let resp = spawn_error(&hostile_error(), true);
        assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = body_string(resp).await;
        assert!(body.contains("<title>Web application could not be started</title>"));
        for part in [
            "boom &lt;script&gt;alert(1)&lt;/script&gt;",
            "HANDSHAKE_PERFORM",
            "/srv/&lt;app&gt;",
            "deploy (group &lt;staff&gt;)",
            "exec ruby -e &quot;puts &#39;&lt;hi&gt;&#39;&quot;",
            "line1\n&lt;/pre&gt;&lt;b&gt;x&lt;/b&gt; &amp; more",
            "<td>EVIL</td><td>&lt;i&gt;</td>",
            "<td>PATH</td><td>/bin</td>",
            "deadbeef",
        ] {
            assert!(body.contains(part), "missing {part:?} in {body}");
        }
        for raw in ["<script>", "<app>", "<staff>", "<b>x</b>", "<i>", "<hi>"] {
            assert!(!body.contains(raw), "unescaped {raw:?}");
        }
        assert!(
            !body.contains("<script"),
            "page must work without JavaScript"
        );
        assert!(body.len() < 4096, "page is {} bytes", body.len());
    }

    #[tokio::test]
    async fn production_spawn_page_shows_only_the_error_id() {
        let resp =
            spawn_error_with_status(&hostile_error(), false, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body = body_string(resp).await;
        assert!(body.contains("We're sorry, but something went wrong"));
        assert!(body.contains("deadbeef"));
        for secret in ["boom", "/srv/", "deploy", "ruby", "line1", "EVIL", "PATH"] {
            assert!(!body.contains(secret), "leaked {secret:?}");
        }
    }
}
