"""The dashboard's vendored JavaScript is what VENDOR.json records, and every template and
static file ships in the package (pyproject's package-data)."""

from __future__ import annotations

import fnmatch
import hashlib
import json
import tomllib
from pathlib import Path

from services.master.dashboard.templating import HERE, STATIC

REPO = Path(__file__).resolve().parents[2]
VENDOR = STATIC / "vendor"


def test_vendored_files_match_their_recorded_sha256() -> None:
    recorded = json.loads((VENDOR / "VENDOR.json").read_text())
    present = {p.name for p in VENDOR.iterdir() if p.name != "VENDOR.json"}
    assert set(recorded) == present
    for name, entry in recorded.items():
        digest = hashlib.sha256((VENDOR / name).read_bytes()).hexdigest()
        assert digest == entry["sha256"], (
            f"{name} differs from {entry['from']}; run scripts/vendor-ui"
        )
        assert entry["from"].startswith(f"npm {entry['package']}@{entry['version']} ")


def test_every_dashboard_file_is_package_data() -> None:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["services.master.dashboard"]
    files = [
        p.relative_to(HERE).as_posix()
        for p in HERE.rglob("*")
        if p.is_file() and p.suffix not in {".py", ".pyc"}
    ]
    assert files
    missing = [f for f in files if not any(fnmatch.fnmatch(f, pattern) for pattern in patterns)]
    assert missing == []
