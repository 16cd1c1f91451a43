"""A fake DCCF master for the client and CLI tests: canned answers, every request recorded."""

from __future__ import annotations

import email
import email.policy
import io
import tarfile

import httpx

from dccf.client import DccfClient

URL = "http://master.test:8080"


class Master:
    """Answers from a queue of responses per (method, path) and records every request.

    The last response of a queue answers every later request; a path with none is a 404.
    """

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], list[httpx.Response]] = {}
        self.requests: list[httpx.Request] = []

    def on(self, method: str, path: str, *responses: httpx.Response) -> None:
        self.routes.setdefault((method, path), []).extend(responses)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        queue = self.routes.get((request.method, request.url.path))
        if not queue:
            body = {"error": {"code": "not_found", "message": "no job with this id"}}
            return httpx.Response(404, json=body)
        return queue.pop(0) if len(queue) > 1 else queue[0]

    def client(self, url: str = URL, token: str | None = None) -> DccfClient:
        """A client talking to this master, polling without pause."""
        dccf = DccfClient(url, token=token, transport=httpx.MockTransport(self))
        dccf.min_poll_interval = 0
        return dccf


def multipart(request: httpx.Request) -> list[tuple[str, str | None, bytes]]:
    """(field name, filename, body) of every part, parsed by the stdlib email parser."""
    head = f"Content-Type: {request.headers['content-type']}\r\n\r\n".encode()
    message = email.message_from_bytes(head + request.content, policy=email.policy.HTTP)
    parts = []
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        body = part.get_payload(decode=True)
        assert isinstance(body, bytes)
        parts.append((str(name), part.get_filename(), body))
    return parts


def tar_gz(members: dict[str, bytes]) -> bytes:
    """A gzip tar of regular files, as the master sends a job's outputs."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()
