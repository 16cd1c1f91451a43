"""The dashboard's page shells and their auth, without services: no page touches Postgres
(each fetches its data later, with the user's token)."""

from __future__ import annotations

import dataclasses
import re

import pytest
from starlette.testclient import TestClient

from dccf import settings
from services.master import auth
from services.master.app import create_app

PAGES = ["/", "/ui/jobs", "/ui/jobs/42", "/ui/submit", "/ui/workers"]


def client(tokens: dict[str, str] | None = None, dashboard: bool = True) -> TestClient:
    base = settings.load()
    master = dataclasses.replace(base.master, api_tokens=tokens or {}, dashboard=dashboard)
    return TestClient(create_app(dataclasses.replace(base, master=master)))


@pytest.mark.parametrize("path", PAGES)
def test_pages_load_without_a_token_and_say_one_is_needed(path: str) -> None:
    response = client({"secret": "alice"}).get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert 'data-auth="required"' in response.text
    assert 'id="token-dialog"' in response.text


def test_an_open_master_asks_for_no_token() -> None:
    page = client().get("/").text
    assert 'data-auth="open"' in page and "token-dialog" not in page


@pytest.mark.parametrize(
    "path",
    [
        "/ui/fragments/jobs",
        "/ui/fragments/jobs/1",
        "/ui/fragments/overview",
        "/ui/fragments/workers",
        "/ui/stream/jobs",
        "/ui/stream/jobs/1",
        "/v1/workers",
    ],
)
def test_data_needs_the_token(path: str) -> None:
    response = client({"secret": "alice"}).get(path)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


def test_only_probes_and_page_shells_are_open() -> None:
    routes = [route.path for route in create_app().routes if getattr(route, "methods", None)]
    opened = {path for path in routes if auth.is_open(re.sub(r"\{[^}]+\}", "1", path))}
    pages = {"/", "/ui/jobs", "/ui/jobs/{id:int}", "/ui/submit", "/ui/workers"}
    assert opened == {"/healthz", "/metrics", "/readyz"} | pages


def test_static_files_are_served_with_the_page_assets() -> None:
    http = client({"secret": "alice"})
    page = http.get("/ui/jobs").text
    for asset in ("/ui/static/app.css", "/ui/static/app.js", "/ui/static/vendor/htmx.min.js"):
        assert f'"{asset}?v=' in page
        assert http.get(asset).status_code == 200


def test_no_page_loads_anything_from_elsewhere() -> None:
    for path in PAGES:
        page = client().get(path).text
        assert "http://" not in page and "https://" not in page.replace("https://…", "")


def test_with_the_dashboard_off_the_root_still_answers_200() -> None:
    http = client(dashboard=False)
    root = http.get("/")
    assert root.status_code == 200 and "dashboard is off" in root.text
    assert http.get("/ui/jobs").status_code == 404
