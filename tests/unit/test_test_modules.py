"""pytest imports test modules of folders without an `__init__.py` by basename: two of one name
stop the whole run at collection (it happened twice, once only in CI, where every tier is
collected together)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent


def test_modules_outside_packages_have_names_of_their_own() -> None:
    modules = [
        path.name
        for folder in TESTS.iterdir()
        if folder.is_dir() and not (folder / "__init__.py").exists()
        for path in folder.glob("test_*.py")
    ]
    assert modules, f"no test modules found under {TESTS}"
    twins = sorted(name for name, count in Counter(modules).items() if count > 1)
    assert twins == [], f"rename one of each: {twins}"
