"""HTTP/1.1 keep-alive for the emulator's WSGI server, as AWS's endpoints do.

werkzeug's development server closes the connection after every answer
(`Connection: close`; werkzeug/serving.py, `run_wsgi`: Python's http.server
"doesn't know how to drain the stream before the next request line"). AWS
keeps connections alive, so against the emulator every SDK call paid for a
TCP connection of its own: a connect, a thread, a 10 ms `select` drain and a
tear-down per request, on both sides (docs/emulator.md, "Keep-alive").

KeepAliveHandler is werkzeug's request handler (its environ, logging and
error page) with the one thing that stopped it keeping a connection: it knows
where each request's body ends. The app reads from a stream limited to
Content-Length, and whatever the app left unread is read and thrown away,
exactly up to Content-Length and never past it, because the next request may
already be in the socket buffer. Every answer carries its length, so the
client knows where it ends without a close.

It closes a connection only when HTTP says to or when it cannot frame the
next request safely: an HTTP/1.0 request without keep-alive, `Connection:
close` from the client or the app, a chunked request body (rare from SDKs;
closing is simpler than trusting the dechunker to stop at the right byte),
an app that raised (500, as werkzeug answers), a short or overlong body from
the app, or a server that is stopping. It never closes an idle connection on
its own: a server that closes an idle connection just as the client sends
the next request on it makes the client see a reset on a request that may
have been applied. Idle connections wait in their thread; the server's
threads are daemon threads (werkzeug's ThreadedWSGIServer), so stopping the
server does not wait for them and the process exits, closing them cleanly.
"""

from __future__ import annotations

import re
import socket
from typing import Any, Callable, Iterable

from werkzeug.exceptions import ClientDisconnected, InternalServerError
from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler
from werkzeug.wsgi import LimitedStream

# Reads of a body the app left unread, and the size of the reply buffer
# (headers and a typical answer leave in one write).
_CHUNK = 64 * 1024
_DIGITS = re.compile(r"[0-9]+")
_DROPPED = (ConnectionError, socket.timeout)


class KeepAliveServer(ThreadedWSGIServer):
    """werkzeug's threaded server with KeepAliveHandler. `stopping` turns
    true when the server closes, so answers still in flight say
    `Connection: close` instead of promising a next request."""

    stopping = False

    def __init__(self, host: str, port: int, app: Callable) -> None:
        super().__init__(host, port, app, handler=KeepAliveHandler)

    def server_close(self) -> None:
        self.stopping = True
        super().server_close()


class KeepAliveHandler(WSGIRequestHandler):
    """werkzeug's WSGIRequestHandler (make_environ, logging, the 500 page)
    with a run_wsgi that keeps HTTP/1.1 connections alive."""

    protocol_version = "HTTP/1.1"
    # Headers and body go out in one write from a buffered wfile, flushed
    # once per answer; with Nagle on, the second segment of a larger answer
    # would wait for the client's delayed ACK (40 ms) on a connection that
    # is now long-lived (a fresh one starts in quick-ACK mode, which hid it).
    wbufsize = _CHUNK
    disable_nagle_algorithm = True

    def handle_expect_100(self) -> bool:
        # http.server's parse_request answers `Expect: 100-continue` (so
        # werkzeug's own second 100 is not sent here), but into the now
        # buffered wfile: the client waits for it before sending the body.
        ok = super().handle_expect_100()
        self.wfile.flush()
        return ok

    def run_wsgi(self) -> None:
        self.environ = environ = self.make_environ()
        body = self._request_body(environ)
        if body is None:
            return  # a 400 was sent; the connection closes
        response = _Response(self, environ["REQUEST_METHOD"])
        try:
            try:
                _execute(self.server.app, environ, response)
            except _DROPPED as e:
                self.close_connection = True
                self.connection_dropped(e, environ)
                return
            except Exception as e:
                if self.server.passthrough_errors:
                    raise
                self._internal_error(e, environ, response)
        finally:
            # Before the next request line can be read, the rest of this
            # body must be; on a connection that closes, reading it too
            # keeps the kernel from answering unread data with a reset
            # that could cut off the answer just sent.
            if not _drain(body):
                self.close_connection = True

    def _request_body(self, environ: dict[str, Any]) -> Any:
        """The stream the app reads the body from (None if the request is
        refused): exactly Content-Length bytes, none if there is no
        Content-Length, or werkzeug's dechunker, which closes the
        connection after the answer."""
        if environ.get("wsgi.input_terminated"):
            self.close_connection = True
            return environ["wsgi.input"]
        declared = environ.get("CONTENT_LENGTH", "").strip()
        if declared and not _DIGITS.fullmatch(declared):
            self.send_error(400, "Content-Length is not a number of bytes")
            return None
        stream = LimitedStream(self.rfile, int(declared or 0))
        environ["wsgi.input"] = stream
        return stream

    def _internal_error(self, error: Exception, environ: dict[str, Any], response: _Response) -> None:
        """Answer 500 as werkzeug does, if nothing was sent yet, and close:
        after an app failed, what it left on the connection is unknown."""
        self.close_connection = True
        if not response.started:
            response.reset()
            try:
                _execute(InternalServerError(), environ, response)
            except Exception:  # noqa: BLE001  (werkzeug's own: the 500 is best effort)
                pass
        from werkzeug.debug.tbtools import DebugTraceback

        msg = DebugTraceback(error).render_traceback_text()
        self.server.log("error", f"Error on request:\n{msg}")


def _execute(app: Callable, environ: dict[str, Any], response: _Response) -> None:
    app_iter: Iterable[bytes] = app(environ, response.start_response)
    try:
        for data in app_iter:
            response.write(data)
        response.finish()
    finally:
        if hasattr(app_iter, "close"):
            app_iter.close()


def _drain(body: Any) -> bool:
    """Read what the app left of the request body and throw it away; False
    if the client went before sending all of it (the connection cannot be
    reused)."""
    try:
        while True:
            if isinstance(body, LimitedStream) and body.is_exhausted:
                return True
            if not body.read(_CHUNK):
                return not isinstance(body, LimitedStream)
    except (ClientDisconnected, OSError, ValueError):
        return False


def _bodiless(method: str, code: int) -> bool:
    # RFC 9110 6.4.1: no content in answers to HEAD, in 1xx, 204 and 304.
    return method == "HEAD" or 100 <= code < 200 or code in (204, 304)


class _Response:
    """One answer's framing. The status line and headers wait for the first
    byte of the body (or its end); an answer the app gave a Content-Length is
    streamed, any other is buffered to the end and sent with its length."""

    def __init__(self, handler: KeepAliveHandler, method: str) -> None:
        self.handler = handler
        self.method = method
        self.reset()

    def reset(self) -> None:
        self.status: str | None = None
        self.headers: list[tuple[str, str]] = []
        self.started = False  # the status line is written
        self.buffer: list[bytes] | None = None
        self.bodiless = False
        self.length = 0  # what the app declared, when it is streamed
        self.sent = 0

    def start_response(self, status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable:
        if exc_info:
            try:
                if self.started:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None
        elif self.status is not None:
            raise AssertionError("Headers already set")
        self.status, self.headers = status, headers
        return self.write

    def write(self, data: bytes) -> None:
        assert self.status is not None, "write() before start_response"
        assert isinstance(data, bytes), "applications must write bytes"
        if not self.started and self.buffer is None:
            self._begin()
        if self.buffer is not None:
            self.buffer.append(data)
            return
        if self.bodiless or not data:
            return  # a body here would be read as the next answer
        room = self.length - self.sent
        if len(data) > room:
            # More than the app declared: the client stops reading at its
            # Content-Length, so the rest would be taken for the next answer.
            data = data[:room]
            self.handler.close_connection = True
        self.handler.wfile.write(data)
        self.sent += len(data)

    def finish(self) -> None:
        assert self.status is not None, "the app returned without start_response"
        if not self.started and self.buffer is None:
            self._begin()
        if self.buffer is not None:
            data = b"".join(self.buffer)
            self.buffer = None
            self._send_head(None if self.bodiless else len(data))
            if not self.bodiless:
                self.handler.wfile.write(data)
        elif not self.bodiless and self.sent < self.length:
            # The client waits for bytes that will never come; only a close
            # ends that answer.
            self.handler.close_connection = True
        self.handler.wfile.flush()

    def _code(self) -> tuple[int, str]:
        assert self.status is not None
        try:
            code, msg = self.status.split(None, 1)
        except ValueError:
            code, msg = self.status, ""
        return int(code), msg

    def _begin(self) -> None:
        code, _ = self._code()
        self.bodiless = _bodiless(self.method, code)
        declared = _content_length(self.headers)
        if self.bodiless or declared is not None:
            self.length = declared or 0
            self._send_head(None)
        else:
            self.buffer = []

    def _send_head(self, length: int | None) -> None:
        """The status line and headers; length is a Content-Length the app
        did not give (None: the app's own, or none)."""
        h = self.handler
        code, msg = self._code()
        h.send_response(code, msg)
        for key, value in self.headers:
            name = key.lower()
            # Hop-by-hop headers describe this connection, which is the
            # server's to frame (PEP 3333 keeps them from apps); an app's
            # `Connection: close` is still honoured.
            if name == "connection":
                if "close" in (t.strip().lower() for t in value.split(",")):
                    h.close_connection = True
                continue
            if name in ("keep-alive", "transfer-encoding"):
                continue
            if name == "content-length" and length is not None:
                continue  # the app's was not a number; the one counted here replaces it
            h.send_header(key, value)
        if length is not None:
            h.send_header("Content-Length", str(length))
        if getattr(h.server, "stopping", False):
            h.close_connection = True
        if h.close_connection:
            h.send_header("Connection", "close")
        elif h.request_version == "HTTP/1.0":
            h.send_header("Connection", "keep-alive")  # an HTTP/1.0 client assumes a close otherwise
        h.end_headers()
        self.started = True


def _content_length(headers: list[tuple[str, str]]) -> int | None:
    for key, value in headers:
        if key.lower() == "content-length" and _DIGITS.fullmatch(value.strip()):
            return int(value)
    return None
