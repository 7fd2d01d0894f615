"""A local HTTP server (127.0.0.1, random port) serving a folder, for download tests.

Unlike ``http.server.SimpleHTTPRequestHandler`` it honours ``Range: bytes=N-`` (206/416), like
the CDN in front of data.binance.vision, records every request, and can inject faults:

* ``server.fail[path] = [503, 503]`` — answer the next requests for ``path`` with these codes;
* ``server.cut[path] = n`` — on the next full GET of ``path``, send the headers for the whole
  file but only ``n`` bytes of body, then close the connection (a dropped download);
* ``server.ignore_range = True`` — answer Range requests with the whole file (200);
* ``server.trickle[path] = (n, delay)`` — send the body ``n`` bytes at a time, ``delay`` s apart;
* ``server.endless[path] = limit`` — answer 200 with no Content-Length and a body of junk that
  goes on until the client hangs up (or ``limit`` bytes);
* ``server.claim_length[path] = n`` — announce Content-Length ``n`` (whatever the file's size).

Usage::

    with ArchiveServer(root) as srv:
        urllib.request.urlopen(srv.url + "/data/x.zip")
        srv.requests  # [("GET", "/data/x.zip", 200, None)]
"""

from __future__ import annotations

import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit


class ArchiveServer:
    def __init__(self, root: Path):
        self.root = Path(root).resolve()
        self.requests: list[tuple[str, str, int, str | None]] = []  # method, path, status, Range
        self.fail: dict[str, list[int]] = {}
        self.cut: dict[str, int] = {}
        self.ignore_range = False
        self.trickle: dict[str, tuple[int, float]] = {}
        self.endless: dict[str, int] = {}
        self.claim_length: dict[str, int] = {}
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> ArchiveServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)

    def record(self, method: str, path: str, status: int, rng: str | None) -> None:
        with self._lock:
            self.requests.append((method, path, status, rng))

    def served(self, suffix: str = ".zip", status: int | None = None) -> list[str]:
        """Paths of GET requests ending in ``suffix`` (optionally with this status)."""
        return [
            p
            for m, p, s, _ in self.requests
            if m == "GET" and p.endswith(suffix) and (status is None or s == status)
        ]

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()


def _handler_for(server: ArchiveServer):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # keep test output quiet
            pass

        def do_HEAD(self) -> None:
            self._serve(body=False)

        def do_GET(self) -> None:
            self._serve(body=True)

        def _error(self, code: int, path: str, rng: str | None) -> None:
            server.record(self.command, path, code, rng)
            self.send_response(code)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def _serve(self, body: bool) -> None:
            path = unquote(urlsplit(self.path).path)
            rng = self.headers.get("Range")
            with server._lock:
                queue = server.fail.get(path)
                code = queue.pop(0) if queue else None
            if code is not None:
                return self._error(code, path, rng)
            if path in server.endless:
                return self._endless(path, rng, server.endless[path])
            file = (server.root / path.lstrip("/")).resolve()
            if not file.is_file() or server.root not in file.parents:
                return self._error(404, path, rng)
            data = file.read_bytes()
            start = 0
            if rng and not server.ignore_range:
                m = re.fullmatch(r"bytes=(\d+)-", rng.strip())
                if not m:
                    return self._error(400, path, rng)
                start = int(m.group(1))
                if start >= len(data):
                    # recorded before answering: the client may look right after the response
                    server.record(self.command, path, 416, rng)
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
            status = 206 if start else 200
            chunk = data[start:]
            server.record(self.command, path, status, rng)
            self.send_response(status)
            self.send_header("Content-Type", "application/zip")
            self.send_header("Content-Length", str(server.claim_length.get(path, len(chunk))))
            if status == 206:
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            self.end_headers()
            if not body:
                return
            with server._lock:
                cut = server.cut.pop(path, None) if status == 200 else None
            if cut is not None:
                self.wfile.write(chunk[:cut])
                self.wfile.flush()
                self.close_connection = True
                return
            if path in server.trickle:
                n, delay = server.trickle[path]
                try:
                    for i in range(0, len(chunk), n):
                        self.wfile.write(chunk[i:i + n])
                        self.wfile.flush()
                        time.sleep(delay)
                except OSError:  # the client gave up
                    pass
                self.close_connection = True
                return
            self.wfile.write(chunk)

        def _endless(self, path: str, rng: str | None, limit: int) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/zip")
            self.send_header("Connection", "close")
            self.end_headers()
            server.record(self.command, path, 200, rng)
            self.close_connection = True
            block, sent = b"A" * 65536, 0
            try:
                while sent < limit and self.command == "GET":
                    self.wfile.write(block)
                    sent += len(block)
            except OSError:  # the client gave up
                pass

    return Handler
