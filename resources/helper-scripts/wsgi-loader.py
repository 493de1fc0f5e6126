#!/usr/bin/env python3
"""wsgi-loader.py: runs one process of a WSGI app for passenger-rs.

Started by the core's spawner as `<python> wsgi-loader.py` in the app root. It imports
the startup file (default passenger_wsgi.py) and takes its `application`, listens on
the unix socket PASSENGER_SOCKET and serves requests one at a time in the session
protocol described in ARCHITECTURE.md ("Session protocol"): one request per
connection, or several when the core offers keep-alive and the response can be framed
(a kept-alive connection gives way to any new connection). If
the app cannot be loaded it writes a JSON report to PASSENGER_REPORT_FILE and exits 1.
EOF on stdin or SIGTERM makes it exit after the current request.

With PASSENGER_PRELOADER=1 it is a preloader instead (smart spawning): it loads the app
once, listens on PASSENGER_SOCKET for spawn commands and forks a worker per command
(ARCHITECTURE.md, "Preloader protocol"). If the startup file defines
`passenger_starting_worker_process(forked)`, every process calls it before serving.

With PASSENGER_DIRECT_PORT (a preloader's workers get it in their spawn command) a process
also serves plain HTTP on 127.0.0.1:<port>, one request per connection, for operators
(`passenger-status --verbose` prints the URL): a request without the connect password in
X-Passenger-Connect-Password gets 403.

Environment: PASSENGER_PRELOADER, PASSENGER_SOCKET, PASSENGER_CONNECT_PASSWORD, PASSENGER_REPORT_FILE,
PASSENGER_DIRECT_PORT, PASSENGER_APP_ROOT, PASSENGER_APP_ENV, PASSENGER_STARTUP_FILE.

Standard library only. Importing this file defines the loader without running it, so
that a preloader could load the app once and fork processes that call `serve`.
"""

import hmac
import http.client
import importlib.util
import json
import os
import select
import signal
import socket
import stat
import struct
import sys
import traceback

READ_CHUNK = 16 * 1024
MAX_HEADER_SIZE = 1024 * 1024
# Largest unread request body drained to keep a connection alive; beyond this the
# connection is closed instead.
MAX_DRAIN = 1024 * 1024
# The private response header that keeps a session connection open; its value is the
# number of body bytes that follow the head.
KEEP_ALIVE_HEADER = "!~Keep-Alive"
STATUS_REASONS = http.client.responses


def set_process_title(title):
    """Sets the kernel's short process name (`comm`); full argv rewriting needs C."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_name = 15
        libc.prctl(pr_set_name, title.encode()[:15], 0, 0, 0)
    except Exception:  # noqa: BLE001: cosmetic only
        pass


class LoadError(Exception):
    """The startup file loaded but is not a usable WSGI app."""


def load_app(app_root, startup_file):
    """Imports `startup_file` as module `passenger_wsgi` and returns `application`."""
    if app_root not in sys.path:
        sys.path.insert(0, app_root)
    spec = importlib.util.spec_from_file_location("passenger_wsgi", startup_file)
    if spec is None or spec.loader is None:
        raise LoadError("cannot import %s" % startup_file)
    module = importlib.util.module_from_spec(spec)
    sys.modules["passenger_wsgi"] = module
    spec.loader.exec_module(module)
    app = getattr(module, "application", None)
    if app is None:
        raise LoadError("%s does not define `application`" % startup_file)
    return app


def write_report(step, error):
    summary = "%s: %s" % (type(error).__name__, error)
    backtrace = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    sys.stderr.write("Error loading the application: %s\n%s" % (summary, backtrace))
    sys.stderr.flush()
    path = os.environ.get("PASSENGER_REPORT_FILE")
    if not path:
        return
    try:
        with open(path, "w", encoding="utf-8") as f:
            json.dump({"step": step, "summary": summary, "backtrace": backtrace}, f)
    except OSError as e:
        sys.stderr.write("Could not write the spawn report: %s\n" % e)


class BodyCutOff(IOError):
    """The request body ended before its end: the client went away or sent a
    broken body. Raised from wsgi.input, never a shorter body that looks whole."""


class Input:
    """wsgi.input: the request body read from the socket, limited to CONTENT_LENGTH,
    or, for a body the core de-chunked, framed by the core (`PASSENGER_BODY_FRAMED`:
    pieces of a 4-byte big-endian length then that many bytes, a zero length last).
    A body that breaks off before its end raises BodyCutOff."""

    def __init__(self, sock, length, framed=False):
        self._sock = sock
        self._remaining = length  # None: framed
        self._pending = b""
        self._framed = framed
        self._raw = b""  # framed: socket bytes not yet de-framed
        self._piece_left = 0
        self._ended = False

    def _recv(self, want):
        try:
            data = self._sock.recv(want)
        except (ConnectionResetError, OSError):
            data = b""
        if not data:
            raise BodyCutOff("the request body was cut off before its end")
        return data

    def _raw_read(self, size):
        if self._raw:
            data, self._raw = self._raw[:size], self._raw[size:]
            return data
        return self._recv(size)

    def _raw_exact(self, size):
        out = b""
        while len(out) < size:
            out += self._raw_read(size - len(out))
        return out

    def _deframe(self, size):
        while self._piece_left == 0:
            if self._ended:
                return b""
            self._piece_left = struct.unpack(">I", self._raw_exact(4))[0]
            if self._piece_left == 0:
                self._ended = True
                return b""
        data = self._raw_read(min(size, self._piece_left))
        self._piece_left -= len(data)
        return data

    def _chunk(self, size):
        if self._pending:
            data, self._pending = self._pending[:size], self._pending[size:]
            return data
        if self._framed:
            return self._deframe(size)
        if self._remaining == 0:
            return b""
        data = self._recv(min(size, self._remaining))
        self._remaining -= len(data)
        return data

    def drain_for_reuse(self, limit):
        """Reads and drops the unread rest of a body of known length, so the next
        header block can follow; False (nothing read) when that is over `limit` bytes
        or the length is unknown."""
        if self._framed or self._remaining > limit:
            return False
        self._pending = b""
        try:
            while self._chunk(READ_CHUNK):
                pass
        except BodyCutOff:
            return False
        return True

    def read(self, size=-1):
        parts = []
        if size is None or size < 0:
            while True:
                data = self._chunk(READ_CHUNK)
                if not data:
                    break
                parts.append(data)
        else:
            got = 0
            while got < size:
                data = self._chunk(min(READ_CHUNK, size - got))
                if not data:
                    break
                parts.append(data)
                got += len(data)
        return b"".join(parts)

    def readline(self, size=-1):
        parts = []
        got = 0
        while size is None or size < 0 or got < size:
            want = READ_CHUNK if size is None or size < 0 else min(READ_CHUNK, size - got)
            data = self._chunk(want)
            if not data:
                break
            newline = data.find(b"\n")
            if newline >= 0:
                self._pending = data[newline + 1:] + self._pending
                parts.append(data[: newline + 1])
                break
            parts.append(data)
            got += len(data)
        return b"".join(parts)

    def readlines(self, hint=-1):
        lines = []
        total = 0
        while True:
            line = self.readline()
            if not line:
                break
            lines.append(line)
            total += len(line)
            if hint is not None and 0 < hint <= total:
                break
        return lines

    def __iter__(self):
        return self

    def __next__(self):
        line = self.readline()
        if not line:
            raise StopIteration
        return line


class FileWrapper:
    """wsgi.file_wrapper: iterates over a file-like object in blocks."""

    def __init__(self, filelike, blksize=8192):
        self.filelike = filelike
        self.blksize = blksize
        if hasattr(filelike, "close"):
            self.close = filelike.close

    def __iter__(self):
        return self

    def __next__(self):
        data = self.filelike.read(self.blksize)
        if data:
            return data
        raise StopIteration


def read_exactly(sock, size):
    parts = []
    got = 0
    while got < size:
        data = sock.recv(size - got)
        if not data:
            return None
        parts.append(data)
        got += len(data)
    return b"".join(parts)


def read_header_block(sock):
    size = read_exactly(sock, 4)
    if size is None:
        return None
    (size,) = struct.unpack(">I", size)
    if size > MAX_HEADER_SIZE:
        raise ValueError("header block of %d bytes is too large" % size)
    data = read_exactly(sock, size)
    if data is None:
        raise ValueError("connection closed in the middle of the header block")
    fields = data.split(b"\0")
    if len(fields) % 2 == 1 and fields[-1] == b"":
        fields.pop()
    headers = {}
    for i in range(0, len(fields) - 1, 2):
        # PEP 3333: native strings holding latin-1 bytes.
        headers[fields[i].decode("latin-1")] = fields[i + 1].decode("latin-1")
    return headers


class Loader:
    """The accept loop and the session protocol for one WSGI app."""

    def __init__(self, app, password, direct_port=None):
        self.app = app
        self.password = password
        self.direct_port = direct_port
        self.stopping = False

    def serve(self, socket_path, on_listening=None):
        """Serves requests until stdin closes or SIGTERM; `on_listening()` runs once
        the socket listens."""
        direct = open_direct(self.direct_port)
        if os.path.exists(socket_path) and stat.S_ISSOCK(os.stat(socket_path).st_mode):
            os.unlink(socket_path)
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(socket_path)
        open_to_core(socket_path)
        server.listen(128)
        if on_listening is not None:
            on_listening()
        wake_r, wake_w = os.pipe()
        os.set_blocking(wake_w, False)

        def on_term(signum, frame):
            self.stopping = True
            try:
                os.write(wake_w, b".")
            except OSError:
                pass

        signal.signal(signal.SIGTERM, on_term)
        watched = [server, wake_r]
        if direct is not None:
            watched.append(direct)
        stdin_fd = sys.stdin.fileno() if stdin_watchable() else None
        if stdin_fd is not None:
            watched.append(stdin_fd)
        # A kept-alive connection waiting for its next request. A new connection on
        # the server socket replaces it (the core does not reuse it for every
        # request), so the core can never wait on a connection nobody reads.
        idle = None
        while not self.stopping:
            try:
                ready, _, _ = select.select(watched if idle is None else watched + [idle], [], [])
            except InterruptedError:
                continue
            if idle is not None and idle in ready:
                client, idle = idle, None
                idle = self.serve_client(client)
                continue
            for item in ready:
                if item is direct:
                    self.serve_direct(direct)
                elif item is server:
                    if idle is not None:
                        close_quietly(idle)
                        idle = None
                    idle = self.accept_one(server)
                elif item == stdin_fd:
                    try:
                        if not os.read(stdin_fd, 4096):
                            self.stopping = True
                    except OSError:
                        self.stopping = True
                else:
                    self.stopping = True
        if idle is not None:
            close_quietly(idle)
        if direct is not None:
            close_quietly(direct)
        server.close()
        try:
            os.unlink(socket_path)
        except OSError:
            pass

    def accept_one(self, server):
        """Accepts and serves one connection; returns it if it stays open."""
        try:
            client, _ = server.accept()
        except (BlockingIOError, InterruptedError, ConnectionAbortedError):
            return None
        return self.serve_client(client)

    def serve_client(self, client):
        """Serves one request on `client`; returns `client` if it stays open for the
        next request (keep-alive), else closes it and returns None."""
        keep = False
        try:
            keep = self.handle(client)
        except Exception:  # noqa: BLE001: keep serving
            sys.stderr.write("Error while handling a request:\n" + traceback.format_exc())
        if keep:
            return client
        close_quietly(client)
        return None

    def handle(self, client):
        """Reads one header block and serves it; True if the connection stays open."""
        headers = read_header_block(client)
        if headers is None:
            return False
        given = headers.pop("PASSENGER_CONNECT_PASSWORD", None)
        if self.password and given != self.password:
            sys.stderr.write("someone tried to connect with an invalid connect password.\n")
            return False
        method = headers.get("REQUEST_METHOD")
        if method == "OOBW":
            client.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\noobw done")
            return False
        if method == "PING":
            client.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\npong")
            return False
        return self.serve_request(client, headers)

    def serve_direct(self, listener):
        """Serves one plain HTTP request from the direct-access socket, then closes."""
        try:
            client, peer = listener.accept()
        except (BlockingIOError, InterruptedError, ConnectionAbortedError):
            return
        try:
            headers = self.read_http_request(client, peer)
            if headers is not None:
                self.serve_request(client, headers)
        except Exception:  # noqa: BLE001: keep serving
            sys.stderr.write("Error while handling a direct request:\n" + traceback.format_exc())
        close_quietly(client)

    def read_http_request(self, client, peer):
        """Reads a plain HTTP/1.x request head (never past it: the body stays in the
        socket for wsgi.input) and returns the variables a header block would carry;
        answers it itself and returns None when the connect password is missing or
        wrong or the request is not understood."""
        data = b""
        while not data.endswith(b"\r\n\r\n"):
            byte = client.recv(1)
            if not byte or len(data) > MAX_HEADER_SIZE:
                return None
            data += byte
        lines = data[:-4].decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) != 3 or not parts[1].startswith("/") or not parts[2].startswith("HTTP/"):
            return refuse_direct(client, 400, "Bad Request\n")
        method, target, version = parts
        environ = {}
        given = None
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep:
                continue
            key = name.strip().upper().replace("-", "_")
            value = value.strip()
            if key == "X_PASSENGER_CONNECT_PASSWORD":
                given = value
            elif key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
                environ[key] = value
            elif key not in ("CONNECTION", "KEEP_ALIVE"):
                key = "HTTP_" + key
                environ[key] = environ[key] + ", " + value if key in environ else value
        given = (given or "").encode()
        if not self.password or not hmac.compare_digest(given, self.password.encode()):
            sys.stderr.write("someone tried to connect with an invalid connect password.\n")
            return refuse_direct(client, 403, "X-Passenger-Connect-Password is missing or wrong\n")
        if "HTTP_TRANSFER_ENCODING" in environ:
            return refuse_direct(client, 411, "Send a Content-Length\n")
        path, _, query = target.partition("?")
        environ.update(
            REQUEST_METHOD=method,
            REQUEST_URI=target,
            PATH_INFO=path,
            QUERY_STRING=query,
            SCRIPT_NAME="",
            SERVER_NAME="127.0.0.1",
            SERVER_PORT=str(client.getsockname()[1]),
            SERVER_PROTOCOL=version,
            REMOTE_ADDR=peer[0],
            REMOTE_PORT=str(peer[1]),
        )
        return environ

    def build_environ(self, client, headers):
        environ = headers
        length = environ.get("CONTENT_LENGTH")
        framed = environ.pop("PASSENGER_BODY_FRAMED", None) == "1"
        if length and not framed:
            length = int(length)
        elif framed:
            length = None
        else:
            length = 0
            environ.pop("CONTENT_LENGTH", None)
        environ["wsgi.input"] = Input(client, length, framed)
        environ["wsgi.errors"] = sys.stderr
        environ["wsgi.version"] = (1, 0)
        environ["wsgi.multithread"] = False
        environ["wsgi.multiprocess"] = True
        environ["wsgi.run_once"] = False
        environ["wsgi.url_scheme"] = "https" if environ.get("HTTPS") == "on" else "http"
        environ["wsgi.file_wrapper"] = FileWrapper
        environ.setdefault("SCRIPT_NAME", "")
        environ.setdefault("PATH_INFO", "")
        environ.setdefault("QUERY_STRING", "")
        environ.setdefault("SERVER_SOFTWARE", "passenger-rs")
        environ.setdefault("SERVER_PROTOCOL", "HTTP/1.1")
        return environ

    def serve_request(self, client, headers):
        """Calls the app and writes its response; True if the connection stays open
        for another request."""
        keep_alive = headers.pop("PASSENGER_KEEP_ALIVE", None) == "1"
        environ = self.build_environ(client, headers)
        wsgi_input = environ["wsgi.input"]
        method = environ.get("REQUEST_METHOD")
        state = {"status": None, "headers": None, "sent": False, "length": None, "written": 0}

        def can_keep():
            # Drained now: the response must not be written over an unread body.
            return (
                keep_alive
                and not state["status"].startswith("1")
                and wsgi_input.drain_for_reuse(MAX_DRAIN)
            )

        def head(length):
            lines = ["HTTP/1.1 %s\r\n" % state["status"]]
            lines.extend("%s: %s\r\n" % (k, v) for k, v in state["headers"] if not k.startswith("!~"))
            if length is not None:
                lines.append("%s: %d\r\n" % (KEEP_ALIVE_HEADER, length))
            lines.append("\r\n")
            return "".join(lines).encode("latin-1")

        def write(data):
            if state["status"] is None:
                raise AssertionError("write() before start_response()")
            if not state["sent"]:
                if can_keep():
                    state["length"] = framing_length(state["headers"], state["status"], method)
                client.sendall(head(state["length"]))
                state["sent"] = True
            if data:
                limit = state["length"]
                if limit is not None and state["written"] + len(data) > limit:
                    data = data[: limit - state["written"]]
                    client.sendall(data)
                    state["written"] += len(data)
                    raise BrokenPipeError("the body is longer than its Content-Length")
                client.sendall(data)
                state["written"] += len(data)

        def start_response(status, response_headers, exc_info=None):
            if exc_info:
                try:
                    if state["sent"]:
                        raise exc_info[1].with_traceback(exc_info[2])
                finally:
                    exc_info = None
            elif state["status"] is not None:
                raise AssertionError("start_response() called twice without exc_info")
            state["status"] = status
            state["headers"] = response_headers
            return write

        result = None
        keep = False
        try:
            result = self.app(environ, start_response)
            if isinstance(result, (list, tuple)) and not state["sent"] and state["status"] is not None:
                # The common case: the whole response in one send, framed for
                # keep-alive by its length.
                body = b"".join(result)
                length = len(body) if can_keep() else None
                payload = head(length) + body
                state["sent"] = True
                client.sendall(payload)
                keep = length is not None
            else:
                for chunk in result:
                    if chunk:
                        write(chunk)
                if not state["sent"]:
                    write(b"")
                # Fewer bytes than announced: closing tells the core the body is short.
                keep = state["length"] is not None and state["written"] == state["length"]
        except (BrokenPipeError, ConnectionResetError):
            keep = False  # The core went away, or the app wrote past its length.
        except Exception:  # noqa: BLE001: answer 500
            keep = False
            sys.stderr.write("Error in the WSGI application:\n" + traceback.format_exc())
            if not state["sent"]:
                body = b"Internal Server Error\n"
                try:
                    client.sendall(
                        b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\n"
                        b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
                    )
                except OSError:
                    pass
        finally:
            if hasattr(result, "close"):
                try:
                    result.close()
                except Exception:  # noqa: BLE001: keep serving
                    sys.stderr.write("Error closing the response:\n" + traceback.format_exc())
            sys.stdout.flush()
            sys.stderr.flush()
        return keep


def open_to_core(path):
    """PASSENGER_SOCKET_MODE (octal): set when the core runs as another user than this
    app (it dropped root) and must still connect to the socket; the unlistable socket
    directory guards it."""
    mode = os.environ.get("PASSENGER_SOCKET_MODE")
    if mode:
        os.chmod(path, int(mode, 8))


def open_direct(port):
    """The direct-access socket on 127.0.0.1:`port`, or None without a port. A port
    someone else took fails the spawn: the core would show that URL to operators, who
    would send the password there."""
    if not port:
        return None
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind(("127.0.0.1", int(port)))
    except OSError as e:
        listener.close()
        raise OSError("cannot listen on 127.0.0.1:%s for direct access: %s" % (port, e)) from e
    listener.listen(16)
    return listener


def refuse_direct(client, status, body):
    body = body.encode()
    client.sendall(
        b"HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
        b"Connection: close\r\n\r\n%s"
        % (status, STATUS_REASONS.get(status, "Unknown").encode(), len(body), body)
    )
    return None


def close_quietly(sock):
    try:
        sock.close()
    except OSError:
        pass


def framing_length(headers, status, method):
    """The body length a streamed response can be framed with for keep-alive: the
    app's Content-Length, except for HEAD and bodiless statuses; else None."""
    if method == "HEAD":
        return None
    code = status.split(" ", 1)[0]
    if code in ("204", "304") or code.startswith("1"):
        return None
    for name, value in headers:
        if name.lower() == "content-length":
            value = value.strip()
            if value.isdigit() and len(value) <= 18:
                return int(value)
            return None
    return None


def stdin_watchable():
    try:
        mode = os.fstat(sys.stdin.fileno()).st_mode
    except (OSError, ValueError, AttributeError):
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


def starting_worker_process(forked):
    """Passenger's :starting_worker_process event, for WSGI apps that opt in."""
    module = sys.modules.get("passenger_wsgi")
    hook = getattr(module, "passenger_starting_worker_process", None)
    if callable(hook):
        hook(forked)


def send_line(conn, obj):
    conn.sendall((json.dumps(obj) + "\n").encode("utf-8"))


class Preloader:
    """Loads the app once and forks a worker per spawn command (ARCHITECTURE.md,
    "Preloader protocol"). Workers outlive the preloader."""

    def __init__(self, app, app_root, password):
        self.app = app
        self.app_root = app_root
        self.password = password
        self.stopping = False

    def run(self, socket_path):
        # Workers are reaped by the kernel while the preloader lives; each worker
        # restores the default so that the app can wait for its own children.
        signal.signal(signal.SIGCHLD, signal.SIG_IGN)
        if os.path.exists(socket_path) and stat.S_ISSOCK(os.stat(socket_path).st_mode):
            os.unlink(socket_path)
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(socket_path)
        open_to_core(socket_path)
        server.listen(128)
        wake_r, wake_w = os.pipe()
        os.set_blocking(wake_w, False)

        def on_term(signum, frame):
            self.stopping = True
            try:
                os.write(wake_w, b".")
            except OSError:
                pass

        signal.signal(signal.SIGTERM, on_term)
        watched = [server, wake_r]
        stdin_fd = sys.stdin.fileno() if stdin_watchable() else None
        if stdin_fd is not None:
            watched.append(stdin_fd)
        while not self.stopping:
            try:
                ready, _, _ = select.select(watched, [], [])
            except InterruptedError:
                continue
            for item in ready:
                if item is server:
                    try:
                        conn, _ = server.accept()
                    except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                        continue
                    try:
                        self.command(server, conn)
                    except Exception:  # noqa: BLE001: keep serving
                        sys.stderr.write("Error in a preloader command:\n" + traceback.format_exc())
                    finally:
                        conn.close()
                elif item == stdin_fd:
                    try:
                        if not os.read(stdin_fd, 4096):
                            self.stopping = True
                    except OSError:
                        self.stopping = True
                else:
                    self.stopping = True
        server.close()
        try:
            os.unlink(socket_path)
        except OSError:
            pass

    def command(self, server, conn):
        """One command connection: a first message carrying the worker's stdin and
        output fds (SCM_RIGHTS), then one JSON line. Empty: a readiness probe."""
        try:
            data, fds, _, _ = socket.recv_fds(conn, 65536, 4)
        except (ConnectionResetError, OSError):
            return
        try:
            if not data:
                return
            while b"\n" not in data and len(data) < 65536:
                more = conn.recv(65536)
                if not more:
                    break
                data += more
            cmd = json.loads(data.split(b"\n", 1)[0].decode("utf-8"))
            if self.password and cmd.get("auth") != self.password:
                send_line(conn, {"result": "error", "message": "bad preloader password"})
                return
            if cmd.get("command") != "spawn":
                send_line(conn, {"result": "error", "message": "unknown command %r" % cmd.get("command")})
                return
            if len(fds) != 2:
                send_line(conn, {"result": "error", "message": "expected 2 file descriptors"})
                return
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                self.become_worker(server, conn, fds, cmd)
        except Exception as e:  # noqa: BLE001: answer the core
            try:
                send_line(conn, {"result": "error", "message": "%s: %s" % (type(e).__name__, e)})
            except OSError:
                pass
        finally:
            for fd in fds:
                try:
                    os.close(fd)
                except OSError:
                    pass

    def become_worker(self, server, conn, fds, cmd):
        """In the forked child: detach from the preloader, announce the pid, run the
        worker hook, listen and say so, then serve. Never returns."""
        try:
            server.close()
            os.setpgid(0, 0)
            os.dup2(fds[0], 0)
            os.dup2(fds[1], 1)
            os.dup2(fds[1], 2)
            for fd in fds:
                os.close(fd)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            send_line(conn, {"pid": os.getpid()})
            if "random" in sys.modules:
                sys.modules["random"].seed()
            set_process_title("Passenger PythonApp: %s" % self.app_root)
            starting_worker_process(True)

            def listening():
                send_line(conn, {"result": "ok", "pid": os.getpid()})
                conn.close()

            Loader(self.app, cmd.get("password"), cmd.get("direct_port")).serve(
                cmd["socket"], listening
            )
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(0)
        except BaseException as e:  # noqa: BLE001: report, never return
            try:
                sys.stderr.write("Could not start the worker process:\n" + traceback.format_exc())
                sys.stderr.flush()
                send_line(conn, {"result": "error", "message": "%s: %s" % (type(e).__name__, e)})
            except BaseException:  # noqa: BLE001
                pass
            os._exit(1)


def main():
    app_root = os.environ.get("PASSENGER_APP_ROOT") or os.getcwd()
    startup = os.environ.get("PASSENGER_STARTUP_FILE") or "passenger_wsgi.py"
    startup = os.path.join(app_root, startup)
    preloader = os.environ.get("PASSENGER_PRELOADER") == "1"
    if preloader:
        set_process_title("Passenger AppPreloader: %s" % app_root)
    else:
        set_process_title("Passenger PythonApp: %s" % app_root)
    try:
        os.chdir(app_root)
        app = load_app(app_root, startup)
        if not preloader:
            starting_worker_process(False)
    except BaseException as e:  # noqa: BLE001: SyntaxError, ImportError, SystemExit...
        write_report("app_load", e)
        os._exit(1)
    password = os.environ.get("PASSENGER_CONNECT_PASSWORD")
    if preloader:
        Preloader(app, app_root, password).run(os.environ["PASSENGER_SOCKET"])
    else:
        Loader(app, password, os.environ.get("PASSENGER_DIRECT_PORT")).serve(
            os.environ["PASSENGER_SOCKET"]
        )
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
