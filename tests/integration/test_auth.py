"""Bearer-token auth against the real store: who may call what, and whose jobs they see.

Two principals, alice and bob. Every endpoint but the probes needs a known token (401 with
`WWW-Authenticate: Bearer` otherwise); another principal's job answers exactly like a job that
does not exist (404), on v1 and on the legacy endpoints alike.
"""

from __future__ import annotations

import base64
import dataclasses
import io
import uuid
from collections.abc import Iterator

import httpx
import pytest
from job_runs import claim
from starlette.testclient import TestClient

from dccf import db, filestore, job_records, job_results
from dccf.filestore import FileKind
from dccf.jobs import JobStatus, LogStream
from dccf.settings import Settings
from services.master.app import create_app

pytestmark = pytest.mark.integration

ALICE_TOKEN = "alice-" + uuid.uuid4().hex
BOB_TOKEN = "bob-" + uuid.uuid4().hex
ALICE = {"Authorization": f"Bearer {ALICE_TOKEN}"}
BOB = {"Authorization": f"Bearer {BOB_TOKEN}"}
DOCKERFILE = b"FROM debian:bookworm-slim\nCMD true\n"
OUTPUT = b"alice's result\n"


@pytest.fixture(scope="module")
def client(cfg: Settings, pool: db.Pool) -> Iterator[TestClient]:
    tokens = {ALICE_TOKEN: "alice", BOB_TOKEN: "bob"}
    auth_cfg = dataclasses.replace(cfg, master=dataclasses.replace(cfg.master, api_tokens=tokens))
    with TestClient(create_app(auth_cfg)) as test_client:
        yield test_client


def stored(pool: db.Pool) -> tuple[int, int]:
    row = pool.run("SELECT (SELECT count(*) FROM jobs), (SELECT count(*) FROM files)")[0]
    return int(row[0]), int(row[1])


def submit(client: TestClient, headers: dict[str, str], name: str = "job") -> int:
    response = client.post(
        "/v1/jobs",
        files=[("dockerfile", ("Dockerfile", DOCKERFILE))],
        data={"name": name},
        headers=headers,
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def finish_with_output(pool: db.Pool, job_id: int) -> None:
    """What a worker records for a job that succeeded: logs, one output file, the status."""
    with pool.transaction() as conn:
        claimed = claim(conn, job_id, "auth-test-worker")
        filestore.store(conn, job_id, FileKind.OUTPUT, "result.txt", io.BytesIO(OUTPUT))
        job_results.store_log(conn, job_id, LogStream.STDOUT, b"done\n", 0)
        assert job_results.finish(conn, job_id, claimed.attempt, JobStatus.SUCCEEDED, None, 0)


@pytest.fixture(scope="module")
def alice_finished(client: TestClient, pool: db.Pool) -> int:
    job_id = submit(client, ALICE, "finished")
    finish_with_output(pool, job_id)
    return job_id


@pytest.fixture(scope="module")
def alice_queued(client: TestClient) -> int:
    return submit(client, ALICE, "queued")


def assert_401(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["error"]["code"] == "unauthorized"
    assert set(response.json()["error"]) == {"code", "message"}


def assert_404(response: httpx.Response) -> None:
    assert response.status_code == 404, response.text
    assert response.json()["error"]["code"] == "not_found"
    assert "www-authenticate" not in response.headers


# --- 401 ------------------------------------------------------------------------------------

BAD_CREDENTIALS = {
    "no header": {},
    "empty header": {"Authorization": ""},
    "scheme only": {"Authorization": "Bearer"},
    "empty token": {"Authorization": "Bearer "},
    "token without scheme": {"Authorization": ALICE_TOKEN},
    "Basic scheme": {
        "Authorization": "Basic " + base64.b64encode(f"alice:{ALICE_TOKEN}".encode()).decode()
    },
    "Token scheme": {"Authorization": f"Token {ALICE_TOKEN}"},
    "unknown token": {"Authorization": "Bearer not-a-token"},
    "prefix of a token": {"Authorization": f"Bearer {ALICE_TOKEN[:-1]}"},
    "token with a suffix": {"Authorization": f"Bearer {ALICE_TOKEN}x"},
    "token in other case": {"Authorization": f"Bearer {ALICE_TOKEN.upper()}"},
    "two tokens": {"Authorization": f"Bearer {ALICE_TOKEN} {BOB_TOKEN}"},
    "principal name as token": {"Authorization": "Bearer alice"},
}

ENDPOINTS = [
    ("POST", "/v1/jobs"),
    ("GET", "/v1/jobs"),
    ("POST", "/v1/demo"),
    ("GET", "/v1/jobs/{id}"),
    ("GET", "/v1/jobs/{id}?wait=5"),
    ("GET", "/v1/jobs/{id}/logs"),
    ("GET", "/v1/jobs/{id}/outputs"),
    ("GET", "/v1/jobs/{id}/outputs/result.txt"),
    ("GET", "/v1/jobs/{id}/outputs.tar.gz"),
    ("POST", "/v1/jobs/{id}/cancel"),
    ("DELETE", "/v1/jobs/{id}"),
    ("POST", "/submit"),
    ("POST", "/submitDemo"),
    ("GET", "/getJobStatus?jobId={id}"),
    ("POST", "/getJobStatus?jobId={id}"),
    ("GET", "/getResultingFiles?jobId={id}"),
    ("POST", "/getResultingFiles?jobId={id}"),
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
    ("GET", "/no-such-endpoint"),
]


@pytest.mark.parametrize("credentials", BAD_CREDENTIALS.values(), ids=list(BAD_CREDENTIALS))
@pytest.mark.parametrize(("method", "route"), ENDPOINTS, ids=[f"{m} {r}" for m, r in ENDPOINTS])
def test_every_endpoint_but_the_probes_needs_a_known_token(
    client: TestClient,
    pool: db.Pool,
    alice_finished: int,
    method: str,
    route: str,
    credentials: dict[str, str],
) -> None:
    url = route.format(id=alice_finished)
    # A token in the query string is no credential (it would end up in access logs).
    url += ("&" if "?" in url else "?") + f"access_token={ALICE_TOKEN}"
    before = stored(pool)
    files = [("dockerfile", ("Dockerfile", DOCKERFILE))] if method == "POST" else None
    assert_401(client.request(method, url, headers=credentials, files=files))
    assert stored(pool) == before
    job = client.get(f"/v1/jobs/{alice_finished}", headers=ALICE).json()
    assert job["status"] == "succeeded", "a refused call changed the job"


def test_a_token_that_is_not_latin_1_text_is_401_not_500(client: TestClient) -> None:
    for raw in (b"Bearer \xff\xfe", b"Bearer \xe9t\xe9", b"\x00Bearer x"):
        assert_401(client.get("/v1/jobs", headers=[(b"Authorization", raw)]))


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics"])
@pytest.mark.parametrize(
    "credentials", [{}, {"Authorization": "Bearer wrong"}, ALICE], ids=["none", "wrong", "valid"]
)
def test_probes_answer_with_or_without_a_token(
    client: TestClient, path: str, credentials: dict[str, str]
) -> None:
    response = client.get(path, headers=credentials)
    assert response.status_code == 200, response.text


def test_the_scheme_is_case_insensitive(client: TestClient, alice_finished: int) -> None:
    for scheme in ("Bearer", "bearer", "BEARER"):
        headers = {"Authorization": f"{scheme} {ALICE_TOKEN}"}
        assert client.get(f"/v1/jobs/{alice_finished}", headers=headers).status_code == 200


# --- one principal's jobs are invisible to another ------------------------------------------


def test_the_owner_can_read_everything_the_other_is_refused(
    client: TestClient, alice_finished: int
) -> None:
    """The control for the 404s below: the same URLs answer alice."""
    for route in (
        "/v1/jobs/{}",
        "/v1/jobs/{}/logs",
        "/v1/jobs/{}/outputs",
        "/v1/jobs/{}/outputs.tar.gz",
        "/getJobStatus?jobId={}",
        "/getResultingFiles?jobId={}",
    ):
        assert client.get(route.format(alice_finished), headers=ALICE).status_code == 200
    result = client.get(f"/v1/jobs/{alice_finished}/outputs/result.txt", headers=ALICE)
    assert (result.status_code, result.content) == (200, OUTPUT)


READS = [
    ("GET", "/v1/jobs/{}"),
    ("GET", "/v1/jobs/{}?wait=2"),
    ("GET", "/v1/jobs/{}/logs"),
    ("GET", "/v1/jobs/{}/logs?stream=stdout"),
    ("GET", "/v1/jobs/{}/outputs"),
    ("GET", "/v1/jobs/{}/outputs/result.txt"),
    ("GET", "/v1/jobs/{}/outputs.tar.gz"),
    ("GET", "/getJobStatus?jobId={}"),
    ("POST", "/getJobStatus?jobId={}"),
    ("GET", "/getResultingFiles?jobId={}"),
    ("POST", "/getResultingFiles?jobId={}"),
]


@pytest.mark.parametrize(("method", "route"), READS, ids=[f"{m} {r}" for m, r in READS])
def test_another_principals_job_reads_as_404_like_an_unknown_one(
    client: TestClient, alice_finished: int, method: str, route: str
) -> None:
    theirs = client.request(method, route.format(alice_finished), headers=BOB)
    assert_404(theirs)
    assert OUTPUT.decode() not in theirs.text
    unknown_id = alice_finished + 10**9
    unknown = client.request(method, route.format(unknown_id), headers=BOB)
    assert_404(unknown)
    # Nothing tells "exists, not yours" from "does not exist" apart but the id itself.
    assert theirs.json()["error"]["message"].replace(str(alice_finished), "N") == unknown.json()[
        "error"
    ]["message"].replace(str(unknown_id), "N")


def test_another_principal_cannot_cancel_a_job(
    client: TestClient, pool: db.Pool, alice_queued: int
) -> None:
    assert_404(client.post(f"/v1/jobs/{alice_queued}/cancel", headers=BOB))
    with pool.connection() as conn:
        job = job_records.get(conn, alice_queued)
    assert job is not None
    assert (job.status, job.cancel_requested) == (JobStatus.QUEUED, False)


def test_another_principal_cannot_delete_a_finished_job(
    client: TestClient, pool: db.Pool, alice_finished: int
) -> None:
    before = stored(pool)
    assert_404(client.delete(f"/v1/jobs/{alice_finished}", headers=BOB))
    assert stored(pool) == before
    assert client.get(f"/v1/jobs/{alice_finished}/outputs/result.txt", headers=ALICE).content == (
        OUTPUT
    )


def test_the_owner_can_cancel_and_delete(client: TestClient) -> None:
    """The control for the two tests above: the same calls work for alice."""
    job_id = submit(client, ALICE, "cancel me")
    assert client.post(f"/v1/jobs/{job_id}/cancel", headers=ALICE).status_code == 202
    assert client.delete(f"/v1/jobs/{job_id}", headers=ALICE).status_code == 204
    assert_404(client.get(f"/v1/jobs/{job_id}", headers=ALICE))


def _listed(client: TestClient, headers: dict[str, str], **params: str) -> list[int]:
    ids: list[int] = []
    cursor: str | None = None
    while True:
        page = client.get(
            "/v1/jobs",
            params={**params, "limit": "2", **({"before": cursor} if cursor else {})},
            headers=headers,
        )
        assert page.status_code == 200, page.text
        ids += [job["id"] for job in page.json()["jobs"]]
        cursor = page.json()["next"]
        if cursor is None:
            return ids


def test_listing_shows_only_the_callers_jobs(
    client: TestClient, pool: db.Pool, alice_finished: int, alice_queued: int
) -> None:
    bobs = [submit(client, BOB, "bob's") for _ in range(3)]
    alices = {int(row[0]) for row in pool.run("SELECT id FROM jobs WHERE principal = 'alice'")}
    assert {alice_finished, alice_queued} <= alices
    assert _listed(client, BOB) == sorted(bobs, reverse=True)
    assert set(_listed(client, ALICE)) == alices
    assert _listed(client, BOB, status="succeeded") == []
    # A cursor just above alice's newest job pages through bob's only.
    above = str(max(alices | set(bobs)) + 1)
    page = client.get("/v1/jobs", params={"before": above}, headers=BOB).json()
    assert {job["id"] for job in page["jobs"]} == set(bobs)


def test_legacy_submissions_belong_to_their_principal(client: TestClient) -> None:
    submitted = client.post(
        "/submit", files=[("dockerFile", ("Dockerfile", DOCKERFILE))], headers=ALICE
    )
    demo = client.post("/submitDemo", headers=ALICE)
    for response in (submitted, demo):
        assert response.status_code == 200, response.text
        job_id = response.json()
        assert client.get("/getJobStatus", params={"jobId": job_id}, headers=ALICE).json() == (
            "SUBMITTED"
        )
        assert_404(client.get("/getJobStatus", params={"jobId": job_id}, headers=BOB))
        assert_404(client.get(f"/v1/jobs/{job_id}", headers=BOB))


def test_idempotency_keys_are_per_principal(client: TestClient, pool: db.Pool) -> None:
    key = f"shared-key-{uuid.uuid4()}"

    def post(headers: dict[str, str]) -> httpx.Response:
        return client.post(
            "/v1/jobs",
            files=[("dockerfile", ("Dockerfile", DOCKERFILE))],
            headers={**headers, "Idempotency-Key": key},
        )

    before = stored(pool)[0]
    alice_first, bob_first = post(ALICE), post(BOB)
    assert (alice_first.status_code, bob_first.status_code) == (201, 201)
    assert alice_first.json()["id"] != bob_first.json()["id"]
    alice_again, bob_again = post(ALICE), post(BOB)
    assert (alice_again.status_code, bob_again.status_code) == (200, 200)
    assert alice_again.json()["id"] == alice_first.json()["id"]
    assert bob_again.json()["id"] == bob_first.json()["id"]
    assert stored(pool)[0] == before + 2
    assert_404(client.get(f"/v1/jobs/{alice_first.json()['id']}", headers=BOB))
