"""`dccf-master`: serve the API with uvicorn."""

from __future__ import annotations

import logging

import uvicorn

from dccf import settings
from services.master.http_protocol import BoundedHttpToolsProtocol


def main() -> None:
    cfg = settings.load()
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    uvicorn.run(
        "services.master.app:create_app",
        factory=True,
        host=cfg.master.host,
        port=cfg.master.port,
        workers=cfg.master.processes,
        http=BoundedHttpToolsProtocol,
        access_log=False,
        timeout_graceful_shutdown=10,
        # Long-polls of 60 s need a keep-alive longer than uvicorn's 5 s default.
        timeout_keep_alive=75,
    )


if __name__ == "__main__":
    main()
