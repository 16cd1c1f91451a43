"""A POST that streams a huge body and stops as soon as the server answers.

httpx sends the whole body before reading the answer; a server that rejects an oversized
upload early (as it should) then closes the socket, and httpx only sees a broken pipe. This
client keeps memory flat and reads the early answer, like curl does.
"""

from __future__ import annotations

import itertools
import select
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass(frozen=True)
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes


def post(
    url: str,
    path: str,
    headers: dict[str, str],
    body: Iterator[bytes],
    chunked: bool,
    timeout: float = 120.0,
) -> RawResponse:
    target = urlsplit(url)
    secure = target.scheme == "https"
    host = target.hostname or "127.0.0.1"
    sock: socket.socket = socket.create_connection(
        (host, target.port or (443 if secure else 80)), timeout=timeout
    )
    if secure:
        sock = ssl.create_default_context().wrap_socket(sock, server_hostname=host)
    with sock:
        head = [f"POST {target.path}{path} HTTP/1.1", f"Host: {target.netloc}"]
        head += [f"{name}: {value}" for name, value in headers.items()]
        if chunked:
            head.append("Transfer-Encoding: chunked")
        head.append("Connection: close")
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        frames = (f"{len(p):x}\r\n".encode() + p + b"\r\n" if chunked else p for p in body)
        for frame in itertools.chain(frames, [b"0\r\n\r\n"] if chunked else []):
            if not _send_unless_answered(sock, frame, timeout):
                break
        return _read_response(sock)


def _send_unless_answered(sock: socket.socket, frame: bytes, timeout: float) -> bool:
    """Send `frame`; False as soon as the server has something to say (or hung up)."""
    view = memoryview(frame)
    while view:
        readable, writable, _ = select.select([sock], [sock], [], timeout)
        if readable:
            return False
        if not writable:
            raise TimeoutError(f"the server neither read the upload nor answered in {timeout} s")
        try:
            view = view[sock.send(view) :]
        except (BrokenPipeError, ConnectionResetError):
            return False
    return True


def _read_response(sock: socket.socket) -> RawResponse:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"the server closed the connection without an answer: {data!r}")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "-1"))
    while length < 0 or len(rest) < length:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        rest += chunk
    if headers.get("transfer-encoding", "").lower() == "chunked":
        rest = _dechunk(rest)
    return RawResponse(int(status_line.split()[1]), headers, rest)


def _dechunk(data: bytes) -> bytes:
    out = b""
    while data:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out += data[:size]
        data = data[size + 2 :]
    return out
