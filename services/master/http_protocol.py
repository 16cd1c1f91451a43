"""uvicorn's httptools protocol with a bound on each request's head.

httptools (llhttp, in C) parses a request in a fraction of h11's time: the submit rate is set
by the master's CPU, and h11 took a quarter of it. But uvicorn puts no limit on a head under
httptools, which keeps a header line whole until it ends: one 300 MB header line grew the
master by 600 MB. Here the bytes of each head are counted as they arrive, and a head still
unfinished after `MAX_REQUEST_HEAD_BYTES` is answered 431 and its connection closed.
"""

from __future__ import annotations

from typing import Any

import msgspec
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from services.master.models import Error, ErrorDetail

# No real client comes near it: tokens and Idempotency-Key are short, and a job travels in
# the body.
MAX_REQUEST_HEAD_BYTES = 32 * 1024

# The error answer's model, as the error handlers write it; this answer comes from below them.
_TOO_LARGE = msgspec.json.encode(
    Error(
        ErrorDetail(
            "request_header_fields_too_large",
            "the request's head (request line and headers) is larger than 32 KiB; send less in"
            " headers",
        )
    )
)


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Bytes of the head being read so far; None while a body is read.
        self._head_bytes: int | None = 0
        self._heads = 0  # heads read whole on this connection

    def data_received(self, data: bytes) -> None:
        if self._head_bytes is None:
            super().data_received(data)
            return
        room = MAX_REQUEST_HEAD_BYTES - self._head_bytes
        if len(data) <= room:
            self._head_bytes += len(data)
            super().data_received(data)
            return
        # Only what fits may reach the parser; the rest is body if the head ended in it.
        # A head that begins after a body in the same read is counted from the next read on,
        # so what one can grow to stays within the limit plus one read.
        heads = self._heads
        super().data_received(data[:room])
        if self.transport.is_closing():
            return
        if self._heads == heads:
            self._refuse()
        else:
            super().data_received(data[room:])

    def on_headers_complete(self) -> None:
        self._heads += 1
        self._head_bytes = None
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._head_bytes = 0

    def _refuse(self) -> None:
        self.transport.write(
            b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
            b"content-type: application/json\r\n"
            b"content-length: " + str(len(_TOO_LARGE)).encode() + b"\r\n"
            b"connection: close\r\n\r\n" + _TOO_LARGE
        )
        self.transport.close()
