"""A minimal app for `passenger start`: Python 3 standard library only.

Passenger starts it with `python3 app.py` (see Passengerfile.json) and tells it which port to listen
on through the PORT environment variable. Static files in public/ are served by Passenger itself.
"""
import html
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Hello(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        body = (
            "<!DOCTYPE html><title>Hello from Passenger</title>"
            "<h1>Hello from Passenger</h1>"
            "<p>Process %d served %s (environment: %s).</p>"
            '<p>A static file: <a href="/hello.txt">/hello.txt</a></p>'
            % (os.getpid(), html.escape(self.path),
               html.escape(os.environ.get("PASSENGER_APP_ENV", "unknown")))
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


if __name__ == "__main__":
    port = int(os.environ.get("PORT", "3000"))
    server = ThreadingHTTPServer(("127.0.0.1", port), Hello)
    server.daemon_threads = True
    print("example app listening on 127.0.0.1:%d" % port, flush=True)
    server.serve_forever()
