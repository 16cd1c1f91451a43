"""`dccf-master`: serve the API with uvicorn."""

from __future__ import annotations

import logging

import uvicorn

from dccf import settings

# uvicorn's httptools parser has no limit on a request's head: one 300 MB header line grew the
# master by 600 MB and took minutes to read. h11 answers 400 once an unfinished head passes this
# size, which no real client reaches: tokens and Idempotency-Key are short, and the job itself
# travels in the body. (Upload throughput measured the same: 100 MiB in under 4 s either way.)
MAX_REQUEST_HEAD_BYTES = 32 * 1024


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
        http="h11",
        h11_max_incomplete_event_size=MAX_REQUEST_HEAD_BYTES,
        access_log=False,
        timeout_graceful_shutdown=10,
        # Long-polls of 60 s need a keep-alive longer than uvicorn's 5 s default.
        timeout_keep_alive=75,
    )


if __name__ == "__main__":
    main()
