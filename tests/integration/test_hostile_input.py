"""Hostile input over HTTP: each attack gets its exact status and error code, and nothing of it
is stored (the jobs, files and file_chunks tables count the same before and after).

Most tests use a TestClient; the limits that live in the HTTP server itself (the size of a
request's head, reading a body only up to the cap) need a real one, so `live` runs the master
as `dccf-master` does, on a free port of 127.0.0.1, against this module's database.
"""

from __future__ import annotations

import dataclasses
import gzip
import io
import json
import os
import select
import socket
import subprocess
import sys
import tarfile
import time
import urllib.parse
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from dccf import db, filestore
from dccf.filestore import CONTEXT_PATH, FileKind
from dccf.settings import Settings
from services.master.app import create_app

pytestmark = pytest.mark.integration

MIB = 1024 * 1024
CAP = 2 * MIB
TOKEN = "hostile-input-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
DOCKERFILE = b"FROM debian:bookworm-slim\nCMD true\n"
BOUNDARY = "hostile-boundary"


@pytest.fixture(scope="module")
def hostile_cfg(cfg: Settings) -> Settings:
    """The module's database and topic, with auth on and a 2 MiB upload cap."""
    return dataclasses.replace(
        cfg,
        master=dataclasses.replace(cfg.master, api_tokens={TOKEN: "mallory"}),
        limits=dataclasses.replace(cfg.limits, max_upload_bytes=CAP),
    )


@pytest.fixture(scope="module")
def client(hostile_cfg: Settings, pool: db.Pool) -> Iterator[TestClient]:
    with TestClient(create_app(hostile_cfg), headers=AUTH) as test_client:
        yield test_client


def stored(pool: db.Pool) -> tuple[int, int, int]:
    row = pool.run(
        "SELECT (SELECT count(*) FROM jobs), (SELECT count(*) FROM files),"
        " (SELECT count(*) FROM file_chunks)"
    )[0]
    return int(row[0]), int(row[1]), int(row[2])


def assert_refused(
    pool: db.Pool, send: Callable[[], httpx.Response], status: int, code: str
) -> httpx.Response:
    before = stored(pool)
    response = send()
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"code", "message"}
    assert error["code"] == code, error
    assert stored(pool) == before, "a refused request stored something"
    return response


# --- multipart and tar built byte by byte ---------------------------------------------------


def file_part(name: str, filename: bytes, data: bytes) -> bytes:
    """One part whose filename goes on the wire exactly as given (no quoting, no encoding)."""
    return (
        (b'Content-Disposition: form-data; name="' + name.encode() + b'"; filename="' + filename)
        + b'"\r\nContent-Type: application/octet-stream\r\n\r\n'
        + data
    )


def text_part(name: str, value: bytes) -> bytes:
    return b'Content-Disposition: form-data; name="' + name.encode() + b'"\r\n\r\n' + value


def dockerfile_part() -> bytes:
    return file_part("dockerfile", b"Dockerfile", DOCKERFILE)


def multipart(*parts: bytes, boundary: str = BOUNDARY) -> bytes:
    delimiter = b"--" + boundary.encode()
    return b"".join(delimiter + b"\r\n" + part + b"\r\n" for part in parts) + delimiter + b"--\r\n"


def post_raw(
    client: TestClient,
    body: bytes | Iterator[bytes],
    content_type: str | None = f"multipart/form-data; boundary={BOUNDARY}",
    path: str = "/v1/jobs",
) -> httpx.Response:
    headers = {} if content_type is None else {"Content-Type": content_type}
    return client.post(path, content=body, headers=headers)


def member(
    name: str, data: bytes = b"x", kind: bytes = tarfile.REGTYPE
) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    if kind in (tarfile.SYMTYPE, tarfile.LNKTYPE):
        info.linkname = "Dockerfile" if kind == tarfile.LNKTYPE else "/etc/passwd"
    if kind in (tarfile.CHRTYPE, tarfile.BLKTYPE):
        info.devmajor, info.devminor = 1, 3
    return info, data


def tar_bytes(*members: tuple[tarfile.TarInfo, bytes], fmt: int = tarfile.PAX_FORMAT) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(
        fileobj=buffer, mode="w", format=fmt, encoding="utf-8", errors="surrogateescape"
    ) as archive:
        archive.addfile(member("Dockerfile", DOCKERFILE)[0], io.BytesIO(DOCKERFILE))
        for info, data in members:
            archive.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return buffer.getvalue()


def post_context(
    client: TestClient, archive: bytes, filename: bytes = b"context.tar"
) -> httpx.Response:
    return post_raw(client, multipart(file_part("context", filename, archive)))


# --- file names of `files` parts ------------------------------------------------------------

BAD_FILENAMES = {
    "dot-dot": b"../escape.txt",
    "dot-dot deeper": b"a/../../escape.txt",
    "dot-dot alone": b"..",
    "absolute": b"/etc/cron.d/evil",
    "absolute, doubled slash": b"//server/share/evil",
    "NUL": b"nul\x00.txt",
    "newline": b"new\nline.txt",
    "escape sequence": b"esc\x1b[2J.txt",
    "C1 control (U+0085)": "next\u0085line.txt".encode(),
    "backslash": b"back\\\\slash.txt",
    "backslash traversal": b"..\\\\..\\\\escape.txt",
    "invalid UTF-8": b"\xff\xfe.txt",
    "Latin-1, not UTF-8": b"caf\xe9.txt",
    "overlong UTF-8 dots": b"\xc0\xae\xc0\xae/escape.txt",
    "UTF-8 surrogate": b"\xed\xa0\x80.txt",
    "empty": b"",
    "component of 256 bytes": b"a" * 256,
    "path of 4097 bytes": b"/".join([b"d" * 15] * 256) + b"xy",
}


@pytest.mark.parametrize("filename", BAD_FILENAMES.values(), ids=list(BAD_FILENAMES))
def test_bad_file_names_are_400_invalid_path(
    client: TestClient, pool: db.Pool, filename: bytes
) -> None:
    body = multipart(dockerfile_part(), file_part("files", filename, b"payload"))
    assert_refused(pool, lambda: post_raw(client, body), 400, "invalid_path")


@pytest.mark.parametrize("filename", [b"../escape.txt", b"/etc/passwd", b"\xff.txt"])
def test_legacy_task_files_follow_the_same_path_rules(
    client: TestClient, pool: db.Pool, filename: bytes
) -> None:
    body = multipart(
        file_part("dockerFile", b"Dockerfile", DOCKERFILE), file_part("taskFiles", filename, b"x")
    )
    assert_refused(pool, lambda: post_raw(client, body, path="/submit"), 400, "invalid_path")


def test_a_file_name_too_long_for_a_part_header_is_400(client: TestClient, pool: db.Pool) -> None:
    body = multipart(dockerfile_part(), file_part("files", b"n" * 20_000, b"x"))
    assert_refused(pool, lambda: post_raw(client, body), 400, "invalid_multipart")


def test_an_extended_filename_parameter_is_not_a_file_name(
    client: TestClient, pool: db.Pool
) -> None:
    # RFC 7578 forbids filename*= in forms; honouring it would smuggle a percent-decoded path.
    part = b"Content-Disposition: form-data; name=\"files\"; filename*=UTF-8''..%2F%FF\r\n\r\nx"
    body = multipart(dockerfile_part(), part)
    assert_refused(pool, lambda: post_raw(client, body), 400, "invalid_input")


def test_percent_escapes_in_file_names_are_kept_literally(
    client: TestClient, pool: db.Pool
) -> None:
    """Nothing decodes %2e%2e into '..' on the way to the build: the name stays as sent."""
    names = [b"%2e%2e/%2e%2e/escape.txt", b"%FF%FE.txt", b"a%00b.txt", b"a%2Fb.txt"]
    body = multipart(dockerfile_part(), *(file_part("files", n, n) for n in names))
    response = post_raw(client, body)
    assert response.status_code == 201, response.text
    job_id = response.json()["id"]
    with pool.connection() as conn:
        context = filestore.find(conn, job_id, FileKind.CONTEXT, CONTEXT_PATH)
    assert context is not None
    data = b"".join(filestore.chunks(pool, context.id))
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        files = {m.name: archive.extractfile(m).read() for m in archive if m.isfile()}  # type: ignore[union-attr]
    assert files == {"Dockerfile": DOCKERFILE, **{n.decode(): n for n in names}}


# --- members of a `context` archive ---------------------------------------------------------

BAD_MEMBER_NAMES = {
    "dot-dot": "../escape.txt",
    "dot-dot deeper": "a/../../escape.txt",
    "absolute": "/etc/cron.d/evil",
    "NUL (PAX path)": "nul\x00.txt",
    "newline": "new\nline.txt",
    "backslash": "back\\slash.txt",
    "invalid UTF-8": "\udcff\udcfe.txt",
    "component of 256 bytes": "a" * 256,
    "path of 5000 bytes": "/".join(["d" * 99] * 50),
}


@pytest.mark.parametrize("name", BAD_MEMBER_NAMES.values(), ids=list(BAD_MEMBER_NAMES))
def test_bad_member_names_are_400_invalid_path(
    client: TestClient, pool: db.Pool, name: str
) -> None:
    info, data = member("placeholder")
    # A PAX path record carries any byte, NUL included, past ustar's 100-byte name field.
    info.pax_headers = {"path": name}
    archive = tar_bytes((info, data))
    assert_refused(pool, lambda: post_context(client, archive), 400, "invalid_path")


def test_an_invalid_utf8_ustar_name_is_400_invalid_path(client: TestClient, pool: db.Pool) -> None:
    archive = tar_bytes(member("\udcc3(.txt"), fmt=tarfile.USTAR_FORMAT)
    assert_refused(pool, lambda: post_context(client, archive), 400, "invalid_path")


UNSAFE_MEMBERS = {
    "symlink": tarfile.SYMTYPE,
    "hard link": tarfile.LNKTYPE,
    "character device": tarfile.CHRTYPE,
    "block device": tarfile.BLKTYPE,
    "fifo": tarfile.FIFOTYPE,
}


@pytest.mark.parametrize("gz", [False, True], ids=["tar", "tar.gz"])
@pytest.mark.parametrize("kind", UNSAFE_MEMBERS.values(), ids=list(UNSAFE_MEMBERS))
def test_links_devices_and_fifos_are_400_unsafe_archive(
    client: TestClient, pool: db.Pool, kind: bytes, gz: bool
) -> None:
    archive = tar_bytes(member("special", kind=kind))
    if gz:
        archive = gzip.compress(archive)
    assert_refused(pool, lambda: post_context(client, archive), 400, "unsafe_archive")


def test_a_symlink_then_a_file_through_it_is_refused(client: TestClient, pool: db.Pool) -> None:
    link, _ = member("etc", kind=tarfile.SYMTYPE)
    link.linkname = "/etc"
    archive = tar_bytes((link, b""), member("etc/cron.d/evil", b"* * * * * root sh"))
    assert_refused(pool, lambda: post_context(client, archive), 400, "unsafe_archive")


def _gzip_stream(pieces: Iterable[bytes]) -> bytes:
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=9) as packed:
        for piece in pieces:
            packed.write(piece)
    return out.getvalue()


class _Zeros:
    """A file of `size` zero bytes that takes no memory."""

    def __init__(self, size: int) -> None:
        self.left = size

    def read(self, size: int = -1) -> bytes:
        count = self.left if size < 0 else min(size, self.left)
        self.left -= count
        return bytes(count)


def _bomb_of_one_file(size: int) -> bytes:
    info, _ = member("zeros.bin")
    info.size = size
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz", compresslevel=9) as archive:
        archive.addfile(member("Dockerfile", DOCKERFILE)[0], io.BytesIO(DOCKERFILE))
        archive.addfile(info, _Zeros(size))
    return out.getvalue()


def _bomb_of_many_files(count: int, size: int) -> bytes:
    members = (member(f"part-{i:04}.bin", bytes(size)) for i in range(count))
    return gzip.compress(tar_bytes(*members), compresslevel=9)


@pytest.mark.parametrize(
    "bomb",
    [
        pytest.param(lambda: _bomb_of_one_file(64 * MIB), id="one 64 MiB file"),
        pytest.param(lambda: _bomb_of_many_files(160, 100 * 1024), id="160 files of 100 KiB"),
        pytest.param(lambda: _gzip_stream(bytes(MIB) for _ in range(64)), id="64 MiB of zeros"),
    ],
)
def test_a_tar_bomb_is_413_without_being_unpacked(
    client: TestClient, pool: db.Pool, bomb: Callable[[], bytes]
) -> None:
    archive = bomb()
    assert len(archive) < CAP // 4, "the bomb itself must be well under the cap"
    started = time.monotonic()
    assert_refused(
        pool, lambda: post_context(client, archive, b"context.tar.gz"), 413, "payload_too_large"
    )
    assert time.monotonic() - started < 10


# --- the upload cap -------------------------------------------------------------------------


def _over_cap_body() -> list[bytes]:
    """A valid form whose one file is 3 MiB, in 64 KiB pieces."""
    head = multipart(dockerfile_part(), file_part("files", b"big.bin", b"")).rsplit(
        b"\r\n--" + BOUNDARY.encode(), 1
    )[0]
    tail = b"\r\n--" + BOUNDARY.encode() + b"--\r\n"
    return [head, *(bytes(64 * 1024) for _ in range(48)), tail]


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_an_upload_over_the_cap_is_413(client: TestClient, pool: db.Pool, chunked: bool) -> None:
    pieces = _over_cap_body()
    sent: list[httpx.Request] = []

    def send() -> httpx.Response:
        body: bytes | Iterator[bytes] = iter(pieces) if chunked else b"".join(pieces)
        response = post_raw(client, body)
        sent.append(response.request)
        return response

    assert_refused(pool, send, 413, "payload_too_large")
    assert ("content-length" in sent[0].headers) is not chunked


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_body_over_the_cap_in_text_fields_is_413(
    client: TestClient, pool: db.Pool, chunked: bool
) -> None:
    """Bulk the build context never counts: only the cap on the body itself can refuse it."""
    padding = [text_part(f"pad{i}", b"p" * 60_000) for i in range(40)]
    body = multipart(dockerfile_part(), *padding)
    assert len(body) > CAP
    assert_refused(
        pool, lambda: post_raw(client, iter([body]) if chunked else body), 413, "payload_too_large"
    )


def test_an_upload_just_under_the_cap_is_accepted(client: TestClient, pool: db.Pool) -> None:
    """The cap is on the body, not below it: the 413s above are the cap, not another rule."""
    data = bytes(CAP - 4096)
    response = post_raw(client, multipart(dockerfile_part(), file_part("files", b"d.bin", data)))
    assert response.status_code == 201, response.text


# --- malformed multipart --------------------------------------------------------------------

_VALID = multipart(dockerfile_part(), file_part("files", b"run.sh", b"echo hi\n" * 100))
MALFORMED = {
    "boundary not in the body": (_VALID, "multipart/form-data; boundary=some-other-boundary"),
    "no boundary parameter": (_VALID, "multipart/form-data"),
    "empty boundary": (_VALID, 'multipart/form-data; boundary=""'),
    "body cut inside a file part": (_VALID[:-300], None),
    "body cut before the closing boundary": (_VALID[: -len(BOUNDARY) - 6], None),
    "empty body": (b"", None),
    "not multipart at all": (b"dockerfile=FROM+debian", None),
    "part without Content-Disposition": (
        multipart(dockerfile_part(), b"Content-Type: text/plain\r\n\r\nhello"),
        None,
    ),
    "Content-Disposition without a name": (
        multipart(dockerfile_part(), b'Content-Disposition: form-data; filename="a"\r\n\r\nx'),
        None,
    ),
    "part header without a colon": (
        multipart(dockerfile_part(), b"this is not a header\r\n\r\nx"),
        None,
    ),
    "part with 100 headers": (
        multipart(dockerfile_part(), b"".join(b"X-H%d: v\r\n" % i for i in range(100)) + b"\r\n"),
        None,
    ),
}


@pytest.mark.parametrize(("body", "content_type"), MALFORMED.values(), ids=list(MALFORMED))
def test_malformed_multipart_is_400(
    client: TestClient, pool: db.Pool, body: bytes, content_type: str | None
) -> None:
    content_type = content_type or f"multipart/form-data; boundary={BOUNDARY}"
    for path in ("/v1/jobs", "/submit"):
        assert_refused(
            pool, lambda p=path: post_raw(client, body, content_type, p), 400, "invalid_multipart"
        )


def test_a_body_with_its_closing_boundary_is_the_control(client: TestClient) -> None:
    """The cut bodies above differ from this one only by their missing tail."""
    assert post_raw(client, _VALID).status_code == 201


# --- many parts -----------------------------------------------------------------------------


def _slim_file_part(i: int) -> bytes:
    return b'Content-Disposition: form-data; name="files"; filename="f%d"\r\n\r\nx' % i


@pytest.mark.parametrize(
    "part",
    [
        pytest.param(_slim_file_part, id="20000 file parts"),
        pytest.param(lambda i: text_part(f"f{i}", b"x"), id="20000 text fields"),
    ],
)
def test_twenty_thousand_parts_are_a_clean_400(
    client: TestClient, pool: db.Pool, part: Callable[[int], bytes]
) -> None:
    body = multipart(dockerfile_part(), *(part(i) for i in range(20_000)), boundary="b")
    assert len(body) < CAP, "the parts, not their size, must be what is refused"
    started = time.monotonic()
    assert_refused(
        pool,
        lambda: post_raw(client, body, "multipart/form-data; boundary=b"),
        400,
        "invalid_multipart",
    )
    assert time.monotonic() - started < 30


# --- job ids --------------------------------------------------------------------------------

BAD_IDS = {
    "word": "abc",
    "negative": "-7",
    "zero": "0",
    "decimal": "1.5",
    "exponent": "1e3",
    "hex": "0x10",
    "plus sign": "+1",
    "leading space": " 1",
    "trailing newline": "1\n",
    "NUL": "1\x00",
    "40 digits": "9" * 40,
    "2**63": str(2**63),
    "Arabic-Indic digits": "\u0661\u0662",
    "fullwidth digits": "\uff11\uff12",
    "superscript two": "\u00b2",
}
JOB_ROUTES = [
    ("GET", "/v1/jobs/{}"),
    ("GET", "/v1/jobs/{}?wait=1"),
    ("DELETE", "/v1/jobs/{}"),
    ("POST", "/v1/jobs/{}/cancel"),
    ("GET", "/v1/jobs/{}/logs"),
    ("GET", "/v1/jobs/{}/outputs"),
    ("GET", "/v1/jobs/{}/outputs/result.txt"),
    ("GET", "/v1/jobs/{}/outputs.tar.gz"),
]


@pytest.mark.parametrize("raw_id", BAD_IDS.values(), ids=list(BAD_IDS))
def test_malformed_ids_are_404_on_every_job_route(
    client: TestClient, pool: db.Pool, raw_id: str
) -> None:
    quoted = urllib.parse.quote(raw_id, safe="")
    for method, route in JOB_ROUTES:
        url = route.format(quoted)
        assert_refused(pool, lambda m=method, u=url: client.request(m, u), 404, "not_found")
    for method in ("GET", "POST"):
        for legacy in ("/getJobStatus", "/getResultingFiles"):
            assert_refused(
                pool,
                lambda m=method, e=legacy: client.request(m, e, params={"jobId": raw_id}),
                404,
                "not_found",
            )


def test_a_traversing_output_path_is_404(client: TestClient, pool: db.Pool) -> None:
    job_id = post_raw(client, _VALID).json()["id"]
    for path in ("..%2F..%2Fetc%2Fpasswd", "%2Fetc%2Fpasswd", "..%2Fcontext.tar", "context.tar"):
        assert_refused(
            pool,
            lambda p=path: client.get(f"/v1/jobs/{job_id}/outputs/{p}"),
            404,
            "no_such_output",
        )


# --- a real server: the request head and the body cap --------------------------------------


@dataclass(frozen=True)
class Live:
    port: int
    pid: int


def _env(cfg: Settings, port: int) -> dict[str, str]:
    """The subprocess reads its settings like a deployed master: from DCCF_* variables only."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("DCCF_")}
    return {
        **inherited,
        "DCCF_PG_HOST": cfg.postgres.host,
        "DCCF_PG_PORT": str(cfg.postgres.port),
        "DCCF_PG_USER": cfg.postgres.user,
        "DCCF_PG_PASSWORD": cfg.postgres.password,
        "DCCF_PG_DATABASE": cfg.postgres.database,
        "DCCF_KAFKA_BOOTSTRAP": cfg.kafka.bootstrap,
        "DCCF_KAFKA_TOPIC": cfg.kafka.topic,
        "DCCF_API_TOKENS": ",".join(f"{p}:{t}" for t, p in cfg.master.api_tokens.items()),
        "DCCF_MAX_UPLOAD_MB": str(cfg.limits.max_upload_bytes // MIB),
        "DCCF_SWEEP_SECONDS": "3600",
        "DCCF_HOST": "127.0.0.1",
        "DCCF_PORT": str(port),
        "DCCF_MASTER_PROCESSES": "1",
    }


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def live(
    hostile_cfg: Settings, pool: db.Pool, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Live]:
    port = _free_port()
    log_path = tmp_path_factory.mktemp("live-master") / "master.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "services.master.main"],
            env=_env(hostile_cfg, port),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_until_up(process, port, log_path)
        yield Live(port, process.pid)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_up(process: subprocess.Popen[bytes], port: int, log_path: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"dccf-master exited with {process.returncode}:\n{log_path.read_text()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail(f"dccf-master did not answer /healthz within 60 s:\n{log_path.read_text()}")


@dataclass(frozen=True)
class Exchange:
    status: int
    body: bytes
    sent: int


def exchange(port: int, head: bytes, pieces: Iterable[bytes], timeout: float = 60) -> Exchange:
    """Send `head`, then `pieces` until the server answers or stops reading; read the answer.

    Like curl, and unlike httpx, it notices an answer that comes before the body is all sent.
    """
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sent = 0
        for piece in [head, *pieces]:
            view = memoryview(piece)
            while view:
                readable, writable, _ = select.select([sock], [sock], [], timeout)
                if readable:
                    return _answer(sock, sent)
                if not writable:
                    pytest.fail(f"the server neither read nor answered in {timeout} s")
                try:
                    count = sock.send(view)
                except (BrokenPipeError, ConnectionResetError):
                    return _answer(sock, sent)
                view = view[count:]
                sent += count
        return _answer(sock, sent)


def _answer(sock: socket.socket, sent: int) -> Exchange:
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ConnectionResetError:
        pass
    except TimeoutError:
        pytest.fail(f"no answer from the server after {sent} bytes sent: {data[:200]!r}")
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 "), f"no HTTP answer after {sent} bytes sent: {data[:200]!r}"
    return Exchange(int(head.split()[1]), body, sent)


def _request_head(content_type: str, extra: str) -> bytes:
    return (
        f"POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n"
        f"Content-Type: {content_type}\r\n{extra}Connection: close\r\n\r\n"
    ).encode()


def _error_code(answer: Exchange) -> str:
    return str(json.loads(answer.body)["error"]["code"])


def _big_body(size: int) -> tuple[bytes, Iterator[bytes], bytes]:
    head, *_, tail = _over_cap_body()
    return head, (bytes(MIB) for _ in range(size // MIB)), tail


def test_live_declared_length_over_the_cap_is_413_before_any_body(
    live: Live, pool: db.Pool
) -> None:
    before = stored(pool)
    head = _request_head(
        f"multipart/form-data; boundary={BOUNDARY}", f"Content-Length: {40 * MIB}\r\n"
    )
    answer = exchange(live.port, head, [], timeout=15)
    assert (answer.status, _error_code(answer)) == (413, "payload_too_large")
    assert answer.sent == len(head)
    assert stored(pool) == before


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_live_upload_over_the_cap_is_cut_off_near_the_cap(
    live: Live, pool: db.Pool, chunked: bool
) -> None:
    """40 MiB against a 2 MiB cap: the answer comes long before the body is all sent.

    With Content-Length the header alone condemns it; chunked, the cap is counted as it streams.
    """
    size = 40 * MIB
    first, middle, last = _big_body(size)
    if chunked:
        extra = "Transfer-Encoding: chunked\r\n"
        pieces: Iterable[bytes] = (
            b"%x\r\n%s\r\n" % (len(p), p) for p in [first, *middle, last, b""]
        )
    else:
        extra = f"Content-Length: {len(first) + size + len(last)}\r\n"
        pieces = [first, *middle, last]
    before = stored(pool)
    answer = exchange(
        live.port, _request_head(f"multipart/form-data; boundary={BOUNDARY}", extra), pieces
    )
    assert (answer.status, _error_code(answer)) == (413, "payload_too_large")
    # Loopback socket buffers hold a few MiB; reading on to the end would take all 40.
    assert answer.sent < 16 * MIB, f"the server read {answer.sent} bytes before answering"
    assert stored(pool) == before


def _peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmHWM in /proc/{pid}/status")


def _listing_head(padding: int, end: bool = True) -> bytes:
    head = (
        f"GET /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n"
        f"X-Padding: {'p' * padding}\r\nConnection: close\r\n"
    ).encode()
    return head + b"\r\n" if end else head


def _assert_alive(live: Live) -> None:
    assert httpx.get(f"http://127.0.0.1:{live.port}/healthz", timeout=5).status_code == 200


def test_live_64_kib_header_gets_an_answer_and_the_server_lives_on(live: Live) -> None:
    """Sent at once, a 64 KiB head reaches the server in one read; it may be served or refused
    (h11 bounds only a head still incomplete), but never crash or hang the server."""
    answer = exchange(live.port, _listing_head(64 * 1024), [], timeout=15)
    assert answer.status in (200, 400, 431), answer
    if answer.status == 200:
        assert "jobs" in json.loads(answer.body)
    _assert_alive(live)


@pytest.mark.parametrize("size", [64 * 1024, 1024 * 1024], ids=["64 KiB", "1 MiB"])
def test_live_head_over_the_limit_is_refused_before_it_ends(live: Live, size: int) -> None:
    """The head never ends, so only a limit on an incomplete head can answer it."""
    answer = exchange(live.port, _listing_head(size, end=False), [], timeout=15)
    assert answer.status in (400, 431), answer
    _assert_alive(live)


def test_live_endless_header_line_is_cut_off_with_bounded_memory(live: Live) -> None:
    """A header line that never ends must neither fill the master's memory nor hang it."""
    Path(f"/proc/{live.pid}/clear_refs").write_text("5")
    baseline = _peak_rss_kib(live.pid)
    head = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Endless: "
    answer = exchange(live.port, head, (b"e" * MIB for _ in range(64)), timeout=30)
    assert answer.status in (400, 431), answer
    assert answer.sent < 16 * MIB, f"the server read {answer.sent} bytes of one header line"
    grown_kib = _peak_rss_kib(live.pid) - baseline
    assert grown_kib < 32 * 1024, f"the master grew by {grown_kib} KiB on one header line"
    _assert_alive(live)
