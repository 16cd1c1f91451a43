from __future__ import annotations

import email
import email.policy
import gzip
import io
import json
import tarfile
from pathlib import Path
from typing import Any

import httpx
import pytest

from dccf import client as client_module
from dccf.client import DccfClient, DccfError, Unreachable, WaitTimeout

URL = "http://master.test:8080"


def job(job_id: int = 7, status: str = "queued", **extra: Any) -> dict[str, Any]:
    return {"id": job_id, "status": status, "reason": None, "exit_code": None, **extra}


class Master:
    """Answers from a queue of responses per (method, path) and records every request."""

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
            return httpx.Response(404, json={"error": {"code": "not_found", "message": "nope"}})
        return queue.pop(0) if len(queue) > 1 else queue[0]

    def client(self, token: str | None = None) -> DccfClient:
        dccf = DccfClient(URL, token=token, transport=httpx.MockTransport(self))
        dccf.min_poll_interval = 0
        return dccf


def multipart(request: httpx.Request) -> list[tuple[str, str | None, bytes]]:
    """(field name, filename, body) of every part, parsed by the stdlib email parser."""
    head = f"Content-Type: {request.headers['content-type']}\r\n\r\n".encode()
    message = email.message_from_bytes(head + request.content, policy=email.policy.HTTP)
    parts = []
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        parts.append((str(name), part.get_filename(), part.get_payload(decode=True)))
    return parts


@pytest.fixture
def master() -> Master:
    return Master()


def test_submit_sends_dockerfile_files_fields_and_headers(master: Master) -> None:
    master.on("POST", "/v1/jobs", httpx.Response(201, json=job()))
    with master.client(token="s3cret") as dccf:
        created = dccf.submit(
            files={"src/app.py": "print(1)\n", "data.bin": b"\x00\xff"},
            dockerfile="FROM debian:bookworm-slim\n",
            name="unit",
            timeout_seconds=60,
            memory_mb=256,
            cpus=0.5,
            network="none",
            callback_url="https://hook.test/x",
            build_args={"A": "1", "B": "two"},
            idempotency_key="key-1",
        )
    assert created == job()
    request = master.requests[0]
    assert request.headers["authorization"] == "Bearer s3cret"
    assert request.headers["idempotency-key"] == "key-1"
    parts = multipart(request)
    fields = {name: body.decode() for name, filename, body in parts if filename is None}
    assert fields == {
        "name": "unit",
        "timeout_seconds": "60",
        "memory_mb": "256",
        "cpus": "0.5",
        "network": "none",
        "callback_url": "https://hook.test/x",
        "build_args": json.dumps({"A": "1", "B": "two"}),
    }
    uploads = [(name, filename, body) for name, filename, body in parts if filename is not None]
    assert uploads == [
        ("dockerfile", "Dockerfile", b"FROM debian:bookworm-slim\n"),
        ("files", "src/app.py", b"print(1)\n"),
        ("files", "data.bin", b"\x00\xff"),
    ]


def test_submit_sends_cpus_as_a_plain_decimal(master: Master) -> None:
    master.on("POST", "/v1/jobs", httpx.Response(201, json=job()))
    with master.client() as dccf:
        dccf.submit(dockerfile="FROM x\n", cpus=0.1 + 0.2)
        dccf.submit(dockerfile="FROM x\n", cpus=2)
    sent = [dict((n, b) for n, f, b in multipart(r) if f is None) for r in master.requests]
    assert [fields["cpus"] for fields in sent] == [b"0.3", b"2"]


def test_submit_without_token_sends_no_authorization(master: Master) -> None:
    master.on("POST", "/v1/jobs", httpx.Response(201, json=job()))
    with master.client() as dccf:
        dccf.submit(dockerfile="FROM debian:bookworm-slim\n")
    assert "authorization" not in master.requests[0].headers
    assert "idempotency-key" not in master.requests[0].headers


def test_submit_packs_a_directory_into_the_context_part(master: Master, tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM debian:bookworm-slim\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "x.txt").write_text("x")
    master.on("POST", "/v1/jobs", httpx.Response(201, json=job()))
    packed: list[tuple[int, int]] = []
    with master.client() as dccf:
        dccf.submit(tmp_path, on_packed=lambda count, size: packed.append((count, size)))
    ((name, filename, body),) = multipart(master.requests[0])
    assert (name, filename) == ("context", "context.tar.gz")
    assert packed == [(2, len(body))]
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as tar:
        assert sorted(tar.getnames()) == ["Dockerfile", "sub", "sub/x.txt"]


def test_submit_with_a_dockerfile_leaves_the_root_one_out(master: Master, tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM old\n")
    (tmp_path / "a.txt").write_text("a")
    other = tmp_path.parent / "Other.dockerfile"
    other.write_text("FROM new\n")
    master.on("POST", "/v1/jobs", httpx.Response(201, json=job()))
    with master.client() as dccf:
        dccf.submit(tmp_path, dockerfile=other)
    parts = {name: (filename, body) for name, filename, body in multipart(master.requests[0])}
    assert parts["dockerfile"] == ("Dockerfile", b"FROM new\n")
    with tarfile.open(fileobj=io.BytesIO(parts["context"][1]), mode="r:gz") as tar:
        assert tar.getnames() == ["a.txt"]


def test_submit_sends_a_tar_file_as_is(master: Master, tmp_path: Path) -> None:
    archive = tmp_path / "ctx.tar"
    with tarfile.open(archive, "w") as tar:
        info = tarfile.TarInfo("Dockerfile")
        info.size = 5
        tar.addfile(info, io.BytesIO(b"FROM "))
    master.on("POST", "/v1/jobs", httpx.Response(201, json=job()))
    with master.client() as dccf:
        dccf.submit(archive)
    ((name, filename, body),) = multipart(master.requests[0])
    assert (name, filename, body) == ("context", "context.tar", archive.read_bytes())


def test_submit_names_gzip_bytes_tar_gz(master: Master) -> None:
    blob = gzip.compress(b"not checked by the client")
    master.on("POST", "/v1/jobs", httpx.Response(201, json=job()))
    with master.client() as dccf:
        dccf.submit(blob)
    request = master.requests[0]
    ((name, filename, body),) = multipart(request)
    assert (name, filename, body) == ("context", "context.tar.gz", blob)
    assert b"Content-Type: application/gzip" in request.content


def test_submit_refuses_a_directory_without_dockerfile(master: Master, tmp_path: Path) -> None:
    with master.client() as dccf, pytest.raises(ValueError, match="no Dockerfile at its root"):
        dccf.submit(tmp_path)
    assert master.requests == []


def test_error_object_becomes_dccf_error(master: Master) -> None:
    body = {"error": {"code": "invalid_input", "message": "memory_mb must be at least 16"}}
    master.on("POST", "/v1/jobs", httpx.Response(400, json=body))
    with master.client() as dccf, pytest.raises(DccfError) as caught:
        dccf.submit(dockerfile="FROM x\n", memory_mb=1)
    assert (caught.value.status, caught.value.code, caught.value.message) == (
        400,
        "invalid_input",
        "memory_mb must be at least 16",
    )


def test_non_json_error_keeps_status_and_text(master: Master) -> None:
    master.on("GET", "/v1/jobs/3", httpx.Response(502, text="<html>Bad Gateway</html>"))
    with master.client() as dccf, pytest.raises(DccfError) as caught:
        dccf.job(3)
    assert (caught.value.status, caught.value.code) == (502, "http_502")
    assert "Bad Gateway" in caught.value.message


def test_success_without_json_is_reported(master: Master) -> None:
    master.on("GET", "/v1/jobs/3", httpx.Response(200, text="hello"))
    with master.client() as dccf, pytest.raises(DccfError, match="is the URL a DCCF master"):
        dccf.job(3)


def test_json_that_is_no_object_is_reported(master: Master) -> None:
    master.on("GET", "/v1/jobs/3", httpx.Response(200, json=[1, 2]))
    with master.client() as dccf, pytest.raises(DccfError, match="without a JSON object"):
        dccf.job(3)


def test_connection_failure_names_the_url() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    dccf = DccfClient(URL, transport=httpx.MockTransport(refuse))
    with dccf, pytest.raises(Unreachable) as caught:
        dccf.job(1)
    assert f"cannot reach the DCCF master at {URL}" in str(caught.value)
    assert "DCCF_URL or --url" in str(caught.value)


def test_url_without_scheme_is_refused() -> None:
    with pytest.raises(ValueError, match="http:// or https://"):
        DccfClient("master:8080")


def test_from_settings_reads_url_and_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DCCF_URL", "https://dccf.example/")
    monkeypatch.setenv("DCCF_TOKEN", " tok \n")
    with DccfClient.from_settings() as dccf:
        assert dccf.url == "https://dccf.example"
        assert dccf._http.headers["authorization"] == "Bearer tok"


def test_wait_long_polls_until_terminal_and_stops(master: Master) -> None:
    master.on(
        "GET",
        "/v1/jobs/7",
        httpx.Response(200, json=job(status="queued")),
        httpx.Response(200, json=job(status="running")),
        httpx.Response(200, json=job(status="succeeded", exit_code=0)),
        httpx.Response(200, json=job(status="succeeded", exit_code=0)),
    )
    seen: list[str] = []
    with master.client() as dccf:
        final = dccf.wait(7, on_progress=lambda j: seen.append(j["status"]))
    assert final["status"] == "succeeded"
    assert seen == ["queued", "running", "succeeded"]
    assert len(master.requests) == 3
    assert all(r.url.params["wait"] == "10" for r in master.requests)


def test_wait_timeout_carries_the_last_job(master: Master) -> None:
    master.on("GET", "/v1/jobs/7", httpx.Response(200, json=job(status="running")))
    with master.client() as dccf, pytest.raises(WaitTimeout) as caught:
        dccf.wait(7, timeout=0)
    assert caught.value.job["status"] == "running"
    assert [r.url.params["wait"] for r in master.requests] == ["0"]


def test_wait_rides_out_a_short_outage(master: Master, monkeypatch: pytest.MonkeyPatch) -> None:
    sleeps: list[float] = []
    monkeypatch.setattr(client_module.time, "sleep", sleeps.append)
    unavailable = {"error": {"code": "unavailable", "message": "postgres is down"}}
    master.on(
        "GET",
        "/v1/jobs/7",
        httpx.Response(503, json=unavailable),
        httpx.Response(503, json=unavailable),
        httpx.Response(200, json=job(status="failed", reason="nonzero_exit", exit_code=3)),
    )
    with master.client() as dccf:
        assert dccf.wait(7)["reason"] == "nonzero_exit"
    assert sleeps == [1.0, 2.0]


def test_wait_gives_up_on_a_client_error(master: Master) -> None:
    with master.client() as dccf, pytest.raises(DccfError) as caught:
        dccf.wait(99)
    assert caught.value.status == 404
    assert len(master.requests) == 1


def test_iter_jobs_follows_the_cursor(master: Master) -> None:
    master.on(
        "GET",
        "/v1/jobs",
        httpx.Response(200, json={"jobs": [job(9), job(8)], "next": "c1"}),
        httpx.Response(200, json={"jobs": [job(7)], "next": None}),
    )
    with master.client() as dccf:
        ids = [j["id"] for j in dccf.iter_jobs(status="queued", page_size=2)]
    assert ids == [9, 8, 7]
    params = [dict(r.url.params) for r in master.requests]
    assert params == [
        {"status": "queued", "limit": "2"},
        {"status": "queued", "limit": "2", "before": "c1"},
    ]


def test_logs_outputs_cancel_delete(master: Master) -> None:
    master.on("GET", "/v1/jobs/7/logs", httpx.Response(200, text="hello\n"))
    master.on("GET", "/v1/jobs/7/outputs", httpx.Response(200, json={"files": [{"path": "a"}]}))
    master.on("POST", "/v1/jobs/7/cancel", httpx.Response(202, json=job(status="cancelled")))
    master.on("DELETE", "/v1/jobs/7", httpx.Response(204))
    with master.client() as dccf:
        assert dccf.logs(7, stream="stdout") == "hello\n"
        assert dccf.outputs(7) == [{"path": "a"}]
        assert dccf.cancel(7)["status"] == "cancelled"
        assert dccf.delete(7) is None
    assert master.requests[0].url.params["stream"] == "stdout"
    assert [(r.method, r.url.path) for r in master.requests[1:]] == [
        ("GET", "/v1/jobs/7/outputs"),
        ("POST", "/v1/jobs/7/cancel"),
        ("DELETE", "/v1/jobs/7"),
    ]


def test_download_output_streams_to_the_file(master: Master, tmp_path: Path) -> None:
    master.on("GET", "/v1/jobs/7/outputs/a b/c.txt", httpx.Response(200, content=b"data"))
    with master.client() as dccf:
        target = dccf.download_output(7, "a b/c.txt", tmp_path / "got" / "c.txt")
    assert target.read_bytes() == b"data"
    assert master.requests[0].url.raw_path == b"/v1/jobs/7/outputs/a%20b/c.txt"
    assert sorted(p.name for p in target.parent.iterdir()) == ["c.txt"]


def test_download_output_error_leaves_no_file(master: Master, tmp_path: Path) -> None:
    with master.client() as dccf, pytest.raises(DccfError):
        dccf.download_output(7, "missing.txt", tmp_path / "missing.txt")
    assert list(tmp_path.iterdir()) == []


def _tar_gz(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def test_download_archive_extracts(master: Master, tmp_path: Path) -> None:
    blob = _tar_gz({"output.txt": b"hello\n", "d/e.txt": b"e"})
    master.on("GET", "/v1/jobs/7/outputs.tar.gz", httpx.Response(200, content=blob))
    with master.client() as dccf:
        written = dccf.download_archive(7, tmp_path / "out")
    assert written == [("output.txt", 6), ("d/e.txt", 1)]
    assert (tmp_path / "out" / "d" / "e.txt").read_bytes() == b"e"


def test_download_archive_refuses_members_outside(master: Master, tmp_path: Path) -> None:
    blob = _tar_gz({"fine.txt": b"ok", "../evil.txt": b"pwned"})
    master.on("GET", "/v1/jobs/7/outputs.tar.gz", httpx.Response(200, content=blob))
    with master.client() as dccf, pytest.raises(DccfError) as caught:
        dccf.download_archive(7, tmp_path / "out")
    assert caught.value.code == "unsafe_archive"
    assert not (tmp_path / "evil.txt").exists()
    assert not (tmp_path / "out" / "fine.txt").exists()


def test_download_archive_reports_garbage(master: Master, tmp_path: Path) -> None:
    master.on("GET", "/v1/jobs/7/outputs.tar.gz", httpx.Response(200, content=b"not a tar"))
    with master.client() as dccf, pytest.raises(DccfError) as caught:
        dccf.download_archive(7, tmp_path / "out")
    assert caught.value.code == "bad_archive"


def test_short_download_is_an_error(tmp_path: Path) -> None:
    def truncated(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"Content-Length": "10"}, content=b"12345")

    dccf = DccfClient(URL, transport=httpx.MockTransport(truncated))
    with dccf, pytest.raises(DccfError) as caught:
        dccf.download_output(7, "x", tmp_path / "x")
    assert caught.value.code == "short_download"
    assert list(tmp_path.iterdir()) == []
