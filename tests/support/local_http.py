"""A local HTTP server on 127.0.0.1 for the download tests, and a guard that keeps
every request of the code under test on 127.0.0.1.

Both are pytest fixtures, used by importing them into a test module
(`from tests.support.local_http import local_only, server`). `server` is a
`ThreadingHTTPServer` on a free port; set `server.routes` to
`{path (with its query): (body, mode)}` and read `server.requests` (the paths asked
for, in order). Modes: "ok" sends the body; "cut" promises the whole body
(Content-Length) and closes the connection after half of it; "redirect" answers 302
with the body (a path) as Location.
"""

import http.server
import socket
import threading
import urllib.parse
import urllib.request

import pytest


class Handler(http.server.BaseHTTPRequestHandler):
    timeout = 5  # a stuck client cannot hold a server thread

    def do_GET(self):  # noqa: N802 (http.server's name)
        server = self.server
        server.requests.append(self.path)
        if self.path not in server.routes:
            self.send_error(404)
            return
        body, mode = server.routes[self.path]
        if mode == "redirect":
            self.send_response(302)
            self.send_header("Location", body)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if mode == "cut":  # the server goes away mid-body
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    """A running server on 127.0.0.1 (a free port: `server.server_port`), shut down after
    the test module. A fixture: import it into a test module to use it."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    httpd.routes, httpd.requests = {}, []
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


@pytest.fixture(autouse=True)
def local_only(monkeypatch):
    """Whatever the code under test does, no request leaves 127.0.0.1 (nor goes through
    a proxy): `urllib.request.urlopen` refuses any other host. Imported into a test
    module, it applies to each of its tests."""
    real = urllib.request.urlopen

    def urlopen(request, *args, **kwargs):
        url = request.full_url if isinstance(request, urllib.request.Request) else request
        assert urllib.parse.urlsplit(url).hostname == "127.0.0.1", f"tried to reach {url}"
        return real(request, *args, **kwargs)

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    for var in ("no_proxy", "NO_PROXY"):
        monkeypatch.setenv(var, "127.0.0.1")


def closed_port():
    """A port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
