"""The services' console scripts: each checks its extra is installed before importing its main.

`pip install dccf` brings only the client; a bare install that runs `dccf-master` should be
told which extra to add, not shown an ImportError from deep inside the app.
"""

from __future__ import annotations

import importlib.util
import sys

# Per service: its extra's distributions (as pyproject.toml lists them) and the module each one
# provides. tests/unit/test_entry.py holds these to pyproject.toml's lists.
EXTRAS: dict[str, dict[str, str]] = {
    "master": {
        "starlette": "starlette",
        "uvicorn": "uvicorn",
        "python-multipart": "python_multipart",
        "pg8000": "pg8000",
        "kafka-python": "kafka",
        "prometheus-client": "prometheus_client",
        "jinja2": "jinja2",
        "msgspec": "msgspec",
        "httptools": "httptools",
    },
    "worker": {
        "pg8000": "pg8000",
        "kafka-python": "kafka",
        "docker": "docker",
        "requests": "requests",
        "urllib3": "urllib3",
    },
}


def missing(extra: str) -> list[str]:
    """The distributions of `extra` whose module cannot be found."""
    return [
        dist for dist, module in EXTRAS[extra].items() if importlib.util.find_spec(module) is None
    ]


def require(extra: str) -> None:
    absent = missing(extra)
    if absent:
        sys.exit(
            f"dccf-{extra} needs the {extra} extra: pip install 'dccf[{extra}]'"
            f" (missing: {', '.join(absent)})"
        )


def master() -> None:
    require("master")
    from services.master.main import main

    main()


def worker() -> None:
    require("worker")
    from services.worker.main import main

    main()
