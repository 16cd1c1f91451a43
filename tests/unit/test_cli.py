from __future__ import annotations

import argparse
import io
import json
import tarfile
from pathlib import Path
from typing import Any

import httpx
import pytest
from fake_master import URL, Master, multipart, tar_gz

from dccf.cli import app as cli
from dccf.cli import follow
from dccf.client import DccfClient
from dccf.human import human_duration, human_size

SUBCOMMANDS = [
    "submit",
    "status",
    "logs",
    "results",
    "list",
    "demo",
    "cancel",
    "delete",
    "resubmit",
    "workers",
    "ui",
]


def job(job_id: int = 7, status: str = "queued", **extra: Any) -> dict[str, Any]:
    return {
        "id": job_id,
        "name": None,
        "status": status,
        "reason": None,
        "exit_code": None,
        "attempt": 0,
        "worker": None,
        "created_at": "2026-11-27T19:10:27Z",
        "started_at": None,
        "finished_at": None,
        "limits": {"timeout_seconds": 3600, "memory_mb": 512, "cpus": 1.0, "network": "none"},
        **extra,
    }


FINISHED = {"started_at": "2026-11-27T19:10:30Z", "finished_at": "2026-11-27T19:10:44Z"}


@pytest.fixture
def master(monkeypatch: pytest.MonkeyPatch) -> Master:
    fake = Master()

    def make_client(args: argparse.Namespace) -> DccfClient:
        return fake.client(args.url or URL, args.token)

    monkeypatch.setattr(cli, "make_client", make_client)
    return fake


@pytest.fixture
def context(tmp_path: Path) -> Path:
    root = tmp_path / "ctx"
    root.mkdir()
    (root / "Dockerfile").write_text("FROM debian:bookworm-slim\nCOPY run.sh /\n")
    (root / "run.sh").write_text("echo hi\n")
    return root


def test_help_works_for_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in [["--help"], *([name, "--help"] for name in SUBCOMMANDS)]:
        with pytest.raises(SystemExit) as caught:
            cli.main(argv)
        assert caught.value.code == 0
        assert "usage: dccf" in capsys.readouterr().out


def test_no_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        cli.main([])
    assert caught.value.code == 2
    assert "required" in capsys.readouterr().err


def test_bad_job_id_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        cli.main(["status", "-3"])
    assert caught.value.code == 2


def test_bad_url_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        cli.main(["--url", "master:8080", "list"])
    assert caught.value.code == 2
    assert "http:// or https://" in capsys.readouterr().err


def test_submit_prints_the_id_and_uploads_the_context(
    master: Master, context: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    master.on("POST", "/v1/jobs", httpx.Response(201, json=job(42)))
    code = cli.main(
        [
            "submit",
            str(context),
            "--name",
            "n",
            "--memory",
            "64",
            "--priority",
            "-5",
            "--build-arg",
            "V=1=2",
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0
    assert out == "42\n"
    assert "packed" in err and "2 file(s)" in err and "submitted job 42" in err
    parts = {name: body for name, _, body in multipart(master.requests[0])}
    assert parts["name"] == b"n"
    assert parts["memory_mb"] == b"64"
    assert parts["priority"] == b"-5"
    assert json.loads(parts["build_args"]) == {"V": "1=2"}
    with tarfile.open(fileobj=io.BytesIO(parts["context"]), mode="r:gz") as tar:
        assert sorted(tar.getnames()) == ["Dockerfile", "run.sh"]


def test_submit_refuses_a_symlink_with_exit_2(
    master: Master, context: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (context / "alias.sh").symlink_to(context / "run.sh")
    assert cli.main(["submit", str(context)]) == 2
    assert "alias.sh is a symbolic link" in capsys.readouterr().err
    assert master.requests == []


def test_submit_needs_a_dockerfile(
    master: Master, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["submit", str(tmp_path)]) == 2
    assert "no Dockerfile at its root" in capsys.readouterr().err


def test_bad_build_arg_is_a_usage_error(context: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        cli.main(["submit", str(context), "--build-arg", "NOVALUE"])
    assert caught.value.code == 2
    assert "KEY=VALUE" in capsys.readouterr().err


def test_demo_wait_prints_progress_output_and_files(
    master: Master, capsys: pytest.CaptureFixture[str]
) -> None:
    master.on("POST", "/v1/demo", httpx.Response(201, json=job(5)))
    master.on(
        "GET",
        "/v1/jobs/5",
        httpx.Response(200, json=job(5, "running", worker="w-1", attempt=1)),
        httpx.Response(200, json=job(5, "succeeded", exit_code=0, attempt=1, **FINISHED)),
    )
    master.on("GET", "/v1/jobs/5/logs", httpx.Response(200, text="Hello from the demo\n"))
    files = [{"path": "output.txt", "size": 62, "sha256": "ab"}]
    master.on("GET", "/v1/jobs/5/outputs", httpx.Response(200, json={"files": files}))
    code = cli.main(["demo", "--wait"])
    out, err = capsys.readouterr()
    assert code == 0
    assert "job 5 queued" in err
    assert "job 5 running on w-1 (attempt 1)" in err
    assert "job 5 succeeded" in err
    assert out.splitlines() == [
        "job 5 succeeded after 14s (exit code 0)",
        "--- stdout ---",
        "Hello from the demo",
        "--- outputs: 1 file(s) under /output ---",
        "output.txt  62 B",
        "download them with: dccf results 5 -o DIR",
    ]
    logs_request = next(r for r in master.requests if r.url.path.endswith("/logs"))
    assert logs_request.url.params["stream"] == "stdout"


def test_status_wait_on_a_failed_job_exits_1_with_the_stderr_tail(
    master: Master, capsys: pytest.CaptureFixture[str]
) -> None:
    failed = job(8, "failed", reason="nonzero_exit", exit_code=3, **FINISHED)
    master.on("GET", "/v1/jobs/8", httpx.Response(200, json=failed))
    stderr_log = "".join(f"line {n}\n" for n in range(100))
    master.on("GET", "/v1/jobs/8/logs", httpx.Response(200, text=stderr_log))
    code = cli.main(["status", "8", "--wait"])
    out = capsys.readouterr().out.splitlines()
    assert code == 1
    assert out[0] == "job 8 failed: nonzero_exit after 14s (exit code 3)"
    assert out[1].startswith("--- stderr log, last 30 lines")
    assert out[2:] == [f"line {n}" for n in range(70, 100)]


def test_build_failure_shows_the_build_log(
    master: Master, capsys: pytest.CaptureFixture[str]
) -> None:
    failed = job(8, "failed", reason="build_failed")
    master.on("GET", "/v1/jobs/8", httpx.Response(200, json=failed))
    master.on("GET", "/v1/jobs/8/logs", httpx.Response(200, text="Step 1/2 : FROM nope\n"))
    assert cli.main(["status", "8", "--wait"]) == 1
    assert "Step 1/2 : FROM nope" in capsys.readouterr().out
    assert master.requests[-1].url.params["stream"] == "build"


def test_cancelled_job_exits_1(master: Master, capsys: pytest.CaptureFixture[str]) -> None:
    master.on(
        "GET", "/v1/jobs/8", httpx.Response(200, json=job(8, "cancelled", reason="cancelled"))
    )
    assert cli.main(["status", "8", "--wait"]) == 1
    assert capsys.readouterr().out == "job 8 cancelled\n"


def test_wait_timeout_exits_1_and_says_the_job_goes_on(
    master: Master, capsys: pytest.CaptureFixture[str]
) -> None:
    master.on("GET", "/v1/jobs/8", httpx.Response(200, json=job(8, "running")))
    assert cli.main(["status", "8", "--wait", "--wait-timeout", "0"]) == 1
    assert "still running after 0 s" in capsys.readouterr().err


def test_wait_with_json_prints_only_the_final_job(
    master: Master, capsys: pytest.CaptureFixture[str]
) -> None:
    master.on(
        "GET",
        "/v1/jobs/8",
        httpx.Response(200, json=job(8, "running")),
        httpx.Response(200, json=job(8, "succeeded", exit_code=0)),
    )
    assert cli.main(["status", "8", "--wait", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "succeeded"


def test_status_prints_the_job(master: Master, capsys: pytest.CaptureFixture[str]) -> None:
    master.on("GET", "/v1/jobs/8", httpx.Response(200, json=job(8, "running", worker="w-2")))
    assert cli.main(["status", "8"]) == 0
    out = capsys.readouterr().out
    assert "status     running" in out
    assert "worker     w-2" in out
    assert "reason     -" in out
    assert "network none" in out


def test_json_works_before_and_after_the_command(
    master: Master, capsys: pytest.CaptureFixture[str]
) -> None:
    master.on("GET", "/v1/jobs/8", httpx.Response(200, json=job(8)))
    for argv in (["--json", "status", "8"], ["status", "8", "--json"]):
        assert cli.main(argv) == 0
        assert json.loads(capsys.readouterr().out)["id"] == 8


def test_url_and_token_flags_after_the_command(master: Master) -> None:
    master.on("GET", "/v1/jobs/8", httpx.Response(200, json=job(8)))
    assert cli.main(["status", "8", "--url", "http://other.test:1", "--token", "t0k"]) == 0
    assert master.requests[0].url.host == "other.test"
    assert master.requests[0].headers["authorization"] == "Bearer t0k"


def test_api_error_exits_2_with_the_message(
    master: Master, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["logs", "404"]) == 2
    assert capsys.readouterr().err == "dccf: no job with this id (HTTP 404 not_found)\n"


def test_unauthorized_hints_at_the_token(
    master: Master, capsys: pytest.CaptureFixture[str]
) -> None:
    body = {"error": {"code": "unauthorized", "message": "a bearer token is required"}}
    master.on("GET", "/v1/jobs", httpx.Response(401, json=body))
    assert cli.main(["list"]) == 2
    assert "--token or DCCF_TOKEN" in capsys.readouterr().err


def test_unreachable_master_exits_2_naming_the_url(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    monkeypatch.setattr(
        cli, "make_client", lambda args: DccfClient(URL, transport=httpx.MockTransport(refuse))
    )
    assert cli.main(["demo"]) == 2
    assert f"cannot reach the DCCF master at {URL}" in capsys.readouterr().err


def test_make_client_uses_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DCCF_URL", "http://from-env.test:9")
    monkeypatch.setenv("DCCF_TOKEN", "envtok")
    args = cli.build_parser().parse_args(["list"])
    with cli.make_client(args) as dccf:
        assert dccf.url == "http://from-env.test:9"
        assert dccf._http.headers["authorization"] == "Bearer envtok"
    args = cli.build_parser().parse_args(["list", "--url", "https://flag.test"])
    with cli.make_client(args) as dccf:
        assert dccf.url == "https://flag.test"


def test_logs_prints_the_text(master: Master, capsys: pytest.CaptureFixture[str]) -> None:
    master.on("GET", "/v1/jobs/3/logs", httpx.Response(200, text="no newline at end"))
    assert cli.main(["logs", "3", "--stream", "stderr"]) == 0
    assert capsys.readouterr().out == "no newline at end\n"
    assert master.requests[0].url.params["stream"] == "stderr"


def test_list_prints_a_table_and_hints_at_more(
    master: Master, capsys: pytest.CaptureFixture[str]
) -> None:
    page = {
        "jobs": [
            {**job(12, "failed", reason="timeout", name="long job"), "priority": 5},
            {**job(11, "succeeded"), "priority": -3},
        ],
        "next": "cursor",
    }
    master.on("GET", "/v1/jobs", httpx.Response(200, json=page))
    assert cli.main(["list", "--status", "failed", "--limit", "2"]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines() == [
        "ID  STATUS     PRIORITY  REASON   NAME      CREATED",
        "12  failed     5         timeout  long job  2026-11-27T19:10:27Z",
        "11  succeeded  -3        -        -         2026-11-27T19:10:27Z",
    ]
    assert "dccf list --all" in err
    assert dict(master.requests[0].url.params) == {"status": "failed", "limit": "2"}


def test_list_by_priority(master: Master, capsys: pytest.CaptureFixture[str]) -> None:
    master.on("GET", "/v1/jobs", httpx.Response(200, json={"jobs": [], "next": None}))
    assert cli.main(["list", "--priority", "-7", "--order", "priority"]) == 0
    assert dict(master.requests[0].url.params) == {"priority": "-7", "order": "priority"}


@pytest.mark.parametrize("value", ["101", "-101", "high"])
def test_a_priority_out_of_range_is_refused_before_asking(
    value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["submit", ".", "--priority", value])
    assert exited.value.code == 2
    assert "is not a priority (a whole number from -100 to 100)" in capsys.readouterr().err


def test_list_all_follows_every_page(master: Master, capsys: pytest.CaptureFixture[str]) -> None:
    master.on(
        "GET",
        "/v1/jobs",
        httpx.Response(200, json={"jobs": [job(3)], "next": "c"}),
        httpx.Response(200, json={"jobs": [job(2), job(1)], "next": None}),
    )
    assert cli.main(["list", "--all", "--json"]) == 0
    assert [j["id"] for j in json.loads(capsys.readouterr().out)] == [3, 2, 1]
    assert master.requests[1].url.params["before"] == "c"


def test_results_extracts_and_prints_the_files(
    master: Master, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blob = tar_gz({"output.txt": b"hello\n"})
    master.on("GET", "/v1/jobs/5/outputs.tar.gz", httpx.Response(200, content=blob))
    dest = tmp_path / "res"
    assert cli.main(["results", "5", "-o", str(dest)]) == 0
    assert capsys.readouterr().out == f"{dest / 'output.txt'}  6 B\n"
    assert (dest / "output.txt").read_text() == "hello\n"


def test_results_refuses_an_unsafe_archive(
    master: Master, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blob = tar_gz({"../../evil": b"x"})
    master.on("GET", "/v1/jobs/5/outputs.tar.gz", httpx.Response(200, content=blob))
    assert cli.main(["results", "5", "-o", str(tmp_path / "res")]) == 2
    assert "climb out" in capsys.readouterr().err


def test_results_list_shows_files_without_downloading(
    master: Master, capsys: pytest.CaptureFixture[str]
) -> None:
    files = [{"path": "a/b.txt", "size": 2048, "sha256": "beef"}]
    master.on("GET", "/v1/jobs/5/outputs", httpx.Response(200, json={"files": files}))
    assert cli.main(["results", "5", "--list"]) == 0
    assert capsys.readouterr().out == "a/b.txt  2.0 KiB  sha256:beef\n"
    assert [r.url.path for r in master.requests] == ["/v1/jobs/5/outputs"]


def test_cancel_and_delete(master: Master, capsys: pytest.CaptureFixture[str]) -> None:
    master.on("POST", "/v1/jobs/4/cancel", httpx.Response(202, json=job(4, "running")))
    master.on("DELETE", "/v1/jobs/4", httpx.Response(204))
    assert cli.main(["cancel", "4"]) == 0
    assert cli.main(["delete", "4"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "job 4 is running: cancel requested, it stops within seconds",
        "job 4 deleted",
    ]


def test_cancel_conflict_exits_2(master: Master, capsys: pytest.CaptureFixture[str]) -> None:
    body = {"error": {"code": "conflict", "message": "job 4 is already succeeded"}}
    master.on("POST", "/v1/jobs/4/cancel", httpx.Response(409, json=body))
    assert cli.main(["cancel", "4"]) == 2
    assert "already succeeded (HTTP 409 conflict)" in capsys.readouterr().err


def test_progress_prints_changes_and_a_quiet_reminder(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [100.0]
    monkeypatch.setattr(follow.time, "monotonic", lambda: clock[0])
    stream = io.StringIO()
    progress = follow.Progress(9, stream)
    for at, status in [
        (0, "queued"),
        (3, "queued"),
        (5, "running"),
        (12, "running"),
        (16, "running"),
    ]:
        clock[0] = 100.0 + at
        progress(job(9, status))
    assert stream.getvalue().splitlines() == [
        "[    0s] job 9 queued",
        "[    5s] job 9 running",
        "[   16s] job 9 still running",
    ]


@pytest.mark.parametrize(
    ("size", "text"), [(0, "0 B"), (1023, "1023 B"), (1536, "1.5 KiB"), (5 * 2**30, "5.0 GiB")]
)
def test_human_size(size: int, text: str) -> None:
    assert human_size(size) == text


@pytest.mark.parametrize(("seconds", "text"), [(5, "5s"), (65, "1m05s"), (3720, "1h02m")])
def test_human_duration(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text


def worker(worker_id: str, state: str, jobs: list[int]) -> dict[str, Any]:
    return {
        "id": worker_id,
        "state": state,
        "host": "node-1",
        "version": "0.1.0",
        "slots": 1,
        "jobs": jobs,
        "started_at": "2026-11-27T19:00:00Z",
        "last_seen_at": "2026-11-27T19:10:27Z",
        "stopped_at": None,
    }


def test_workers_prints_a_table_with_each_workers_state_and_jobs(
    master: Master, capsys: pytest.CaptureFixture[str]
) -> None:
    body = {
        "workers": [worker("w-1", "alive", [7, 9]), worker("w-2", "lost", [])],
        "lost_after_seconds": 30,
    }
    master.on("GET", "/v1/workers", httpx.Response(200, json=body))
    assert cli.main(["workers"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == [
        "ID",
        "STATE",
        "HOST",
        "VERSION",
        "SLOTS",
        "LAST",
        "SEEN",
        "YOUR",
        "JOBS",
    ]
    assert lines[1].split() == [
        "w-1",
        "alive",
        "node-1",
        "0.1.0",
        "1",
        "2026-11-27T19:10:27Z",
        "7,9",
    ]
    assert lines[2].split() == ["w-2", "lost", "node-1", "0.1.0", "1", "2026-11-27T19:10:27Z", "-"]


def test_workers_says_what_to_do_when_there_is_none(
    master: Master, capsys: pytest.CaptureFixture[str]
) -> None:
    master.on(
        "GET", "/v1/workers", httpx.Response(200, json={"workers": [], "lost_after_seconds": 30})
    )
    assert cli.main(["workers"]) == 0
    out, err = capsys.readouterr()
    assert out == "" and "start one" in err


def test_ui_prints_the_dashboard_url(master: Master, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--url", "http://dccf.example:8080/", "ui"]) == 0
    assert capsys.readouterr().out == "http://dccf.example:8080/\n"


def test_resubmit_announces_the_new_job(master: Master, capsys: pytest.CaptureFixture[str]) -> None:
    master.on("POST", "/v1/jobs/7/resubmit", httpx.Response(201, json=job(8)))
    assert cli.main(["resubmit", "7"]) == 0
    assert capsys.readouterr().out == "8\n"
