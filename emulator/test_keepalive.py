"""Tests for emulator/keepalive.py: the emulator keeps HTTP/1.1 connections alive.

Run with:  cd emulator && python3 -m unittest test_keepalive
      or:  python3 -m unittest emulator/test_keepalive.py   (from the repo root)

Most tests run KeepAliveServer in this process around small WSGI apps that
misbehave on purpose (leave the body unread, raise, answer HEAD with a body)
and speak HTTP to it over raw sockets, reading answers with a parser that
takes exactly one answer off the stream, so a framing error shows up as the
next answer failing to parse. The last ones start the real launcher and send
it what the SDKs send: several calls on one connection, a multi-megabyte S3
PutObject with `Expect: 100-continue`, and a SIGTERM with idle connections
open.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import logging
import os
import signal
import socket
import sys
import threading
import unittest
from typing import Any, BinaryIO, Callable

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from keepalive import KeepAliveServer  # noqa: E402
from test_wtt_emulator import Emulator  # noqa: E402

# Generous: only a broken server waits this long.
TIMEOUT = 30


def echo_app(environ: dict[str, Any], start_response: Callable) -> list[bytes]:
    """Reads the whole body and answers what it saw, with a Content-Length."""
    body = environ["wsgi.input"].read()
    data = json.dumps({
        "method": environ["REQUEST_METHOD"],
        "path": environ["PATH_INFO"],
        "peer_port": environ["REMOTE_PORT"],
        "body_sha256": hashlib.sha256(body).hexdigest(),
        "body_len": len(body),
        "raw_uri": environ.get("RAW_URI"),
        "request_uri": environ.get("REQUEST_URI"),
    }).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]


def lazy_app(environ: dict[str, Any], start_response: Callable) -> list[bytes]:
    """Never reads the body (as an app answering an error before parsing
    would), and gives no Content-Length, in two pieces."""
    start_response("403 Forbidden", [("Content-Type", "text/plain")])
    return [b"not ", b"reading that"]


def partial_app(environ: dict[str, Any], start_response: Callable) -> list[bytes]:
    """Reads the first 10 bytes of the body and answers them."""
    data = environ["wsgi.input"].read(10)
    start_response("200 OK", [("Content-Length", str(len(data)))])
    return [data]


def head_app(environ: dict[str, Any], start_response: Callable) -> list[bytes]:
    """Answers HEAD with a body, which the server must not send."""
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")])
    return [b"hello"]


def raising_app(environ: dict[str, Any], start_response: Callable) -> list[bytes]:
    raise RuntimeError("the app broke")


def short_app(environ: dict[str, Any], start_response: Callable) -> list[bytes]:
    """Declares 10 bytes and sends 3: only a close can end that answer."""
    start_response("200 OK", [("Content-Length", "10")])
    return [b"abc"]


ROUTES = {"/echo": echo_app, "/lazy": lazy_app, "/partial": partial_app, "/head": head_app, "/raise": raising_app, "/short": short_app}


def router(environ: dict[str, Any], start_response: Callable) -> Any:
    return ROUTES[environ["PATH_INFO"]](environ, start_response)


class Answer:
    def __init__(self, version: str, code: int, headers: dict[str, str], body: bytes) -> None:
        self.version, self.code, self.headers, self.body = version, code, headers, body

    def json(self) -> dict[str, Any]:
        return json.loads(self.body)


def read_answer(stream: BinaryIO, method: str = "GET") -> Answer:
    """Exactly one answer off the stream: status line, headers, then the body
    its Content-Length says (none for HEAD); 1xx interim answers are
    returned as they are, body-less."""
    line = stream.readline()
    if not line:
        raise EOFError("connection closed before an answer")
    version, code, _ = line.decode("latin-1").rstrip("\r\n").split(" ", 2)
    headers: dict[str, str] = {}
    while True:
        h = stream.readline().decode("latin-1").rstrip("\r\n")
        if not h:
            break
        name, value = h.split(":", 1)
        if name.lower() in headers:
            raise AssertionError(f"header {name} twice")
        headers[name.lower()] = value.strip()
    status = int(code)
    if "transfer-encoding" in headers:
        raise AssertionError(f"chunked answer: {headers}")
    body = b""
    if method != "HEAD" and status >= 200 and status not in (204, 304):
        if "content-length" not in headers:
            raise AssertionError(f"answer {status} without Content-Length: {headers}")
        body = stream.read(int(headers["content-length"]))
    return Answer(version, status, headers, body)


def request(method: str, path: str, body: bytes = b"", version: str = "HTTP/1.1", **headers: str) -> bytes:
    lines = [f"{method} {path} {version}", "Host: test"]
    if body:
        lines.append(f"Content-Length: {len(body)}")
    lines += [f"{k.replace('_', '-')}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class ServerTestCase(unittest.TestCase):
    """KeepAliveServer around the routes above, on a free loopback port."""

    def setUp(self) -> None:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # as --quiet does
        self.server = KeepAliveServer("127.0.0.1", 0, router)
        # A short poll: shutdown() waits for the loop to look again.
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        self.port = self.server.server_port

    def tearDown(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(TIMEOUT)

    def connect(self) -> tuple[socket.socket, BinaryIO]:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=TIMEOUT)
        self.addCleanup(sock.close)
        return sock, sock.makefile("rb")

    def assertClosed(self, sock: socket.socket, stream: BinaryIO) -> None:
        self.assertEqual(stream.read(), b"", "the server should have closed the connection")

    def assertOpen(self, sock: socket.socket, stream: BinaryIO) -> None:
        sock.sendall(request("GET", "/echo"))
        self.assertEqual(read_answer(stream).code, 200, "the connection should still serve")


class TestKeepAlive(ServerTestCase):
    def test_several_requests_on_one_connection(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=TIMEOUT)
        self.addCleanup(conn.close)
        ports = set()
        for i in range(5):
            body = os.urandom(1000 * i)
            conn.request("POST", "/echo", body=body)
            resp = conn.getresponse()
            self.assertEqual(resp.status, 200)
            self.assertIsNone(resp.getheader("Connection"), "no Connection: close on a kept connection")
            seen = json.loads(resp.read())
            self.assertEqual(seen["body_sha256"], hashlib.sha256(body).hexdigest())
            ports.add(seen["peer_port"])
        self.assertEqual(ports, {conn.sock.getsockname()[1]}, "every request came on the one connection")

    def test_werkzeug_environ_is_kept(self) -> None:
        sock, stream = self.connect()
        sock.sendall(request("GET", "/echo?a=%2Fb"))
        seen = read_answer(stream).json()
        self.assertEqual(seen["raw_uri"], "/echo?a=%2Fb")  # moto routes some services by it
        self.assertEqual(seen["request_uri"], "/echo?a=%2Fb")

    def test_body_the_app_leaves_is_drained(self) -> None:
        sock, stream = self.connect()
        body = b"x" * 300_000  # more than the socket buffer holds at once
        sock.sendall(request("POST", "/lazy", body))
        answer = read_answer(stream)
        self.assertEqual((answer.code, answer.body), (403, b"not reading that"))
        self.assertEqual(answer.headers["content-length"], "16", "a length worked out for an app that gave none")
        sock.sendall(request("POST", "/echo", b"next"))
        self.assertEqual(read_answer(stream).json()["body_len"], 4, "the next request parsed where the body ended")

    def test_body_the_app_reads_in_part_is_drained(self) -> None:
        sock, stream = self.connect()
        sock.sendall(request("POST", "/partial", b"0123456789" + b"y" * 100_000) + request("POST", "/echo", b"after"))
        self.assertEqual(read_answer(stream).body, b"0123456789")
        self.assertEqual(read_answer(stream).json()["body_len"], 5)

    def test_pipelined_requests_in_one_write(self) -> None:
        sock, stream = self.connect()
        first = os.urandom(70_000)
        sock.sendall(request("POST", "/lazy", first) + request("POST", "/echo", b"second") + request("GET", "/echo"))
        self.assertEqual(read_answer(stream).code, 403)
        second = read_answer(stream).json()
        self.assertEqual((second["method"], second["body_len"]), ("POST", 6))
        third = read_answer(stream).json()
        self.assertEqual((third["method"], third["body_len"]), ("GET", 0))
        self.assertOpen(sock, stream)

    def test_connection_close_is_honoured(self) -> None:
        sock, stream = self.connect()
        sock.sendall(request("GET", "/echo", Connection="close"))
        answer = read_answer(stream)
        self.assertEqual((answer.code, answer.headers.get("connection")), (200, "close"))
        self.assertClosed(sock, stream)

    def test_http10_closes_unless_keep_alive(self) -> None:
        sock, stream = self.connect()
        sock.sendall(request("GET", "/echo", version="HTTP/1.0"))
        self.assertEqual(read_answer(stream).headers.get("connection"), "close")
        self.assertClosed(sock, stream)

        sock, stream = self.connect()
        sock.sendall(request("GET", "/echo", version="HTTP/1.0", Connection="keep-alive"))
        self.assertEqual(read_answer(stream).headers.get("connection"), "keep-alive")
        self.assertOpen(sock, stream)

    def test_head_gets_no_body(self) -> None:
        sock, stream = self.connect()
        sock.sendall(request("HEAD", "/head"))
        answer = read_answer(stream, "HEAD")
        self.assertEqual((answer.code, answer.headers["content-length"]), (200, "5"), "the length of what GET would send")
        self.assertOpen(sock, stream)  # would read "hello" as a status line if the body had gone out

    def test_app_that_raises_answers_500_and_closes(self) -> None:
        sock, stream = self.connect()
        with self.assertLogs("werkzeug", logging.ERROR) as logs:
            sock.sendall(request("POST", "/raise", b"unread"))
            answer = read_answer(stream)
            self.assertClosed(sock, stream)
        self.assertEqual((answer.code, answer.headers.get("connection")), (500, "close"))
        self.assertIn(b"Internal Server Error", answer.body)
        self.assertIn("the app broke", "\n".join(logs.output))

    def test_short_body_from_the_app_closes(self) -> None:
        sock, stream = self.connect()
        sock.sendall(request("GET", "/short"))
        self.assertEqual(stream.readline(), b"HTTP/1.1 200 OK\r\n")
        self.assertTrue(stream.read().endswith(b"\r\n\r\nabc"), "what the app sent, then the close")

    def test_chunked_request_is_answered_then_closed(self) -> None:
        sock, stream = self.connect()
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n"
                     b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
        answer = read_answer(stream)
        self.assertEqual((answer.json()["body_len"], answer.headers.get("connection")), (11, "close"))
        self.assertClosed(sock, stream)

    def test_bad_content_length_is_refused(self) -> None:
        sock, stream = self.connect()
        with self.assertLogs("werkzeug", logging.ERROR) as logs:
            sock.sendall(b"POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: -3\r\n\r\n")
            self.assertEqual(read_answer(stream).code, 400)
            self.assertClosed(sock, stream)
        self.assertIn("Content-Length", "\n".join(logs.output))

    def test_expect_100_continue(self) -> None:
        sock, stream = self.connect()
        body = os.urandom(2_000_000)
        sock.sendall(f"PUT /echo HTTP/1.1\r\nHost: test\r\nContent-Length: {len(body)}\r\n"
                     "Expect: 100-continue\r\n\r\n".encode())
        interim = read_answer(stream)
        self.assertEqual(interim.code, 100, "the client waits for 100 Continue before sending the body")
        sock.sendall(body)
        answer = read_answer(stream)
        self.assertEqual(answer.code, 200, "exactly one 100 Continue, then the answer")
        self.assertEqual(answer.json()["body_sha256"], hashlib.sha256(body).hexdigest())
        self.assertOpen(sock, stream)

    def test_stopping_server_closes_after_the_answer(self) -> None:
        sock, stream = self.connect()
        self.server.stopping = True
        sock.sendall(request("GET", "/echo"))
        self.assertEqual(read_answer(stream).headers.get("connection"), "close")
        self.assertClosed(sock, stream)


class TestLauncher(unittest.TestCase):
    """The real launcher (moto behind KeepAliveServer), data plane off."""

    @classmethod
    def setUpClass(cls) -> None:
        cls.emu = Emulator()
        cls.host, cls.port = "127.0.0.1", int(cls.emu.url.rsplit(":", 1)[1])

    @classmethod
    def tearDownClass(cls) -> None:
        if cls.emu.proc.poll() is None:
            cls.emu.stop()

    def test_aws_calls_share_a_connection(self) -> None:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=TIMEOUT)
        self.addCleanup(conn.close)
        form = {"Content-Type": "application/x-www-form-urlencoded",
                "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20261130/us-east-1/sts/aws4_request"}
        first = None
        for action in ("GetCallerIdentity", "GetCallerIdentity", "GetCallerIdentity"):
            conn.request("POST", "/", body=f"Action={action}&Version=2011-06-15", headers=form)
            resp = conn.getresponse()
            self.assertEqual(resp.status, 200)
            self.assertIsNone(resp.getheader("Connection"))
            self.assertIn(b"<Account>", resp.read())
            first = first or conn.sock
            self.assertIs(conn.sock, first, "http.client reconnected: the emulator closed the connection")

    def test_multi_megabyte_put_object_with_expect_continue(self) -> None:
        s3 = self.emu.client("s3")
        sent: list[dict[str, str]] = []
        s3.meta.events.register("before-send.s3.PutObject", lambda request, **_: sent.append(dict(request.headers)))
        s3.create_bucket(Bucket="keepalive")
        body = os.urandom(6 * 1024 * 1024)
        s3.put_object(Bucket="keepalive", Key="big", Body=body)
        self.assertEqual(sent[0].get("Expect"), b"100-continue", "boto3 asks for 100 Continue on a large body")
        got = s3.get_object(Bucket="keepalive", Key="big")["Body"].read()
        self.assertEqual(hashlib.sha256(got).hexdigest(), hashlib.sha256(body).hexdigest())
        # and the connection still serves after the big body
        self.assertEqual(s3.head_object(Bucket="keepalive", Key="big")["ContentLength"], len(body))

    def test_sigterm_with_idle_connections_open(self) -> None:
        emu = Emulator()
        port = int(emu.url.rsplit(":", 1)[1])
        idle = []
        try:
            for _ in range(3):
                conn = http.client.HTTPConnection(self.host, port, timeout=TIMEOUT)
                conn.request("GET", "/moto-api/")
                conn.getresponse().read()
                idle.append(conn)
            emu.proc.send_signal(signal.SIGTERM)
            rc = emu.proc.wait(TIMEOUT)  # a server waiting for idle connections would never exit
            self.assertEqual(rc, 0)
            for conn in idle:
                self.assertEqual(conn.sock.recv(1), b"", "the exit closed the idle connection cleanly")
        finally:
            for conn in idle:
                conn.close()
            if emu.proc.poll() is None:
                os.killpg(emu.proc.pid, signal.SIGKILL)
            emu.stop()


if __name__ == "__main__":
    unittest.main()
