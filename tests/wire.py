"""Requests counted on the wire: a loopback TCP proxy in front of an HTTP server (moto's S3).

Clients (boto3, httpx) are pointed at the proxy's URL and talk to the server through it
unchanged: the bytes are relayed as they are. The proxy only frames the client's HTTP/1.1
requests (request line, headers, then a Content-Length or chunked body) to record each request's
method and target, so a count is of requests that really crossed a socket, whatever the client
library retried or pooled. `delay` holds each request that long before relaying it (a slower
network), which makes concurrent callers overlap; `fail` answers the next requests for a path
with an S3 500 itself, as an overloaded S3 would.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class WireRequest:
    method: str
    path: str
    query: dict[str, list[str]]

    @property
    def is_list(self) -> bool:
        """An S3 ListObjectsV2 (GET on the bucket with list-type=2)."""
        return self.method == "GET" and self.query.get("list-type") == ["2"]

    @property
    def is_object_get(self) -> bool:
        """An S3 GetObject: GET of a key inside a bucket (path-style: /bucket/key)."""
        return (self.method == "GET" and "/" in self.path.strip("/")
                and "list-type" not in self.query)


class _ClosedEarly(Exception):
    pass


class CountingProxy:
    """Relay TCP connections from 127.0.0.1:<port> to `upstream` ("http://host:port")."""

    def __init__(self, upstream: str, *, delay: float = 0.0) -> None:
        parts = urlsplit(upstream)
        self._upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.delay = delay
        self._server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._server.getsockname()[1]}"
        self._lock = threading.Lock()
        self._requests: list[WireRequest] = []
        self._sockets: list[socket.socket] = []
        self._failures: dict[str, int] = {}  # path -> how many more requests to fail
        self._closed = threading.Event()
        self._acceptor = threading.Thread(target=self._accept, daemon=True, name="wire-proxy")

    def __enter__(self) -> CountingProxy:
        self._acceptor.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._closed.set()
        self._server.close()
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.close()
        self._acceptor.join(timeout=5)

    # --- what crossed the wire ---------------------------------------------------------------
    @property
    def requests(self) -> list[WireRequest]:
        with self._lock:
            return list(self._requests)

    def reset(self) -> None:
        with self._lock:
            self._requests.clear()

    def fail(self, path: str, times: int) -> None:
        """Answer the next `times` requests for `path` with a 500 InternalError (not relayed)."""
        with self._lock:
            self._failures[path] = times

    def count(self) -> int:
        return len(self.requests)

    def lists(self) -> int:
        return sum(r.is_list for r in self.requests)

    def object_gets(self) -> int:
        return sum(r.is_object_get for r in self.requests)

    # --- relaying ----------------------------------------------------------------------------
    def _accept(self) -> None:
        self._server.settimeout(0.05)  # closing a socket does not wake a blocked accept()
        while not self._closed.is_set():
            try:
                client, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            threading.Thread(target=self._connection, args=(client,), daemon=True).start()

    def _connection(self, client: socket.socket) -> None:
        """One client connection: its requests go up, the answers come back; then both close
        (moto closes after every answer: 10,000 requests are 10,000 connections)."""
        try:
            upstream = socket.create_connection(self._upstream, timeout=10)
        except OSError:
            client.close()
            return
        upstream.settimeout(None)
        with self._lock:
            self._sockets += [client, upstream]
        answers = threading.Thread(target=self._pipe, args=(upstream, client), daemon=True)
        answers.start()
        self._requests_from(client, upstream)
        answers.join()
        with self._lock:
            for sock in (client, upstream):
                sock.close()
                self._sockets.remove(sock)

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        """Responses go back untouched."""
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def _requests_from(self, client: socket.socket, upstream: socket.socket) -> None:
        reader = _Reader(client)
        try:
            while True:
                head = reader.until(b"\r\n\r\n")
                if head is None:
                    return
                method, target = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ")[:2]
                headers = _headers(head)
                parts = urlsplit(target)
                with self._lock:
                    self._requests.append(WireRequest(method, parts.path, parse_qs(parts.query)))
                    failing = self._failures.get(parts.path, 0) > 0
                    if failing:
                        self._failures[parts.path] -= 1
                if self.delay:
                    time.sleep(self.delay)
                sink = _Discard() if failing else upstream
                sink.sendall(head)
                if headers.get("transfer-encoding", "").lower() == "chunked":
                    self._relay_chunked(reader, sink)
                else:
                    sink.sendall(reader.exactly(int(headers.get("content-length", "0"))))
                if failing:
                    client.sendall(_INTERNAL_ERROR)
        except (OSError, _ClosedEarly, ValueError):
            pass
        finally:
            for sock in (client, upstream):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    @staticmethod
    def _relay_chunked(reader: _Reader, upstream: socket.socket | _Discard) -> None:
        while True:
            size_line = reader.until(b"\r\n")
            if size_line is None:
                raise _ClosedEarly
            upstream.sendall(size_line)
            size = int(size_line.split(b";", 1)[0].strip(), 16)
            if size == 0:  # trailers, then the blank line
                while (line := reader.until(b"\r\n")) not in (None, b"\r\n"):
                    upstream.sendall(line)
                upstream.sendall(b"\r\n")
                return
            upstream.sendall(reader.exactly(size + 2))


_ERROR_BODY = (b"<?xml version='1.0' encoding='UTF-8'?><Error><Code>InternalError</Code>"
               b"<Message>We encountered an internal error. Please try again.</Message></Error>")
_INTERNAL_ERROR = (b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/xml\r\n"
                   b"Content-Length: " + str(len(_ERROR_BODY)).encode() + b"\r\n\r\n"
                   + _ERROR_BODY)


def _headers(head: bytes) -> dict[str, str]:
    lines = head.decode("latin-1").split("\r\n")[1:]
    pairs = (line.split(":", 1) for line in lines if ":" in line)
    return {name.strip().lower(): value.strip() for name, value in pairs}


class _Discard:
    """Where a failed request's bytes go instead of the server."""

    def sendall(self, data: bytes) -> None:
        pass


class _Reader:
    """Buffered reads from a socket: up to a delimiter, or an exact number of bytes."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._buffer = b""

    def until(self, delimiter: bytes) -> bytes | None:
        """Bytes up to and including `delimiter`; None if the peer closed between messages."""
        while (end := self._buffer.find(delimiter)) < 0:
            data = self._sock.recv(65536)
            if not data:
                if self._buffer:
                    raise _ClosedEarly
                return None
            self._buffer += data
        end += len(delimiter)
        chunk, self._buffer = self._buffer[:end], self._buffer[end:]
        return chunk

    def exactly(self, size: int) -> bytes:
        while len(self._buffer) < size:
            data = self._sock.recv(65536)
            if not data:
                raise _ClosedEarly
            self._buffer += data
        chunk, self._buffer = self._buffer[:size], self._buffer[size:]
        return chunk
