"""Every submission rule of API.md: each violation gets its 4xx and stores nothing."""

from __future__ import annotations

import json
import tarfile
from collections.abc import Callable, Iterator

import httpx
import pytest

from . import forms, rawpost
from .api import newest_id, post_form
from .forms import Part, char_device, job_parts, link, regular, tar, text, upload
from .shapes import assert_error
from .target import URL, auth_headers

pytestmark = pytest.mark.e2e

OK = 'FROM debian:bookworm-slim\nCMD ["true"]\n'
OVERSIZED_DOCKERFILE = OK + "# " + "x" * (1024 * 1024) + "\n"
UPLOAD_OVER_CAP = 101 * 1024 * 1024  # the default cap is 100 MiB; a stack may set it lower


def _context(*bad: tuple[tarfile.TarInfo, bytes]) -> tuple[str, bytes]:
    return "context.tar", tar([regular("Dockerfile", OK), *bad])


INVALID: dict[str, list[Part]] = {
    "nothing at all": [],
    "no dockerfile and no context": job_parts(None, {"run.sh": "true\n"}),
    "dockerfile over 1 MiB": job_parts(OVERSIZED_DOCKERFILE),
    "absolute path": job_parts(OK, {"/etc/evil.txt": "x"}),
    "dot-dot path": job_parts(OK, {"../evil.txt": "x"}),
    "dot-dot inside path": job_parts(OK, {"a/../../evil.txt": "x"}),
    "NUL in path": job_parts(OK, {"nul\x00.txt": "x"}),
    "control character in path": job_parts(OK, {"bell\x07.txt": "x"}),
    "escape in path": job_parts(OK, {"esc\x1b[31m.txt": "x"}),
    "tab in path": job_parts(OK, {"tab\t.txt": "x"}),
    "DEL in path": job_parts(OK, {"del\x7f.txt": "x"}),
    "duplicate path": [
        *job_parts(OK),
        upload("files", "data/a.txt", "one"),
        upload("files", "data/a.txt", "two"),
    ],
    "files part named Dockerfile beside a dockerfile part": job_parts(OK, {"Dockerfile": OK}),
    "files part without a filename": [*job_parts(OK), Part("files", b"no name")],
    "context with a symlink": job_parts(
        None, context=_context(link("passwd", "/etc/passwd", tarfile.SYMTYPE))
    ),
    "context with a hard link": job_parts(
        None,
        context=_context(regular("a.txt", "x"), link("b.txt", "a.txt", tarfile.LNKTYPE)),
    ),
    "context with a device node": job_parts(None, context=_context(char_device("null"))),
    "context with a ../ member": job_parts(None, context=_context(regular("../evil.txt", "x"))),
    "context with an absolute member": job_parts(
        None, context=_context(regular("/etc/evil.txt", "x"))
    ),
    "context that is not a tar": job_parts(None, context=("context.tar", b"not a tar " * 200)),
    "name over 200 characters": job_parts(OK, name="n" * 201),
    **{
        f"{field}={value!r}": job_parts(OK, **{field: value})
        for field, values in {
            "priority": ["101", "-101", "1.5", "high", "1e2"],
            "timeout_seconds": ["0", "-1", "1.5", "abc", "1000000000"],
            "memory_mb": ["15", "0", "abc", "64.5"],
            "cpus": ["0.05", "0", "-1", "abc", "nan", "inf", "100000"],
            # bridge is refused unless the stack allows it, which is not the default
            "network": ["bridge", "host", "container:other", "default"],
            "callback_url": ["ftp://x", "file:///etc/passwd", "javascript:alert(1)", "hook"],
            "build_args": ["[1, 2]", '{"A": 1}', '{"A": null}', '"text"', "not json"],
        }.items()
        for value in values
    },
}


def _assert_rejected(client: httpx.Client, send: Callable[[], httpx.Response], status: int) -> None:
    before = newest_id(client)
    assert_error(send(), status)
    assert newest_id(client) == before, "a rejected submission created a job"


@pytest.mark.parametrize("parts", INVALID.values(), ids=list(INVALID))
def test_invalid_submission_is_400(client: httpx.Client, parts: list[Part]) -> None:
    _assert_rejected(client, lambda: post_form(client, "/v1/jobs", parts), 400)


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (json.dumps({"dockerfile": OK}), "application/json"),
        ("dockerfile=FROM+debian%3Abookworm-slim", "application/x-www-form-urlencoded"),
        (OK, "text/plain"),
        (OK, None),
    ],
    ids=["json", "urlencoded", "text", "no content type"],
)
def test_body_that_is_not_multipart_is_415(
    client: httpx.Client, content: str, content_type: str | None
) -> None:
    headers = {} if content_type is None else {"Content-Type": content_type}
    _assert_rejected(client, lambda: client.post("/v1/jobs", content=content, headers=headers), 415)


@pytest.mark.parametrize("chunked", [True, False], ids=["chunked", "content-length"])
def test_upload_over_the_cap_is_413(client: httpx.Client, chunked: bool) -> None:
    boundary = forms.new_boundary()
    head = forms.part_head(text("name", "too big"), boundary) + b"too big\r\n"
    head += forms.part_head(upload("dockerfile", "Dockerfile", OK), boundary) + OK.encode()
    head += b"\r\n" + forms.part_head(upload("files", "big.bin", b""), boundary)
    tail = b"\r\n" + forms.closing(boundary)
    headers = {**auth_headers(), "Content-Type": forms.content_type(boundary)}
    if not chunked:
        headers["Content-Length"] = str(len(head) + UPLOAD_OVER_CAP + len(tail))

    def body() -> Iterator[bytes]:
        yield head
        yield from forms.repeat(bytes(1024 * 1024), UPLOAD_OVER_CAP)
        yield tail

    before = newest_id(client)
    answer = rawpost.post(URL, "/v1/jobs", headers, body(), chunked=chunked)
    response = httpx.Response(
        answer.status,
        headers=answer.headers,
        content=answer.body,
        request=httpx.Request("POST", f"{URL}/v1/jobs"),
    )
    assert_error(response, 413)
    assert newest_id(client) == before, "a rejected upload created a job"
