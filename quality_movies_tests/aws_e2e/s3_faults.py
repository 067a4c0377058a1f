"""The S3 server under faults: SeaweedFS that is stopped by its process id and started again on the
same ports and data, and a proxy on 127.0.0.1 in front of it that answers chosen requests with the
errors S3 answers when it throttles (503 SlowDown) or fails (500 InternalError)."""

import http.client
import os
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

from quality_movies_tests.aws.conftest import (
    S3Server,
    free_ports,
    s3_endpoint,
    wait_until_serving,
    weed_mini_command,
)

# S3's own answers (Amazon S3 API reference, "Error responses"): status, code, message.
SLOW_DOWN = (503, "SlowDown", "Please reduce your request rate.")
INTERNAL_ERROR = (500, "InternalError", "We encountered an internal error. Please try again.")
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "expect", "proxy-connection"}


@dataclass
class RestartableSeaweedFS:
    """``weed mini`` on fixed ports and a fixed data folder, so a stopped server comes back as it was."""

    binary: str
    root: Path
    access_key: str
    secret_key: str
    ports: list[int] = field(default_factory=lambda: free_ports(10))
    process: subprocess.Popen | None = None
    starts: int = 0

    @property
    def command(self) -> list[str]:
        return weed_mini_command(self.binary, self.root / "data", self.ports)

    @property
    def server(self) -> S3Server:
        return S3Server(s3_endpoint(self.command), self.access_key, self.secret_key)

    def start(self) -> None:
        (self.root / "data").mkdir(parents=True, exist_ok=True)
        log_path = self.root / f"weed-{self.starts}.log"
        env = {
            **os.environ,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
        }
        with log_path.open("wb") as log:
            self.process = subprocess.Popen(
                self.command, stdout=log, stderr=subprocess.STDOUT, env=env
            )
        self.starts += 1
        wait_until_serving(self.server, self.process, log_path)

    def stop(self) -> None:
        """SIGTERM to the server's own process id; SIGKILL when it has not exited in 15 s."""
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)
        self.process = None

    @property
    def running(self) -> bool:
        return self.process is not None


# Decides, per request (method, path with query), whether to answer one of S3's errors instead.
Injector = Callable[[str, str], tuple[int, str, str] | None]


class FaultProxy:
    """An HTTP proxy on a free port of 127.0.0.1 relaying every request to ``upstream`` unchanged
    (the Host header and the signature with it), unless ``inject`` answers an S3 error for it."""

    def __init__(self, upstream: str) -> None:
        self.upstream = urlsplit(upstream)
        self.inject: Injector = lambda method, path: None
        self.injected: list[tuple[str, str, str]] = []
        self.relayed = 0
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

            def do_request(self) -> None:
                body = self._body()
                with proxy._lock:
                    fault = proxy.inject(self.command, self.path)
                    if fault is not None:
                        proxy.injected.append((self.command, self.path, fault[1]))
                    else:
                        proxy.relayed += 1
                if fault is not None:
                    self._answer_error(*fault)
                else:
                    self._relay(body)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_request  # noqa: N815

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    chunks = []
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                        if size == 0:
                            while self.rfile.readline().strip():
                                pass
                            return b"".join(chunks)
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _relay(self, body: bytes) -> None:
                upstream = http.client.HTTPConnection(
                    proxy.upstream.hostname, proxy.upstream.port, timeout=60
                )
                try:
                    upstream.putrequest(
                        self.command, self.path, skip_host=True, skip_accept_encoding=True
                    )
                    for name, value in self.headers.items():
                        if name.lower() not in HOP_BY_HOP | {"content-length"}:
                            upstream.putheader(name, value)
                    if body or self.command in ("PUT", "POST"):
                        upstream.putheader("Content-Length", str(len(body)))
                    upstream.endheaders(body or None)
                    response = upstream.getresponse()
                    payload = response.read()
                except OSError:  # the server is down: the client sees the connection dropped
                    self.close_connection = True
                    self.connection.close()
                    return
                finally:
                    upstream.close()
                self.send_response_only(response.status, response.reason)
                for name, value in response.getheaders():
                    if name.lower() not in HOP_BY_HOP | {"content-length"}:
                        self.send_header(name, value)
                length = response.getheader("Content-Length") if self.command == "HEAD" else None
                self.send_header("Content-Length", length or str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

            def _answer_error(self, status: int, code: str, message: str) -> None:
                payload = (
                    '<?xml version="1.0" encoding="UTF-8"?>\n'
                    f"<Error><Code>{code}</Code><Message>{message}</Message>"
                    "<RequestId>fault-proxy</RequestId></Error>"
                ).encode()
                self.send_response_only(status)
                self.send_header("Content-Type", "application/xml")
                self.send_header("x-amz-request-id", "fault-proxy")
                self.send_header(
                    "Content-Length", "0" if self.command == "HEAD" else str(len(payload))
                )
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
