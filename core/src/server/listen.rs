//! Listening sockets: the one place that binds them and adopts inherited ones, for the
//! server (`passenger start`'s watchdog and core) and `start_server`.
//!
//! Owns: the listen backlog of our own sockets ([`SOCKET_BACKLOG`]); binding a
//! configured [`ListenAddr`] ([`bind_listen_addr`]); parsing Server::Starter's `--port`
//! notation (`8080`, `host:8080`, `[::1]:8080`, `8080=3`, `u8080`) and binding TCP, UDP
//! and unix sockets so that they survive `exec` (close-on-exec cleared, optionally
//! moved to a chosen fd); the hand-over protocols both ways: `SERVER_STARTER_PORT`
//! (`addr=fd;addr=fd`), systemd's `LISTEN_FDS`/`LISTEN_PID`, and the watchdog's count
//! of sockets on fds 3.. ([`adopt_handed_over`]); and describing an inherited socket
//! from the socket itself, so no `--port` has to match it ([`inherited_listeners`],
//! [`describe_listeners`]). Every fd number from the environment is checked to be an
//! open socket above stdio, named once, before it is adopted. Every `listen(2)` is
//! checked. It does not own what is served on the sockets (`server`), nor any process
//! supervision (`crate::starter`), nor the process environment (callers pass values
//! in and remove the variables).

use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

use nix::sys::socket::{
    self, sockopt, AddressFamily, Backlog, SockFlag, SockType, SockaddrIn, SockaddrIn6,
};

use crate::config::ListenAddr;

/// Listen backlog of the server's own sockets: Passenger's `socket_backlog` default
/// (the kernel caps it at `net.core.somaxconn`). `start_server` takes its own from
/// `--backlog`.
pub const SOCKET_BACKLOG: i32 = 2048;

/// Errors of parsing socket notations and binding sockets.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    /// A `--port` value is not in any accepted notation.
    #[error("invalid ``port'' value:{0}")]
    InvalidPort(String),
    /// A host name did not resolve to an IPv4 address.
    #[error("failed to resolve host:{host}:{reason}")]
    Resolve {
        /// The host as given.
        host: String,
        /// Why.
        reason: String,
    },
    /// A system call on a socket failed.
    #[error("{what}:{source}")]
    Sys {
        /// The step and the address, in Server::Starter's wording
        /// (`failed to bind to 127.0.0.1:80`).
        what: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A path exists and is not a socket: we never remove what is not ours.
    #[error("failed to listen to file {0}:the path exists and is not a socket")]
    NotASocket(PathBuf),
    /// An inherited-socket variable is malformed or names an unusable fd.
    #[error("{var}: {reason}")]
    Inherited {
        /// The environment variable.
        var: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// An inherited socket is not one the server can serve HTTP on.
    #[error("fd {fd} is not a listening socket we serve ({what})")]
    NotServed {
        /// The fd.
        fd: RawFd,
        /// What it is instead.
        what: String,
    },
}

/// Transport of a `--port` socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// A listening TCP socket.
    Tcp,
    /// A bound UDP socket (the `u` prefix).
    Udp,
}

/// One `--port` value, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortSpec {
    /// The name the socket gets in `SERVER_STARTER_PORT`: `8080`, `host:8080` or
    /// `[::1]:8080` (the `u` prefix and `=fd` suffix are not part of it).
    pub name: String,
    /// The host as written, when one was.
    pub host: Option<String>,
    /// The port number.
    pub port: u16,
    /// TCP or UDP.
    pub transport: Transport,
    /// The fd number the socket must have in the worker, when one was asked for.
    pub fd: Option<RawFd>,
}

impl PortSpec {
    /// Parses Server::Starter's notation: `[u]PORT[=FD]`, `HOST:[u]PORT[=FD]` or
    /// `[IPV6]:[u]PORT[=FD]`, blanks around the parts allowed.
    pub fn parse(value: &str) -> Result<PortSpec, ListenError> {
        let invalid = || ListenError::InvalidPort(value.to_string());
        let s = value.trim();
        let (main, fd) = match s.rsplit_once('=') {
            Some((main, fd)) => (
                main.trim_end(),
                Some(parse_fd(fd.trim()).ok_or_else(invalid)?),
            ),
            None => (s, None),
        };
        let (host, port_part) = if let Some(rest) = main.strip_prefix('[') {
            let (host, after) = rest.split_once(']').ok_or_else(invalid)?;
            let port = after.trim_start().strip_prefix(':').ok_or_else(invalid)?;
            (Some(host.trim().to_string()), port.trim())
        } else if let Some((host, port)) = main.rsplit_once(':') {
            (Some(host.trim().to_string()), port.trim())
        } else {
            (None, main)
        };
        let (transport, digits) = match port_part.strip_prefix('u') {
            Some(d) => (Transport::Udp, d),
            None => (Transport::Tcp, port_part),
        };
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid());
        }
        let port: u16 = digits.parse().map_err(|_| invalid())?;
        let name = match &host {
            None => port.to_string(),
            Some(h) if h.contains(':') => format!("[{h}]:{port}"),
            Some(h) => format!("{h}:{port}"),
        };
        Ok(PortSpec {
            name,
            host,
            port,
            transport,
            fd,
        })
    }

    /// The address to bind: `0.0.0.0` without a host (IPv4 only, as
    /// Server::Starter), an IPv6 literal, or the first IPv4 address of the host.
    pub fn socket_addr(&self) -> Result<SocketAddr, ListenError> {
        match &self.host {
            None => Ok(SocketAddr::new(
                IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                self.port,
            )),
            Some(h) if h.contains(':') => {
                let ip: std::net::Ipv6Addr = h.parse().map_err(|e| ListenError::Resolve {
                    host: h.clone(),
                    reason: format!("{e}"),
                })?;
                Ok(SocketAddr::new(IpAddr::V6(ip), self.port))
            }
            Some(h) => {
                let resolve_err = |reason: String| ListenError::Resolve {
                    host: h.clone(),
                    reason,
                };
                (h.as_str(), self.port)
                    .to_socket_addrs()
                    .map_err(|e| resolve_err(e.to_string()))?
                    .find(SocketAddr::is_ipv4)
                    .ok_or_else(|| resolve_err("no IPv4 address".to_string()))
            }
        }
    }
}

fn parse_fd(s: &str) -> Option<RawFd> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn sys(what: impl Into<String>) -> impl FnOnce(nix::Error) -> ListenError {
    let what = what.into();
    move |e| ListenError::Sys {
        what,
        source: std::io::Error::from(e),
    }
}

/// Binds `spec` (listening with `backlog` for TCP) and returns the socket with
/// close-on-exec cleared, so that programs exec'd later inherit it.
pub fn bind_port(spec: &PortSpec, backlog: i32) -> Result<OwnedFd, ListenError> {
    let addr = spec.socket_addr()?;
    let family = if addr.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    };
    let ty = match spec.transport {
        Transport::Tcp => SockType::Stream,
        Transport::Udp => SockType::Datagram,
    };
    let fd = socket::socket(family, ty, SockFlag::empty(), None)
        .map_err(sys("failed to create socket"))?;
    socket::setsockopt(&fd, sockopt::ReuseAddr, &true)
        .map_err(sys(format!("failed to set SO_REUSEADDR on {}", spec.name)))?;
    let bind_err = sys(format!("failed to bind to {}", spec.name));
    match addr {
        SocketAddr::V4(a) => socket::bind(fd.as_raw_fd(), &SockaddrIn::from(a)),
        SocketAddr::V6(a) => {
            // Best effort, as the original: a v6 socket serves v6 only.
            let _ = socket::setsockopt(&fd, sockopt::Ipv6V6Only, &true);
            socket::bind(fd.as_raw_fd(), &SockaddrIn6::from(a))
        }
    }
    .map_err(bind_err)?;
    if spec.transport == Transport::Tcp {
        listen(&fd, backlog, &spec.name)?;
    }
    Ok(fd)
}

/// `listen(2)`, its failure naming `addr`.
fn listen(fd: &OwnedFd, backlog: i32, addr: &str) -> Result<(), ListenError> {
    // The kernel caps the backlog at net.core.somaxconn anyway.
    let backlog = Backlog::new(backlog).unwrap_or(Backlog::MAXCONN);
    socket::listen(fd, backlog).map_err(sys(format!("listen(2) failed on {addr}")))
}

/// Binds one address of the server (`--address`/`--port`, `--socket`) and listens
/// with [`SOCKET_BACKLOG`]. The socket is close-on-exec: the watchdog hands it to the
/// core explicitly. TCP gets `SO_REUSEADDR`; a unix socket's mode follows the umask,
/// and only a socket file found at its path is removed first (any other file is an
/// error).
pub fn bind_listen_addr(addr: &ListenAddr) -> Result<OwnedFd, ListenError> {
    match addr {
        ListenAddr::Tcp(sock) => {
            let name = sock.to_string();
            let family = if sock.is_ipv4() {
                AddressFamily::Inet
            } else {
                AddressFamily::Inet6
            };
            let fd = socket::socket(family, SockType::Stream, SockFlag::SOCK_CLOEXEC, None)
                .map_err(sys(format!("failed to create a socket for {name}")))?;
            socket::setsockopt(&fd, sockopt::ReuseAddr, &true)
                .map_err(sys(format!("failed to set SO_REUSEADDR on {name}")))?;
            match sock {
                SocketAddr::V4(a) => socket::bind(fd.as_raw_fd(), &SockaddrIn::from(*a)),
                SocketAddr::V6(a) => socket::bind(fd.as_raw_fd(), &SockaddrIn6::from(*a)),
            }
            .map_err(sys(format!("failed to bind to {name}")))?;
            listen(&fd, SOCKET_BACKLOG, &name)?;
            Ok(fd)
        }
        ListenAddr::Unix(path) => {
            remove_stale_socket(path)?;
            let name = path.display().to_string();
            let fd = socket::socket(
                AddressFamily::Unix,
                SockType::Stream,
                SockFlag::SOCK_CLOEXEC,
                None,
            )
            .map_err(sys(format!("failed to create a socket for {name}")))?;
            let unix = socket::UnixAddr::new(path.as_path())
                .map_err(sys(format!("failed to bind to {name}")))?;
            socket::bind(fd.as_raw_fd(), &unix)
                .map_err(sys(format!("failed to bind to {name}")))?;
            listen(&fd, SOCKET_BACKLOG, &name)?;
            Ok(fd)
        }
    }
}

/// The name a bound [`ListenAddr`] is shown by: `http://ADDR` or `unix:PATH`.
pub fn listen_url(addr: &ListenAddr) -> String {
    match addr {
        ListenAddr::Tcp(a) => format!("http://{a}"),
        ListenAddr::Unix(p) => format!("unix:{}", p.display()),
    }
}

/// Removes a socket file at `path` (a previous run's); any other file is an error.
/// Whether one was removed.
fn remove_stale_socket(path: &Path) -> Result<bool, ListenError> {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return Ok(false);
    };
    if !meta.file_type().is_socket() {
        return Err(ListenError::NotASocket(path.to_path_buf()));
    }
    std::fs::remove_file(path).map_err(|source| ListenError::Sys {
        what: format!("failed to remove existing socket file:{}", path.display()),
        source,
    })?;
    Ok(true)
}

/// What [`bind_unix`] did before binding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnixBind {
    /// The path was free.
    Fresh,
    /// A socket file (a previous run's) was at the path and was removed.
    ReplacedStaleSocket,
}

/// Binds and listens on a unix socket at `path`, world-connectable (umask 0 during
/// bind, as Server::Starter), with close-on-exec cleared. Only a socket file found
/// at `path` is removed first; any other file is an error.
pub fn bind_unix(path: &Path, backlog: i32) -> Result<(OwnedFd, UnixBind), ListenError> {
    let how = if remove_stale_socket(path)? {
        UnixBind::ReplacedStaleSocket
    } else {
        UnixBind::Fresh
    };
    let fd = socket::socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::empty(),
        None,
    )
    .map_err(sys("failed to create socket"))?;
    let addr = socket::UnixAddr::new(path)
        .map_err(sys(format!("failed to listen to file {}", path.display())))?;
    // SAFETY: umask only changes this process's file creation mask; the previous
    // mask is restored right after bind.
    let saved = unsafe { libc::umask(0) };
    let bound = socket::bind(fd.as_raw_fd(), &addr);
    // SAFETY: as above.
    unsafe { libc::umask(saved) };
    bound.map_err(sys(format!("failed to listen to file {}", path.display())))?;
    listen(&fd, backlog, &path.display().to_string())?;
    Ok((fd, how))
}

/// Moves `fd` to the number `target` (dup2, then closes the original) and returns
/// the new fd. Close-on-exec is clear on the result (dup2 never copies it).
pub fn move_to_fd(fd: OwnedFd, target: RawFd) -> Result<OwnedFd, ListenError> {
    if fd.as_raw_fd() == target {
        return Ok(fd);
    }
    // SAFETY: dup2 onto a number the operator chose for this socket; whatever was
    // there is replaced, which is what `PORT=FD` asks for.
    let r = unsafe { libc::dup2(fd.as_raw_fd(), target) };
    if r < 0 {
        return Err(ListenError::Sys {
            what: format!("dup2(2) failed({target})"),
            source: std::io::Error::last_os_error(),
        });
    }
    drop(fd);
    // SAFETY: dup2 succeeded, so `target` is an open fd that we now own.
    Ok(unsafe { OwnedFd::from_raw_fd(target) })
}

/// Clears close-on-exec on `fd`, so a program exec'd later inherits it.
pub fn inheritable(fd: &OwnedFd) -> Result<(), ListenError> {
    nix::fcntl::fcntl(
        fd.as_raw_fd(),
        nix::fcntl::F_SETFD(nix::fcntl::FdFlag::empty()),
    )
    .map(|_| ())
    .map_err(sys("fcntl(F_SETFD, 0) failed"))
}

/// The `SERVER_STARTER_PORT` value for `(name, fd)` pairs: `name=fd;name=fd`.
pub fn format_server_starter_port(entries: &[(String, RawFd)]) -> String {
    entries
        .iter()
        .map(|(name, fd)| format!("{name}={fd}"))
        .collect::<Vec<_>>()
        .join(";")
}

/// Parses a `SERVER_STARTER_PORT` value into `(name, fd)` pairs. Every fd must be a
/// number above 2 (0-2 are stdio), name an open socket of this process, and appear
/// once.
pub fn parse_server_starter_port(value: &str) -> Result<Vec<(String, RawFd)>, ListenError> {
    const VAR: &str = "SERVER_STARTER_PORT";
    let bad = |reason: String| ListenError::Inherited { var: VAR, reason };
    let mut out = Vec::new();
    for entry in value.split(';').filter(|e| !e.is_empty()) {
        let (name, fd) = entry
            .rsplit_once('=')
            .ok_or_else(|| bad(format!("entry {entry:?} is not ADDRESS=FD")))?;
        let fd = parse_fd(fd)
            .ok_or_else(|| bad(format!("entry {entry:?}: {fd:?} is not an fd number")))?;
        check_inherited_socket(fd).map_err(|reason| bad(format!("entry {entry:?}: {reason}")))?;
        if out.iter().any(|(_, seen)| *seen == fd) {
            // Adopting one fd twice would close it twice.
            return Err(bad(format!("entry {entry:?}: fd {fd} is named twice")));
        }
        out.push((name.to_string(), fd));
    }
    Ok(out)
}

/// The first fd systemd passes (`SD_LISTEN_FDS_START`).
pub const SYSTEMD_FIRST_FD: RawFd = 3;

/// Parses systemd's socket activation variables: `LISTEN_FDS` sockets from fd 3 on,
/// for the process `LISTEN_PID` (which must be `own_pid`), named by the
/// colon-separated `LISTEN_FDNAMES` when given. `Ok(None)` when `listen_fds` is
/// unset, or is meant for another process (a parent's variables leaked to us).
pub fn parse_listen_fds(
    listen_fds: Option<&str>,
    listen_pid: Option<&str>,
    names: Option<&str>,
    own_pid: u32,
) -> Result<Option<Vec<(String, RawFd)>>, ListenError> {
    const VAR: &str = "LISTEN_FDS";
    let Some(count) = listen_fds else {
        return Ok(None);
    };
    let bad = |reason: String| ListenError::Inherited { var: VAR, reason };
    match listen_pid.map(str::trim) {
        Some(p) if p.parse::<u32>().ok() == Some(own_pid) => {}
        _ => return Ok(None),
    }
    let count: RawFd = count
        .trim()
        .parse()
        .ok()
        .filter(|n| (1..=4096).contains(n))
        .ok_or_else(|| bad(format!("{count:?} is not a count of sockets (1-4096)")))?;
    let names: Vec<&str> = names.map(|n| n.split(':').collect()).unwrap_or_default();
    (0..count)
        .map(|i| {
            let fd = SYSTEMD_FIRST_FD + i;
            check_inherited_socket(fd).map_err(bad)?;
            let name = names
                .get(i as usize)
                .filter(|n| !n.is_empty())
                .map_or_else(|| format!("fd {fd}"), |n| n.to_string());
            Ok((name, fd))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// What an inherited socket is, read from the socket itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SocketKind {
    /// A listening TCP socket bound to this address.
    TcpListener(SocketAddr),
    /// A listening unix socket bound to this path (`None`: unnamed or abstract).
    UnixListener(Option<PathBuf>),
    /// Anything else (UDP, a connected socket, a socket that does not listen).
    Other(String),
}

/// Describes the socket on `fd`: its type, whether it listens, and its address.
pub fn describe_socket(fd: RawFd) -> Result<SocketKind, ListenError> {
    use std::os::fd::BorrowedFd;
    // SAFETY: `fd` was checked to be an open socket by the caller, and the borrow
    // does not outlive this function.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    let err = |what: &str| {
        let what = format!("{what} of fd {fd}");
        move |e: nix::Error| ListenError::Sys {
            what,
            source: std::io::Error::from(e),
        }
    };
    let ty: SockType = socket::getsockopt(&borrowed, sockopt::SockType).map_err(err("type"))?;
    let listening =
        socket::getsockopt(&borrowed, sockopt::AcceptConn).map_err(err("SO_ACCEPTCONN"))?;
    if ty != SockType::Stream || !listening {
        return Ok(SocketKind::Other(format!("{ty:?}, listening: {listening}")));
    }
    let addr: socket::SockaddrStorage = socket::getsockname(fd).map_err(err("address"))?;
    if let Some(v4) = addr.as_sockaddr_in() {
        return Ok(SocketKind::TcpListener(SocketAddr::from(
            std::net::SocketAddrV4::from(*v4),
        )));
    }
    if let Some(v6) = addr.as_sockaddr_in6() {
        return Ok(SocketKind::TcpListener(SocketAddr::from(
            std::net::SocketAddrV6::from(*v6),
        )));
    }
    if let Some(unix) = addr.as_unix_addr() {
        return Ok(SocketKind::UnixListener(unix.path().map(Path::to_path_buf)));
    }
    Ok(SocketKind::Other(
        "an address family we do not serve".into(),
    ))
}

/// Checks that `fd` can be adopted as an inherited listening socket.
pub fn check_inherited_socket(fd: RawFd) -> Result<(), String> {
    if fd <= 2 {
        return Err(format!("fd {fd} is standard input, output or error"));
    }
    match nix::sys::stat::fstat(fd) {
        Err(e) => Err(format!("fd {fd} is not open ({e})")),
        Ok(st) if st.st_mode & libc::S_IFMT != libc::S_IFSOCK => {
            Err(format!("fd {fd} is not a socket"))
        }
        Ok(_) => Ok(()),
    }
}

/// Checks that `fd` is open and not stdio (a pipe handed over by number).
pub fn check_inherited_fd(fd: RawFd) -> Result<(), String> {
    if fd <= 2 {
        return Err(format!("fd {fd} is standard input, output or error"));
    }
    nix::sys::stat::fstat(fd)
        .map(|_| ())
        .map_err(|e| format!("fd {fd} is not open ({e})"))
}

/// Takes ownership of an fd that [`check_inherited_socket`] accepted.
fn adopt_checked(fd: RawFd) -> OwnedFd {
    // SAFETY: callers checked `fd` is an open socket named for us by a hand-over
    // variable, each number once; nothing else in this process owns it.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// What a listening socket serves, read from the socket: a TCP or named unix
/// listener. Anything else is [`ListenError::NotServed`].
pub fn describe_listener(fd: &OwnedFd) -> Result<ListenAddr, ListenError> {
    let raw = fd.as_raw_fd();
    match describe_socket(raw)? {
        SocketKind::TcpListener(a) => Ok(ListenAddr::Tcp(a)),
        SocketKind::UnixListener(Some(p)) => Ok(ListenAddr::Unix(p)),
        SocketKind::UnixListener(None) => Err(ListenError::NotServed {
            fd: raw,
            what: "an unnamed unix socket; give it a path".into(),
        }),
        SocketKind::Other(what) => Err(ListenError::NotServed { fd: raw, what }),
    }
}

/// The addresses of listening sockets, in order, read from the sockets.
pub fn describe_listeners(fds: &[OwnedFd]) -> Result<Vec<ListenAddr>, ListenError> {
    fds.iter().map(describe_listener).collect()
}

/// The variables that hand sockets to a server from outside: Server::Starter's, then
/// systemd's. Whoever adopts them removes them, so app processes do not inherit them.
pub const INHERITANCE_VARS: [&str; 4] = [
    "SERVER_STARTER_PORT",
    "LISTEN_FDS",
    "LISTEN_PID",
    "LISTEN_FDNAMES",
];

/// Listening sockets inherited from a Server::Starter-compatible superdaemon or
/// systemd, adopted and described.
#[derive(Debug)]
pub struct InheritedListeners {
    /// The sockets to serve, in the variable's order.
    pub fds: Vec<OwnedFd>,
    /// What each one is (the same order).
    pub addrs: Vec<ListenAddr>,
    /// The variable they came through.
    pub source: &'static str,
}

/// Adopts the sockets a superdaemon (`SERVER_STARTER_PORT`) or systemd (`LISTEN_FDS`
/// for `own_pid`) handed over, reading each one's address from the socket, so no
/// `--port` has to match it. `var` looks a variable up (the process environment, or
/// a test's table). `Ok(None)`: neither variable is for us. A socket that is not a
/// listening stream socket (Server::Starter's UDP ports) is left alone; an unnamed
/// unix socket, a bad fd or no socket to serve at all is an error.
pub fn inherited_listeners(
    var: impl Fn(&str) -> Option<String>,
    own_pid: u32,
) -> Result<Option<InheritedListeners>, ListenError> {
    let (entries, source) = if let Some(v) = var("SERVER_STARTER_PORT").filter(|v| !v.is_empty()) {
        (parse_server_starter_port(&v)?, "SERVER_STARTER_PORT")
    } else if let Some(entries) = parse_listen_fds(
        var("LISTEN_FDS").as_deref(),
        var("LISTEN_PID").as_deref(),
        var("LISTEN_FDNAMES").as_deref(),
        own_pid,
    )? {
        (entries, "LISTEN_FDS")
    } else {
        return Ok(None);
    };
    let bad = |reason: String| ListenError::Inherited {
        var: source,
        reason,
    };
    // Every fd is described before any is adopted: a failure adopts (and closes) none.
    let (mut raw, mut addrs) = (Vec::new(), Vec::new());
    for (name, fd) in entries {
        match describe_socket(fd)? {
            SocketKind::TcpListener(a) => addrs.push(ListenAddr::Tcp(a)),
            SocketKind::UnixListener(Some(p)) => addrs.push(ListenAddr::Unix(p)),
            SocketKind::UnixListener(None) => {
                return Err(bad(format!(
                    "{name} (fd {fd}) is an unnamed unix socket; give it a path"
                )))
            }
            SocketKind::Other(what) => {
                tracing::debug!("{source}: {name} (fd {fd}) is not served ({what})");
                continue;
            }
        }
        raw.push(fd);
    }
    if raw.is_empty() {
        return Err(bad(
            "names no listening stream socket to serve HTTP on".into()
        ));
    }
    let fds = raw.into_iter().map(adopt_checked).collect();
    Ok(Some(InheritedListeners { fds, addrs, source }))
}

/// The watchdog's hand-over to its core: `value` (of variable `var`) sockets on fds
/// 3, 4, ... Each is checked to be an open socket before it is adopted.
pub fn adopt_handed_over(var: &'static str, value: &str) -> Result<Vec<OwnedFd>, ListenError> {
    adopt_range(var, value, SYSTEMD_FIRST_FD)
}

fn adopt_range(var: &'static str, value: &str, first: RawFd) -> Result<Vec<OwnedFd>, ListenError> {
    let bad = |reason: String| ListenError::Inherited { var, reason };
    let count: RawFd = value
        .trim()
        .parse()
        .ok()
        .filter(|n| (0..=4096).contains(n))
        .ok_or_else(|| bad(format!("{value:?} is not a count of sockets (0-4096)")))?;
    // Every fd is checked before any is adopted: a failure adopts (and closes) none.
    for fd in first..first + count {
        check_inherited_socket(fd).map_err(bad)?;
    }
    Ok((first..first + count).map(adopt_checked).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(s: &str) -> PortSpec {
        PortSpec::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn port_notations_parse_as_server_starter_does() {
        let p = spec("8080");
        assert_eq!(
            (p.name.as_str(), p.host, p.port, p.transport, p.fd),
            ("8080", None, 8080, Transport::Tcp, None)
        );
        let p = spec(" 127.0.0.1:8080 ");
        assert_eq!((p.name.as_str(), p.port), ("127.0.0.1:8080", 8080));
        let p = spec("[::1]:8080");
        assert_eq!(
            (p.name.as_str(), p.host.as_deref()),
            ("[::1]:8080", Some("::1"))
        );
        let p = spec("8080=3");
        assert_eq!((p.name.as_str(), p.fd), ("8080", Some(3)));
        let p = spec("localhost:8080 = 5");
        assert_eq!((p.name.as_str(), p.fd), ("localhost:8080", Some(5)));
        let p = spec("u8080");
        assert_eq!((p.name.as_str(), p.transport), ("8080", Transport::Udp));
        let p = spec("127.0.0.1:u53=4");
        assert_eq!(
            (p.name.as_str(), p.transport, p.fd),
            ("127.0.0.1:53", Transport::Udp, Some(4))
        );
    }

    #[test]
    fn bad_port_notations_name_the_value() {
        for bad in [
            "",
            "http",
            "80x",
            "host:",
            "[::1]8080",
            "8080=",
            "8080=x",
            "99999",
            "u",
        ] {
            let err = PortSpec::parse(bad).expect_err(bad).to_string();
            assert_eq!(err, format!("invalid ``port'' value:{bad}"));
        }
    }

    #[test]
    fn server_starter_port_round_trips_and_checks_fds() {
        let (fd, _) = {
            let dir = tempfile::tempdir().expect("invariant: temp dir");
            let r = bind_unix(&dir.path().join("s"), 16).expect("bind unix");
            (r.0, dir)
        };
        let raw = fd.as_raw_fd();
        let tcp = bind_port(&spec("127.0.0.1:0"), 16).expect("tcp");
        let t = tcp.as_raw_fd();
        let value = format_server_starter_port(&[("/x/s".into(), raw), ("8080".into(), t)]);
        assert_eq!(value, format!("/x/s={raw};8080={t}"));
        assert_eq!(
            parse_server_starter_port(&value).expect("valid"),
            vec![("/x/s".to_string(), raw), ("8080".to_string(), t)]
        );
        assert!(parse_server_starter_port("")
            .expect("empty is none")
            .is_empty());
        let err = parse_server_starter_port("8080=1")
            .expect_err("stdout")
            .to_string();
        assert!(err.contains("standard input, output or error"), "{err}");
        let err = parse_server_starter_port("8080=999")
            .expect_err("closed")
            .to_string();
        assert!(err.contains("not open"), "{err}");
        let err = parse_server_starter_port("8080")
            .expect_err("no fd")
            .to_string();
        assert!(err.contains("not ADDRESS=FD"), "{err}");
        let file = std::fs::File::open("/dev/null").expect("invariant: /dev/null");
        let err = parse_server_starter_port(&format!("a={}", file.as_raw_fd()))
            .expect_err("not a socket")
            .to_string();
        assert!(err.contains("is not a socket"), "{err}");
    }

    #[test]
    fn unix_bind_replaces_only_sockets() {
        let dir = tempfile::tempdir().expect("invariant: temp dir");
        let path = dir.path().join("sock");
        let (first, how) = bind_unix(&path, 16).expect("fresh");
        assert_eq!(how, UnixBind::Fresh);
        drop(first);
        let (_second, how) = bind_unix(&path, 16).expect("stale socket replaced");
        assert_eq!(how, UnixBind::ReplacedStaleSocket);
        let file = dir.path().join("file");
        std::fs::write(&file, "keep me").expect("invariant: write");
        let err = bind_unix(&file, 16).expect_err("regular file");
        assert!(matches!(err, ListenError::NotASocket(_)), "{err}");
        assert_eq!(std::fs::read_to_string(&file).expect("kept"), "keep me");
    }

    #[test]
    fn systemd_variables_are_for_this_process_only() {
        let me = std::process::id();
        assert!(parse_listen_fds(None, None, None, me)
            .expect("unset")
            .is_none());
        let other = (me + 1).to_string();
        assert!(parse_listen_fds(Some("1"), Some(&other), None, me)
            .expect("other pid")
            .is_none());
        let err =
            parse_listen_fds(Some("x"), Some(&me.to_string()), None, me).expect_err("bad count");
        assert!(err.to_string().contains("not a count"), "{err}");
    }

    #[test]
    fn inherited_sockets_describe_themselves() {
        let tcp = bind_port(&spec("127.0.0.1:0"), 16).expect("tcp");
        match describe_socket(tcp.as_raw_fd()).expect("describe") {
            SocketKind::TcpListener(addr) => {
                assert!(addr.ip().is_loopback() && addr.port() != 0, "{addr}")
            }
            other => panic!("{other:?}"),
        }
        let udp = bind_port(&spec("127.0.0.1:u0"), 16).expect("udp");
        assert!(matches!(
            describe_socket(udp.as_raw_fd()).expect("udp"),
            SocketKind::Other(_)
        ));
        let dir = tempfile::tempdir().expect("invariant: temp dir");
        let path = dir.path().join("s");
        let (unix, _) = bind_unix(&path, 16).expect("unix");
        assert_eq!(
            describe_socket(unix.as_raw_fd()).expect("unix"),
            SocketKind::UnixListener(Some(path))
        );
    }

    #[test]
    fn tcp_and_udp_bind_on_loopback_and_survive_exec() {
        let tcp = bind_port(&spec("127.0.0.1:0"), 16).expect("tcp");
        let udp = bind_port(&spec("127.0.0.1:u0"), 16).expect("udp");
        for fd in [&tcp, &udp] {
            let flags = nix::fcntl::fcntl(fd.as_raw_fd(), nix::fcntl::F_GETFD).expect("getfd");
            assert_eq!(flags & libc::FD_CLOEXEC, 0, "close-on-exec must be clear");
        }
        let ty: SockType = socket::getsockopt(&udp, sockopt::SockType).expect("type");
        assert_eq!(ty, SockType::Datagram);
    }

    /// Gives `fd` to the code under test as an inherited fd would be: by number.
    fn hand_over(fd: OwnedFd) -> RawFd {
        std::os::fd::IntoRawFd::into_raw_fd(fd)
    }

    fn table(pairs: &[(&str, String)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        move |k| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
    }

    #[test]
    fn inherited_sockets_are_described_without_a_matching_port() {
        let dir = tempfile::tempdir().expect("invariant: temp dir");
        let path = dir.path().join("s");
        let tcp = hand_over(bind_port(&spec("127.0.0.1:0"), 16).expect("tcp"));
        let udp = hand_over(bind_port(&spec("127.0.0.1:u0"), 16).expect("udp"));
        let unix = hand_over(bind_unix(&path, 16).expect("unix").0);
        let value = format!("127.0.0.1:9={tcp};127.0.0.1:10={udp};/elsewhere={unix}");
        let found = inherited_listeners(table(&[("SERVER_STARTER_PORT", value)]), 1)
            .expect("valid")
            .expect("present");
        assert_eq!(found.source, "SERVER_STARTER_PORT");
        assert_eq!(found.fds.len(), 2, "the UDP socket is left alone");
        match &found.addrs[..] {
            [ListenAddr::Tcp(a), ListenAddr::Unix(p)] => {
                assert!(a.ip().is_loopback() && a.port() != 0, "{a}");
                assert_eq!(p, &path, "the socket's own address, not the name given");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            describe_listeners(&found.fds).expect("describe"),
            found.addrs
        );
        assert_eq!(
            listen_url(&found.addrs[1]),
            format!("unix:{}", path.display())
        );
        assert!(inherited_listeners(table(&[]), 1).expect("none").is_none());
        let other_pid = table(&[("LISTEN_FDS", "1".into()), ("LISTEN_PID", "2".into())]);
        assert!(inherited_listeners(other_pid, 1)
            .expect("not ours")
            .is_none());
    }

    #[test]
    fn inherited_sockets_we_cannot_serve_are_errors() {
        let udp = hand_over(bind_port(&spec("127.0.0.1:u0"), 16).expect("udp"));
        let err = inherited_listeners(table(&[("SERVER_STARTER_PORT", format!("53={udp}"))]), 1)
            .expect_err("only UDP")
            .to_string();
        assert!(err.contains("no listening stream socket"), "{err}");
        // A unix socket that listens without a path (autobound to an abstract name).
        let unnamed = socket::socket(
            AddressFamily::Unix,
            SockType::Stream,
            SockFlag::empty(),
            None,
        )
        .expect("socket");
        let autobind = socket::UnixAddr::new_unnamed();
        socket::bind(unnamed.as_raw_fd(), &autobind).expect("autobind");
        listen(&unnamed, 16, "unnamed").expect("listen");
        let err = describe_listener(&unnamed)
            .expect_err("unnamed")
            .to_string();
        assert!(err.contains("unnamed unix socket"), "{err}");
        let raw = hand_over(unnamed);
        let err = inherited_listeners(table(&[("SERVER_STARTER_PORT", format!("x={raw}"))]), 1)
            .expect_err("unnamed")
            .to_string();
        assert!(err.contains("give it a path"), "{err}");
        let tcp = bind_port(&spec("127.0.0.1:0"), 16).expect("tcp");
        let t = tcp.as_raw_fd();
        let err = parse_server_starter_port(&format!("a={t};b={t}"))
            .expect_err("twice")
            .to_string();
        assert!(err.contains("named twice"), "{err}");
    }

    #[test]
    fn handed_over_fds_are_checked_before_they_are_adopted() {
        for bad in ["x", "-1", "5000", ""] {
            let err = adopt_handed_over("PASSENGER_LISTEN_FDS", bad)
                .expect_err(bad)
                .to_string();
            assert!(err.starts_with("PASSENGER_LISTEN_FDS: "), "{err}");
            assert!(err.contains("not a count"), "{err}");
        }
        assert!(adopt_handed_over("V", "0").expect("none").is_empty());
        // Two listeners on consecutive high numbers, as the watchdog puts them on 3, 4.
        let first: RawFd = 700;
        let tcp =
            bind_listen_addr(&ListenAddr::Tcp("127.0.0.1:0".parse().expect("addr"))).expect("tcp");
        let tcp = move_to_fd(tcp, first).expect("dup2");
        let dir = tempfile::tempdir().expect("invariant: temp dir");
        let path = dir.path().join("s");
        let unix = bind_listen_addr(&ListenAddr::Unix(path.clone())).expect("unix");
        let unix = move_to_fd(unix, first + 1).expect("dup2");
        let (tcp, unix) = (hand_over(tcp), hand_over(unix));
        let fds = adopt_range("V", "2", first).expect("two sockets");
        assert_eq!(
            fds.iter().map(AsRawFd::as_raw_fd).collect::<Vec<_>>(),
            vec![tcp, unix]
        );
        let addrs = describe_listeners(&fds).expect("describe");
        assert!(
            matches!(addrs[1], ListenAddr::Unix(ref p) if *p == path),
            "{addrs:?}"
        );
        // A file where a socket should be, then a closed number: errors, no adoption.
        let file = std::fs::File::open("/dev/null").expect("invariant: /dev/null");
        let file = move_to_fd(OwnedFd::from(file), first + 2).expect("dup2");
        let err = adopt_range("V", "3", first).expect_err("file").to_string();
        assert!(
            err.contains(&format!("fd {} is not a socket", first + 2)),
            "{err}"
        );
        drop(file);
        let err = adopt_range("V", "3", first)
            .expect_err("closed")
            .to_string();
        assert!(err.contains("is not open"), "{err}");
        let err = check_inherited_fd(first + 2).expect_err("closed");
        assert!(err.contains("is not open"), "{err}");
        assert!(
            check_inherited_fd(1).is_err(),
            "stdout is never a hand-over"
        );
    }

    #[test]
    fn server_sockets_are_close_on_exec_and_listen_with_the_backlog() {
        let fd =
            bind_listen_addr(&ListenAddr::Tcp("127.0.0.1:0".parse().expect("addr"))).expect("tcp");
        let flags = nix::fcntl::fcntl(fd.as_raw_fd(), nix::fcntl::F_GETFD).expect("getfd");
        assert_ne!(
            flags & libc::FD_CLOEXEC,
            0,
            "handed on explicitly, never leaked"
        );
        assert!(matches!(describe_listener(&fd), Ok(ListenAddr::Tcp(_))));
        let dir = tempfile::tempdir().expect("invariant: temp dir");
        let file = dir.path().join("file");
        std::fs::write(&file, "keep me").expect("invariant: write");
        let err = bind_listen_addr(&ListenAddr::Unix(file.clone())).expect_err("a file");
        assert!(matches!(err, ListenError::NotASocket(_)), "{err}");
        let taken = bind_listen_addr(&ListenAddr::Tcp(
            describe_listener(&fd)
                .map(|a| match a {
                    ListenAddr::Tcp(a) => a,
                    ListenAddr::Unix(_) => unreachable!("bound TCP"),
                })
                .expect("addr"),
        ));
        // SO_REUSEADDR does not let two sockets listen on one port.
        let err = taken.expect_err("in use").to_string();
        assert!(err.starts_with("failed to bind to 127.0.0.1:"), "{err}");
    }
}
